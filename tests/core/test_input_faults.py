"""Faults a user test found in the scenario loader and the build, one test (or family) per fault.

Each test corrupts a private copy of a stored scenario and checks the exact
message: ``<file>: <field>: <problem>; <fix>``, on one line, naming the field
that is actually wrong and a fix that would work. Every one of them failed on
the loader before these fixes (see the commit message for the old messages).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.build import build_scenarios
from harness.errors import InputError
from harness.scenario import SCENARIOS_DIR, load_scenario, sha256_file
from tests.core.test_loader import (  # noqa: F401  (folder is a fixture)
    cell, edit_csv, edit_toml, expect_error, folder, rehash, set_cell,
)

BOM = b"\xef\xbb\xbf"


def edit_bytes(folder: Path, name: str, change, *, update_hash: bool = True) -> None:
    path = folder / name
    path.write_bytes(change(path.read_bytes()))
    if update_hash:
        rehash(folder, name)


def quiet(*args, **kwargs) -> None:
    pass


@pytest.fixture
def rotation(tmp_path: Path) -> Path:
    dst = tmp_path / "rot_full_close"
    shutil.copytree(SCENARIOS_DIR / "rot_full_close", dst)
    return dst


# ----------------------------------------------- 1. inputs come from inside the folder only


@pytest.mark.parametrize("name", ["prices.csv", "signals.csv"])
@pytest.mark.parametrize("relative", [False, True], ids=["absolute-link", "relative-link"])
def test_an_input_linked_to_a_file_outside_the_folder_is_refused(folder: Path, name: str, relative: bool) -> None:
    outside = folder.parent / f"elsewhere-{name}"
    (folder / name).rename(outside)  # same bytes: the recorded hash still matches
    (folder / name).symlink_to(Path("..") / outside.name if relative else outside)
    expect_error(folder, name, None, f"is a symbolic link to {outside}, outside the scenario folder",
                 "replace the link with a copy of the file")


def test_a_link_inside_the_folder_is_read_and_reported_under_its_own_name(folder: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)  # messages show paths relative to the working directory
    (folder / "data").mkdir()
    (folder / "prices.csv").rename(folder / "data" / "bars.csv")
    (folder / "prices.csv").symlink_to(Path("data") / "bars.csv")
    assert load_scenario(folder).market.n_bars == 300  # inside the folder: allowed
    set_cell(folder, "prices.csv", 7, "open", "abc")
    msg = expect_error(folder, "prices.csv", "open", "'abc' at 2021-01-12 A00")
    assert msg.startswith("plain_close/prices.csv: open: "), msg  # the link's name, not data/bars.csv


@pytest.mark.parametrize("kind,problem", [
    ("directory", "is a directory"),
    ("fifo", "is not a regular file"),
    ("dangling link", "which does not exist"),
])
def test_an_input_that_is_not_a_file_is_refused_as_such(folder: Path, kind: str, problem: str) -> None:
    path = folder / "prices.csv"
    path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(folder / "gone.csv")
    msg = expect_error(folder, "prices.csv", None, problem)
    assert "missing input file" not in msg


@pytest.mark.parametrize("key,problem", [
    ("../prices.csv", "contains '..'"),
    ("..", "contains '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("data/prices.csv", "names a file in a subfolder"),
    ("data\\\\prices.csv", "names a file in a subfolder"),
])
@pytest.mark.parametrize("how", ["added", "renamed"])
def test_inputs_keys_must_be_plain_file_names(folder: Path, key: str, problem: str, how: str) -> None:
    digest = sha256_file(folder / "prices.csv")
    if how == "added":
        toml = folder / "scenario.toml"
        toml.write_text(toml.read_text(encoding="utf-8") + f'"{key}" = "{digest}"\n', encoding="utf-8")
    else:
        edit_toml(folder, '"prices.csv" = ', f'"{key}" = ')
    # the key is written as TOML writes it (a backslash escaped), which is how the message shows it too
    expect_error(folder, "scenario.toml", f'[inputs] "{key}"', problem,
                 'name a file of the scenario folder itself, e.g. "prices.csv"')


def test_an_input_the_scenario_does_not_use_is_refused(folder: Path) -> None:
    shutil.copy(folder / "prices.csv", folder / "weights.csv")
    toml = folder / "scenario.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f'"weights.csv" = "{sha256_file(folder / "weights.csv")}"\n',
                    encoding="utf-8")
    expect_error(folder, "scenario.toml", '[inputs] "weights.csv"', "is not an input of a fixed scenario",
                 "remove it: the inputs are prices.csv, signals.csv")


def test_the_build_never_writes_through_a_link_out_of_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "scenarios"
    folder = root / "plain_close"
    shutil.copytree(SCENARIOS_DIR / "plain_close", folder)
    precious = tmp_path / "precious.csv"
    precious.write_text("not a scenario input\n", encoding="utf-8")
    (folder / "prices.csv").unlink()
    (folder / "prices.csv").symlink_to(precious)
    with pytest.raises(InputError, match=r"prices\.csv: is a symbolic link to .*, outside the scenario folder"):
        build_scenarios(update=True, root=root, log=quiet)
    assert precious.read_text(encoding="utf-8") == "not a scenario input\n"
    assert (folder / "prices.csv").is_symlink()


# -------------------------------------------- 2. messages name the right field and fix


@pytest.mark.parametrize("changes,field", [
    ({"open": "0.0"}, "open"),  # low is fine: was blamed on low ("is above open or close")
    ({"open": "-1.0", "low": "-2.0"}, "open,low"),  # was "low" alone
    ({"high": "-1.0"}, "high"),  # was "is below open or close"
    ({"close": "0.0"}, "close"),  # was blamed on low
    ({"low": "-1.0", "close": "-0.5"}, "low,close"),
])
def test_a_non_positive_price_names_every_field_that_is_wrong(folder: Path, changes: dict[str, str], field: str) -> None:
    for column, value in changes.items():
        set_cell(folder, "prices.csv", 4, column, value)
    expect_error(folder, "prices.csv", field, "must be positive at 2021-01-07 A00 (line 5): open=",
                 f"every price must be > 0: correct the {field.replace(',', ', ')} of that bar")


def test_a_decimal_comma_is_reported_at_its_line(folder: Path) -> None:
    opn = cell(folder, "prices.csv", 5, "open")
    assert "." in opn
    set_cell(folder, "prices.csv", 5, "open", opn.replace(".", ","))
    expect_error(folder, "prices.csv", "line 6", "has 8 fields, expected 7 (timestamp,asset,open,high,low,close,volume)",
                 "write decimals with a point (100.5, not 100,5)")


def test_a_row_missing_a_field_is_reported_at_its_line(folder: Path) -> None:
    # Was "volume: an empty cell at ...": the cell is not empty, it is not there.
    edit_csv(folder, "prices.csv", lambda rows: rows[4].pop())
    expect_error(folder, "prices.csv", "line 5", "has 6 fields, expected 7", "every row needs all 7 fields")


@pytest.mark.parametrize("name", ["prices.csv", "signals.csv"])
@pytest.mark.parametrize("where,line,extra", [
    ("end", 302, " (and so is line 303)"),
    ("middle", 6, ""),
])
def test_a_blank_line_is_reported_at_its_line(folder: Path, name: str, where: str, line: int, extra: str) -> None:
    def blank(data: bytes) -> bytes:
        if where == "end":
            return data + b"\n\n"
        lines = data.split(b"\n")
        return b"\n".join(lines[:5] + [b""] + lines[5:])
    edit_bytes(folder, name, blank)
    msg = expect_error(folder, name, f"line {line}", f"is blank{extra}", "delete the blank lines")
    assert "None" not in msg


def test_a_byte_that_is_not_utf8_is_located_and_the_fix_keeps_the_edit(folder: Path) -> None:
    data = (folder / "prices.csv").read_bytes()
    line5 = data.index(b"\n2021-01-07,") + 1
    at = line5 + len(b"2021-01-07,A00,") + 2
    edit_bytes(folder, "prices.csv", lambda d: d[:at] + b"\xe9" + d[at + 1:])
    msg = expect_error(folder, "prices.csv", "line 5",
                       f"has byte 0xE9 at byte offset {at} (column 18), which is not UTF-8", "re-save the file as UTF-8")
    assert "--update" not in msg and "rebuild" not in msg and "regenerate" not in msg


def test_a_byte_in_scenario_toml_that_is_not_utf8_is_located(folder: Path) -> None:
    edit_bytes(folder, "scenario.toml", lambda d: d.replace(b"One asset", b"One \xe9sset"), update_hash=False)
    expect_error(folder, "scenario.toml", "line 3", "has byte 0xE9 at byte offset 43 (column 5), which is not UTF-8",
                 "re-save the file as UTF-8")


# ------------------------------------------------------------ 3. signals are 0 or 1


@pytest.mark.parametrize("value", ["0.5", "yes", "", "1.0", "true"])
@pytest.mark.parametrize("column", ["entry", "exit"])
def test_a_signal_that_is_not_0_or_1_says_so(folder: Path, value: str, column: str) -> None:
    set_cell(folder, "signals.csv", 9, column, value)
    shown = "an empty cell" if value == "" else repr(value)
    msg = expect_error(folder, "signals.csv", column, f"{shown} at 2021-01-14 A00 (line 10) is not 0 or 1",
                       "signals are 0 (no) or 1 (yes)")
    assert "integer" not in msg


# --------------------------------------------- 4. BOM, quotes, CRLF: refused, and why

def _quote_all(data: bytes) -> bytes:
    return b"".join(b",".join(b'"' + f + b'"' for f in line.split(b",")) + b"\n" for line in data.splitlines())


def _quote_row_3(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[2] = b'"' + lines[2].replace(b",", b'",', 1)
    return b"\n".join(lines)


FORMATS = {
    # kind: (change, field, problem, fix, what the recorded hash is of)
    "bom": (lambda d: BOM + d, "line 1", "starts with a UTF-8 byte order mark, bytes EF BB BF",
            "remove the BOM (save as UTF-8 without BOM)", "without the BOM"),
    "crlf": (lambda d: d.replace(b"\n", b"\r\n"), "line 1", "has CRLF line endings",
             "convert the line endings to LF", "with LF line endings"),
    "cr": (lambda d: d.replace(b"\n", b"\r"), "line 1", "has CR line endings",
           "convert the line endings to LF", "with LF line endings"),
    "quoted": (_quote_all, "line 1", "has double quotes", "write every field bare, without double quotes",
               "without quotes"),
    "quoted-row": (_quote_row_3, "line 3", "has double quotes", "write every field bare, without double quotes",
                   "without quotes"),
    "no-final-newline": (lambda d: d.rstrip(b"\n"), "line 301", "has no line ending", "end the file with a newline",
                         "ending in a newline"),
}


@pytest.mark.parametrize("name", ["prices.csv", "signals.csv"])
@pytest.mark.parametrize("kind", FORMATS)
def test_a_format_change_with_its_hash_re_recorded_is_refused_with_its_fix(folder: Path, name: str, kind: str) -> None:
    change, field, problem, fix, _ = FORMATS[kind]
    edit_bytes(folder, name, change)
    msg = expect_error(folder, name, field, f"{field}: {problem}; {fix}")
    assert "sha256" not in msg


@pytest.mark.parametrize("name", ["prices.csv", "signals.csv"])
@pytest.mark.parametrize("kind", FORMATS)
def test_a_format_change_fails_its_hash_check_and_says_what_changed(folder: Path, name: str, kind: str) -> None:
    change, field, problem, fix, fixed = FORMATS[kind]
    edit_bytes(folder, name, change, update_hash=False)
    expect_error(folder, name, field, f"{field}: {problem} (the recorded sha256 is of the file {fixed}); {fix}")


def test_a_format_change_on_top_of_an_edit_says_both(folder: Path) -> None:
    edit_bytes(folder, "prices.csv", lambda d: d.replace(b"\n", b"\r\n").replace(b",54034.0", b",54035.0"),
               update_hash=False)
    expect_error(folder, "prices.csv", "line 1", "has CRLF line endings (and its data differ from the sha256 "
                 "scenario.toml [inputs] records); convert the line endings to LF")


def test_a_spreadsheet_export_gets_every_fix_in_one_line(folder: Path) -> None:
    edit_bytes(folder, "prices.csv", lambda d: BOM + _quote_all(d).replace(b"\n", b"\r\n"), update_hash=False)
    expect_error(folder, "prices.csv", "line 1",
                 "starts with a UTF-8 byte order mark, bytes EF BB BF, and has CRLF line endings, and has double quotes "
                 "(the recorded sha256 is of the file without the BOM and with LF line endings and without quotes); "
                 "remove the BOM (save as UTF-8 without BOM), and convert the line endings to LF",
                 "and write every field bare")


def test_a_file_saved_in_windows_1252_says_the_recorded_hash_is_of_its_utf8_form(folder: Path) -> None:
    # An asset named "Aé" saved as UTF-8 and hashed, then re-saved by a Windows-1252 editor.
    for name in ("prices.csv", "signals.csv"):
        edit_bytes(folder, name, lambda d: d.replace(b",A00,", ",Aé,".encode()))
    load_scenario(folder)
    edit_bytes(folder, "prices.csv", lambda d: d.decode().encode("cp1252"), update_hash=False)
    expect_error(folder, "prices.csv", "line 2",
                 "has byte 0xE9 at byte offset 55 (column 13), which is not UTF-8 (the recorded sha256 is of the file "
                 "saved as UTF-8); re-save the file as UTF-8")


def test_a_bom_in_scenario_toml_is_named(folder: Path) -> None:
    edit_bytes(folder, "scenario.toml", lambda d: BOM + d, update_hash=False)
    expect_error(folder, "scenario.toml", "line 1", "starts with a UTF-8 byte order mark", "remove the BOM")


def test_crlf_in_scenario_toml_is_valid_toml(folder: Path) -> None:
    edit_bytes(folder, "scenario.toml", lambda d: d.replace(b"\n", b"\r\n"), update_hash=False)
    assert load_scenario(folder).spec.contract.size == 100.0


# ------------------------------------------------- other messages that misled (review)


def test_an_empty_timestamp_cell_is_an_input_error(folder: Path) -> None:
    # Was a TypeError traceback.
    set_cell(folder, "prices.csv", 4, "timestamp", "")
    expect_error(folder, "prices.csv", "timestamp", "an empty cell on line 5", "write the row's timestamp")


def test_an_empty_asset_cell_is_blamed_on_prices(folder: Path) -> None:
    # Was "signals.csv: timestamp: 2021-01-07 A00 has no bar in prices.csv".
    set_cell(folder, "prices.csv", 4, "asset", "")
    expect_error(folder, "prices.csv", "asset", "an empty cell on line 5", "write the row's asset")


@pytest.mark.parametrize("column,value", [("asset", "A00 "), ("open", " 98.42"), ("timestamp", "2021-01-07 ")])
def test_spaces_around_a_cell_are_named(folder: Path, column: str, value: str) -> None:
    # Were blamed on signals.csv (asset), or "is not a number; every open must be a number" (it is one).
    set_cell(folder, "prices.csv", 4, column, value)
    expect_error(folder, "prices.csv", column, f"{value!r} on line 5 has spaces around it", "remove the spaces")


def test_prices_with_one_bar_are_blamed_on_prices(folder: Path) -> None:
    # Was "signals.csv: timestamp: 2021-01-05 A00 has no bar in prices.csv".
    edit_csv(folder, "prices.csv", lambda rows: rows.__delitem__(slice(2, None)))
    expect_error(folder, "prices.csv", "timestamp", "there is only one bar (2021-01-04)", "at least two")


def test_signals_with_a_header_only_have_no_rows(folder: Path) -> None:
    # Was "signals.csv: timestamp: 2021-01-04 A00 is missing".
    edit_csv(folder, "signals.csv", lambda rows: rows.__delitem__(slice(1, None)))
    expect_error(folder, "signals.csv", None, "signals.csv: has no rows", "one row per row of prices.csv")


def test_an_empty_prices_file_is_called_empty(folder: Path) -> None:
    # Was "header: columns are ''; they must be exactly ...".
    edit_bytes(folder, "prices.csv", lambda d: b"")
    expect_error(folder, "prices.csv", None, "prices.csv: is empty", "write the header timestamp,asset,open")


@pytest.mark.parametrize("header,what", [
    ("timestamp,open,high,low,close,volume", "asset missing"),
    ("timestamp,asset,open,high,low,Close,volume", "close missing, 'Close' not a column"),
    ("timestamp,asset,open,high,low,close,volume,volume", "'volume' repeated"),
    ("asset,timestamp,open,high,low,close,volume", "out of order"),
])
def test_a_wrong_header_says_which_column(folder: Path, header: str, what: str) -> None:
    def change(rows: list[list[str]]) -> None:
        rows[0] = header.split(",")
        for row in rows[1:]:
            row[:] = row[:len(rows[0])] + [row[-1]] * (len(rows[0]) - len(row))
    edit_csv(folder, "prices.csv", change)
    expect_error(folder, "prices.csv", "header", f"columns are {header!r} ({what})",
                 "they must be exactly 'timestamp,asset,open,high,low,close,volume'")


def test_a_knob_table_written_as_a_value_is_not_called_missing(folder: Path) -> None:
    edit_toml(folder, '[execution]\nfill = "close"\n', "")
    edit_toml(folder, 'family = "plain"\n', 'family = "plain"\nexecution = "close"\n')
    expect_error(folder, "scenario.toml", "[execution]", "must be a table, got 'close'", "add the table [execution] with fill")


def test_a_generator_written_as_a_value_is_not_called_missing(folder: Path) -> None:
    edit_toml(folder, '[generator]\nname = "random_walk_signals"\nseed = 20210104\nbars = 300\n', "")
    edit_toml(folder, 'family = "plain"\n', 'family = "plain"\ngenerator = "random_walk_signals"\n')
    expect_error(folder, "scenario.toml", "[generator]", "must be a table, got 'random_walk_signals'",
                 'write [generator] with name = "..." and seed = N')


def test_an_inputs_value_that_is_not_a_table_is_not_called_missing(folder: Path) -> None:
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    head = text.partition("[inputs]\n")[0]
    (folder / "scenario.toml").write_text(head.replace('family = "plain"\n', 'family = "plain"\ninputs = "prices.csv"\n'),
                                          encoding="utf-8")
    expect_error(folder, "scenario.toml", "[inputs]", "must be a table, got 'prices.csv'",
                 'write [inputs] as the last table of "file name" = "sha256" lines, or run `nox -s scenarios')


def test_a_generator_name_that_is_not_a_string_is_not_called_missing(folder: Path) -> None:
    edit_toml(folder, 'name = "random_walk_signals"', "name = 5")
    expect_error(folder, "scenario.toml", "[generator] name", "must be a string, got 5", 'name = "random_walk_signals"')


@pytest.mark.parametrize("entry,field,fragment", [
    ('bar = 1\nside = "buy"\nprice = nan\nreason = "signal"\n', "[[expected]] #1 price", "must be positive and finite, got nan"),
    ('bar = 1\nside = "buy"\nprice = -1.0\nreason = "signal"\n', "[[expected]] #1 price", "must be positive and finite"),
    ('asset = 0\nbar = 1\nside = "buy"\nprice = 1.0\nreason = "signal"\n', "[[expected]] #1 asset",
     "must be an asset name, got 0"),
])
def test_expected_fills_that_were_accepted_are_refused(folder: Path, entry: str, field: str, fragment: str) -> None:
    edit_toml(folder, "[inputs]\n", f"[[expected]]\n{entry}\n[inputs]\n")
    expect_error(folder, "scenario.toml", field, fragment)


def test_a_nan_weight_is_called_not_finite(rotation: Path) -> None:
    # Was "nan ... is not in [0, 1]".
    set_cell(rotation, "weights.csv", 1, "weight", "nan")
    expect_error(rotation, "weights.csv", "weight", "nan at 2021-02-01 A00 (line 2) is not a finite number",
                 "every weight must be a number in [0, 1]")


def test_a_repeated_weight_row_names_both_lines(rotation: Path) -> None:
    set_cell(rotation, "weights.csv", 2, "asset", cell(rotation, "weights.csv", 1, "asset"))
    expect_error(rotation, "weights.csv", "timestamp", "2021-02-01 A00 appears twice (lines 2, 3)",
                 "one weight per rebalance bar")


def test_mixed_timestamp_formats_name_both_lines(folder: Path) -> None:
    for name in ("prices.csv", "signals.csv"):
        set_cell(folder, name, 4, "timestamp", "2021-01-07T00:00")
    expect_error(folder, "prices.csv", "timestamp",
                 "mixes formats: '2021-01-04' on line 2, '2021-01-07T00:00' on line 5", "the same way")
