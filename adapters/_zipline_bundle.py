"""A scenario as a Zipline data bundle and trading calendar (zipline-reloaded 3.2.1), kept under reports/.

Zipline reads bars only from an ingested bundle, on the sessions of the
bundle's calendar: every bar must be a session and every session a bar. The
calendar is an ``exchange_calendars.ExchangeCalendar`` subclass whose sessions
from the first bar on are exactly the scenario's dates (weekdays, the weekdays
it lacks as ad hoc holidays); it is registered under a name of its own and passed to
``run_algorithm`` as ``trading_calendar`` (Zipline's ``get_calendar``, which
makes it right-sided as Zipline requires).

The bundle is ingested with Zipline's own writers (``bundles.register`` and
``bundles.ingest``: ``BcolzDailyBarWriter``, ``AssetDBWriter``,
``SQLiteAdjustmentWriter``, no adjustments) into
``reports/zipline-bundles/<scenario>/<key>/``, ``key`` a hash of the scenario's
input hashes, of the bars as loaded and of this module's format version: a
changed input gets a new bundle, and the stale ones of that scenario are removed. A bundle is built in
a staging folder beside it and renamed into place, so concurrent runs never
read a half-written one. Nothing is fetched: the bars come from the scenario.

Zipline stores daily prices as uint32 thousandths (bcolz_daily_bars.py:345:
``(raw_data[OHLC] * 1000).round().astype("uint32")``) and reads them back as
``price * 0.001`` (bcolz_daily_bars.py:674): a price off the 0.001 grid would be
moved, so such a scenario is :class:`harness.engines.Unsupported`, and so are
bars that are not whole days, and volumes that are not whole numbers a uint32 holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import numpy as np
import pandas as pd
from exchange_calendars import ExchangeCalendar, register_calendar_type
from zipline.data import bundles
from zipline.utils.calendar_utils import get_calendar

from harness.engines import Unsupported
from harness.scenario import Scenario

__all__ = ["BUNDLES_DIR", "Bundle", "prepare", "check_market", "sessions_of"]

BUNDLES_DIR = Path(__file__).resolve().parent.parent / "reports" / "zipline-bundles"
FORMAT = "parity-zipline-bundle-1"  # change it when the way a bundle is written changes
EXCHANGE = "PARITY"
UINT32_MAX = int(np.iinfo(np.uint32).max)
READY = "READY"  # written last into a finished bundle folder


@dataclass(frozen=True, slots=True)
class Bundle:
    """An ingested scenario: the bundle's name, its ZIPLINE_ROOT and the calendar to run it on."""

    name: str
    root: Path
    calendar_name: str
    sessions: pd.DatetimeIndex

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, "ZIPLINE_ROOT": str(self.root)}

    def calendar(self):
        _register_calendar(self.calendar_name, self.sessions)
        return get_calendar(self.calendar_name)


def sessions_of(scenario: Scenario) -> pd.DatetimeIndex:
    """The scenario's bars as Zipline sessions (dates); Unsupported if a bar is not a whole day."""
    stamps = scenario.market.timestamps
    bad = [t for t in stamps if len(t) != 10]
    if bad:
        raise Unsupported("prices.csv timestamp", f"Zipline runs daily sessions; bar {bad[0]!r} has a time of day")
    return pd.DatetimeIndex([pd.Timestamp(t) for t in stamps])


def check_market(scenario: Scenario) -> None:
    """What a bundle cannot hold as it is: prices off the 0.001 grid, volumes a uint32 cannot hold."""
    market = scenario.market
    sessions_of(scenario)
    for field in ("open", "high", "low", "close"):
        values = np.asarray(getattr(market, field))
        listed = values[~np.isnan(values)]
        thousandths = np.round(listed * 1000.0)
        off = listed[(thousandths / 1000.0 != listed) | (thousandths > UINT32_MAX)]
        if off.size:
            raise Unsupported("prices.csv price grid", f"Zipline stores prices as uint32 thousandths; {field} "
                                                       f"{off[0]!r} is not on the 0.001 grid")
    volume = np.asarray(market.volume)[~np.isnan(np.asarray(market.close))]
    if np.any(volume != np.floor(volume)) or np.any(volume > UINT32_MAX):
        raise Unsupported("prices.csv volume", "Zipline stores volumes as uint32 whole numbers")


