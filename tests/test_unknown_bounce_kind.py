"""A counted bounce whose kind this version lacks (a newer version's, a hand edit with sqlite3
or psql) counted in no rate: `quota` and the policy left it out, so a mailbox climbed past its
bounce ceiling on bounces it did record. It counts as a soft bounce everywhere a rate is
computed (one place decides: :func:`warmup.ledger.reads.rate_kind`), suppresses nothing, and
`warmup doctor` names its row with the UPDATE that mends it. On both backends: the report's
rates by send day are counted in SQL."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from tests.gatekit import ANY_DAY
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.zonekit import kit_zone
from warmup import api
from warmup.ledger import BounceIn, SendIn, open_ledger

BOX = "b@corp.example"


def edit(url: str, sql: str) -> None:
    """What a hand edit (or another version) leaves: written past warmup."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def bouncing(url: str) -> None:
    """BOX with 20 sends yesterday (1 soft bounce) and 20 today (4 soft bounces): 12.5% over
    the window, above the pause line (10%)."""
    now = api.now_utc()
    ledger = open_ledger(url)
    try:
        box = api.add_mailbox(
            ledger,
            BOX,
            "exmail",
            policy=str(ANY_DAY),
            timezone=kit_zone(),
            added_at=now - dt.timedelta(days=3),
            smtp_host="smtp.corp.invalid",  # doctor's checks fail at once, offline
            imap_host="imap.corp.invalid",
        )
        sends = []
        for day, bounced in ((1, 1), (0, 4)):
            for i in range(20):
                at = now - dt.timedelta(days=day, minutes=60 - i)
                rcpt = f"r{day}-{i}@example.com"
                bounce = (
                    BounceIn(rcpt, "soft", at + dt.timedelta(seconds=30), f"k{day}-{i}")
                    if i < bounced
                    else None
                )
                sends.append(SendIn(rcpt, at, bounce=bounce))
        ledger.record(box, sends=sends)
    finally:
        ledger.close()


def answers(run, url: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What quota, plan and report say of BOX (JSON), and the plots' and notebook's frames of
    its bounces by kind and by recipient domain."""
    from warmup import reports

    ledger = open_ledger(url)
    try:
        out: dict[str, object] = {
            "by_kind": reports.bounces_by_kind(ledger, [BOX]).to_dict("records"),
            "by_domain": reports.bounces_by_domain(ledger, [BOX]).to_dict("records"),
        }
    finally:
        ledger.close()
    for name, args in (
        ("quota", ["quota", BOX, "--json"]),
        ("plan", ["plan", BOX, "--days", "2", "--json"]),
        ("report", ["report", BOX, "--json"]),
    ):
        res = run(*args)
        assert res.exit_code in (0, 75) and res.stderr == "", (args, res.output)
        out[name] = json.loads(res.stdout)
    return out


def test_a_counted_bounce_of_a_kind_this_version_lacks_counts_as_a_bounce(run, ledger_url):  # noqa: F811
    """Every bounce's kind edited to one this version lacks: quota, plan and report said the
    mailbox was fine (its bounces in no rate). They say what they said of soft bounces,
    today's and yesterday's, also once the rollup is rebuilt from the rows (a zone change);
    no address is suppressed by them."""
    bouncing(ledger_url)
    before = answers(run, ledger_url)
    (quota,) = before["quota"]  # type: ignore[misc]
    assert quota["status"] == "paused", quota
    edit(ledger_url, "UPDATE bounce SET kind = 'newkind'")
    assert answers(run, ledger_url) == before
    zone = kit_zone()
    for tz in ("Etc/GMT+12" if zone != "Etc/GMT+12" else "Etc/GMT-12", zone):
        res = run("mailbox", "set", BOX, "--timezone", tz)  # the rollup rebuilt from the rows
        assert res.exit_code == 0, res.output
    after = answers(run, ledger_url)
    assert after["quota"] == before["quota"]
    assert after["report"] == before["report"]
    res = run("suppress", "list", "--json")
    assert (res.exit_code, json.loads(res.stdout)) == (0, []), res.output


def test_doctor_names_it_with_the_update_that_mends_it(run, ledger_url):  # noqa: F811
    """The gate and `quota` count such a bounce without a word (a line on each of a script's
    questions would be noise, and they read a bounce's kind only on its own day): `doctor`
    names the row and the UPDATE that mends it, a warning; mended, it says nothing."""
    bouncing(ledger_url)
    edit(ledger_url, "UPDATE bounce SET kind = 'newkind' WHERE recipient = 'r1-0@example.com'")
    ledger = open_ledger(ledger_url)
    try:
        ((bad, kind, counted),) = ledger.unknown_kinds(ledger.mailbox(BOX))
    finally:
        ledger.close()
    assert (kind, counted) == ("newkind", True)

    def checks() -> list[dict[str, str]]:
        args = ["doctor", BOX, "--no-domain", "--json", "--timeout", "1"]
        res = run(*args)
        return [c for c in json.loads(res.stdout)["checks"] if c["name"] == "bounce-kinds"]

    (check,) = checks()
    assert (check["status"], check["target"]) == ("warn", f"bounces of {BOX}")
    assert check["detail"] == (
        f"bounce row {bad} (of mailbox #1): kind 'newkind' is not a kind this warmup knows "
        "(written by hand or by another version?): counted, it counts as a soft bounce in the "
        "bounce rate, and suppresses nothing"
    )
    mend = f"UPDATE bounce SET kind = 'soft' WHERE id = {bad}"
    assert (
        check["fix"] == f"correct the row, e.g. {mend}; or upgrade warmup if a newer one wrote it"
    )
    edit(ledger_url, mend)
    assert checks() == []
