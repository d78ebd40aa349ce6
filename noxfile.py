"""Sessions of the parity harness. Engines come from the registry and every version pin from the
dependency groups, both in pyproject.toml; this file only reads them.

    nox -s validate            run every gate engine (each in its own venv), then judge the runs
    nox -s tests               every environment's tests, the scenario-input check and every engine's run,
                               two at a time; then the gate and its own failure checks
    nox -s <engine>            run one engine on the scenario library (`nox -l` lists them)
    nox -s tests-<engine>      one environment's tests
    nox -s golden              rewrite goldens from the reference run, only where all engines agree
    nox -s scenarios [-- --update]          rebuild scenario inputs; fail if they would change
    nox -s bench               performance bench: every engine on generated workloads, reports/bench/

Arguments after ``--`` go to every engine run and to the gate, e.g.
``nox -s validate -- --scenario plain_close`` or ``-- --skip-tag large``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["validate"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness.registry import engine_entries  # noqa: E402  (standard library only)

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
REGISTRY = engine_entries()
CORE_PYTHON = REGISTRY["reference"].python  # the gate runs beside the reference engine (it re-runs it)
RUNS = ROOT / "reports" / "runs"


def interpreter(version: str) -> str:
    """``version`` as nox should look for it; a pyenv-installed Python whose shim is not active is used by path."""
    name = f"python{version}"
    found = shutil.which(name)
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return version
    for root in filter(None, (os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"))):
        candidates = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", name)))
        if candidates:
            return candidates[-1]
    return version  # nox reports it missing, and the gate says how to get it


def install(session: nox.Session, *groups: str) -> None:
    """Install the pinned dependency groups (the project itself runs from the checkout).

    uv is told to compile bytecode at install time, as pip does by default: otherwise every
    process imports numba, pandas and vectorbt from source when PYTHONDONTWRITEBYTECODE is set.
    """
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups), env={"UV_COMPILE_BYTECODE": "1"})


def engine_session(name: str, entry):
    @nox.session(name=name, python=interpreter(entry.python), default=False)
    def run(session: nox.Session) -> None:
        install(session, entry.group)
        session.run("python", "-m", "harness", "run", "--engine", name, *session.posargs)

    run.__doc__ = f"Run the {name} engine on the scenario library ({', '.join(entry.modes)} modes)."
    return run


def test_session(name: str, entry):
    @nox.session(name=f"tests-{name}", python=interpreter(entry.python), default=False)
    def test(session: nox.Session) -> None:
        install(session, entry.group, "test")
        paths = [f"tests/{name}"] + (["tests/core"] if name == "reference" else [])
        session.run("python", "-m", "pytest", *paths, *session.posargs)

    test.__doc__ = f"Tests that need the {name} environment."
    return test


def bench_session(name: str, entry):
    @nox.session(name=f"bench-{name}", python=interpreter(entry.python), default=False)
    def bench_engine(session: nox.Session) -> None:
        install(session, entry.group)
        session.run("python", "-m", "harness.bench", "engine", "--engine", name, *session.posargs)

    bench_engine.__doc__ = f"The bench's workloads on the {name} engine, in a venv of its own (part of `nox -s bench`)."
    return bench_engine


for _name, _entry in REGISTRY.items():
    globals()[f"run_{_name}"] = engine_session(_name, _entry)
    globals()[f"test_{_name}"] = test_session(_name, _entry)
    globals()[f"bench_{_name}"] = bench_session(_name, _entry)


def gate_engines() -> list[str]:
    return [name for name, entry in REGISTRY.items() if entry.gate]


REUSE_OPTIONS = {"-r", "-R", "-N", "--reuse-existing-virtualenvs", "--no-reuse-existing-virtualenvs", "--no-install"}


def reuse_options(argv: list[str]) -> list[str]:
    """The outer nox command's virtualenv-reuse options, for the sessions it runs nested
    (so that `nox -r -s validate` reuses every engine's environment too)."""
    out, k = [], 0
    while k < len(argv) and argv[k] != "--":
        arg = argv[k]
        if arg in REUSE_OPTIONS or arg.startswith("--reuse-venv="):
            out.append(arg)
        elif arg == "--reuse-venv" and k + 1 < len(argv):
            out += argv[k:k + 2]
            k += 1
        k += 1
    return out


def _nested_command(name: str, posargs: list[str]) -> list[str]:
    return [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *reuse_options(sys.argv[1:]),
            "-s", name, *(["--", *posargs] if posargs else [])]


def _run_nested(session: nox.Session, name: str, posargs: list[str]) -> bool:
    try:
        session.run(*_nested_command(name, posargs), external=True)
        return True
    except nox.command.CommandFailed:
        session.warn(f"session {name} failed")
        return False


LOGS = ROOT / ".nox" / "logs"
WORKERS = 2  # nested sessions at a time: each test session is one pytest process, the machine has two cores


def _run_nested_parallel(session: nox.Session, names: list[str]) -> list[str]:
    """Run the nested sessions ``names`` WORKERS at a time, in the order given (longest first keeps both
    cores busy); each one's whole output is printed when it ends (also kept in .nox/logs/<name>.log).
    Returns the sessions that failed."""
    LOGS.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> tuple[str, int, float]:
        start = time.monotonic()
        with open(LOGS / f"{name}.log", "w", encoding="utf-8") as log:
            code = subprocess.run(_nested_command(name, []), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        return name, code, time.monotonic() - start

    failed = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(one, name) for name in names]
        for done in as_completed(futures):
            name, code, seconds = done.result()
            print((LOGS / f"{name}.log").read_text(encoding="utf-8"), end="", flush=True)
            session.log(f"=== {name}: {'passed' if code == 0 else 'FAILED'} in {seconds:.0f} s ===")
            if code != 0:
                failed.append(name)
    return sorted(failed)


ENGINE_OPTIONS = {"--scenario": True, "--skip-tag": True, "--quiet": False, "--jobs": True}  # option -> takes a value


def engine_args(posargs: list[str]) -> list[str]:
    """The arguments after ``--`` that also concern the engine runs (scenario selection, --quiet, --jobs)."""
    out, k = [], 0
    while k < len(posargs):
        arg = posargs[k]
        name = arg.split("=", 1)[0]
        if name in ENGINE_OPTIONS:
            takes_value = ENGINE_OPTIONS[name] and "=" not in arg
            out += posargs[k:k + 1 + takes_value]
            k += 1 + takes_value
        else:
            k += 1
    return out


def _clear_runs() -> None:
    if RUNS.exists():
        shutil.rmtree(RUNS)  # never judge a stale run


def _run_all_engines(session: nox.Session) -> None:
    """Each engine in its own session and venv; its outcome is in reports/runs/<engine>/run.json."""
    _clear_runs()
    for name in gate_engines():
        session.log(f"--- engine {name} ---")
        _run_nested(session, name, engine_args(session.posargs))


@nox.session(python=CORE_PYTHON)
def validate(session: nox.Session) -> None:
    """The gate: run every gate engine, judge each run, write reports/latest/."""
    install(session, REGISTRY["reference"].group)
    _run_all_engines(session)
    session.run("python", "-m", "harness", "gate", *session.posargs)


@nox.session(python=CORE_PYTHON, default=False)
def gate(session: nox.Session) -> None:
    """Judge the engines' last runs (reports/runs/) without running them: CI's judge job."""
    install(session, REGISTRY["reference"].group)
    session.run("python", "-m", "harness", "gate", *session.posargs)


@nox.session(python=CORE_PYTHON, default=False)
def golden(session: nox.Session) -> None:
    """Run every engine, then write goldens from the reference run where all engines agree."""
    install(session, REGISTRY["reference"].group)
    _run_all_engines(session)
    session.run("python", "-m", "harness", "golden", *session.posargs)


@nox.session(python=CORE_PYTHON, default=False)
def scenarios(session: nox.Session) -> None:
    """Rebuild scenario inputs from their specs; fails if a stored file would change (``-- --update`` stores them)."""
    install(session, "core")
    session.run("python", "-m", "harness", "scenarios", *session.posargs)


@nox.session(name="tests-e2e", python=CORE_PYTHON, default=False)
def tests_e2e(session: nox.Session) -> None:
    """The gate on the last validate run, with perturbed goldens and a missing framework: it must fail."""
    install(session, REGISTRY["reference"].group, "test")
    session.run("python", "-m", "pytest", "tests/e2e", *session.posargs)


@nox.session(python=CORE_PYTHON, default=False)
def tests(session: nox.Session) -> None:
    """Every environment's tests, the scenario-input check and every gate engine's run (what `validate` runs),
    two sessions at a time; then the gate on those runs, then the gate's own failure checks. Runs them all,
    then fails if any failed."""
    _clear_runs()
    jobs = [*(f"tests-{name}" for name in REGISTRY), *gate_engines(), "scenarios"]
    # The longest first (from CI logs: the vectorbt and reference tests, the Backtrader and ml4t runs with the
    # 500-asset scenario), so that the two workers finish together.
    slow_first = ["tests-vectorbt", "backtrader", "tests-reference", "ml4t", "vectorbt"]
    jobs.sort(key=lambda name: slow_first.index(name) if name in slow_first else len(slow_first))
    failed = _run_nested_parallel(session, jobs)
    if any(name in failed for name in gate_engines()):
        session.warn("an engine session failed: the gate judges what it left (its run.json says why)")
    failed += [name for name in ("gate", "tests-e2e") if not _run_nested(session, name, [])]
    if failed:
        session.error(f"failed: {', '.join(failed)}")
    session.log("all test sessions, the engine runs and the gate passed")


@nox.session(python=CORE_PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Performance bench (not part of validate): every registered engine on the same generated workloads, each
    in its own venv (`bench-<engine>`), the root-cause search, `nox -r -s validate` timed; writes
    reports/bench/bench.json and bench.md (the timed validate rewrites reports/runs/ and reports/latest/ as any
    validate does). Arguments after `--` go to every step, e.g. `-- --workload W1` or `-- --no-validate`."""
    install(session, REGISTRY["reference"].group)
    session.run("python", "-m", "harness.bench", "clean", *session.posargs)
    for name in REGISTRY:
        session.log(f"--- bench: engine {name} ---")
        _run_nested(session, f"bench-{name}", session.posargs)
    session.run("python", "-m", "harness.bench", "explain", *session.posargs)
    session.run("python", "-m", "harness.bench", "profile", *session.posargs)
    session.run("python", "-m", "harness.bench", "validate", "--nox-python", sys.executable, *session.posargs)
    session.run("python", "-m", "harness.bench", "report", *session.posargs)
