"""Issue #10, the ledger's side: only what this mailbox sent can hurt it; a 4xx leaves a message
retryable; a row stamped in the future never paces the mailbox; a send never fails because an
import is running.

Real peers: the loopback TLS sink for SMTP, real processes for the relay and the concurrency.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import forkcli
from tests.conftest import at
from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file
from warmup import api, open_ledger
from warmup.ledger import BounceIn

DAY = dt.date(2026, 11, 16)


@pytest.mark.slow
def test_bounces_for_addresses_never_mailed_do_not_count(run):
    """Acceptance 1: after 25 sends, 300 bounces for recipients this mailbox never mailed (a
    forged notification's worth): not paused, listed as unmatched, no rate above 100%."""
    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail")
    api.record_send(ledger, BOX, [f"lead{i}@example.com" for i in range(25)], at(DAY, 9))
    when = at(DAY, 11)
    # The first 20 as a user types them; the other 280 through api.record_bounce, which is all
    # `warmup record bounce` calls after parsing (300 command runs cost ~4 s of CPU, nearly all
    # of it click and opening the ledger again): the ledger sees the same 300 bounces.
    for i in range(20, 300):
        api.record_bounce(ledger, BOX, f"victim{i}@example.com", "soft", at=when)
    for i in range(20):
        res = run(
            "record",
            "bounce",
            BOX,
            "--to",
            f"victim{i}@example.com",
            "--kind",
            "soft",
            "--at",
            when.isoformat(),
        )
        assert res.exit_code == 0, res.output
    imap_box = ledger.mailbox(BOX)  # and the same through the sync's path (untrusted)
    got = ledger.record_synced(
        imap_box,
        "INBOX",
        1,
        300,
        [
            BounceIn(f"forged{i}@example.com", "hard", when, f"dsn:forged{i}", trusted=False)
            for i in range(300)
        ]
        + [BounceIn("", "soft", when, "dsn:no-recipient", trusted=False)],
    )
    assert (got.bounces, got.matched, got.counted) == (301, 0, 0)
    for moment in (at(DAY, 12), at(DAY + dt.timedelta(days=1), 9)):
        res = run("quota", BOX, "--json", "--at", moment.isoformat())
        a = json.loads(res.output)[0]
        assert a["status"] == "ok", a
        assert a["bounce_rate"] in (None, 0.0)
    listed = json.loads(run("bounces", "list", BOX, "--json").output)
    assert len(listed) == 601 and not any(b["matched"] or b["counted"] for b in listed)
    # a forged hard bounce suppresses nothing; the user's own record does (they vouch for it)
    assert ledger.suppressed([f"forged{i}@example.com" for i in range(300)]) == {}
    report = json.loads(
        run(
            "report", BOX, "--format", "json", "--at", at(DAY + dt.timedelta(days=1), 9).isoformat()
        ).output
    )
    assert all((r["bounce_rate"] or 0) <= 1 and (r["day_bounce_rate"] or 0) <= 1 for r in report)
    ledger.close()


def test_a_matched_bounce_counts_once_per_send(run):
    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail")
    api.record_send(ledger, BOX, [f"lead{i}@example.com" for i in range(20)], at(DAY, 9))
    box = ledger.mailbox(BOX)
    # the same DSN found in two folders (different keys), and a second report of it
    for key in ("dsn:a|INBOX", "dsn:a|Junk", "dsn:b"):
        ledger.record_synced(
            box,
            "INBOX",
            1,
            1,
            [BounceIn("lead3@example.com", "hard", at(DAY, 10), key, trusted=False)],
        )
    counted = [b for b in ledger.bounces(box) if b["counted"]]
    assert len(counted) == 1 and counted[0]["matched"]
    a = api.quota(ledger, BOX, at(DAY, 12))
    assert a.bounce_rate == pytest.approx(1 / 20)
    assert ledger.suppressed(["lead3@example.com"])  # matched: the address is dead
    ledger.close()


def test_a_row_stamped_in_the_future_never_paces_the_mailbox(
    smtp_ssl, ssl_cert_env, tmp_path, ledger_path
):
    """Issue #10 item 5: a row dated 2200 (a host with a broken clock, an old import) made
    ``send`` refuse until 2200 while ``quota`` said ok."""
    policy = policy_file(tmp_path / "paced.toml", daily=50, interval="5m")
    add_box(smtp_ssl.port, "--policy", str(policy))
    con = sqlite3.connect(ledger_path)
    con.execute(
        "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, "
        "settled_at, source, key) VALUES (1, 'x@example.com', '<future@x>', "
        "'2200-01-01 00:00:00.000000', '2200-01-01', 'sent', NULL, 'import', 'f')"
    )
    con.commit()
    con.close()
    res = cli(
        "send",
        BOX,
        "--to",
        "lead@example.com",
        "--subject",
        "hi",
        "--body",
        "hello",
        env=PASSWORD_ENV,
    )
    assert res.returncode == 0, res.stderr
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["next_send_at"] is None or quota["next_send_at"] < "2100"


def test_a_4xx_at_the_end_of_data_leaves_the_message_retryable(smtp_ssl, ssl_cert_env, tmp_path):
    """Acceptance 2: 451 at the end of DATA, then the same --eml once the server recovers:
    delivered, exit 0 (the deferred attempt used a slot; the retry takes a new one)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    eml = tmp_path / "m.eml"
    eml.write_text(
        f"From: {BOX}\nTo: lead@example.com\nSubject: hi\n"
        f"Message-ID: <retry-1@corp.example>\n\nhello\n"
    )
    smtp_ssl.data_reply = (451, "4.3.0 local error in processing")
    first = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert first.returncode == 75, first.stderr
    smtp_ssl.data_reply = None
    again = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr
    assert [m.message["Message-ID"] for m in smtp_ssl.messages] == ["<retry-1@corp.example>"]
    # both attempts count; a third is refused: it was delivered
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["sent"] == 2
    third = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert third.returncode == 65 and "already sent" in third.stderr


RETRYING_CLIENT = textwrap.dedent("""\
    import json, os, smtplib, sys
    from email.message import EmailMessage

    env, out = os.environ, sys.argv[1]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = env["WARMUP_MAILBOX"], "lead@example.com", "hi"
    msg["Message-ID"] = "<relay-retry@corp.example>"
    msg.set_content("Hello.")
    seen = []
    for attempt in range(2):
        with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"])) as s:
            s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
            try:
                s.send_message(msg)
                seen.append(250)
            except smtplib.SMTPResponseException as e:
                seen.append(e.smtp_code)
        if attempt == 0:
            open(out + ".first", "w").close()
            while not os.path.exists(out + ".go"):
                pass
    json.dump(seen, open(out, "w"))
""")


@pytest.mark.slow
def test_the_relay_answers_a_retry_after_a_4xx_with_250(smtp_ssl, ssl_cert_env, tmp_path):
    """Acceptance 2, through the relay: the client's retry of the deferred message gets 250 (a
    permanent 550 would make it drop the message)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    client, out = tmp_path / "client.py", tmp_path / "replies.json"
    client.write_text(RETRYING_CLIENT)
    smtp_ssl.data_reply = (451, "4.3.0 local error in processing")
    proc = subprocess.Popen(
        [
            *forkcli.command(),
            "send",
            BOX,
            "--refuse",
            "--",
            sys.executable,
            str(client),
            str(out),
        ],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = Path(str(out) + ".first")
    for _ in range(1200):  # the client's first attempt is done (waiting on a process)
        if first.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    smtp_ssl.data_reply = None
    Path(str(out) + ".go").touch()
    _, err = proc.communicate(timeout=180)
    assert json.loads(out.read_text()) == [451, 250], err
    assert [m.message["Message-ID"] for m in smtp_ssl.messages] == ["<relay-retry@corp.example>"]


@pytest.mark.slow
def test_sends_succeed_while_a_400000_row_import_runs(
    smtp_ssl, ssl_cert_env, tmp_path, ledger_path
):
    """Acceptance 5: a 400,000-row import running, 3 concurrent `warmup send`s: all succeed."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml", daily=1000)))
    path = tmp_path / "big.csv"
    # One send a minute from 2025-01-01T00:00:00+00:00, written as csv.writer would write it
    # (~0.5 s of CPU where a datetime and a writerow per row took ~3 s).
    days = [(dt.date(2025, 1, 1) + dt.timedelta(days=d)).isoformat() for d in range(278)]
    times = [f"T{m // 60:02d}:{m % 60:02d}:00+00:00" for m in range(1440)]
    rows = (
        f"old{i % 40}@archive.example,r{i}@example.com,{days[i // 1440]}{times[i % 1440]},exmail\r\n"
        for i in range(400_000)
    )
    path.write_text("mailbox,recipient,sent_at,provider\r\n" + "".join(rows), newline="")
    importer = subprocess.Popen(
        [*forkcli.command(), "import", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # wait until the import is writing (its first batches are in)
        for _ in range(6000):
            if importer.poll() is not None:
                break
            con = sqlite3.connect(ledger_path, timeout=30)
            try:
                n = con.execute("SELECT count(*) FROM send").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            finally:
                con.close()
            if n > 10_000:
                break
            time.sleep(0.1)
        assert importer.poll() is None, "the import finished before the sends started"
        senders = [
            subprocess.Popen(
                [
                    *forkcli.command(),
                    "send",
                    BOX,
                    "--to",
                    f"lead{k}@example.com",
                    "--subject",
                    "hi",
                    "--body",
                    "hello",
                ],
                env={**os.environ, **PASSWORD_ENV},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(3)
        ]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in senders]
        still_importing = importer.poll() is None
    finally:
        out, err = importer.communicate(timeout=900)
    assert [code for code, _ in results] == [0, 0, 0], results
    assert still_importing, "the sends did not overlap the import"
    assert importer.returncode == 0, err
    assert len(smtp_ssl.messages) == 3


def test_a_bounce_never_answers_a_slot_that_never_left(tmp_path):
    """A released slot (given back before any SMTP traffic) sent nothing: a bounce naming its
    recipient must not match it, nor count."""
    from warmup import Gate

    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "flat.toml")))
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["x@example.com", "y@example.com"], "<r@x>", now=at(DAY, 9)).settle("released")
        gate.reserve(["z@example.com", "w@example.com"], "<s@x>", now=at(DAY, 9, 5)).settle(
            "sent"
        )  # two recipients settled sent, written when the gate closes
    got = api.record_bounce(ledger, BOX, "x@example.com", "soft", at=at(DAY, 10))
    assert (got.bounces, got.matched, got.counted) == (1, 0, 0)
    assert ledger.rollup_mismatches() == []
    with ledger.read() as conn:
        outcomes = dict(conn.exec_driver_sql("SELECT recipient, outcome FROM send").fetchall())
    assert outcomes == {
        "x@example.com": "released",
        "y@example.com": "released",
        "z@example.com": "sent",
        "w@example.com": "sent",
    }
    ledger.close()


@pytest.mark.slow
def test_send_wait_takes_the_next_paced_slot_of_the_day(smtp_ssl, ssl_cert_env, tmp_path):
    """`warmup send --wait` and the relay share one wait-for-slot (Gate.wait_for): paced to
    a few seconds later today, the second message waits for its slot and goes. Both sends run
    in this process: a new interpreter can take longer than the gap on a loaded machine, and
    the second send then needs no wait at all."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "paced.toml", interval="8s")))
    args = ("send", BOX, "--to", "lead@example.com", "--subject", "hi", "--body", "hello")
    assert cli(*args, env=PASSWORD_ENV).returncode == 0
    start = time.monotonic()
    waited = cli(*args, "--wait", env=PASSWORD_ENV)
    assert waited.returncode == 0, waited.stderr
    assert "waiting" in waited.stderr and time.monotonic() - start < 30
    assert len(smtp_ssl.messages) == 2
