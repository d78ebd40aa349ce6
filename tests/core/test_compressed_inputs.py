"""Inputs stored gzip-compressed (``prices.csv.gz``): built byte for byte, loaded as their CSV, refused when bad.

Each test works on a copy of plain_close built with ``compress_above=0``, so its
inputs are stored as ``.gz`` exactly as the build stores a large scenario's.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from harness.build import build_scenarios, stored_form
from harness.scenario import SCENARIOS_DIR, gzip_input, load_scenario, load_spec, read_scenario_file
from tests.core.test_loader import edit_toml, expect_error, rehash
from scenarios.generate import build_inputs

SOURCE = SCENARIOS_DIR / "plain_close"
GZ = ("prices.csv.gz", "signals.csv.gz")


def quiet(*args, **kwargs) -> None:
    pass


def recorded(folder: Path) -> dict[str, str]:
    return tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))["inputs"]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def compressed(tmp_path: Path) -> Path:
    """A copy of plain_close whose inputs the build stored as .gz."""
    folder = tmp_path / SOURCE.name
    shutil.copytree(SOURCE, folder)
    [outcome] = build_scenarios(update=True, root=tmp_path, log=quiet, compress_above=0)
    assert outcome.changed == ("prices.csv (stored as prices.csv.gz now)", "prices.csv.gz",
                               "signals.csv (stored as signals.csv.gz now)", "signals.csv.gz")
    return folder


def edit_gz(folder: Path, name: str, change, *, update_hash: bool) -> None:
    path = folder / name
    path.write_bytes(gzip_input(change(gzip.decompress(path.read_bytes()))))
    if update_hash:
        rehash(folder, name)


# --------------------------------------------------------------- build and load


def test_the_build_stores_gz_inputs_that_load_as_the_csv_did(compressed: Path) -> None:
    assert sorted(p.name for p in compressed.iterdir()) == sorted([*GZ, "scenario.toml"])  # the plain CSVs are gone
    assert recorded(compressed) == {n: hashlib.sha256((compressed / n).read_bytes()).hexdigest() for n in GZ}
    texts = build_inputs(load_spec(SOURCE).generator)
    for name in GZ:
        assert gzip.decompress((compressed / name).read_bytes()) == texts[name.removesuffix(".gz")].encode()
    ours, theirs = load_scenario(compressed).market, load_scenario(SOURCE).market
    for field in ("open", "high", "low", "close", "volume", "entries", "exits"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field))
    assert (ours.timestamps, ours.assets) == (theirs.timestamps, theirs.assets)


def test_the_gzip_bytes_hold_nothing_that_varies() -> None:
    data = SOURCE.joinpath("prices.csv").read_bytes()
    stored = gzip_input(data)
    assert stored == gzip_input(bytes(data))
    # magic, deflate, no flags (no file name), mtime 0, XFL 2 (level 9), OS 255 (unknown)
    assert stored[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    assert gzip.decompress(stored) == data


def test_a_rebuild_is_byte_identical_and_up_to_date(compressed: Path) -> None:
    before = files(compressed)
    for name in GZ:
        (compressed / name).unlink()
    [outcome] = build_scenarios(update=True, root=compressed.parent, log=quiet, compress_above=0)
    assert outcome.changed == GZ
    assert files(compressed) == before
    [outcome] = build_scenarios(update=False, root=compressed.parent, log=quiet, compress_above=0)
    assert outcome.changed == ()


def test_a_gz_input_is_stored_as_plain_csv_again_when_its_data_are_short(compressed: Path) -> None:
    [outcome] = build_scenarios(update=True, root=compressed.parent, log=quiet)  # the default threshold
    assert outcome.changed == ("prices.csv.gz (stored as prices.csv now)", "prices.csv",
                               "signals.csv.gz (stored as signals.csv now)", "signals.csv")
    assert files(compressed) == files(SOURCE)


def test_stored_form_follows_the_length_of_the_data() -> None:
    assert stored_form("prices.csv", b"x" * 10, compress_above=10) == "prices.csv"
    assert stored_form("prices.csv", b"x" * 11, compress_above=10) == "prices.csv.gz"


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("update_hash", [False, True], ids=["hash-stale", "hash-re-recorded"])
@pytest.mark.parametrize("damage", ["truncated", "flipped-byte", "not-gzip"])
def test_a_corrupt_gz_input_is_refused_with_its_file_and_fix(compressed: Path, damage: str, update_hash: bool) -> None:
    path = compressed / "prices.csv.gz"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2],
                      "flipped-byte": data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],
                      "not-gzip": SOURCE.joinpath("prices.csv").read_bytes()}[damage])
    if update_hash:
        rehash(compressed, "prices.csv.gz")
    expect_error(compressed, "prices.csv.gz", None, "prices.csv.gz: is not a valid gzip file (",
                 "restore it (git checkout), or rebuild it with `nox -s scenarios -- --update`")
    [outcome] = build_scenarios(update=False, root=compressed.parent, log=quiet, compress_above=0)
    assert outcome.changed == ("prices.csv.gz",)  # the build check reports it too, and an update restores it
    build_scenarios(update=True, root=compressed.parent, log=quiet, compress_above=0)
    load_scenario(compressed)


def test_an_edited_gz_input_fails_its_hash_check_as_a_csv_does(compressed: Path) -> None:
    edit_gz(compressed, "prices.csv.gz", lambda d: d.replace(b",54034.0\n", b",54035.0\n", 1), update_hash=False)
    expect_error(compressed, "prices.csv.gz", "sha256", f"but scenario.toml [inputs] records {recorded(compressed)['prices.csv.gz'][:12]}",
                 "the file changed: restore it")


def test_an_edited_gz_input_with_its_hash_re_recorded_loads_and_the_build_restores_it(compressed: Path) -> None:
    before = files(compressed)
    edit_gz(compressed, "prices.csv.gz", lambda d: d.replace(b",54034.0\n", b",54035.0\n", 1), update_hash=True)
    assert 54035.0 in load_scenario(compressed).market.volume
    [outcome] = build_scenarios(update=False, root=compressed.parent, log=quiet, compress_above=0)
    assert outcome.changed == ("prices.csv.gz",)
    build_scenarios(update=True, root=compressed.parent, log=quiet, compress_above=0)
    assert files(compressed) == before


def test_a_bad_cell_inside_a_gz_input_names_the_gz_file_and_line(compressed: Path) -> None:
    def bad_open(data: bytes) -> bytes:
        lines = data.split(b"\n")
        fields = lines[6].split(b",")
        fields[2] = b"abc"  # open
        lines[6] = b",".join(fields)
        return b"\n".join(lines)

    edit_gz(compressed, "prices.csv.gz", bad_open, update_hash=True)
    expect_error(compressed, "prices.csv.gz", "open", "'abc' at 2021-01-11 A00 (line 7) is not a number")


def test_crlf_inside_a_gz_input_is_refused_with_its_fix(compressed: Path) -> None:
    edit_gz(compressed, "signals.csv.gz", lambda d: d.replace(b"\n", b"\r\n"), update_hash=True)
    msg = expect_error(compressed, "signals.csv.gz", "line 1", "has CRLF line endings; convert the line endings to LF")
    assert "sha256" not in msg


def test_both_forms_of_one_input_in_inputs_are_refused(compressed: Path) -> None:
    digest = recorded(compressed)["prices.csv.gz"]
    edit_toml(compressed, f'"prices.csv.gz" = "{digest}"\n', f'"prices.csv" = "{"0" * 64}"\n"prices.csv.gz" = "{digest}"\n')
    expect_error(compressed, "scenario.toml", '[inputs] "prices.csv.gz"', 'and "prices.csv" are the same input twice',
                 "run `nox -s scenarios -- --update`")


def test_a_gz_name_of_no_input_is_refused(compressed: Path) -> None:
    edit_toml(compressed, '"signals.csv.gz" = ', '"weights.csv.gz" = ')
    expect_error(compressed, "scenario.toml", '[inputs] "weights.csv.gz"', "is not an input of a fixed scenario",
                 "the inputs are prices.csv, signals.csv (each may be stored as .gz)")


def test_a_missing_gz_input_is_refused(compressed: Path) -> None:
    (compressed / "signals.csv.gz").unlink()
    assert read_scenario_file(compressed, "signals.csv.gz") is None
    expect_error(compressed, "signals.csv.gz", None, "missing input file", "nox -s scenarios -- --update")
