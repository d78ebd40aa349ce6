"""One door for every engine: the :class:`Engine` base and loading engines from the registry.

An engine declares what it can express per mode (``capabilities``), how it
realises each knob (``witness``) and, for ``stock`` mode, the knob values that
describe its framework's own behaviour (``profile``). :meth:`Engine.run` is the
one entry point: it resolves the contract the run is judged by, refuses what the
engine cannot express (:class:`Unsupported`, naming the knob), dispatches on the
sizing mode and builds and validates the canonical result. An engine implements
only the translation: :meth:`Engine.run_signals` and :meth:`Engine.run_rotation`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, ClassVar, Literal, Mapping, Sequence, final, get_args

from harness.contract import KNOB_BY_FIELD, SIGNAL_SIZING_MODES, Contract, apply_profile, knob_key, knob_problem
from harness.errors import HarnessError
from harness.registry import EngineEntry, engine_entries
from harness.results import Fill, Rejection, RunResult, build_result, validate_result
from harness.scenario import Scenario

__all__ = ["ANY", "Mode", "MODES", "WitnessLevel", "WITNESS_LEVELS", "Unsupported", "Output", "Engine",
           "load_engine", "make_fill", "make_rejection"]

Mode = Literal["contract", "stock"]
MODES: tuple[str, ...] = get_args(Mode)
WitnessLevel = Literal["native", "configured", "assisted", "computed"]
WITNESS_LEVELS: tuple[str, ...] = get_args(WitnessLevel)


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()  # capabilities: every value of the knob is accepted


class Unsupported(HarnessError):
    """The engine cannot express this scenario in this mode; ``knob`` names what it lacks."""

    def __init__(self, knob: str, why: str):
        self.knob = knob
        self.why = why
        super().__init__(f"{knob}: {why}")


@dataclass(frozen=True, slots=True)
class Output:
    """What an engine's translation returns: its framework's fills, rejections and equity."""

    fills: Sequence[Fill]
    equity: Sequence[float]
    final_value: float
    rejections: Sequence[Rejection] = ()


class Engine:
    """Base of every engine. Subclasses set the class attributes and the translation hooks.

    ``capabilities[mode]`` maps a Contract field (``fill``, ``stop_loss``, ...) to the
    values the engine accepts in that mode (a tuple) or :data:`ANY`. A scenario that
    uses a knob the mode does not list, or a value it does not accept, is
    :class:`Unsupported`. In ``stock`` mode the profile's values are accepted as they are.
    """

    name: ClassVar[str]
    framework: ClassVar[str]  # the distribution whose version is recorded
    capabilities: ClassVar[Mapping[str, Mapping[str, Any]]]
    profile: ClassVar[Mapping[str, Any]] = {}
    profile_evidence: ClassVar[Mapping[str, str]] = {}  # per profile knob: what in the framework makes it so
    witness: ClassVar[Mapping[str, Mapping[str, tuple[str, str]]]] = {}
    # False when the framework cannot run in a forked process (its thread pool, e.g. polars', does not
    # survive a fork): the runner then runs its scenarios one by one, whatever --jobs says.
    fork_safe: ClassVar[bool] = True

    def framework_version(self) -> str:
        return version(self.framework)

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m for m in MODES if m in self.capabilities)

    # -- the door -------------------------------------------------------------------

    def judged_contract(self, contract: Contract, mode: str) -> Contract:
        """The contract a run in ``mode`` is judged by: the scenario's, plus the profile in stock mode.

        Raises :class:`Unsupported` when the engine cannot express it.
        """
        if mode not in self.modes:
            raise Unsupported("mode", f"{self.name} has no {mode} mode (modes: {', '.join(self.modes)})")
        judged = contract
        if mode == "stock" and self.profile:
            judged, conflict = apply_profile(contract, self.profile)
            if conflict is not None:
                raise Unsupported(knob_key(conflict),
                                  f"the scenario sets {conflict} = {getattr(contract, conflict)!r}; stock {self.name} "
                                  f"always behaves as {conflict} = {self.profile[conflict]!r}")
        caps = self.capabilities[mode]
        for field, value in judged.as_dict().items():
            if mode == "stock" and field in self.profile:
                continue
            accepted = caps.get(field)
            if accepted is None:
                raise Unsupported(knob_key(field), f"{self.name} ({mode} mode) cannot express this knob "
                                                   f"(the scenario sets {value!r})")
            if accepted is not ANY and value not in accepted:
                raise Unsupported(knob_key(field), f"{self.name} ({mode} mode) accepts "
                                                   f"{', '.join(map(repr, accepted))}, the scenario sets {value!r}")
        return judged

    @final
    def run(self, scenario: Scenario, mode: str = "contract") -> RunResult:
        """Run ``scenario`` in ``mode``; the canonical, validated result."""
        judged = self.judged_contract(scenario.spec.contract, mode)
        self.check(scenario, judged, mode)
        if judged.sizing_mode == "target_weights":
            out = self.run_rotation(scenario, judged, mode)
        elif judged.sizing_mode in SIGNAL_SIZING_MODES:
            out = self.run_signals(scenario, judged, mode)
        else:  # the loader admits no other; a Contract built by hand might
            raise Unsupported(knob_key("sizing_mode"), f"unknown sizing mode {judged.sizing_mode!r}")
        result = build_result(scenario, engine=self.name, mode=mode, framework=self.framework,
                              framework_version=self.framework_version(), contract=judged, fills=out.fills,
                              equity=out.equity, final_value=out.final_value, rejections=out.rejections)
        validate_result(result)
        return result

    # -- hooks ------------------------------------------------------------------------

    def check(self, scenario: Scenario, contract: Contract, mode: str) -> None:
        """Refuse (raise :class:`Unsupported`) what the capability table cannot say, e.g. a combination."""

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        raise Unsupported(knob_key("sizing_mode"), f"{self.name} does not run signal scenarios")

    def run_rotation(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        raise Unsupported(knob_key("sizing_mode"), f"{self.name} does not run target-weight rotations")


def load_engine(name: str, entries: Mapping[str, EngineEntry] | None = None) -> Engine:
    """Import a registered engine's module and instantiate its Engine subclass.

    ImportError (the framework is not installed in this virtualenv) propagates.
    """
    entries = engine_entries() if entries is None else entries
    if name not in entries:
        raise HarnessError(f"unknown engine {name!r}; registered engines: {', '.join(entries)}")
    module = importlib.import_module(entries[name].module)
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, Engine) and obj is not Engine
               and obj.__module__ == module.__name__ and getattr(obj, "name", None) == name]
    if len(classes) != 1:
        raise HarnessError(f"{entries[name].module} must define exactly one Engine subclass with name = {name!r}, "
                           f"found {len(classes)}")
    engine = classes[0]()
    for mode in entries[name].modes:
        if mode not in engine.modes:
            raise HarnessError(f"engine {name}: the registry lists mode {mode!r} but {classes[0].__name__}.capabilities "
                               f"has no {mode!r} entry")
    for field, value in engine.profile.items():
        knob = KNOB_BY_FIELD.get(field)
        problem = "not a behaviour knob" if knob is None or not knob.behaviour else knob_problem(knob, value)
        if problem is None and value == knob.default:
            problem = "the contract's own value (a profile lists departures only)"
        if problem is None and engine.profile_evidence and field not in engine.profile_evidence:
            problem = "no profile_evidence entry says why"
        if problem:
            raise HarnessError(f"engine {name}: profile[{field!r}] = {value!r}: {problem}")
    for mode, table in engine.witness.items():
        for field, (level, _note) in table.items():
            if level not in WITNESS_LEVELS or field not in KNOB_BY_FIELD:
                raise HarnessError(f"engine {name}: witness[{mode!r}][{field!r}] = {level!r}: the level must be one of "
                                   f"{', '.join(WITNESS_LEVELS)} and the field a contract knob")
    return engine


def make_rejection(scenario: Scenario, asset_index: int, bar: int, side: str, size: float, reason: str) -> Rejection:
    """A canonical rejection; ``bar`` is the bar the order would have filled on."""
    market = scenario.market
    return Rejection(asset=market.assets[asset_index], bar=int(bar), timestamp=market.timestamps[bar],
                     side=side, size=float(size), reason=reason)  # type: ignore[arg-type]


def make_fill(scenario: Scenario, asset_index: int, bar: int, side: str, size: float,
              price: float, fee: float, reason: str) -> Fill:
    """A canonical fill from an engine's (asset column, bar index) coordinates."""
    market = scenario.market
    return Fill(asset=market.assets[asset_index], bar=int(bar), timestamp=market.timestamps[bar],
                side=side, size=float(size), price=float(price), fee=float(fee), reason=reason)  # type: ignore[arg-type]
