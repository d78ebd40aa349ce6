"""Rebuild scenario inputs from their specs and check them against the stored files."""

from __future__ import annotations

import collections.abc
import hashlib
import inspect
import os
import re
import secrets
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from harness.errors import InputError
from harness.scenario import (GZIP_SUFFIX, SCENARIOS_DIR, gunzip_input, gzip_input, load_spec, read_scenario_file,
                              scenario_names)

__all__ = ["COMPRESS_ABOVE", "BuildOutcome", "build_scenarios", "stored_form"]

COMPRESS_ABOVE = 8 * 2**20  # an input longer than this (bytes) is stored gzip-compressed, as <name>.gz

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


KINDS = {  # a parameter's annotation -> the TOML values it takes, and their name
    bool: ((bool,), "true or false"), int: ((int,), "an integer"), float: ((int, float), "a number"),
    str: ((str,), "a string"), list: ((list,), "an array"), dict: ((dict,), "a table"),
    collections.abc.Mapping: ((dict,), "a table"),
}


def _kind(annotation: Any) -> tuple[tuple[type, ...], str] | None:
    options = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]  # None is the default's
    return KINDS.get(typing.get_origin(options[0]) or options[0]) if len(options) == 1 else None


def _parameters(name: str, function: Callable[..., Any]) -> str:
    """The fix for a bad [generator] table: the parameters after the seed, with their defaults."""
    params = list(inspect.signature(function).parameters.values())[1:]
    listed = ", ".join(p.name if p.default is p.empty else f"{p.name} = {p.default!r}" for p in params)
    return f"{name}'s parameters are {listed}"


def _check_parameters(toml_path: Path, generator: Mapping[str, Any], function: Callable[..., Any]) -> None:
    """The [generator] table sets only parameters ``function`` takes after the seed, each of its type."""
    params = {p.name: p for p in list(inspect.signature(function).parameters.values())[1:]}
    annotations = inspect.get_annotations(function, eval_str=True)
    fix = _parameters(generator["name"], function)
    for key, value in generator.items():
        if key in ("name", "seed"):
            continue
        if key not in params:
            raise InputError(toml_path, f"[generator] {key}", f"is not a parameter of {generator['name']}", fix)
        kind = _kind(annotations.get(key))
        if kind is not None and (not isinstance(value, kind[0]) or (isinstance(value, bool) and bool not in kind[0])):
            raise InputError(toml_path, f"[generator] {key}", f"must be {kind[1]}, got {value!r}", fix)
    for p in params.values():
        if p.default is p.empty and p.name not in generator:
            raise InputError(toml_path, f"[generator] {p.name}", "missing", fix)


def stored_form(name: str, data: bytes, compress_above: int = COMPRESS_ABOVE) -> str:
    """The file name input ``name`` is stored under: itself, or ``<name>.gz`` when its data are long."""
    return name + GZIP_SUFFIX if len(data) > compress_above else name


def _data_of(path: Path, stored: bytes) -> bytes | None:
    """The data a stored input holds: decompressed for ``.gz`` (None when not a valid gzip file)."""
    if not path.name.endswith(GZIP_SUFFIX):
        return stored
    try:
        return gunzip_input(path, stored)
    except InputError:
        return None


def _replace_file(path: Path, text: str | bytes) -> None:
    """Write ``path`` whole, as a new file: a symbolic link there is replaced, never written through."""
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    try:
        staging.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def build_scenarios(names: list[str] | None = None, *, update: bool, root: Path = SCENARIOS_DIR,
                    log=print, compress_above: int = COMPRESS_ABOVE) -> list[BuildOutcome]:
    """Rebuild each scenario's inputs; write them only when ``update`` is set.

    An input whose data exceed ``compress_above`` bytes is stored as ``<name>.gz``
    (:func:`harness.scenario.gzip_input`). A stored ``.gz`` whose data equal the
    rebuilt ones is up to date and kept as it is (another zlib may compress the
    same data to other bytes); its recorded hash must be of its stored bytes.
    """
    from scenarios.generate import GENERATORS, build_inputs

    outcomes = []
    for name in names or scenario_names(root):
        folder = root / name
        spec = load_spec(folder, require_inputs=False)
        if spec.generator["name"] not in GENERATORS:
            raise InputError(spec.toml_path, "[generator] name", f"unknown generator {spec.generator['name']!r}",
                             f"use one of {', '.join(sorted(GENERATORS))}")
        function = GENERATORS[spec.generator["name"]]
        _check_parameters(spec.toml_path, spec.generator, function)
        try:
            texts = build_inputs(spec.generator)
        except (TypeError, ValueError) as exc:
            raise InputError(spec.toml_path, "[generator]", f"bad parameters ({exc})",
                             _parameters(spec.generator["name"], function)) from None
        stored: dict[str, bytes] = {}  # stored file name -> its bytes after the build
        changed = []
        stale = []  # the other form of an input (prices.csv beside a prices.csv.gz): removed by the update
        for fn, text in texts.items():
            data = text.encode()
            kept = stored_form(fn, data, compress_above)
            other = fn if kept != fn else fn + GZIP_SUFFIX
            if read_scenario_file(folder, other) is not None:
                stale.append(other)
                changed.append(f"{other} (stored as {kept} now)")
            current = read_scenario_file(folder, kept)
            if current is None or _data_of(folder / kept, current) != data:
                changed.append(kept)
                stored[kept] = gzip_input(data) if kept != fn else data
                continue
            stored[kept] = current
            if spec.inputs.get(kept) != hashlib.sha256(current).hexdigest():
                changed.append(f"{kept} (hash in scenario.toml)")
        hashes = {kept: hashlib.sha256(data).hexdigest() for kept, data in stored.items()}
        toml_path = spec.toml_path
        toml_text = toml_path.read_text(encoding="utf-8")
        new_toml = _with_inputs_table(toml_path, toml_text, hashes)
        if new_toml != toml_text and not changed:
            changed.append("scenario.toml [inputs]")
        if changed and update:
            for kept, data in stored.items():
                _replace_file(folder / kept, data)
            for other in stale:
                (folder / other).unlink()
            _replace_file(toml_path, new_toml)
        log(f"{name:32s} {'up to date' if not changed else ('rebuilt: ' if update else 'differs: ') + ', '.join(changed)}")
        outcomes.append(BuildOutcome(name, tuple(changed)))
    return outcomes
