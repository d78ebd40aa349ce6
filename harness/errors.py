"""Errors a user can act on: each names the file, the field and the fix.

Also the checks whose findings become such errors wherever a file is read:
whether a name is a plain file name, and how a text file's bytes depart from
the canonical form every file of the harness is written in (UTF-8 without a
byte order mark; for line-based files, LF line endings, no blank lines, a
final newline).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = [
    "HarnessError",
    "InputError",
    "TextDefect",
    "defects_error",
    "display_path",
    "file_name_problem",
    "text_defects",
]

BOM = b"\xef\xbb\xbf"


def display_path(path: Path | str) -> str:
    """The path as the user should see it: relative to the working directory when possible.

    The last component is never resolved: a symbolic link is shown under its
    own name, not its target's.
    """
    p = Path(os.path.abspath(path))
    cwd = Path.cwd()
    for candidate in (p, p.parent.resolve() / p.name):
        try:
            return str(candidate.relative_to(cwd))
        except ValueError:
            pass
    return str(p)


def file_name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name (one entry of one folder), or None if it is."""
    if not name or name.strip() != name:
        return "is not a file name (empty, or spaces around it)"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in name:
        return "contains '..'"
    if "/" in name or "\\" in name:
        return "names a file in a subfolder"
    if any(ord(c) < 32 for c in name) or name == ".":
        return "is not a file name"
    return None


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


# --------------------------------------------------------------- text file bytes


@dataclass(frozen=True, slots=True)
class TextDefect:
    """One way a file's bytes depart from the canonical form, and how to fix it."""

    line: int  # 1-based line of the first occurrence
    problem: str  # a predicate of that line, e.g. "has CRLF line endings"
    fix: str
    fixed: str  # the file once fixed, e.g. "with LF line endings"
    repair: Callable[[bytes], bytes]  # the fixed bytes, best guess for an encoding


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _as_utf8(data: bytes) -> bytes:
    """Bytes a non-UTF-8 editor most likely meant (Windows-1252, else Latin-1), as UTF-8."""
    try:
        return data.decode("cp1252").encode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")


def _to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _without_blank_lines(data: bytes) -> bytes:
    kept = b"\n".join(line for line in data.split(b"\n") if line.strip())
    return kept + b"\n" if data.endswith(b"\n") and kept else kept


def _unquoted(data: bytes) -> bytes:
    rows = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    text = "\n".join(",".join(row) for row in rows)
    return (text + "\n" if data.endswith(b"\n") else text).encode("utf-8")


def _with_final_newline(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"


def text_defects(data: bytes, *, lines: bool, quotes: bool = True) -> tuple[TextDefect, ...]:
    """Every way ``data`` departs from UTF-8 without a BOM, in the order the repairs apply.

    ``lines``: a line-based file (CSV), which must also have LF line endings,
    no blank line and a final newline. ``quotes=False``: a double quote
    anywhere is a defect (fields are written bare).
    """
    found: list[TextDefect] = []
    if data.startswith(BOM):
        found.append(TextDefect(1, "starts with a UTF-8 byte order mark, bytes EF BB BF",
                                "remove the BOM (save as UTF-8 without BOM)", "without the BOM",
                                lambda d: d[len(BOM):] if d.startswith(BOM) else d))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start
        column = at - (data.rfind(b"\n", 0, at) + 1) + 1
        found.append(TextDefect(_line_of(data, at),
                                f"has byte 0x{data[at]:02X} at byte offset {at} (column {column}), which is not UTF-8",
                                "re-save the file as UTF-8", "saved as UTF-8", _as_utf8))
    if not lines:
        return tuple(found)
    cr = data.find(b"\r")
    if cr >= 0:
        kind = "CRLF" if data[cr + 1:cr + 2] == b"\n" else "CR"
        found.append(TextDefect(_line_of(data, cr), f"has {kind} line endings",
                                "convert the line endings to LF (e.g. with dos2unix, or the editor's line-ending setting)",
                                "with LF line endings", _to_lf))
    lf = _to_lf(data)
    body = lf[:-1] if lf.endswith(b"\n") else lf
    blank: list[int] = []
    if lf and re.search(rb"\n[ \t\x0b\x0c]*\n", b"\n" + body + b"\n"):  # fast test; then find the lines
        empty = re.finditer(rb"^[ \t\x0b\x0c]*$", body, re.MULTILINE)
        blank = [_line_of(body, m.start()) for m in itertools.islice(empty, 7)]
    if blank:
        more, others = blank[1:6], ""
        if more:
            others = f" (and so {'is line' if len(more) == 1 else 'are lines'} {', '.join(map(str, more))}" \
                     f"{', ...' if len(blank) > 6 else ''})"
        found.append(TextDefect(blank[0], f"is blank{others}", "delete the blank lines: every line is the header or a row",
                                "without blank lines", _without_blank_lines))
    if not quotes and b'"' in data:
        found.append(TextDefect(_line_of(lf, lf.find(b'"')), "has double quotes",
                                'write every field bare, without double quotes (2021-01-04, not "2021-01-04")',
                                "without quotes", _unquoted))
    if lf and not lf.endswith(b"\n"):
        found.append(TextDefect(_line_of(lf, len(lf)), "has no line ending",
                                "end the file with a newline", "ending in a newline", _with_final_newline))
    return tuple(found)


def defects_error(path: Path | str, defects: Sequence[TextDefect], note: str = "") -> InputError:
    """One InputError for every defect of one file: at the first defect's line, each fix in turn."""
    first = defects[0]
    parts = [first.problem] + [d.problem if d.line == first.line else f"line {d.line} {d.problem}" for d in defects[1:]]
    problem = ", and ".join(parts) + (f" ({note})" if note else "")
    fix = ", and ".join(d.fix for d in defects)
    return InputError(path, f"line {first.line}", problem, fix)
