"""A relay that keeps running (``warmup send ADDRESS -- COMMAND``) while a newer warmup upgrades
its ledger: another host of the team upgraded first, or this host while an older run went on.
The gate asks whether the ledger is still its version's once a minute
(:data:`warmup.gate.SCHEMA_EVERY`, by its clock), never per message."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import pytest

from tests.gatekit import BOX, add_box, policy_file
from tests.peers.fixtures import SMTP_PASSWORD
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.test_relay import CLIENT
from warmup import Gate
from warmup.errors import NewerLedger
from warmup.gate import SCHEMA_EVERY
from warmup.ledger import Ledger, open_ledger
from warmup.ledger.migrations import MIGRATIONS_TABLE
from warmup.outbox.relay import QueueRelay
from warmup.wrap import run_relay, run_wrapped


def _set_up(port: int, tmp_path: Path, url: str) -> tuple[Ledger, list[dt.datetime], Path, Path]:
    """The box on the sink at ``port`` (10 a day), its ledger at ``url``, a clock the test moves
    (``now[0]``), the relayed client's script and the file it writes the replies to."""
    add_box(port, "--policy", str(policy_file(tmp_path / "p.toml", daily=10)))
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    now = [dt.datetime.now(dt.UTC).replace(microsecond=0)]
    return open_ledger(url), now, client, tmp_path / "replies.json"


def test_a_relay_answers_451_and_ends_78_once_a_newer_warmup_upgraded_its_ledger(
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    ledger_url,  # noqa: F811
    caplog,
):
    """The relay's gate read the ledger's schema once, when it opened: a newer warmup's
    migrations run meanwhile (as another host's upgrade does), it went on reserving and
    sending with its old view, its writes missing what the newer schema keeps (a rollup the
    newer recipient-domain caps read), and exited with the command's code. Its next message
    past a minute now gets a 451 naming the newer migration (nothing reserved nor sent: a
    script that retries later sends it once warmup is upgraded), so does every one after it,
    a line on stderr says so when it is met, and the run ends in the ledger's refusal, 78, as
    every command of this version is refused on that ledger."""
    ledger, now, client, out = _set_up(smtp_ssl.port, tmp_path, ledger_url)
    try:
        with Gate(BOX, ledger=ledger, password=SMTP_PASSWORD, clock=lambda: now[0]) as gate:
            gate.send(b"To: first@example.com\r\nSubject: one\r\n\r\nHello.\r\n")
            with ledger.write() as conn:  # the newer warmup's upgrade, from another host
                conn.execute(
                    MIGRATIONS_TABLE.insert().values(
                        name="m999_of_a_newer_warmup", applied_at=now[0]
                    )
                )
            now[0] += SCHEMA_EVERY
            with (
                caplog.at_level(logging.WARNING, logger="warmup.relay"),
                pytest.raises(NewerLedger, match=r"upgraded by a newer warmup \(migration m999_"),
            ):
                run_wrapped(gate, [sys.executable, str(client), "2", str(out)], wait=True)
        with ledger.read() as conn:
            sends = conn.exec_driver_sql("SELECT recipient FROM send").all()
    finally:
        ledger.close()
    replies = json.loads(out.read_text())
    assert [r["code"] for r in replies] == [451, 451]
    assert all(
        r["text"].startswith("4.3.0 unavailable: ledger ")
        and "upgraded by a newer warmup (migration m999_of_a_newer_warmup" in r["text"]
        for r in replies
    ), replies
    said = [r.getMessage() for r in caplog.records if "newer warmup" in r.getMessage()]
    assert len(said) == 1 and "answers 451 to every message from now on" in said[0], said
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("first@example.com",)]
    assert sends == [("first@example.com",)]


def test_a_gate_asks_about_the_schema_once_a_minute_not_per_message(
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """Within a minute of its last look the gate sends on the schema it knows (a question per
    message would cost every relay's message a statement); past it, it looks again."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=10)))
    ledger = open_ledger(ledger_url)
    now = [dt.datetime.now(dt.UTC).replace(microsecond=0)]
    try:
        with Gate(BOX, ledger=ledger, password=SMTP_PASSWORD, clock=lambda: now[0]) as gate:
            gate.send(b"To: a@example.com\r\nSubject: one\r\n\r\nHello.\r\n")
            with ledger.write() as conn:
                conn.execute(
                    MIGRATIONS_TABLE.insert().values(
                        name="m999_of_a_newer_warmup", applied_at=now[0]
                    )
                )
            now[0] += SCHEMA_EVERY - dt.timedelta(seconds=1)
            gate.send(b"To: b@example.com\r\nSubject: two\r\n\r\nHello.\r\n")
            now[0] += dt.timedelta(seconds=1)
            for _ in range(2):  # and every message after it, without asking again
                with pytest.raises(NewerLedger):
                    gate.send(b"To: c@example.com\r\nSubject: three\r\n\r\nHello.\r\n")
    finally:
        ledger.close()
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("a@example.com",), ("b@example.com",)]


def test_a_queueing_relay_answers_451_and_ends_78_once_a_newer_warmup_upgraded_its_ledger(
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """``warmup send ADDRESS --queue -- COMMAND`` writes each message to the outbox: past a
    minute after a newer warmup's upgrade it queued them with this version's view of the
    schema all the same. It now queues none of them (451 naming the migration) and ends in
    the ledger's refusal, 78."""
    ledger, now, client, out = _set_up(smtp_ssl.port, tmp_path, ledger_url)
    try:
        relay = QueueRelay(ledger, mailbox=BOX, clock=lambda: now[0])
        with ledger.write() as conn:
            conn.execute(
                MIGRATIONS_TABLE.insert().values(name="m999_of_a_newer_warmup", applied_at=now[0])
            )
        now[0] += SCHEMA_EVERY
        with pytest.raises(NewerLedger, match=r"\(migration m999_of_a_newer_warmup,"):
            run_relay(relay, [sys.executable, str(client), "2", str(out)])
        with ledger.read() as conn:
            queued = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar()
    finally:
        ledger.close()
    assert [r["code"] for r in json.loads(out.read_text())] == [451, 451]
    assert queued == 0
