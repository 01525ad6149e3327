"""scripts/clock-sweep's clock shim (tests/clockshim/sitecustomize.py), in a process of its own
as the sweep runs it: warmup's clock and the tests' are moved alike, the rest still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import datetime as dt, json, time
import pandas, pendulum                      # compiled code built against the real types
from warmup.instants import now_utc
from tests import zonekit                    # a tests module: its datetime is moved too
from warmup.ledger.values import Live, live_now, made_by  # a subclass of warmup's datetime

def later():
    import datetime                          # an import in a function, after start-up
    return datetime.datetime.now(datetime.UTC).timestamp()

day = dt.date(2026, 11, 16)
asked = dt.datetime(2026, 6, 10, 16, tzinfo=dt.UTC)  # 2026-06-11 00:00 in Shanghai
print(json.dumps({
    "warmup": now_utc().timestamp(),
    "tests": zonekit.dt.datetime.now(zonekit.dt.UTC).timestamp(),
    "local_import": later(),
    "time": time.time(),
    "real_instance": isinstance(pendulum.datetime(2026, 1, 1), dt.datetime),
    "made_is_real": type(dt.datetime(2026, 1, 1)).__module__ + "." + type(dt.datetime(2026, 1, 1)).__qualname__,
    "date_is_real": type(day) is dt.date,
    "name": dt.datetime.__name__,
    "pandas": str(pandas.Timestamp(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).year),
    "plain_is_live": isinstance(asked, Live),
    "live_is_live": type(live_now()) is Live and isinstance(live_now(), Live),
    "counted_to": made_by(asked, "Asia/Shanghai")[0].isoformat(),
}))
"""


def _probe(tmp_path: Path, shift: str | None) -> dict[str, Any]:
    """The probe, as a test module would be imported (its name starts with test_)."""
    (tmp_path / "test_clock_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "WARMUP_TEST_CLOCK_SHIFT"}
    env["PYTHONPATH"] = os.pathsep.join(map(str, (ROOT / "tests" / "clockshim", ROOT, tmp_path)))
    if shift is not None:
        env["WARMUP_TEST_CLOCK_SHIFT"] = shift
    out = subprocess.run(
        [sys.executable, "-c", "import test_clock_probe"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


# this test's own clock, moved when scripts/clock-sweep runs it
MOVED = float(os.environ.get("WARMUP_TEST_CLOCK_SHIFT") or 0)


def test_the_shim_moves_warmup_s_clock_and_the_tests_and_breaks_nothing(tmp_path: Path) -> None:
    before = time.time() - MOVED
    got = _probe(tmp_path, "-86400")
    after = time.time() - MOVED
    for key in ("warmup", "tests", "local_import", "time"):
        assert before - 86400 - 1 <= got[key] <= after - 86400 + 1, (key, got)
    assert got["real_instance"] and got["date_is_real"], got
    assert got["made_is_real"] == "datetime.datetime" and got["name"] == "datetime", got
    assert got["pandas"] == "2026", got
    # A subclass (warmup's Live, "now" asked live) is a subclass as without the shim: every
    # datetime passed for Live, so 'quota --at 2026-06-11' counted the whole local day, a
    # send at 07:00 included, and the sweep failed test_a_date_alone_is_local_midnight.
    assert not got["plain_is_live"] and got["live_is_live"], got
    assert got["counted_to"] == "2026-06-10T16:05:00+00:00", got


def test_without_a_shift_the_shim_does_nothing(tmp_path: Path) -> None:
    before = time.time() - MOVED
    got = _probe(tmp_path, None)
    assert before - 1 <= got["warmup"] <= time.time() - MOVED + 1, got
    assert got["name"] == "datetime", got
