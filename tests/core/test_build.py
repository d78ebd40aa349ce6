"""Rebuilding scenario inputs from their [generator] tables: checks, updates, determinism.

Only the check of the stored library (update=False) reads scenarios/; every test
that writes works on a copy under tmp_path.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from harness.build import build_scenarios, stored_form
from harness.errors import InputError
from harness.scenario import SCENARIOS_DIR, load_scenario, load_spec, scenario_names, sha256_file
from scenarios.generate import build_inputs

INPUTS = ("prices.csv", "signals.csv")


def quiet(*args, **kwargs) -> None:
    pass


def copy_scenario(root: Path, name: str = "plain_close") -> Path:
    dst = root / name
    shutil.copytree(SCENARIOS_DIR / name, dst)
    return dst


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def recorded_hashes(folder: Path) -> dict[str, str]:
    return tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))["inputs"]


def edit_toml(folder: Path, old: str, new: str) -> None:
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    toml.write_text(text.replace(old, new), encoding="utf-8", newline="\n")


def change_one_price(folder: Path) -> None:
    path = folder / "prices.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[10].rstrip("\n").split(",")
    fields[6] = repr(float(fields[6]) + 1.0)  # volume: stays a valid bar
    lines[10] = ",".join(fields) + "\n"
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def record_hash(folder: Path, name: str) -> None:
    toml = folder / "scenario.toml"
    text, count = re.subn(rf'^"{re.escape(name)}" = "[0-9a-f]{{64}}"$', f'"{name}" = "{sha256_file(folder / name)}"',
                          toml.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert count == 1
    toml.write_text(text, encoding="utf-8", newline="\n")


# ------------------------------------------------------------ the stored library


def test_stored_inputs_are_exactly_what_their_specs_generate() -> None:
    lines: list[str] = []
    outcomes = build_scenarios(update=False, root=SCENARIOS_DIR, log=lines.append)
    assert [o.scenario for o in outcomes] == scenario_names(SCENARIOS_DIR)
    assert len(outcomes) >= 2
    assert {o.scenario: o.changed for o in outcomes} == {o.scenario: () for o in outcomes}
    assert all(line.endswith("up to date") for line in lines), lines


# `large` scenarios are left out here: generating one twice in a process takes minutes, and the
# library check above already rebuilds each of them and compares it with its stored bytes.
@pytest.mark.parametrize("name", [n for n in scenario_names(SCENARIOS_DIR)
                                  if "large" not in load_spec(SCENARIOS_DIR / n).tags])
def test_generation_is_deterministic(name: str) -> None:
    spec = load_spec(SCENARIOS_DIR / name)
    first = build_inputs(spec.generator)
    second = build_inputs(dict(spec.generator))
    stored = {stored_form(fn, text.encode()): fn for fn, text in first.items()}
    assert set(stored) == set(spec.inputs)  # the generator writes exactly the inputs the spec records
    assert {k: v.encode() for k, v in first.items()} == {k: v.encode() for k, v in second.items()}
    for kept, fn in stored.items():
        data = (SCENARIOS_DIR / name / kept).read_bytes()
        assert hashlib.sha256(data).hexdigest() == spec.inputs[kept], kept
        assert (gzip.decompress(data) if kept.endswith(".gz") else data) == first[fn].encode(), kept


def test_the_seed_matters() -> None:
    # Guards the determinism test against a generator that ignores its seed.
    generator = dict(load_spec(SCENARIOS_DIR / "plain_close").generator)
    other = build_inputs({**generator, "seed": generator["seed"] + 1})
    same = build_inputs(generator)
    assert other["prices.csv"] != same["prices.csv"]
    assert other["signals.csv"] != same["signals.csv"]


# --------------------------------------------------------------- on a tmp copy


@pytest.mark.parametrize("hash_recorded", [False, True], ids=["hash-stale", "hash-re-recorded"])
def test_an_edited_input_is_reported_then_restored(tmp_path: Path, hash_recorded: bool) -> None:
    folder = copy_scenario(tmp_path)
    original = snapshot(folder)
    change_one_price(folder)
    if hash_recorded:  # someone edited the file and recorded its hash: the loader would accept it
        record_hash(folder, "prices.csv")
        load_scenario(folder)
    edited = snapshot(folder)
    assert edited["prices.csv"] != original["prices.csv"]

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert outcome.scenario == "plain_close"
    assert outcome.changed == ("prices.csv",)
    assert snapshot(folder) == edited  # nothing written

    [outcome] = build_scenarios(update=True, root=tmp_path, log=quiet)
    assert outcome.changed == ("prices.csv",)
    assert snapshot(folder) == original  # file and [inputs] hash restored
    load_scenario(folder)

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert outcome.changed == ()


def test_a_wrong_recorded_hash_is_reported_then_restored(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    original = snapshot(folder)
    edit_toml(folder, recorded_hashes(folder)["signals.csv"], "0" * 64)
    edited = snapshot(folder)

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert outcome.changed == ("signals.csv (hash in scenario.toml)",)
    assert snapshot(folder) == edited

    build_scenarios(update=True, root=tmp_path, log=quiet)
    assert snapshot(folder) == original


def test_a_new_seed_rewrites_both_inputs_and_their_hashes(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    original = snapshot(folder)
    edit_toml(folder, "seed = 20210104", "seed = 424242")
    edited = snapshot(folder)
    edited_toml = edited["scenario.toml"].decode()

    lines: list[str] = []
    [outcome] = build_scenarios(update=False, root=tmp_path, log=lines.append)
    assert set(outcome.changed) == set(INPUTS)
    assert "differs: " in lines[0]
    assert snapshot(folder) == edited

    lines.clear()
    [outcome] = build_scenarios(update=True, root=tmp_path, log=lines.append)
    assert set(outcome.changed) == set(INPUTS)
    assert "rebuilt: " in lines[0]

    spec = load_spec(folder)
    expected = build_inputs(spec.generator)
    for fn in INPUTS:
        assert (folder / fn).read_bytes() == expected[fn].encode()
        assert (folder / fn).read_bytes() != original[fn]
    assert recorded_hashes(folder) == {fn: sha256_file(folder / fn) for fn in INPUTS}
    assert recorded_hashes(folder) != recorded_hashes_of(original)

    new_toml = (folder / "scenario.toml").read_text(encoding="utf-8")
    assert new_toml.partition("[inputs]\n")[0] == edited_toml.partition("[inputs]\n")[0]  # description etc.
    assert spec.description == load_spec(SCENARIOS_DIR / "plain_close").description
    assert load_scenario(folder).market.n_bars == 300

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert outcome.changed == ()


def recorded_hashes_of(files: dict[str, bytes]) -> dict[str, str]:
    return tomllib.loads(files["scenario.toml"].decode())["inputs"]


def test_a_new_scenario_without_inputs_builds_and_loads(tmp_path: Path) -> None:
    folder = tmp_path / "fresh_scenario"
    folder.mkdir()
    text = (SCENARIOS_DIR / "plain_close" / "scenario.toml").read_text(encoding="utf-8")
    text = text.partition("[inputs]")[0].rstrip("\n") + "\n"
    text = text.replace('name = "plain_close"', 'name = "fresh_scenario"').replace("bars = 300", "bars = 40")
    (folder / "scenario.toml").write_text(text, encoding="utf-8", newline="\n")
    with pytest.raises(InputError, match=r"\[inputs\]: missing table"):
        load_scenario(folder)

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert set(outcome.changed) == set(INPUTS)
    assert sorted(p.name for p in folder.iterdir()) == ["scenario.toml"]

    [outcome] = build_scenarios(update=True, root=tmp_path, log=quiet)
    assert set(outcome.changed) == set(INPUTS)
    new_text = (folder / "scenario.toml").read_text(encoding="utf-8")
    assert new_text.startswith(text)
    assert new_text.partition("[inputs]\n")[0].rstrip("\n") == text.rstrip("\n")
    s = load_scenario(folder)
    assert s.name == "fresh_scenario" and s.market.n_bars == 40

    [outcome] = build_scenarios(update=False, root=tmp_path, log=quiet)
    assert outcome.changed == ()


def test_inputs_must_be_the_last_table(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    head, sep, inputs = text.partition("[inputs]\n")
    generator_start = head.index("[generator]")
    moved = head[:generator_start] + sep + inputs + "\n" + head[generator_start:]
    (folder / "scenario.toml").write_text(moved, encoding="utf-8", newline="\n")
    load_scenario(folder)  # still a valid spec ...
    before = snapshot(folder)
    with pytest.raises(InputError, match=r"scenario\.toml: \[inputs\]: must be the last table.*; move \[inputs\]"):
        build_scenarios(update=True, root=tmp_path, log=quiet)  # ... but the build cannot rewrite it
    assert snapshot(folder) == before


def test_unknown_generator_is_an_input_error(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    edit_toml(folder, 'name = "random_walk_signals"', 'name = "random_walk"')
    with pytest.raises(InputError, match=r"\[generator\] name: unknown generator 'random_walk'; use one of"):
        build_scenarios(update=False, root=tmp_path, log=quiet)


def test_unknown_generator_parameter_is_an_input_error(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    edit_toml(folder, "bars = 300", "bars = 300\nbar_count = 3")
    with pytest.raises(InputError) as info:
        build_scenarios(update=False, root=tmp_path, log=quiet)
    assert info.value.field == "[generator] bar_count"
    assert str(info.value).endswith("scenario.toml: [generator] bar_count: is not a parameter of random_walk_signals; "
                                    "random_walk_signals's parameters are bars, assets = 1, start_price = 100.0, drift = 0.0003, "
                                    "vol = 0.015, gap_vol = 0.008, entry_prob = 0.08, exit_prob = 0.08, last_bar = 'none', "
                                    "decimals = 2, volume = None, sides = 'long'")


def test_missing_generator_parameter_is_named(tmp_path: Path) -> None:
    # Before: "[generator]: bad parameters (random_walk_signals() missing 1 required keyword-only argument: 'bars')".
    folder = copy_scenario(tmp_path)
    edit_toml(folder, "bars = 300\n", "")
    with pytest.raises(InputError) as info:
        build_scenarios(update=False, root=tmp_path, log=quiet)
    assert info.value.field == "[generator] bars"
    assert info.value.problem == "missing"
    assert info.value.fix.startswith("random_walk_signals's parameters are bars, assets = 1")


@pytest.mark.parametrize("old,new,field,problem", [
    ("bars = 300", 'bars = "300"', "[generator] bars", "must be an integer, got '300'"),  # was numpy's "arange() not supported"
    ("bars = 300", "bars = true", "[generator] bars", "must be an integer, got True"),
    ("bars = 300", "bars = 300\nvol = \"high\"", "[generator] vol", "must be a number, got 'high'"),
    ("bars = 300", "bars = 300\nlast_bar = 1", "[generator] last_bar", "must be a string, got 1"),
])
def test_a_generator_parameter_of_the_wrong_type_is_named(tmp_path: Path, old: str, new: str, field: str,
                                                          problem: str) -> None:
    folder = copy_scenario(tmp_path)
    edit_toml(folder, old, new)
    with pytest.raises(InputError) as info:
        build_scenarios(update=False, root=tmp_path, log=quiet)
    assert info.value.field == field and info.value.problem == problem, str(info.value)
    assert info.value.fix.startswith("random_walk_signals's parameters are bars, assets = 1, start_price = 100.0")


def test_a_rotation_generator_table_parameter_must_be_a_table(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path, "rot_full_close")
    edit_toml(folder, "k = 5", "k = 5\nlisting = [1]")
    with pytest.raises(InputError, match=r"\[generator\] listing: must be a table, got \[1\]; top_k_momentum's parameters"):
        build_scenarios(update=False, root=tmp_path, log=quiet)


# ------------------------------------------------- regressions for bugs found in review
@pytest.mark.parametrize("old,new", [("bars = 300", 'bars = 300\nlast_bar = "middle"'),
                                     ("seed = 20210104", "seed = -1")])
def test_bad_generator_value_is_an_input_error(tmp_path: Path, old: str, new: str) -> None:
    folder = copy_scenario(tmp_path)
    edit_toml(folder, old, new)
    with pytest.raises(InputError):
        build_scenarios(update=False, root=tmp_path, log=quiet)
def test_update_keeps_a_commented_inputs_header_valid(tmp_path: Path) -> None:
    folder = copy_scenario(tmp_path)
    edit_toml(folder, "[inputs]\n", "[inputs]  # written by the build\n")
    load_scenario(folder)
    build_scenarios(update=True, root=tmp_path, log=quiet)
    load_scenario(folder)


def test_the_generator_writes_floats_exactly_as_the_results_do():
    import scenarios.generate as generate
    from harness import results

    for value in (0.1 + 0.2, 1e-300, 123456789.123, 100.0, 5e-324, -0.0):
        assert generate.format_float(value) == results.format_float(value)
    assert "harness" not in {name.split(".")[0] for name in vars(generate) if not name.startswith("_")}
