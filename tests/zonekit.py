"""The time zone the kits' mailboxes live in, and clocks clear of a day's end.

Tests that add mailboxes through the kits (``add_box`` in tests/gatekit.py, ``pool_of`` and
``add_box`` in tests/outboxkit.py) and then send, count or choose on the real clock read the
clock more than once: a local midnight between two reads gives a new day's quota, and the
test fails when the suite runs then. exmail's own zone, Asia/Shanghai, has its midnight at
16:00 UTC, in the middle of a European working day. So the kits put a mailbox, unless told
otherwise, in :func:`kit_zone`: a fixed-offset zone in which the test began between 12:00 and
13:00, fixed for the whole test (every mailbox of a test has the same day), where no midnight
falls for 11 hours. A test about Shanghai's days names the zone (``zone=SHANGHAI``) and pins
its clock. Used as a pytest plugin (tests/conftest.py) for its autouse fixture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = "Asia/Shanghai"  # exmail's (and NetEase's, Alibaba's) zone: midnight at 16:00 UTC

_zone: str | None = None  # this test's kit_zone(), set as its setup begins


def midday_zone(now: dt.datetime | None = None) -> str:
    """A fixed-offset zone in which ``now`` (default: this moment) is between 12:00 and 13:00.
    For a test whose worker must meet a change made by the CLI at the real time (a member added
    to a pool makes its waiting messages due at once): it cannot move its clock back from the
    last hours of a Shanghai day, as :func:`clear_of_midnight` does, and stay in one day."""
    hour = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).hour
    east = 12 - hour  # hours east of UTC: -11 .. 12
    return "Etc/UTC" if east == 0 else f"Etc/GMT{-east:+d}"  # Etc/GMT-N is N hours east


def clear_of_midnight(now: dt.datetime | None = None, zone: str = SHANGHAI) -> dt.datetime:
    """``now`` (default: this moment, to the second), or 3 hours earlier when it falls in the
    last 3 hours of ``zone``'s day: a worker driven by a clock that starts there and runs on for
    minutes stays in one day. A clock started at 23:58 crossed into the next day, whose new
    quota let the waiting messages go, and three tests of the worker failed when the suite ran
    near 16:00 UTC."""
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return now - dt.timedelta(hours=3) if now.astimezone(ZoneInfo(zone)).hour >= 21 else now


def kit_zone() -> str:
    """The zone a kit helper gives a mailbox it is not told one for: :func:`midday_zone` of the
    moment this test's setup began (outside a test: of now). One zone for the whole test, so
    two mailboxes added an hour apart, across a UTC hour or midnight, still share their day."""
    return _zone or midday_zone()


@pytest.fixture(autouse=True)
def _kit_zone() -> Iterator[None]:
    global _zone
    _zone = midday_zone()
    yield
    _zone = None
