"""``python -m harness new-engine NAME``: the skeleton of your own engine, registered.

Writes ``adapters/NAME.py`` (an :class:`harness.engines.Engine` subclass to fill
in), ``tests/NAME/test_NAME.py`` (its stored-scenario test, run in its own
environment), and appends its registry entry and dependency group to
pyproject.toml. Nothing is overwritten: an existing file or entry is an error.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.errors import HarnessError, InputError
from harness.registry import NAME, PYPROJECT, parse_registry

__all__ = ["new_engine"]

ROOT = PYPROJECT.parent

MODULE = '''"""The {name} engine: scenarios run through {framework}.

Fill in :meth:`{cls}.run_signals` (and :meth:`{cls}.run_rotation` if your engine
rebalances to target weights): translate the scenario into {framework}'s own
calls, let {framework} decide every fill, and return what it did as canonical
fills, rejections and equity. Declare in ``capabilities`` only what you
translate; anything else is reported ``unsupported`` with its knob.
"""

from __future__ import annotations

from harness.contract import Contract
from harness.engines import ANY, Engine, Output, make_fill, make_rejection
from harness.scenario import Scenario


class {cls}(Engine):
    name = "{name}"
    framework = "{framework}"  # the distribution whose version each result records
    # Per mode, the Contract fields this engine expresses: a tuple of accepted values, or ANY.
    capabilities = {{
        "contract": {{
            "fill": ("close",), "cash": ANY, "sizing_mode": ("fixed",), "size": ANY, "fee": ANY, "slippage": ANY,
        }},
    }}
    # Per mode and knob, how {framework} realises it: native, configured, assisted or computed (with a note).
    witness = {{
        "contract": {{
            "fill": ("native", "describe how a signal on bar t fills at close[t]"),
        }},
    }}
    # Stock mode only: the behaviour knobs that describe {framework} as shipped (see README).
    profile = {{}}

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        market = scenario.market  # (n_bars, n_assets) arrays: open, high, low, close, entries, exits
        raise NotImplementedError(
            "{name}: translate the scenario into {framework}'s calls and return "
            "Output(fills=[make_fill(...)], equity=[...], final_value=..., rejections=[make_rejection(...)])"
        )
'''

TEST = '''"""{name} on every stored scenario it supports, against the golden results (run in its own venv)."""

from __future__ import annotations

import pytest

from adapters.{name} import {cls}
from harness.engines import Unsupported
from tests.stored import stored_scenario_checks

CHECKS = stored_scenario_checks({cls}(), "contract")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_{name}_matches_the_golden_result(name):
    try:
        problems = CHECKS[name]()
    except Unsupported as exc:
        pytest.skip(f"unsupported: {{exc}}")
    assert problems == []
'''


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "MyEngine"


def _add_group(text: str, line: str, path: Path) -> str:
    """``line`` appended to the [dependency-groups] table (after its last entry)."""
    lines = text.splitlines(keepends=True)
    try:
        k = lines.index("[dependency-groups]\n") + 1
    except ValueError:
        raise InputError(path, "[dependency-groups]", "missing", "add the table (see README)") from None
    while k < len(lines) and lines[k].strip() and not lines[k].startswith(("[", "#")):
        k += 1
    return "".join(lines[:k] + [line] + lines[k:])


def new_engine(name: str, *, python: str = "3.11", framework: str | None = None, root: Path = ROOT) -> list[str]:
    """Write the skeleton and registry entry for engine ``name``; return what was done and what comes next."""
    if not NAME.match(name):
        raise HarnessError(f"engine name {name!r}: use lowercase letters, digits and _ (starting with a letter)")
    if not re.match(r"^3\.\d+$", python):
        raise HarnessError(f"--python {python!r}: give a version like 3.11 or 3.12")
    framework = framework or name
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    entries = parse_registry(doc, pyproject)
    if name in entries:
        raise InputError(pyproject, f"[tool.parity.engines.{name}]", "already registered", "choose another name")
    if name in doc.get("dependency-groups", {}):
        raise InputError(pyproject, f"[dependency-groups] {name}", "already exists", "choose another name")
    module = root / "adapters" / f"{name}.py"
    tests = root / "tests" / name
    for path in (module, tests):
        if path.exists():
            raise HarnessError(f"{path.relative_to(root)} exists already; choose another name or remove it")
    cls = _class_name(name)

    group_line = f'{name} = [{{ include-group = "core" }}]  # add {framework}, pinned: "{framework}==X.Y.Z"\n'
    text = _add_group(text, group_line, pyproject)
    entry = (f"\n[tool.parity.engines.{name}]\nmodule = \"adapters.{name}\"\ngroup = \"{name}\"\npython = \"{python}\"\n"
             f"modes = [\"contract\"]\ngate = false  # true once it runs: then `nox -s validate` judges it\n")
    marker = "[tool.pytest.ini_options]"
    text = text.replace(marker, entry.lstrip("\n") + "\n" + marker, 1) if marker in text else text.rstrip("\n") + "\n" + entry
    parse_registry(tomllib.loads(text), pyproject)  # what we write must read back

    module.write_text(MODULE.format(name=name, framework=framework, cls=cls), encoding="utf-8")
    tests.mkdir(parents=True)
    (tests / "__init__.py").write_text("", encoding="utf-8")
    (tests / f"test_{name}.py").write_text(TEST.format(name=name, cls=cls), encoding="utf-8")
    pyproject.write_text(text, encoding="utf-8")
    return [
        f"wrote adapters/{name}.py, tests/{name}/test_{name}.py",
        f"registered [tool.parity.engines.{name}] and [dependency-groups] {name} in pyproject.toml",
        f"next: pin {framework} in [dependency-groups] {name}, fill in {cls}.run_signals, then",
        f"      nox -s {name} && nox -s tests-{name}; set gate = true to have nox -s validate judge it",
    ]
