"""The scenario loader: every bad input is an InputError naming file, field and fix.

Each test copies a real scenario folder into tmp_path and corrupts one thing.
After editing an input CSV the test re-records its sha256 in scenario.toml
(unless the test is about the hash), so the hash check cannot fire first and
the rule under test is the one that rejects the file.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from harness.cli import main
from harness.errors import InputError
from harness.scenario import SCENARIOS_DIR, load_scenario, sha256_file
from scenarios.generate import random_walk_signals

SOURCE = SCENARIOS_DIR / "plain_close"
PRICE_COLUMNS = ("timestamp", "asset", "open", "high", "low", "close", "volume")


# ----------------------------------------------------------------------- helpers


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private copy of scenarios/plain_close, under the same folder name."""
    dst = tmp_path / SOURCE.name
    shutil.copytree(SOURCE, dst)
    return dst


def rehash(folder: Path, name: str) -> None:
    """Record the current sha256 of ``name`` in scenario.toml [inputs]."""
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    new, count = re.subn(rf'^"{re.escape(name)}" = "[0-9a-f]{{64}}"$',
                         f'"{name}" = "{sha256_file(folder / name)}"', text, flags=re.MULTILINE)
    assert count == 1, f"no hash line for {name} in {toml}"
    toml.write_text(new, encoding="utf-8", newline="\n")


