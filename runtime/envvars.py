"""`${VAR}` and `${VAR:-default}` expansion, pure: the environment is passed in.

Every value that came from a variable is reported back, so the transcript and the
logs can redact it (see `runtime.redact`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariableError(Exception):
    """A `${VAR}` with no default is not set; `name` is the variable."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


@dataclass
class Expansion:
    """Collects the values substituted from the environment (for redaction)."""

    values: dict[str, str] = field(default_factory=dict)

    def expand(self, text: str, env: Mapping[str, str]) -> str:
        """Expand every `${VAR}` / `${VAR:-default}` in `text` from `env`."""

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    raise MissingVariableError(name)
                return default
            self.values[name] = value
            return value

        return _PATTERN.sub(repl, text)


def variables_in(text: str) -> list[str]:
    """Names of the variables `text` refers to."""
    return [m.group(1) for m in _PATTERN.finditer(text)]


def has_required_variable(text: str) -> bool:
    """True if `text` has a `${VAR}` with no default."""
    return any(m.group(2) is None for m in _PATTERN.finditer(text))
