"""Error types shared by every layer.

Each error carries the exit code the CLI returns for it, so a command never has
to decide how bad a failure is: 2 for bad input or usage, 1 for a job that ran
and failed, 130 for an interruption.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class StagerError(Exception):
    """Base of every error stager raises on purpose; its message is one line for the user."""

    exit_code = EXIT_FAILED


class UsageError(StagerError):
    """Bad input: a wrong argument, file or value. Nothing was run."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A mistake in a configuration file, located by file, line and field.

    Rendered as ``file:line: field: problem (hint)`` so an editor can jump to it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"`{self.field}`: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{field}{self.problem}{hint}"


class JobFailed(StagerError):
    """The job started and failed; results written so far are kept."""

    exit_code = EXIT_FAILED


class Interrupted(StagerError):
    """Stopped by Ctrl-C or SIGTERM after cleaning up."""

    exit_code = EXIT_INTERRUPTED