def read_rows(folder: Path, name: str) -> list[list[str]]:
    with open(folder / name, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_rows(folder: Path, name: str, rows: list[list[str]], *, update_hash: bool = True) -> None:
    (folder / name).write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8", newline="\n")
    if update_hash:
        rehash(folder, name)


def edit_csv(folder: Path, name: str, change: Callable[[list[list[str]]], None], *,
             update_hash: bool = True) -> None:
    """Apply ``change`` to the rows (row 0 is the header) and write the file back."""
    rows = read_rows(folder, name)
    change(rows)
    write_rows(folder, name, rows, update_hash=update_hash)


def set_cell(folder: Path, name: str, row: int, column: str, value: str) -> None:
    def change(rows: list[list[str]]) -> None:
        rows[row][rows[0].index(column)] = value
    edit_csv(folder, name, change)


def cell(folder: Path, name: str, row: int, column: str) -> str:
    rows = read_rows(folder, name)
    return rows[row][rows[0].index(column)]


def edit_toml(folder: Path, old: str, new: str) -> None:
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {toml}"
    toml.write_text(text.replace(old, new), encoding="utf-8", newline="\n")


def expect_error(folder: Path, file: str, field: str | None, *fragments: str) -> str:
    """load_scenario raises InputError: "<file>: <field>: <problem>; <fix>", on one line."""
    with pytest.raises(InputError) as info:
        load_scenario(folder)
    exc = info.value
    msg = str(exc)
    assert "\n" not in msg, msg
    assert Path(exc.path).name == file, msg
    if field is None:
        assert f"{file}: " in msg, msg
    else:
        assert exc.field == field, msg
        assert f"{file}: {field}: " in msg, msg
    problem, sep, fix = msg.partition("; ")
    assert sep and fix.strip(), f"no fix hint in {msg!r}"
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    return msg


def multi_asset(folder: Path, *, assets: int = 3, bars: int = 12, seed: int = 11) -> None:
    """Replace the copy's inputs with generated multi-asset ones (hashes re-recorded)."""
    texts = random_walk_signals(seed, bars=bars, assets=assets, entry_prob=0.3, exit_prob=0.3)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8", newline="\n")
        rehash(folder, name)


def test_the_untouched_copy_loads(folder: Path) -> None:
    # Every corruption test below starts from this copy: it must be valid as is.
    load_scenario(folder)


# ------------------------------------------------------------------ scenario.toml


def test_invalid_toml(folder: Path) -> None:
    edit_toml(folder, 'fill = "close"', "fill = close")
    expect_error(folder, "scenario.toml", None, "not valid TOML", "line 10")


def test_unknown_top_level_key(folder: Path) -> None:
    edit_toml(folder, 'family = "plain"\n', 'family = "plain"\ncolour = "red"\n')
    expect_error(folder, "scenario.toml", "colour", "unknown key", "allowed keys")


def test_unknown_key_in_a_knob_table(folder: Path) -> None:
    edit_toml(folder, "slippage = 0.0", "slipage = 0.0")
    expect_error(folder, "scenario.toml", "[costs] slipage", "unknown key", "slippage")


def test_missing_knob(folder: Path) -> None:
    edit_toml(folder, "size = 100.0\n", "")
    expect_error(folder, "scenario.toml", "[sizing] size", "missing", "add size = ")


def test_missing_knob_table(folder: Path) -> None:
    edit_toml(folder, '[execution]\nfill = "close"\n', "")
    expect_error(folder, "scenario.toml", "[execution]", "missing table", "fill")


@pytest.mark.parametrize("value", ['"open"', '"Close"', '"next-open"', "1"])
def test_fill_must_be_close_or_next_open(folder: Path, value: str) -> None:
    edit_toml(folder, 'fill = "close"', f"fill = {value}")
    expect_error(folder, "scenario.toml", "[execution] fill", "must be one of", '"close"', '"next_open"')


@pytest.mark.parametrize("value", ["-0.001", "1.0", "1", "1.5", "nan", "inf"])
def test_fee_must_be_in_zero_one(folder: Path, value: str) -> None:
    edit_toml(folder, "fee = 0.0", f"fee = {value}")
    expect_error(folder, "scenario.toml", "[costs] fee", "must be", "fee = 0.001")


@pytest.mark.parametrize("value", ["0.0", "0", "-100.0", "-inf"])
def test_cash_must_be_positive(folder: Path, value: str) -> None:
    edit_toml(folder, "cash = 100000.0", f"cash = {value}")
    expect_error(folder, "scenario.toml", "[portfolio] cash", "must be", "cash = 100000.0")


@pytest.mark.parametrize("value", ['"100"', "true", "[100.0]"])
def test_size_must_be_a_number(folder: Path, value: str) -> None:
    edit_toml(folder, "size = 100.0", f"size = {value}")
    expect_error(folder, "scenario.toml", "[sizing] size", "must be a number", "size = 10.0")


def test_name_must_equal_the_folder(folder: Path) -> None:
    edit_toml(folder, 'name = "plain_close"', 'name = "plain_close_copy"')
    expect_error(folder, "scenario.toml", "name", "'plain_close_copy'", "'plain_close'", "make them equal")


def test_generator_seed_is_required(folder: Path) -> None:
    edit_toml(folder, "seed = 20210104\n", "")
    expect_error(folder, "scenario.toml", "[generator] seed", "missing", "seed = 7")


@pytest.mark.parametrize("value", ['"7"', "7.0", "true"])
def test_generator_seed_must_be_an_integer(folder: Path, value: str) -> None:
    edit_toml(folder, "seed = 20210104", f"seed = {value}")
    expect_error(folder, "scenario.toml", "[generator] seed", "must be an integer", "seed = 7")


def test_inputs_table_is_required(folder: Path) -> None:
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    head, sep, _ = text.partition("[inputs]\n")
    assert sep
    toml.write_text(head, encoding="utf-8", newline="\n")
    expect_error(folder, "scenario.toml", "[inputs]", "missing table", "--update")


@pytest.mark.parametrize("digest", [
    "730E9373252D3D15CC284F1B0F173430F5BB1F122195FAF5ABF3DB8A231BA774",  # upper case
    "730e9373252d3d15cc284f1b0f173430",                                  # too short
    "730e9373252d3d15cc284f1b0f173430f5bb1f122195faf5abf3db8a231ba77z",  # not hex
])
def test_malformed_sha256(folder: Path, digest: str) -> None:
    edit_toml(folder, "730e9373252d3d15cc284f1b0f173430f5bb1f122195faf5abf3db8a231ba774", digest)
    expect_error(folder, "scenario.toml", '[inputs] "prices.csv"', "lowercase sha256 hex digest", "--update")


# ------------------------------------------------------------------------- inputs


def test_prices_csv_missing(folder: Path) -> None:
    (folder / "prices.csv").unlink()
    expect_error(folder, "prices.csv", None, "missing input file", "--update")


def test_prices_csv_edited_without_updating_the_hash(folder: Path) -> None:
    edit_csv(folder, "prices.csv", lambda rows: rows[5].__setitem__(6, "2.0"), update_hash=False)
    expect_error(folder, "prices.csv", "sha256", "[inputs] records", "the file changed")


def test_prices_wrong_header(folder: Path) -> None:
    edit_csv(folder, "prices.csv", lambda rows: rows[0].__setitem__(5, "Close"))
    expect_error(folder, "prices.csv", "header", "Close", "timestamp,asset,open,high,low,close,volume")


def test_prices_missing_column(folder: Path) -> None:
    def drop_volume(rows: list[list[str]]) -> None:
        for r in rows:
            del r[6]
    edit_csv(folder, "prices.csv", drop_volume)
    expect_error(folder, "prices.csv", "header", "timestamp,asset,open,high,low,close'", "volume")


def test_prices_non_numeric(folder: Path) -> None:
    set_cell(folder, "prices.csv", 7, "open", "abc")
    expect_error(folder, "prices.csv", "open", "'abc' at 2021-01-12 A00 (line 8) is not a number", "must be a number")


@pytest.mark.parametrize("column,value", [
    ("close", "nan"), ("close", "NaN"), ("high", "inf"), ("low", "-inf"), ("volume", "nan"),
])
def test_prices_not_finite(folder: Path, column: str, value: str) -> None:
    set_cell(folder, "prices.csv", 7, column, value)
    expect_error(folder, "prices.csv", column, "is not a finite number", "2021-01-12 A00")


def test_prices_empty_cell(folder: Path) -> None:
    set_cell(folder, "prices.csv", 7, "open", "")
    expect_error(folder, "prices.csv", "open", "an empty cell at 2021-01-12 A00 (line 8) is not a number")


def test_high_below_close(folder: Path) -> None:
    close = float(cell(folder, "prices.csv", 7, "close"))
    opn = float(cell(folder, "prices.csv", 7, "open"))
    assert opn < close  # so high = close - 0.01 stays above open: only the close is violated
    set_cell(folder, "prices.csv", 7, "high", repr(close - 0.01))
    expect_error(folder, "prices.csv", "high", "is below open or close", "2021-01-12", "low <= min(open, close)")


def test_low_above_open(folder: Path) -> None:
    opn = float(cell(folder, "prices.csv", 3, "open"))
    close = float(cell(folder, "prices.csv", 3, "close"))
    assert close > opn  # low = open + 0.01 stays below close: only the open is violated
    set_cell(folder, "prices.csv", 3, "low", repr(opn + 0.01))
    expect_error(folder, "prices.csv", "low", "is above open or close", "2021-01-06", "low <= min(open, close)")


@pytest.mark.parametrize("value", ["0.0", "-1.5"])
def test_low_must_be_positive(folder: Path, value: str) -> None:
    set_cell(folder, "prices.csv", 4, "low", value)
    expect_error(folder, "prices.csv", "low", "must be positive at 2021-01-07 A00 (line 5)", "every price must be > 0")


def test_negative_volume(folder: Path) -> None:
    set_cell(folder, "prices.csv", 4, "volume", "-1.0")
    msg = expect_error(folder, "prices.csv", "volume", "-1.0 at 2021-01-07 A00 (line 5) is negative",
                       "volume is the quantity traded on the bar: write 0 or more")
    assert "low" not in msg.partition("; ")[2], msg  # the fix is about volume, not the OHLC rule


def test_duplicate_timestamp_for_an_asset(folder: Path) -> None:
    set_cell(folder, "prices.csv", 4, "timestamp", cell(folder, "prices.csv", 3, "timestamp"))
    expect_error(folder, "prices.csv", "timestamp", "'2021-01-06' is repeated for asset A00", "sorted and unique")


def test_timestamps_out_of_order(folder: Path) -> None:
    def swap(rows: list[list[str]]) -> None:
        rows[3], rows[4] = rows[4], rows[3]
    edit_csv(folder, "prices.csv", swap)
    expect_error(folder, "prices.csv", "timestamp", "'2021-01-06' is out of order for asset A00", "sorted and unique")


@pytest.mark.parametrize("value", ["2021-13-01", "2021/01/06", "yesterday", "2021-1-6"])
def test_bad_timestamp_string(folder: Path, value: str) -> None:
    set_cell(folder, "prices.csv", 3, "timestamp", value)
    expect_error(folder, "prices.csv", "timestamp", f"{value!r} (asset A00, line 4) is not an ISO 8601", "2020-01-02")


@pytest.mark.parametrize("column", ["entry", "exit"])
def test_signal_value_two(folder: Path, column: str) -> None:
    set_cell(folder, "signals.csv", 9, column, "2")
    expect_error(folder, "signals.csv", column, "'2' at 2021-01-14 A00 (line 10) is not 0 or 1", "0 (no) or 1 (yes)")


def test_entry_and_exit_on_one_bar(folder: Path) -> None:
    def both(rows: list[list[str]]) -> None:
        rows[9][2] = rows[9][3] = "1"
    edit_csv(folder, "signals.csv", both)
    expect_error(folder, "signals.csv", "entry,exit", "both are 1 at 2021-01-14 A00", "keep one")


def test_signal_row_without_a_price_bar(folder: Path) -> None:
    edit_csv(folder, "signals.csv", lambda rows: rows.append(["2030-01-02", "A00", "0", "0"]))
    expect_error(folder, "signals.csv", "timestamp", "2030-01-02 A00 on line 302 has no bar in prices.csv",
                 "exactly the rows of prices.csv")


def test_signal_row_for_an_unknown_asset(folder: Path) -> None:
    set_cell(folder, "signals.csv", 5, "asset", "A99")
    expect_error(folder, "signals.csv", "timestamp", "2021-01-08 A99 on line 6 has no bar in prices.csv",
                 "exactly the rows of prices.csv")


def test_price_bar_without_a_signal_row(folder: Path) -> None:
    edit_csv(folder, "signals.csv", lambda rows: rows.pop())
    last = cell(folder, "prices.csv", -1, "timestamp")
    expect_error(folder, "signals.csv", "timestamp", f"{last} A00 is missing", "exactly the rows of prices.csv")


def test_asset_skips_a_bar_after_its_first_bar(folder: Path) -> None:
    multi_asset(folder, assets=3, bars=12)
    stamp = cell(folder, "prices.csv", 1 + 5 * 3 + 1, "timestamp")  # bar 5 of asset A01
    for name in ("prices.csv", "signals.csv"):
        edit_csv(folder, name, lambda rows: rows.remove([r for r in rows if r[:2] == [stamp, "A01"]][0]))
    load_error = expect_error(folder, "prices.csv", "timestamp", f"asset A01 has no bar at {stamp}",
                              "every timestamp")
    assert stamp == "2021-01-11", load_error


# ------------------------------------------------------------------- valid inputs


def test_a_valid_folder_loads(folder: Path) -> None:
    s = load_scenario(folder)
    m = s.market
    assert s.name == "plain_close"
    assert s.spec.contract.fill == "close" and s.spec.contract.size == 100.0
    assert (m.n_bars, m.n_assets) == (300, 1)
    assert m.assets == ("A00",)
    for name in ("open", "high", "low", "close", "volume", "entries", "exits"):
        arr = getattr(m, name)
        assert arr.shape == (300, 1), name
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[0, 0] = arr[0, 0]
    assert m.entries.dtype == np.bool_ and m.exits.dtype == np.bool_
    assert list(m.timestamps) == sorted(m.timestamps)
    assert len(set(m.timestamps)) == m.n_bars


def test_prices_and_signals_read_back_exactly(folder: Path) -> None:
    m = load_scenario(folder).market
    prices = read_rows(folder, "prices.csv")
    signals = read_rows(folder, "signals.csv")
    assert [r[0] for r in prices[1:]] == list(m.timestamps)
    for i, row in enumerate(prices[1:]):
        for c, name in enumerate(PRICE_COLUMNS[2:], start=2):
            got = float(getattr(m, name)[i, 0])
            assert got.hex() == float(row[c]).hex(), (i, name, row[c], got)
    for i, row in enumerate(signals[1:]):
        assert (bool(m.entries[i, 0]), bool(m.exits[i, 0])) == (row[2] == "1", row[3] == "1"), i
    assert m.entries.any() and m.exits.any()  # the comparison above is not vacuous


def test_multi_asset_grid_matches_the_csv_rows(folder: Path) -> None:
    # Rows grouped by asset instead of by bar are valid (per-asset order is what counts),
    # and asset A02 lists late: NaN prices and False signals before its first bar.
    multi_asset(folder, assets=3, bars=20, seed=5)
    prices = read_rows(folder, "prices.csv")
    signals = read_rows(folder, "signals.csv")
    late = {r[0] for r in prices[1:] if r[1] == "A02"}
    late = set(sorted(late)[:4])

    def regroup(rows: list[list[str]]) -> list[list[str]]:
        body = [r for r in rows[1:] if not (r[1] == "A02" and r[0] in late)]
        body.sort(key=lambda r: r[1])  # stable: keeps each asset's bars in order
        return [rows[0]] + body

    write_rows(folder, "prices.csv", regroup(prices))
    write_rows(folder, "signals.csv", regroup(signals))

    m = load_scenario(folder).market
    assert m.assets == ("A00", "A01", "A02")
    assert (m.n_bars, m.n_assets) == (20, 3)
    assert list(m.timestamps) == sorted(m.timestamps)
    seen = 0
    for row in regroup(prices)[1:]:
        i, j = m.timestamps.index(row[0]), m.assets.index(row[1])
        for c, name in enumerate(PRICE_COLUMNS[2:], start=2):
            assert float(getattr(m, name)[i, j]).hex() == float(row[c]).hex(), (row, name)
        seen += 1
    for row in regroup(signals)[1:]:
        i, j = m.timestamps.index(row[0]), m.assets.index(row[1])
        assert (bool(m.entries[i, j]), bool(m.exits[i, j])) == (row[2] == "1", row[3] == "1"), row
    assert seen == 20 * 3 - 4
    assert np.isnan(m.close[:4, 2]).all() and not np.isnan(m.close[4:, 2]).any()
    assert not m.entries[:4, 2].any() and not m.exits[:4, 2].any()
    assert m.entries.sum() > 3 and m.exits.sum() > 3  # the signal check above is not vacuous


@pytest.mark.parametrize("name", sorted(p.parent.name for p in SCENARIOS_DIR.glob("*/scenario.toml")))
def test_every_stored_scenario_loads(name: str) -> None:
    s = load_scenario(SCENARIOS_DIR / name)
    assert s.market.n_bars >= 2 and s.market.n_assets >= 1


# ------------------------------------------------- regressions for bugs found in review
def test_duplicate_signal_row_is_an_input_error(folder: Path) -> None:
    edit_csv(folder, "signals.csv", lambda rows: rows.insert(6, list(rows[6])))
    expect_error(folder, "signals.csv", "timestamp", "'2021-01-11' is repeated for asset A00")
def test_mixed_aware_and_naive_timestamps_are_an_input_error(folder: Path) -> None:
    for name in ("prices.csv", "signals.csv"):
        set_cell(folder, name, 1, "timestamp", "2021-01-04T00:00:00+00:00")
    expect_error(folder, "prices.csv", "timestamp")


# ----------------------------------------------------------------------------- CLI


def test_cli_unknown_scenario_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["list", "--scenario", "nope"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "nope" in err and "Traceback" not in err


def test_cli_input_error_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # `scenarios` does not check names first: the loader's InputError reaches main().
    code = main(["scenarios", "--scenario", "no_such_scenario"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "no_such_scenario" in err and "scenario.toml: no such file; " in err
    assert "Traceback" not in err
