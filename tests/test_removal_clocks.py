"""A removal (``warmup suppress remove``) and the sends it sets aside are ordered by the ledger,
not by two hosts' clocks: the operator's host stamps the removal, each sending host its sends,
and a team's hosts disagree by minutes. Real processes whose clocks differ (the clock shim of
scripts/clock-sweep, ``tests/clockshim``: the shift is an input, nothing waits), a real SMTP
server refusing a full mailbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.gatekit import ANY_DAY, BOX, PASSWORD_ENV, add_box, cli, policy_file
from warmup import Gate, api, open_ledger
from warmup.ledger import BounceIn
from warmup.smtp import RcptResult

pytest_plugins = ["tests.pgkit"]  # ledger_url: each test runs on SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent
FULL = "full@example.com"
OTHER = "support@corp.example"
AHEAD = 120.0  # seconds: a host whose clock runs two minutes ahead of the others
# The measure the tests use: two sends in a row, however close (the defaults take a week).
QUICK = ("--sends", "2", "--days", "0")


def ok(*args: str) -> str:
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    return res.stdout


def on_a_host_ahead(*args: str, code: int = 0) -> str:
    """``python -m warmup ARGS`` as a process of its own whose clock reads ``AHEAD`` seconds
    later than this one's (a scripts/clock-sweep run's own shift added), exiting ``code``:
    what it wrote to stdout and stderr."""
    shift = float(os.environ.get("WARMUP_TEST_CLOCK_SHIFT") or 0) + AHEAD
    path = os.pathsep.join(
        [str(ROOT / "tests" / "clockshim"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    )
    env = {**os.environ, **PASSWORD_ENV, "PYTHONPATH": path, "WARMUP_TEST_CLOCK_SHIFT": str(shift)}
    res = subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )
    assert res.returncode == code, res.stderr
    return res.stdout + res.stderr


def listed(*options: str) -> list[dict]:
    return json.loads(ok("suppress", "soft", "--json", *QUICK, *options))


def suppressed() -> list[tuple[str, str]]:
    return [(r["address"], r["kind"]) for r in json.loads(ok("suppress", "list", "--json"))]


def full_mailbox(smtp_ssl, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    smtp_ssl.reject_rcpt = {FULL: (452, "4.2.2 Mailbox full: user is over quota")}


def test_sends_from_a_host_whose_clock_runs_ahead_stay_set_aside_by_a_removal(
    ledger_url, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """A sending host two minutes ahead: its two sends soft-bounce, the address is suppressed
    for them and a person takes it back a moment later. Dated by its clock, the sends were
    after the removal, so the next --apply (a sync's --suppress-soft) suppressed the address
    again at once, for the very sends the person had set aside."""
    full_mailbox(smtp_ssl, tmp_path, monkeypatch)
    for n in range(2):
        said = on_a_host_ahead(
            "send", BOX, "--to", FULL, "--subject", f"Hi {n}", "--body", "x", code=75
        )
        assert said == f"{FULL}: soft 452 4.2.2 Mailbox full: user is over quota\n"
    [row] = listed()
    assert dt.datetime.fromisoformat(row["first"]) > dt.datetime.now(dt.UTC)  # its clock's
    assert ok("suppress", "soft", *QUICK, "--apply").splitlines()[-1] == "Suppressed 1 address."
    assert ok("suppress", "remove", FULL) == f"{FULL} may be mailed again.\n"

    assert listed() == []
    again = ok("suppress", "soft", *QUICK, "--apply").splitlines()
    assert again[-1] == "Suppressed 0 addresses."
    assert suppressed() == []


def test_sends_after_a_removal_on_a_host_whose_clock_runs_ahead_count(
    ledger_url, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """The operator's host two minutes ahead takes an address back; the sends made after it
    by a host on time, dated before the removal by their clock, were set aside: the mailbox
    still full, it was never listed again."""
    full_mailbox(smtp_ssl, tmp_path, monkeypatch)
    ok("suppress", "add", FULL, "--reason", "was full")
    assert on_a_host_ahead("suppress", "remove", FULL) == f"{FULL} may be mailed again.\n"
    ledger = open_ledger()
    try:
        removed = ledger.last_removal(FULL)
    finally:
        ledger.close()
    assert removed is not None and removed["removed_at"] > dt.datetime.now(dt.UTC)

    sent = []
    with Gate(BOX) as gate:
        for n in range(2):
            msg = EmailMessage()
            msg["To"], msg["Subject"] = FULL, f"Hi {n}"
            msg.set_content("x")
            sent.append(gate.send(msg).results[FULL].outcome)
    assert sent == ["soft", "soft"]
    [row] = listed()
    assert (row["address"], row["sends"]) == (FULL, 2)
    assert dt.datetime.fromisoformat(row["first"]) < removed["removed_at"]
    assert ok("suppress", "soft", *QUICK, "--apply").splitlines()[-1] == "Suppressed 1 address."


def recorded_soft(ledger, box: str, when: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    """A send of ``box`` to FULL recorded at ``when`` (``record send``), and its soft bounce
    for a full mailbox."""
    api.record_send(ledger, box, [FULL], when)
    bounce = BounceIn(FULL, "soft", when, key=f"b{when.isoformat()}", status="4.2.2")
    assert ledger.record(ledger.mailbox(box), bounces=[bounce]).counted == 1


def soft_send(box: str, when: dt.datetime, db: str | None = None) -> None:
    """A send of ``box`` to FULL through the gate at ``when`` (its host's clock), refused for a
    full mailbox (the caller's own SMTP conversation: :meth:`Gate.reserve`)."""
    with Gate(box, db=db) as gate:
        slot = gate.reserve(FULL, now=when)
        slot.settle({FULL: RcptResult(FULL, "soft", 452, "4.2.2 Mailbox full")}, now=when)


def test_a_streak_read_before_a_removal_is_not_written_after_it_whatever_the_clocks(ledger_url):
    """The slower of two readers writes a streak it read before a removal; the removal is
    stamped before the streak's sends by its host's clock (behind theirs): the streak is
    still left out, its first send being one the removal set aside."""
    ok("mailbox", "add", BOX, "--provider", "exmail")
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    ledger = open_ledger()
    try:
        for day in (0, 4):
            recorded_soft(ledger, BOX, start + dt.timedelta(days=day))
        slower = api.soft_streaks(ledger, sends=2, days=0)
        assert api.suppress_streaks(ledger, api.soft_streaks(ledger, sends=2, days=0)) == 1
        assert ledger.unsuppress(FULL, at=start - dt.timedelta(days=1))
        assert api.suppress_streaks(ledger, slower) == 0
        assert suppressed() == []
    finally:
        ledger.close()


def test_a_removed_mailboxs_sends_leave_no_gap_that_hides_the_next_sends(ledger_url):
    """The newest sends were a mailbox's that is then removed with its history: SQLite gives
    the next send the id after the highest left, at or below the removal's mark, and the sends
    after the removal were set aside until the ids passed it. The mark comes down with them."""
    # it sends at the real time: the exmail preset sends nothing on a CN public holiday
    ok("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY))
    ok("mailbox", "add", OTHER, "--provider", "exmail")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ledger = open_ledger()
    try:
        soft_send(BOX, now - dt.timedelta(hours=3))
        for hour in (2, 1):  # the other mailbox's: the highest ids
            api.record_send(ledger, OTHER, [f"r{hour}@example.com"], now - dt.timedelta(hours=hour))
        ledger.suppress([FULL], "manual", "was full")
        assert ledger.unsuppress(FULL, at=now - dt.timedelta(minutes=30))
        ledger.remove_mailbox(OTHER)
        for minutes in (20, 10):
            soft_send(BOX, now - dt.timedelta(minutes=minutes))
        [streak] = api.soft_streaks(ledger, sends=2, days=0)
        assert (streak.address, streak.sends) == (FULL, 2)
        assert streak.first == now - dt.timedelta(minutes=20)
    finally:
        ledger.close()


def test_an_old_log_imported_after_a_removal_is_no_news_of_the_address(ledger_url, tmp_path):
    """A backfill: `warmup import` of a sending log after a removal. Its sends are recorded
    after the removal but dated by the log; those dated before it are set aside as if they had
    been recorded in time (the person took the address back after them), those dated after it
    count."""
    ok("mailbox", "add", BOX, "--provider", "exmail")
    ok("suppress", "add", FULL, "--reason", "was full")
    ledger = open_ledger()
    try:
        removed_at = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC)
        assert ledger.unsuppress(FULL, at=removed_at)
    finally:
        ledger.close()

    def imported(days: tuple[int, ...], name: str) -> None:
        lines = ["mailbox,recipient,sent_at,bounce_kind,bounce_status,bounced_at"]
        for day in days:
            sent = (removed_at + dt.timedelta(days=day)).isoformat()
            lines.append(f'{BOX},{FULL},{sent},soft,"452 4.2.2 over quota",{sent}')
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        ok("import", str(tmp_path / name))

    imported((-9, -5, -1), "before.csv")
    assert listed() == []
    imported((1, 3), "after.csv")
    [row] = listed()
    assert (row["sends"], row["first"]) == (2, (removed_at + dt.timedelta(days=1)).isoformat())
