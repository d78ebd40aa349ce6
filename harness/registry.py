"""The engine registry: ``[tool.parity.engines]`` in pyproject.toml, the one list of engines.

Each entry names the module holding the engine's :class:`harness.engines.Engine`
subclass, the dependency group of its virtualenv, its Python version, the modes
it runs in and whether the default gate runs it. noxfile.py, toxfile.py, the CLI
and the tests read it through this module (noxfile.py reads the same table with
nox's own TOML loader); nothing else lists engines.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from harness.errors import InputError

__all__ = ["PYPROJECT", "MODES", "EngineEntry", "engine_entries", "parse_registry", "entry"]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
MODES = ("contract", "stock")
ENTRY_KEYS = {"module": str, "group": str, "python": str, "modes": list, "gate": bool}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class EngineEntry:
    """One engine as the registry declares it."""

    name: str
    module: str
    group: str
    python: str
    modes: tuple[str, ...]
    gate: bool

    @property
    def tests(self) -> str:
        """Its tests folder: tests/<name> (run in the engine's own virtualenv)."""
        return f"tests/{self.name}"


def parse_registry(doc: Mapping[str, Any], path: Path | str = PYPROJECT) -> dict[str, EngineEntry]:
    """Validate ``[tool.parity.engines]`` of a parsed pyproject.toml."""
    table = doc.get("tool", {}).get("parity", {}).get("engines")
    if not isinstance(table, dict) or not table:
        raise InputError(path, "[tool.parity.engines]", "missing or empty",
                         'add one [tool.parity.engines.NAME] table per engine (see README: "Validate your own engine")')
    out: dict[str, EngineEntry] = {}
    for name, raw in table.items():
        where = f"[tool.parity.engines.{name}]"
        if not NAME.match(name):
            raise InputError(path, where, "engine names are lowercase letters, digits and _", "rename the table")
        if not isinstance(raw, dict):
            raise InputError(path, where, "must be a table", f"write {where} with module, group, python, modes, gate")
        for key in raw:
            if key not in ENTRY_KEYS:
                raise InputError(path, f"{where} {key}", "unknown key", f"allowed keys: {', '.join(ENTRY_KEYS)}")
        for key, kind in ENTRY_KEYS.items():
            if not isinstance(raw.get(key), kind):
                raise InputError(path, f"{where} {key}", f"missing or not a {kind.__name__}",
                                 'e.g. module = "adapters.myengine", group = "myengine", python = "3.11", '
                                 'modes = ["contract", "stock"], gate = true')
        modes = tuple(raw["modes"])
        if not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
            raise InputError(path, f"{where} modes", f"must be a non-empty list of distinct modes from {MODES}, got {list(modes)!r}",
                             'e.g. modes = ["contract", "stock"]')
        if not re.match(r"^3\.\d+$", raw["python"]):
            raise InputError(path, f"{where} python", f"must be a version like \"3.11\", got {raw['python']!r}", 'e.g. python = "3.12"')
        out[name] = EngineEntry(name=name, module=raw["module"], group=raw["group"], python=raw["python"],
                                modes=modes, gate=raw["gate"])
    return out


def engine_entries(path: Path = PYPROJECT) -> dict[str, EngineEntry]:
    """Every registered engine, in registry order."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(path, None, f"cannot read ({exc})", "fix pyproject.toml") from None
    return parse_registry(doc, path)


def entry(name: str, path: Path = PYPROJECT) -> EngineEntry:
    entries = engine_entries(path)
    if name not in entries:
        raise InputError(path, "[tool.parity.engines]", f"no engine named {name!r}",
                         f"choose one of {', '.join(entries)}, or register it (python -m harness new-engine {name})")
    return entries[name]
