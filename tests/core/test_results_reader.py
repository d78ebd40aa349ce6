"""The results reader (runs and goldens) and the atomic folder writer.

The reader gets the same exact messages as the scenario loader for a file
whose bytes are not what the harness writes (a BOM, CRLF, a byte that is not
UTF-8, a blank line, no final newline): the line, what is wrong, what to change.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness import results
from harness.errors import InputError
from harness.results import read_results, write_folder_atomically, write_results
from tests.core.test_compare import GOLDEN

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "r"
    write_results(out, GOLDEN)
    assert read_results(out).fills == GOLDEN.fills  # the untouched folder reads back
    return out


def edit_bytes(folder: Path, name: str, change) -> None:
    path = folder / name
    path.write_bytes(change(path.read_bytes()))


def expect_error(folder: Path, file: str, field: str | None, *fragments: str) -> str:
    with pytest.raises(InputError) as info:
        read_results(folder)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert Path(info.value.path).name == file, msg
    assert info.value.field == field, msg
    assert f"{file}: {field}: " in msg, msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    return msg


def _not_utf8_on_line_2(data: bytes) -> bytes:
    at = data.index(b"\n") + 1  # first byte of line 2
    return data[:at] + b"\xe9" + data[at + 1:]


CSV_DEFECTS = {
    "bom": (lambda d: BOM + d, lambda n: 1, "starts with a UTF-8 byte order mark", "remove the BOM"),
    "crlf": (lambda d: d.replace(b"\n", b"\r\n"), lambda n: 1, "has CRLF line endings", "convert the line endings to LF"),
    "blank-at-end": (lambda d: d + b"\n", lambda n: n + 1, "is blank", "delete the blank lines"),
    "no-final-newline": (lambda d: d[:-1], lambda n: n, "has no line ending", "end the file with a newline"),
}
def _blank_line_3(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"\n".join(lines[:2] + [b""] + lines[2:])


ROW_DEFECTS = {
    "blank-in-the-middle": (_blank_line_3, lambda n: 3, "is blank", "delete the blank lines"),
    "not-utf8": (_not_utf8_on_line_2, lambda n: 2, "has byte 0x", "re-save the file as UTF-8"),
}


@pytest.mark.parametrize("name", ["fills.csv", "equity.csv", "rejections.csv"])
@pytest.mark.parametrize("kind", CSV_DEFECTS)
def test_a_results_csv_not_in_canonical_form_is_named_with_its_fix(folder: Path, name: str, kind: str) -> None:
    change, line, problem, fix = CSV_DEFECTS[kind]
    n_lines = (folder / name).read_bytes().count(b"\n")
    edit_bytes(folder, name, change)
    msg = expect_error(folder, name, f"line {line(n_lines)}", problem, fix)
    assert "has 0 fields" not in msg and "corrupt" not in msg


@pytest.mark.parametrize("name", ["fills.csv", "equity.csv"])
@pytest.mark.parametrize("kind", ROW_DEFECTS)
def test_a_results_row_not_in_canonical_form_is_named_with_its_fix(folder: Path, name: str, kind: str) -> None:
    change, line, problem, fix = ROW_DEFECTS[kind]
    edit_bytes(folder, name, change)
    msg = expect_error(folder, name, f"line {line(0)}", problem, fix)
    assert "has 0 fields" not in msg and "corrupt" not in msg


def test_a_non_utf8_byte_in_fills_gives_its_offset(folder: Path) -> None:
    offset = (folder / "fills.csv").read_bytes().index(b"\n") + 1
    edit_bytes(folder, "fills.csv", _not_utf8_on_line_2)
    expect_error(folder, "fills.csv", "line 2", f"has byte 0xE9 at byte offset {offset} (column 1), "
                 "which is not UTF-8; re-save the file as UTF-8")


@pytest.mark.parametrize("change,line,problem,fix", [
    (lambda d: BOM + d, 1, "starts with a UTF-8 byte order mark", "remove the BOM"),
    (lambda d: d.replace(b'"engine"', b'"\xe9ngine"'), 5, "has byte 0xE9", "re-save the file as UTF-8"),
], ids=["bom", "not-utf8"])
def test_summary_json_not_utf8_without_bom_is_named_with_its_fix(folder: Path, change, line: int, problem: str,
                                                                 fix: str) -> None:
    assert (folder / "summary.json").read_text(encoding="utf-8").splitlines()[4].startswith('  "engine"')
    edit_bytes(folder, "summary.json", change)
    msg = expect_error(folder, "summary.json", f"line {line}", problem, fix)
    assert "not valid JSON" not in msg


def test_an_empty_results_csv_is_called_empty(folder: Path) -> None:
    # Was "header: is None; it must be ...".
    edit_bytes(folder, "fills.csv", lambda d: b"")
    with pytest.raises(InputError) as info:
        read_results(folder)
    assert str(info.value).endswith("fills.csv: is empty; it needs the header "
                                    "asset,bar,timestamp,side,size,price,fee,reason: regenerate the file")


def test_summary_json_with_crlf_is_still_valid_json(folder: Path) -> None:
    edit_bytes(folder, "summary.json", lambda d: d.replace(b"\n", b"\r\n"))
    assert read_results(folder).final_value == GOLDEN.final_value


# ------------------------------------------------------------- write_folder_atomically


@pytest.mark.parametrize("name", ["../escaped.txt", "<tmp>/escaped.txt", "sub/escaped.txt", ".."])
def test_the_atomic_writer_writes_nothing_outside_the_folder(tmp_path: Path, name: str) -> None:
    target = tmp_path / "out" / "r"
    (tmp_path / "out" / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="plain files only"):
        write_folder_atomically(target, {"ok.txt": "x\n", name.replace("<tmp>", str(tmp_path)): "escaped\n"})
    assert not target.exists()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["out", "out/sub"]


def test_a_failed_swap_keeps_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r"
    write_folder_atomically(target, {"a.txt": "old\n"})
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst) == target and Path(src).name.startswith(f".{target.name}."):  # the new folder moving in
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(results.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_folder_atomically(target, {"a.txt": "new\n"})
    assert (target / "a.txt").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging or trash left behind


def test_a_written_folder_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_folder_atomically(tmp_path / "r", {"a.txt": "x\n"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o755  # was 0o700 (a mkdtemp folder): unreadable to others
