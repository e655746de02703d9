"""`python -m runtime` is the `agents` command."""

from runtime.cli import main

raise SystemExit(main())
