"""The kits' mailboxes live, unless a test names a zone, where no midnight falls while it runs
(tests/zonekit.py)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from tests import gatekit, outboxkit
from tests.zonekit import SHANGHAI, kit_zone, midday_zone


def zones() -> dict[str, str]:
    """Each mailbox of the ledger at ``$WARMUP_DB`` and its zone."""
    boxes = json.loads(gatekit.cli("mailbox", "list", "--json").stdout)
    return {b["address"]: b["timezone"] for b in boxes}


def test_the_kit_zone_is_midday_as_the_test_began_and_one_for_the_whole_test() -> None:
    """Read as the test runs (a second or an hour after its setup), the zone is the one its
    setup chose, in which it is now at least 12:00 and at most 11 hours before midnight."""
    zone = kit_zone()
    local = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone))
    assert local.hour in (12, 13)
    assert zone in {midday_zone(), midday_zone(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))}
    assert kit_zone() == zone


@pytest.mark.parametrize(
    "add",
    [
        lambda zone: gatekit.add_box(1, zone=zone),
        lambda zone: gatekit.add_box(1, *(("--timezone", zone) if zone else ())),
        lambda zone: outboxkit.add_box(gatekit.BOX, 1, zone=zone),
    ],
    ids=["gatekit.add_box", "gatekit.add_box --timezone", "outboxkit.add_box"],
)
def test_a_kit_mailbox_lives_in_the_kit_zone_unless_the_test_names_one(add, migrated) -> None:
    """An exmail mailbox added by a kit, no zone named, is in :func:`kit_zone`, not Shanghai
    (whose midnight, at 16:00 UTC, fell between a test's send and its quota read); a test
    about Shanghai's days names it and gets it."""
    add(None)
    assert zones() == {gatekit.BOX: kit_zone()}
    assert gatekit.cli("mailbox", "remove", gatekit.BOX, "--force").returncode == 0
    add(SHANGHAI)
    assert zones() == {gatekit.BOX: SHANGHAI}


@pytest.mark.parametrize("named", [None, SHANGHAI])
def test_a_kit_pool_lives_in_the_kit_zone_unless_the_test_names_one(
    named: str | None, migrated, tmp_path
) -> None:
    """:func:`tests.outboxkit.pool_of`'s members, all in one zone: the test's, or the one named."""
    zone = {None: kit_zone(), SHANGHAI: SHANGHAI}[named]
    outboxkit.pool_of(1, tmp_path, n=2, zone=named)
    assert zones() == {"a@corp.example": zone, "b@corp.example": zone}
