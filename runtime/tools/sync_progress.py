"""A rich progress bar for `sync_records`, for a console observer to lend the sync tool.

    bar = SyncProgressBar(console)          # only when console.is_terminal
    SyncTool(..., progress=bar)             # or: an observer's `sync_progress` attribute

The session passes the first observer attribute named `sync_progress` to the tool, so
a console observer that sets `self.sync_progress = SyncProgressBar(console)` on a TTY
gets a live bar; anything else (pipes, --json, tests) gets no bar.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from runtime.tools.sync_report import SyncProgress


class SyncProgressBar:
    """Draws records read (of the source's total when known) and written."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, progress: SyncProgress) -> None:
        """Update the bar; stop it when the sync is done."""
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[cyan]sync_records[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("read · {task.fields[written]} written · {task.fields[failed]} failed"),
                console=self._console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("sync", total=progress.total, written=0, failed=0)
        assert self._task is not None
        self._bar.update(
            self._task,
            completed=progress.fetched,
            total=progress.total,
            written=progress.written,
            failed=progress.failed,
        )
        if progress.done:
            self._bar.stop()
            self._bar, self._task = None, None
