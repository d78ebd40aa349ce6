"""Rebuild scenario inputs from their specs and check them against the stored files."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.scenario import SCENARIOS_DIR, load_spec, scenario_names

__all__ = ["BuildOutcome", "build_scenarios"]

INPUTS_TABLE = re.compile(r"^\[\s*inputs\s*\][ \t]*(#[^\n]*)?$.*", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    scenario: str
    changed: tuple[str, ...]  # files whose stored bytes (or recorded hash) differ from a rebuild


def _with_inputs_table(toml_path: Path, toml_text: str, hashes: dict[str, str]) -> str:
    """The spec text with its trailing ``[inputs]`` table replaced by ``hashes``."""
    table = "[inputs]\n" + "".join(f'"{name}" = "{digest}"\n' for name, digest in sorted(hashes.items()))
    found = INPUTS_TABLE.search(toml_text)
    if found is None:
        return toml_text.rstrip("\n") + "\n\n" + table
    if re.search(r"^\[", found.group(0).split("\n", 1)[-1] if "\n" in found.group(0) else "", re.MULTILINE):
        raise InputError(toml_path, "[inputs]", "must be the last table of the file",
                         "move [inputs] to the end so the build can rewrite it")
    return toml_text[: found.start()].rstrip("\n") + "\n\n" + table


def build_scenarios(names: list[str] | None = None, *, update: bool, root: Path = SCENARIOS_DIR,
                    log=print) -> list[BuildOutcome]:
    """Rebuild each scenario's inputs; write them only when ``update`` is set."""
    from scenarios.generate import GENERATORS, build_inputs

    outcomes = []
    for name in names or scenario_names(root):
        folder = root / name
        spec = load_spec(folder, require_inputs=False)
        if spec.generator["name"] not in GENERATORS:
            raise InputError(spec.toml_path, "[generator] name", f"unknown generator {spec.generator['name']!r}",
                             f"use one of {', '.join(sorted(GENERATORS))}")
        try:
            texts = build_inputs(spec.generator)
        except (TypeError, ValueError) as exc:
            raise InputError(spec.toml_path, "[generator]", f"bad parameters ({exc})",
                             "see the generator's signature in scenarios/generate.py") from None
        hashes = {fn: hashlib.sha256(text.encode()).hexdigest() for fn, text in texts.items()}
        changed = []
        for fn, text in texts.items():
            path = folder / fn
            if not path.is_file() or path.read_bytes() != text.encode():
                changed.append(fn)
            elif spec.inputs.get(fn) != hashes[fn]:
                changed.append(f"{fn} (hash in scenario.toml)")
        toml_path = spec.toml_path
        toml_text = toml_path.read_text(encoding="utf-8")
        new_toml = _with_inputs_table(toml_path, toml_text, hashes)
        if new_toml != toml_text and not changed:
            changed.append("scenario.toml [inputs]")
        if changed and update:
            for fn, text in texts.items():
                (folder / fn).write_text(text, encoding="utf-8", newline="\n")
            toml_path.write_text(new_toml, encoding="utf-8", newline="\n")
        log(f"{name:32s} {'up to date' if not changed else ('rebuilt: ' if update else 'differs: ') + ', '.join(changed)}")
        outcomes.append(BuildOutcome(name, tuple(changed)))
    return outcomes