def _register_calendar(calendar_name: str, sessions: pd.DatetimeIndex) -> None:
    # The calendar starts a week before the first bar: Zipline maps the first session's label (its midnight)
    # to a session with minute_to_session, which is out of bounds before the calendar's first open
    # (algorithm.py:1157, order_target_percent on the first bar). Those earlier sessions hold no bars.
    first, last = sessions[0] - pd.Timedelta(days=7), sessions[-1]
    every_day = any(day.weekday() >= 5 for day in sessions)
    span = pd.date_range(sessions[0], last, freq="D" if every_day else "B")
    missing = list(span.difference(sessions))

    class ScenarioCalendar(ExchangeCalendar):
        """The scenario's dates as sessions (open 09:31, close 16:00 UTC; Zipline uses the session dates)."""

        name = calendar_name
        tz = "UTC"
        open_times = ((None, time(9, 31)),)
        close_times = ((None, time(16)),)
        weekmask = "1111111" if every_day else "1111100"

        @classmethod
        def default_start(cls):
            return first

        @classmethod
        def default_end(cls):
            return last

        @property
        def adhoc_holidays(self):
            return missing

    register_calendar_type(calendar_name, ScenarioCalendar, force=True)


def _key(scenario: Scenario) -> str:
    """The input files' hashes, and the bars as loaded (a scenario built in memory has no input files)."""
    market = scenario.market
    digest = hashlib.sha256()
    for line in (FORMAT, *(f"{k}={v}" for k, v in sorted(scenario.spec.inputs.items())), *market.timestamps,
                 *market.assets):
        digest.update(line.encode("utf-8") + b"\n")
    for field in ("open", "high", "low", "close", "volume"):
        digest.update(np.ascontiguousarray(getattr(market, field), dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def _ingest(scenario: Scenario, sessions: pd.DatetimeIndex):
    market = scenario.market

    def ingest(environ, asset_db_writer, minute_bar_writer, daily_bar_writer, adjustment_writer, calendar,
               start_session, end_session, cache, show_progress, output_dir):
        close = np.asarray(market.close)
        firsts = [int(np.flatnonzero(~np.isnan(close[:, j]))[0]) for j in range(market.n_assets)]
        equities = pd.DataFrame({
            "symbol": list(market.assets),
            "asset_name": list(market.assets),
            "start_date": [sessions[f] for f in firsts],
            "end_date": [sessions[-1]] * market.n_assets,
            "exchange": EXCHANGE,
        })
        exchanges = pd.DataFrame({"exchange": [EXCHANGE], "canonical_name": [EXCHANGE], "country_code": ["US"]})
        asset_db_writer.write(equities=equities, exchanges=exchanges)

        def frames():
            for j in range(market.n_assets):
                rows = slice(firsts[j], None)
                yield j, pd.DataFrame({field: np.asarray(getattr(market, field))[rows, j]
                                       for field in ("open", "high", "low", "close", "volume")},
                                      index=sessions[rows])

        daily_bar_writer.write(frames(), show_progress=False)
        adjustment_writer.write()

    return ingest


def prepare(scenario: Scenario) -> Bundle:
    """The scenario's bundle, ingested if it is not there yet (or its inputs changed)."""
    check_market(scenario)
    sessions = sessions_of(scenario)
    key = _key(scenario)
    name = f"parity-{key}"
    bundle = Bundle(name=name, root=BUNDLES_DIR / scenario.name / key, calendar_name=f"PARITY-{key}",
                    sessions=sessions)
    bundle.calendar()  # registered before Zipline looks it up by name
    if name not in bundles.bundles:  # the same inputs give the same name: registered once per process
        bundles.register(name, _ingest(scenario, sessions), calendar_name=bundle.calendar_name,
                         start_session=sessions[0], end_session=sessions[-1], create_writers=True)
    if (bundle.root / READY).is_file():
        return bundle
    bundle.root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=bundle.root.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            bundles.ingest(name, environ={**os.environ, "ZIPLINE_ROOT": str(staging)}, show_progress=False)
        (staging / READY).write_text(f"{FORMAT}\n{scenario.name}\n", encoding="utf-8")
        try:
            staging.rename(bundle.root)
        except OSError:
            if not (bundle.root / READY).is_file():  # not another process's finished bundle: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for other in bundle.root.parent.iterdir():  # bundles of older inputs
        if other.name != key and not other.name.startswith(".staging-"):
            shutil.rmtree(other, ignore_errors=True)
    return bundle
