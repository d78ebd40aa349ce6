"""tox mirror of the nox sessions: one run and one test environment per registered engine.

tox discovers this inline plugin beside tox.ini. The environments come from the
engine registry in pyproject.toml (``[tool.parity.engines]``) and their
dependencies from its dependency groups, so nothing here names an engine or a version.

    tox list                                      the environments, two per engine
    tox -e tests-<engine>                         one environment's tests
    tox -e <engine> -- --scenario plain_close     run one engine
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from tox.config.loader.memory import MemoryLoader
from tox.config.sets import ConfigSet
from tox.plugin import impl
from tox.session.state import State

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness.registry import engine_entries  # noqa: E402  (standard library only)

ENGINES = engine_entries()


def _envs() -> dict[str, MemoryLoader]:
    """Per engine: its run and test environments. tox.ini's [testenv] holds the one command line,
    ``python -m {env:PARITY_TOOL} {env:PARITY_ARGS} {posargs}``; each environment sets the variables."""
    envs = {}
    for name, entry in ENGINES.items():
        for env, description, groups, tool, args in (
            (name, f"run the {name} engine on the scenario library", [entry.group], "harness", f"run --engine {name}"),
            (f"tests-{name}", f"tests that need the {name} environment", [entry.group, "test"], "pytest",
             f"tests/{name}" + (" tests/core" if name == "reference" else "")),
        ):
            envs[env] = MemoryLoader(description=description, base_python=[f"python{entry.python}"],
                                     dependency_groups=groups,
                                     set_env={"PYTHONPATH": str(ROOT), "PARITY_TOOL": tool, "PARITY_ARGS": args})
    return envs


@impl
def tox_extend_envs() -> Iterable[str]:
    return tuple(_envs())


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    for env, loader in _envs().items():
        state.conf.memory_seed_loaders[env].append(loader)
