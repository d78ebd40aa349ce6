"""Errors a user can act on: each names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

__all__ = ["HarnessError", "InputError", "display_path"]


def display_path(path: Path | str) -> str:
    """The path as the user should see it: relative to the working directory when possible."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


class HarnessError(Exception):
    """A failure the CLI reports in one line, without a traceback."""


class InputError(HarnessError):
    """Bad input: ``<file>: <field>: <problem>; <fix>``."""

    def __init__(self, path: Path | str, field: str | None, problem: str, fix: str | None = None):
        self.path = display_path(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: {field}" if field else self.path
        text = f"{where}: {problem}"
        if fix:
            text += f"; {fix}"
        super().__init__(text)
