"""The kits' mailboxes live, unless a test names a zone, where no midnight falls while it runs
(tests/zonekit.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.zonekit import kit_zone, midday_zone


def test_the_kit_zone_is_midday_as_the_test_began_and_one_for_the_whole_test() -> None:
    """Read as the test runs (a second or an hour after its setup), the zone is the one its
    setup chose, in which it is now at least 12:00 and at most 11 hours before midnight."""
    zone = kit_zone()
    local = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone))
    assert local.hour in (12, 13)
    assert zone in {midday_zone(), midday_zone(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))}
    assert kit_zone() == zone
