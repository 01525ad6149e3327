"""'warmup queue list --limit 0' of a big outbox: every line, as before, in bounded memory.

A million messages took 72 s and 1.3 GiB (every row held, then every line built, before the
first was written). The listing now reads them a page at a time from one snapshot: twice for
the table (its column widths, then its lines), once for ``--json``. Its output is unchanged to
the byte (checked against what the listing printed before, on a ledger whose lines have wide
characters, control characters, suppressed recipients, a held pool and a removed mailbox), and
its peak RSS does not grow with the outbox (checked in a process of its own)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from tests.gatekit import cli, policy_file
from tests.outboxkit import plain
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from warmup import Outbox, api
from warmup.ledger import open_ledger
from warmup.ledger.schema import OUTBOX

AT = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2030, 1, 2, 10, 30, tzinfo=dt.UTC)  # after the test's clock, whenever it runs


def _msg(to: str, cc: str | None = None) -> EmailMessage:
    """A message to ``to`` (and ``cc``) with a Message-ID of its own, so the JSON is known."""
    msg = plain(to)
    if cc:
        msg["Cc"] = cc
    msg["Message-ID"] = f"<{to.split('@')[0]}@corp.example>"
    return msg


def build(url: str, tmp: Path) -> None:
    """Eight messages whose lines differ in every way a column's width can: to a pool (one of
    its members paused, another not), to a paused mailbox alone (held), to a recipient
    suppressed since (never), to two (one of them suppressed), sent by a member with a reply
    in Chinese (two columns a character), failed with a reply holding an escape character,
    cancelled, and queued to a mailbox since removed."""
    ledger = open_ledger(url)
    try:
        policy = str(policy_file(tmp / "flat.toml", daily=50))
        for box in ("a@corp.example", "b@corp.example", "held@corp.example", "gone@corp.example"):
            api.add_mailbox(ledger, box, "exmail", timezone="Etc/UTC", policy=policy)
        ledger.add_pool("P", ["a@corp.example", "b@corp.example"], reply_to=None, now=AT)
        api.pause(ledger, "held@corp.example", "bounced", at=AT)
        out = Outbox(ledger)
        out.add_many(
            [_msg(f"r{i}@example.com") for i in range(3)],
            pool="P",
            campaign="dec",
            not_before=LATER,
            expires=dt.timedelta(days=365),
            now=AT,
        )
        out.add(
            _msg("w@example.com"),
            mailbox="held@corp.example",
            campaign="winter-campaign-long-name",
            not_before=LATER,
            now=AT,
        )
        out.add(_msg("s@example.com"), mailbox="a@corp.example", not_before=LATER, now=AT)
        out.add(
            _msg("x@example.com", "s2@example.com"),
            mailbox="b@corp.example",
            campaign="dec",
            not_before=LATER,
            expires=dt.timedelta(days=365),
            now=AT,
        )
        out.add(_msg("g@example.com"), mailbox="gone@corp.example", campaign="dec", now=AT)
        ledger.suppress(["s@example.com", "s2@example.com"], "manual", "asked", AT)
        member = ledger.mailbox("b@corp.example").id
        with ledger.write() as conn:  # what the worker leaves behind, as it writes it
            done = {"updated_at": AT, "attempts": 1, "next_attempt_at": AT}
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.recipients == "r1@example.com")
                .values(
                    state="sent",
                    sent_by=member,
                    last_reply="250 已收到，排队中 queued as 4F2A",
                    **done,
                )
            )
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.recipients == "r2@example.com")
                .values(
                    state="failed",
                    last_reply="550 5.1.1 <r2@example.com>: \x1b[31muser unknown in virtual "
                    "mailbox table, see https://help.example/550",
                    **done,
                )
            )
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.recipients == "g@example.com")
                .values(state="cancelled", **done)
            )
        api.remove_mailbox(ledger, "gone@corp.example", force=True)
    finally:
        ledger.close()


EXPECTED = Path(__file__).parent / "listing"  # what 'queue list' printed before it streamed


def test_queue_list_prints_to_the_byte_what_it_printed_before(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """Column widths from every line (the reply in Chinese two columns a character, the escape
    shown as text), each state's NEXT, the line on stderr of a cut listing, and the JSON: all
    as the listing printed them when it held every row (files made by that code)."""
    build(ledger_url, tmp_path)
    for args, name in (
        (["--limit", "0"], "queue_list_all.txt"),
        (["--limit", "0", "--json"], "queue_list_all.json"),
        (["--limit", "3"], "queue_list_3.txt"),
        (["--campaign", "dec", "--state", "queued", "--json"], "queue_list_dec_queued.json"),
    ):
        res = cli("queue", "list", *args)
        assert res.returncode == 0, res.stderr
        assert res.stdout == (EXPECTED / name).read_text(encoding="utf-8"), args
        cut = (EXPECTED / "queue_list_3.err").read_text() if "3" in args else ""
        assert res.stderr == cut, args
    res = cli("queue", "list", "--limit", "0", "--campaign", "Dec")  # a typo, as before
    assert (res.returncode, res.stdout) == (64, ""), res.stderr
    assert "no campaign 'Dec' in the outbox (there is 'dec': names are case-sensitive)" in (
        res.stderr
    )
    res = cli("queue", "list", "--state", "unknown")
    assert (res.returncode, res.stdout) == (0, "No messages --state unknown.\n")


def test_message_pages_reads_one_snapshot_a_page_at_a_time(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """Pages of at most ``page`` messages, the same ones each time it is read (a table reads
    them twice), from the snapshot taken when it began: a message queued meanwhile waits for
    the next listing."""
    build(ledger_url, tmp_path)
    ledger = open_ledger(ledger_url)
    try:
        every = ledger.messages()
        with ledger.message_pages(page=3) as listing:
            assert listing.more_than(6) and not listing.more_than(7)
            first = [[r.id for r in page] for page in listing]
            Outbox(ledger).add(_msg("late@example.com"), mailbox="a@corp.example", now=AT)
            assert (
                [[r.id for r in page] for page in listing] == first == [[1, 2, 3], [4, 5, 6], [7]]
            )
            assert [r for page in listing for r in page] == every
        assert len(ledger.messages()) == 8
        with ledger.message_pages("dec", "queued", limit=1) as listing:
            assert [[r.recipients for r in page] for page in listing] == [[("r0@example.com",)]]
            assert listing.more_than(0) and listing.more_than(1)  # its limit is only the pages'
        with ledger.message_pages("déc") as listing:  # no name is other than ASCII
            assert list(listing) == [] and not listing.more_than(0)
    finally:
        ledger.close()


MANY = 20_000


def _fill(url: str, tmp: Path, count: int) -> None:
    """``count`` messages: the first one queued, then copies of it made by the database
    (recursive CTE, no row through Python: 50,000 queued in ~1 s), every tenth one sent."""
    ledger = open_ledger(url)
    try:
        policy = str(policy_file(tmp / "flat.toml", daily=50))
        api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="Etc/UTC", policy=policy)
        Outbox(ledger).add(_msg("lead@example.com"), mailbox="a@corp.example", now=AT)
        cols = [
            c.name for c in OUTBOX.c if c.name not in ("id", "message_id", "recipients", "state")
        ]
        with ledger.write() as conn:
            conn.execute(
                sa.text(
                    f"""
                    WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
                    INSERT INTO outbox (message_id, recipients, state, {", ".join(cols)})
                    SELECT '<m' || i || '@corp.example>', 'lead' || i || '@example.com',
                           CASE WHEN i % 10 = 0 THEN 'sent' ELSE 'queued' END, {", ".join(cols)}
                    FROM outbox, n WHERE outbox.id = 1"""
                ),
                {"count": count},
            )
    finally:
        ledger.close()


# ``python -m warmup`` saying its own peak RSS on stderr when it exits. Its own: the rusage of a
# child keeps the peak of the pytest process it was forked from (exec does not reset it).
_PROBE = """import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK " + line.split()[1] + "\\n")
atexit.register(peak)
sys.argv[0] = "warmup"
runpy.run_module("warmup", run_name="__main__", alter_sys=True)
"""


def _peak_rss_mib(*args: str) -> tuple[float, str]:
    """``warmup ARGS`` in a process of its own: its peak RSS (MiB) and its stdout."""
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=os.environ
    )
    assert res.returncode == 0, (args, res.stderr)
    peak = [line for line in res.stderr.splitlines() if line.startswith("PEAK ")]
    assert len(peak) == 1, res.stderr
    return int(peak[0].split()[1]) / 1024, res.stdout


def test_queue_list_of_every_message_does_not_hold_them(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """``queue list --limit 0`` (table, JSON) of 50,000 messages peaks within 12 MiB of the
    same listing cut at one message: the code that held every row took 60 MiB more for the
    table and 300 MiB more for the JSON. Every message is listed once, in order, its columns
    aligned."""
    _fill(ledger_url, tmp_path, MANY)
    one, _ = _peak_rss_mib("queue", "list", "--limit", "1")
    table, text = _peak_rss_mib("queue", "list", "--limit", "0")
    json_, data = _peak_rss_mib("queue", "list", "--limit", "0", "--json")
    assert table - one < 12 and json_ - one < 12, (one, table, json_)
    lines = text.splitlines()
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(1, MANY + 1))
    at = lines[0].index("TO")
    assert {line[at - 2 : at] for line in lines} == {"  "}  # FROM's column as wide on every line
    assert lines[-1].split()[1:4] == ["sent", "-", "a@corp.example"], lines[-1]  # every tenth
    assert data.count('"message_id"') == MANY and data.endswith("}\n]\n")


def test_postgresql_sessions_compile_nothing_unless_told_to(pg_url: str) -> None:  # noqa: F811
    """'queue status' read the outbox's waiting messages in 2.1 s on 200,000 messages, 1.5 s of
    it LLVM compiling the statement (in each parallel worker): warmup's sessions turn JIT off
    where the server's default stands; one the user set (the URL's options here) is kept."""
    for url, value in ((pg_url, "off"), (pg_url + "%20-cjit%3Don", "on")):
        ledger = open_ledger(url)
        try:
            with ledger.read() as conn:
                assert conn.exec_driver_sql("SHOW jit").scalar() == value, url
        finally:
            ledger.close()
