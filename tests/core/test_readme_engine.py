"""README's "Validate your own engine" section, followed as written in a copy of the repository.

Its commands are read from the README itself (so the section and this test
cannot drift apart): the scaffold command, then the engine filled in (here with
the toy engine written from the README's rules, tests/core/toy_engine.py, and
numpy standing in for the reader's framework), then the run and the gate from
"Without nox". The gate must judge the new engine and pass.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reference

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".nox", ".tox", "reports", "__pycache__", ".pytest_cache"}


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def run(copy: Path, command: str) -> subprocess.CompletedProcess:
    args = command.split()
    assert args[:3] == ["python", "-m", "harness"], command
    return subprocess.run([sys.executable, *args[1:]], cwd=copy, capture_output=True, text=True)


def test_the_readme_section_adds_an_engine_the_gate_judges(tmp_path):
    section = readme_section("Validate your own engine")
    scaffold = re.search(r"`(python -m harness new-engine (\w+) --framework (\w+))`", section)
    assert scaffold, "the section must show the new-engine command"
    command, name, framework = scaffold.groups()
    without_nox = readme_section("Without nox")
    run_line = re.search(r"python -m harness run --engine \w+", without_nox).group(0)
    gate_line = re.search(r"python -m harness gate --engine \w+", without_nox).group(0)

    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=lambda d, names: [n for n in names if n in SKIP])
    # Step 1, as written, with numpy standing in for the reader's framework (installed here).
    done = run(copy, command.replace(framework, "numpy"))
    assert done.returncode == 0, done.stderr
    assert "registered [tool.parity.engines." + name in done.stdout
    module = copy / "adapters" / f"{name}.py"
    skeleton = module.read_text()
    assert f'name = "{name}"' in skeleton and "def run_signals" in skeleton
    # Before it is filled in, the engine is an error, never a pass.
    assert run(copy, run_line.replace("reference", name)).returncode == 1
    # Step 2: fill in the class (the toy engine's capabilities and translation).
    # (the class keeps the scaffold's name: the generated tests/<name>/ test imports it)
    cls = re.search(r"^class (\w+)\(Engine\)", skeleton, re.M).group(1)
    module.write_text(f'from tests.core.toy_engine import Toy\n\n\nclass {cls}(Toy):\n    name = "{name}"\n')
    # Step 3: gate = true, run it, judge it.
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "gate = false  # true once it runs: then `nox -s validate` judges it", "gate = true"))
    done = run(copy, run_line.replace("reference", name))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    done = run(copy, gate_line.replace("reference", name) + " --quiet")
    summary = json.loads((copy / "reports" / "latest" / "summary.json").read_text())
    statuses = {r["status"] for r in summary["records"]}
    assert done.returncode == 0 and statuses <= {"pass", "unsupported"} and "pass" in statuses, \
        (statuses, done.stdout[-3000:])
    # Its generated stored-scenario test passes in the copy too.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{name}"],
                           cwd=copy, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout[-3000:]
