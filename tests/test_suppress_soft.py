"""``warmup suppress soft``: the addresses a mailbox keeps mailing though each send soft-bounces
for the address's own state (a full mailbox, a disabled one), over days, listed and suppressed
on request; on SQLite and PostgreSQL. Time is an input: sends and bounces are recorded at
given instants (the gate's ``now``, ``--at``, an import's columns), never waited for."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file
from tests.test_ledger_files import read_only_folder  # noqa: F401  (the fixture)
from warmup import Gate

pytest_plugins = ["tests.pgkit"]  # ledger_url: each test runs on SQLite and PostgreSQL

OTHER = "support@corp.example"
FULL = "full@example.com"
OTHER_RCPT = "away@example.com"
DAY = dt.date(2026, 11, 2)


def ok(*args: str) -> str:
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    return res.stdout


def listed(*options: str) -> list[dict]:
    return json.loads(ok("suppress", "soft", "--json", *options))


def suppressed() -> list[tuple[str, str, str]]:
    return [
        (r["address"], r["kind"], r["reason"])
        for r in json.loads(ok("suppress", "list", "--json", "--limit", "0"))
    ]


def mailbox(address: str = BOX) -> None:
    ok("mailbox", "add", address, "--provider", "exmail")


def record(rcpt: str, day: int, status: str | None = None, box: str = BOX) -> None:
    """A send of ``box`` to ``rcpt`` on ``DAY`` + ``day`` at 09:00, answered five minutes later
    by a soft bounce of ``status`` when there is one."""
    when = DAY + dt.timedelta(days=day)
    ok("record", "send", box, "--to", rcpt, "--at", f"{when}T09:00")
    if status is not None:
        ok("record", "bounce", box, "--to", rcpt, "--kind", "soft", "--status", status,
           "--at", f"{when}T09:05")  # fmt: skip


def imported(tmp_path: Path, rows: list[tuple[str, int, str | None]]) -> None:
    """``warmup import`` of sends of BOX (recipient, day, soft bounce's status in words)."""
    lines = ["mailbox,recipient,sent_at,bounce_kind,bounce_status,bounced_at"]
    for rcpt, day, status in rows:
        sent = f"{DAY + dt.timedelta(days=day)}T09:00"
        bounce = f'soft,"{status}",{sent[:-2]}05' if status else ",,"
        lines.append(f"{BOX},{rcpt},{sent},{bounce}")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    ok("import", str(path))


def message(rcpt: str, n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = rcpt, f"Hello {n}"
    msg.set_content("Hi")
    return msg


def test_a_mailbox_full_for_a_week_is_listed_suppressed_on_request_and_then_refused(
    ledger_url, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """Three sends over eight days, each refused by the server (452 4.2.2 mailbox full): the
    address is listed, nothing suppressed until --apply, then the gate refuses it; --apply
    again adds nothing. A slot given back unsent in between (released) is no send."""
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    smtp_ssl.reject_rcpt = {FULL: (452, "4.2.2 Mailbox full: user is over quota")}
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    with Gate(BOX) as gate:
        for n, day in enumerate((0, 4, 8)):
            report = gate.send(message(FULL, n), now=start + dt.timedelta(days=day))
            assert report.results[FULL].outcome == "soft"
            if day == 4:  # a message whose slot was given back before anything left
                slot = gate.reserve(FULL, now=start + dt.timedelta(days=6))
                slot.settle("released", now=start + dt.timedelta(days=6))
    assert len(smtp_ssl.messages) == 0

    [row] = listed()
    assert row == {
        "address": FULL,
        "mailbox": BOX,
        "sends": 3,
        "first": start.isoformat(),
        "last": (start + dt.timedelta(days=8)).isoformat(),
        "reasons": ["mailboxfull"],
    }
    table = ok("suppress", "soft").splitlines()
    assert table[0].split() == ["ADDRESS", "MAILBOX", "SENDS", "FROM", "TO", "REASONS"]
    assert table[1].split()[:3] == [FULL, BOX, "3"] and table[1].endswith("mailboxfull")
    assert table[2] == "Listed only: --apply suppresses them."
    assert suppressed() == []  # listing suppresses nothing

    applied = ok("suppress", "soft", "--apply")
    assert applied.splitlines()[-1] == "Suppressed 1 address."
    [(address, kind, reason)] = suppressed()
    assert (address, kind) == (FULL, "soft")
    assert reason.startswith(f"3 sends in a row from {BOX} soft-bounced (mailboxfull), ")

    again = cli("suppress", "soft", "--apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "No address soft-bounced 3 sends in a row over 7 days or more.",
        "Suppressed 0 addresses.",
    ]
    assert len(suppressed()) == 1

    before = smtp_ssl.connections
    refused = cli("send", BOX, "--to", FULL, "--subject", "x", "--body", "y")
    assert refused.returncode == 65 and "suppressed" in refused.stderr, refused.stderr
    assert smtp_ssl.connections == before  # refused before any connection


def test_a_full_mailbox_for_an_afternoon_is_not_listed(ledger_url):
    mailbox()
    for day in (0, 1, 2):
        record(FULL, day, "4.2.2")
    assert listed() == []
    assert (
        ok("suppress", "soft") == "No address soft-bounced 3 sends in a row over 7 days or more.\n"
    )
    # the same bounces are a streak by a shorter measure: it is the days that spared it
    [row] = listed("--days", "2")
    assert (row["address"], row["sends"]) == (FULL, 3)


def test_a_delivered_send_breaks_the_streak(ledger_url):
    mailbox()
    for day, status in ((0, "4.2.2"), (3, None), (6, "4.2.2"), (9, "4.2.2")):
        record(FULL, day, status)
    assert listed() == []  # the last three: delivered, full, full
    assert listed("--days", "0") == []
    [row] = listed("--sends", "2", "--days", "3")  # full, full: the two after it
    assert (row["address"], row["sends"], row["reasons"]) == (FULL, 2, ["mailboxfull"])


def test_only_an_address_state_makes_a_streak_not_throttling_or_a_delivery_given_up_on(
    ledger_url, tmp_path
):
    """Gmail's 4.2.1 "receiving mail at a rate" is its throttle, not a disabled mailbox (which
    a bare 4.2.1 is); a delivery given up on (4.4.7) says nothing of the address either. (An
    import keeps 32 characters of a status in words.)"""
    mailbox()
    rows: list[tuple[str, int, str | None]] = []
    words = {
        "throttled@example.com": "4.2.1 receiving mail at a rate",
        "slow@example.com": "451 4.7.1 Too many messages",
        "expired@example.com": "4.4.7 delivery time expired",
        "disabled@example.com": "554 5.2.1 account disabled",
        "bare@example.com": "4.2.1",
        "fullish@example.com": "452 4.2.2 over quota",
    }
    for rcpt, status in words.items():
        rows += [(rcpt, day, status) for day in (0, 4, 8)]
    imported(tmp_path, rows)
    found = {r["address"]: r["reasons"] for r in listed()}
    assert found == {
        "disabled@example.com": ["suspend"],
        "bare@example.com": ["suspend"],
        "fullish@example.com": ["mailboxfull"],
    }


def test_a_streak_is_one_mailboxs_sends(ledger_url):
    """Two mailboxes mailing one full address: two sends of one and one of the other are no
    streak of three, and with --sends 2 only the mailbox with two is listed."""
    mailbox()
    mailbox(OTHER)
    record(FULL, 0, "4.2.2")
    record(FULL, 4, "4.2.2", box=OTHER)
    record(FULL, 8, "4.2.2")
    assert listed() == []
    [row] = listed("--sends", "2")
    assert (row["mailbox"], row["sends"]) == (BOX, 2)
    # a streak from each: listed under each mailbox, suppressed once
    record(FULL, 12, "4.2.2", box=OTHER)
    assert [(r["mailbox"], r["sends"]) for r in listed("--sends", "2")] == [(BOX, 2), (OTHER, 2)]
    assert ok("suppress", "soft", "--sends", "2", "--apply").endswith("Suppressed 1 address.\n")
    [(address, kind, reason)] = suppressed()
    assert (address, kind) == (FULL, "soft") and f"from {BOX} " in reason


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--sends", "1"], "Invalid value for '--sends': 1 is not in the range 2<=x<=1000."),
        (["--days", "-1"], "Invalid value for '--days': -1 is not in the range 0<=x<=3650."),
        (["--sends", "three"], "Invalid value for '--sends': 'three' is not a valid integer"),
    ],
)
def test_bad_options_are_one_line_exit_64_and_nothing_suppressed(ledger_url, options, said):
    mailbox()
    for day in (0, 4, 8):
        record(FULL, day, "4.2.2")
    res = cli("suppress", "soft", "--apply", *options)
    assert res.returncode == 64
    assert res.stdout == ""
    [line] = res.stderr.splitlines()
    assert line.startswith(f"Error: {said}"), line
    assert suppressed() == []
    assert len(listed()) == 1  # what --apply would have suppressed


def test_the_api_refuses_bad_bounds_before_reading(ledger_url):
    from warmup import api, open_ledger
    from warmup.errors import InvalidField

    ledger = open_ledger()
    try:
        for sends, days in ((1, 7), (3, -1), (1001, 7), (3, 3651)):
            with pytest.raises(InvalidField) as err:
                api.soft_streaks(ledger, sends, days)
            assert err.value.exit_code == 64
        assert api.soft_streaks(ledger) == []
    finally:
        ledger.close()


def test_the_api_reads_one_mailboxs_streaks_when_asked(ledger_url):
    """``mailbox``: that mailbox's streaks only (what ``bounces sync ADDRESS`` asks); one the
    ledger lacks is refused, naming it, before anything is read."""
    from warmup import api, open_ledger
    from warmup.errors import NotFound

    mailbox()
    mailbox(OTHER)
    for day in (0, 4, 8):
        record(FULL, day, "4.2.2")
        record("other-full@example.com", day, "4.2.2", box=OTHER)
    ledger = open_ledger()
    try:
        every = [(s.mailbox, s.address) for s in api.soft_streaks(ledger)]
        assert every == [(BOX, FULL), (OTHER, "other-full@example.com")]
        mine = api.soft_streaks(ledger, mailbox=OTHER)
        assert [(s.mailbox, s.address) for s in mine] == [(OTHER, "other-full@example.com")]
        assert [s.address for s in api.soft_streaks(ledger, mailbox=BOX.upper())] == [FULL]
        with pytest.raises(NotFound, match="nobody@corp.example"):
            api.soft_streaks(ledger, mailbox="nobody@corp.example")
    finally:
        ledger.close()


@pytest.mark.parametrize("json_", [False, True], ids=["table", "json"])
def test_apply_refused_by_a_ledger_that_cannot_be_written_is_its_one_line_alone(
    read_only_folder,  # noqa: F811
    monkeypatch,
    json_,
):
    """On a ledger this user cannot write (a read-only mount), --apply printed the table (or the
    JSON) of the addresses, as if done, then the error: now the error line alone, exit 78."""
    folder = read_only_folder
    monkeypatch.setenv("WARMUP_DB", str(folder.db))
    folder.writable(True)
    for day in (0, 4, 8):
        record(FULL, day, "4.2.2")
    folder.writable(False)
    before = folder.db.read_bytes(), folder.names()
    res = cli("suppress", "soft", "--apply", *(["--json"] if json_ else []))
    assert (res.returncode, res.stdout) == (78, ""), res.stdout
    [line] = res.stderr.splitlines()
    assert line.startswith(f"Error: ledger {folder.db} is read-only here"), line
    assert (folder.db.read_bytes(), folder.names()) == before
    assert len(listed()) == 1  # listing alone still reads it


def test_a_removed_address_is_listed_again_only_for_new_streaks_after_its_removal(
    ledger_url, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """A mailbox full for a week, suppressed by `suppress soft --apply`; the operator learns it
    was emptied and runs `suppress remove`. The old streak no longer lists it, nor suppresses it
    again (it did both at once: a removal left no record); sends after the removal make a new
    streak of their own (a new full-mailbox send and the old ones are no streak), and a hard
    bounce after it suppresses at once, as ever."""
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    smtp_ssl.reject_rcpt = {FULL: (452, "4.2.2 Mailbox full: user is over quota")}
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=20)
    with Gate(BOX) as gate:
        for n, day in enumerate((0, 4, 8)):
            gate.send(message(FULL, n), now=start + dt.timedelta(days=day))
    ok("suppress", "soft", "--apply")
    assert [(a, k) for a, k, _ in suppressed()] == [(FULL, "soft")]

    assert ok("suppress", "remove", FULL) == f"{FULL} may be mailed again.\n"
    removed = dt.datetime.now(dt.UTC)
    assert suppressed() == []
    # Asked about, it says it was taken back, when, and what it was (it said "not suppressed")
    said = ok("suppress", "list", FULL)
    assert said.startswith(f"{FULL} is not suppressed. Taken back 20"), said
    assert f"('suppress remove'); it was soft: 3 sends in a row from {BOX} soft-bounced" in said
    assert listed() == []
    assert listed("--sends", "2", "--days", "0") == []
    again = ok("suppress", "soft", "--apply").splitlines()
    assert again == [
        "No address soft-bounced 3 sends in a row over 7 days or more.",
        "Suppressed 0 addresses.",
    ]
    assert suppressed() == []

    # Still full: one send after the removal is no streak, though with the old ones it was.
    later = removed + dt.timedelta(hours=1)
    with Gate(BOX) as gate:
        assert gate.send(message(FULL, 3), now=later).results[FULL].outcome == "soft"
    assert listed("--sends", "2", "--days", "0") == []
    # Three over eight days after it are a streak again, from the first of them.
    with Gate(BOX) as gate:
        for n, day in enumerate((4, 8), start=4):
            gate.send(message(FULL, n), now=later + dt.timedelta(days=day))
    [row] = listed()
    assert (row["sends"], row["first"]) == (3, later.isoformat())
    assert ok("suppress", "soft", "--apply").splitlines()[-1] == "Suppressed 1 address."
    assert [(a, k) for a, k, _ in suppressed()] == [(FULL, "soft")]

    # Taken back again, then a hard bounce: suppressed at once, whatever the removals.
    ok("suppress", "remove", FULL)
    smtp_ssl.reject_rcpt = {FULL: (550, "5.1.1 User unknown")}
    with Gate(BOX) as gate:
        report = gate.send(message(FULL, 6), now=later + dt.timedelta(days=9))
    assert report.results[FULL].outcome == "hard"
    assert [(a, k) for a, k, _ in suppressed()] == [(FULL, "hard")]


def test_a_streak_counts_the_sends_after_the_latest_removal_only(ledger_url):
    """A removal sets aside the sends the ledger held when it was made, whatever their dates and
    its own (the library's ``at``, here before the last of them); the removal is kept with the
    kind and reason the suppression had; taking back an address not suppressed writes nothing;
    of several removals, the latest is the one that counts."""
    import sqlalchemy as sa

    from warmup import open_ledger
    from warmup.ledger.schema import SEND, SUPPRESSION_REMOVAL

    mailbox()
    for day in (0, 4, 8):
        record(FULL, day, "4.2.2")
    [row] = listed("--sends", "2", "--days", "0")
    last = dt.datetime.fromisoformat(row["last"])
    before_last = last - dt.timedelta(days=4)  # the day-4 send's instant
    ok("suppress", "soft", "--apply")
    [(_, _, reason)] = suppressed()
    ledger = open_ledger()
    try:
        [made] = ledger.suppressions(FULL)
        assert ledger.unsuppress(FULL, at=before_last)
        assert not ledger.unsuppress("nobody@example.com", at=last)
        with ledger.read() as conn:  # (id,) address, kind, reason, removed_at, last_send_id,
            # suppressed_at, mailbox_id
            kept = [tuple(r)[1:] for r in conn.execute(sa.select(SUPPRESSION_REMOVAL))]
            held = conn.execute(sa.select(sa.func.max(SEND.c.id))).scalar()
        since = dt.datetime.fromisoformat(made["created_at"])
        box = ledger.mailbox(BOX).id
        assert kept == [(FULL, "soft", reason, before_last, held, since, box)]
        # The day-8 send is dated after the removal, but the ledger held it: set aside too.
        assert listed("--sends", "2", "--days", "0") == []
        record(FULL, 12, "4.2.2")
        assert listed("--sends", "2", "--days", "0") == []  # one send after it is no streak
        record(FULL, 16, "4.2.2")
        [row] = listed("--sends", "2", "--days", "0")
        assert (row["sends"], row["first"]) == (2, (last + dt.timedelta(days=4)).isoformat())
        # Suppressed by hand and taken back after the day-16 send: the latest removal counts.
        ok("suppress", "add", FULL, "--reason", "asked")
        assert ledger.unsuppress(FULL, at=last)
        assert listed("--sends", "2", "--days", "0") == []
        with ledger.read() as conn:
            kinds = conn.execute(
                sa.select(SUPPRESSION_REMOVAL.c.kind).order_by(SUPPRESSION_REMOVAL.c.id)
            ).scalars()
            assert list(kinds) == ["soft", "manual"]
    finally:
        ledger.close()


def test_a_removal_made_after_a_streak_was_read_is_not_undone_by_its_write(ledger_url):
    """Two processes read one streak (a worker's sync and 'suppress soft --apply', two syncs):
    one suppresses the address, a person takes it back, then the slower one writes what it
    read before the removal. It suppressed the address again at once, for the very sends the
    removal had set aside; its write now leaves out an address taken back since the streak's
    first send (and says it added none)."""
    from warmup import api, open_ledger

    mailbox()
    for day in (0, 4, 8):
        record(FULL, day, "4.2.2")
    ledger = open_ledger()
    try:
        slower = api.soft_streaks(ledger)  # read before the removal
        assert [s.address for s in slower] == [FULL]
        assert api.suppress_streaks(ledger, api.soft_streaks(ledger)) == 1  # the faster one
        assert ledger.unsuppress(FULL)  # the person: its mailbox was emptied
        assert api.suppress_streaks(ledger, slower) == 0
        assert suppressed() == []
        # Another address's streak in the same write is suppressed as ever.
        for day in (0, 4, 8):
            record(OTHER_RCPT, day, "4.2.2")
        both = api.soft_streaks(ledger)
        assert sorted(s.address for s in both) == [OTHER_RCPT]
        assert api.suppress_streaks(ledger, [*slower, *both]) == 1
        assert [a for a, _, _ in suppressed()] == [OTHER_RCPT]
    finally:
        ledger.close()


def test_a_suppression_with_no_reason_taken_back_is_said_without_one(ledger_url):
    """The reason column may be empty (a row a ledger kept from elsewhere: 'suppress list'
    shows it as "-"); taken back, 'suppress list ADDRESS' ended in a TypeError traceback
    where it said what the suppression was."""
    import sqlalchemy as sa

    from warmup import open_ledger
    from warmup.ledger.schema import SUPPRESSION

    mailbox()
    ledger = open_ledger()
    try:
        with ledger.write() as conn:
            conn.execute(
                SUPPRESSION.insert().values(
                    address=FULL, kind="manual", reason=None, created_at=dt.datetime.now(dt.UTC)
                )
            )
        assert ledger.unsuppress(FULL)
        with ledger.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(SUPPRESSION)).scalar() == 0
    finally:
        ledger.close()

    res = cli("suppress", "list", FULL)

    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert res.stdout.startswith(f"{FULL} is not suppressed. Taken back 20"), res.stdout
    assert res.stdout.endswith("('suppress remove'); it was manual, no reason given.\n")
