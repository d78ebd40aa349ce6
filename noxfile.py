"""Sessions of the parity harness. Every version pin lives in pyproject.toml's
[dependency-groups]; this file only reads them.

    nox -s validate            run the three engines (each in its own venv), compare with goldens
    nox -s tests               every environment's tests, then the validate gate
    nox -s reference|backtrader|vectorbt    run one engine on the scenario library
    nox -s golden              rewrite goldens from the reference run, only where all engines agree
    nox -s scenarios [-- --update]          rebuild scenario inputs; fail if they would change

Arguments after ``--`` go to the harness CLI, e.g. ``nox -s validate -- --scenario plain_close``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["validate"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = "3.11"
ENGINES = ("reference", "backtrader", "vectorbt")
RUNS = ROOT / "reports" / "runs"


def install(session: nox.Session, *groups: str) -> None:
    """Install the pinned dependency groups (the project itself runs from the checkout)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


def engine_session(engine: str):
    @nox.session(name=engine, python=PYTHON, default=False)
    def run(session: nox.Session) -> None:
        install(session, engine)
        session.run("python", "-m", "harness", "run", "--engine", engine, *session.posargs)

    run.__doc__ = f"Run the {engine} engine on the scenario library (reports/runs/{engine}/)."
    return run


def test_session(engine: str):
    @nox.session(name=f"tests-{engine}", python=PYTHON, default=False)
    def test(session: nox.Session) -> None:
        install(session, engine, "test")
        paths = [f"tests/{engine}"] + (["tests/core"] if engine == "reference" else [])
        session.run("python", "-m", "pytest", *paths, *session.posargs)

    test.__doc__ = f"Tests that need the {engine} environment."
    return test


for _engine in ENGINES:
    globals()[f"run_{_engine}"] = engine_session(_engine)
    globals()[f"test_{_engine}"] = test_session(_engine)


def _run_all_engines(session: nox.Session) -> None:
    """Each engine in its own session and venv. Failures are recorded in
    reports/runs/<engine>/run.json (or its absence) and judged by the gate."""
    if RUNS.exists():
        shutil.rmtree(RUNS)  # never judge a stale run
    for engine in ENGINES:
        session.log(f"--- engine {engine} ---")
        _run_nested(session, engine, session.posargs)


def _run_nested(session: nox.Session, name: str, posargs: list[str]) -> bool:
    try:
        session.run(sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", name,
                    *(["--", *posargs] if posargs else []), external=True)
        return True
    except nox.command.CommandFailed:
        session.warn(f"session {name} failed")
        return False


@nox.session(python=PYTHON)
def validate(session: nox.Session) -> None:
    """The gate: run every engine, compare each run with the goldens, write reports/latest/."""
    install(session, "core")
    _run_all_engines(session)
    session.run("python", "-m", "harness", "gate", *session.posargs)


@nox.session(python=PYTHON, default=False)
def golden(session: nox.Session) -> None:
    """Run every engine, then write goldens from the reference run where all engines agree."""
    install(session, "core")
    _run_all_engines(session)
    session.run("python", "-m", "harness", "golden", *session.posargs)


@nox.session(python=PYTHON, default=False)
def scenarios(session: nox.Session) -> None:
    """Rebuild scenario inputs from their specs; fails if a stored file would change (``-- --update`` stores them)."""
    install(session, "core")
    session.run("python", "-m", "harness", "scenarios", *session.posargs)


@nox.session(name="tests-e2e", python=PYTHON, default=False)
def tests_e2e(session: nox.Session) -> None:
    """The gate on the last validate run, with perturbed goldens and a missing framework: it must fail."""
    install(session, "core", "test")
    session.run("python", "-m", "pytest", "tests/e2e", *session.posargs)


@nox.session(python=PYTHON, default=False)
def tests(session: nox.Session) -> None:
    """Every environment's tests, then the validate gate, then the gate's own failure checks.
    Runs them all, then fails if any failed."""
    failed = [name for name in (*(f"tests-{e}" for e in ENGINES), "scenarios", "validate", "tests-e2e")
              if not _run_nested(session, name, [])]
    if failed:
        session.error(f"failed: {', '.join(failed)}")
    session.log("all test sessions and the validate gate passed")
