"""A Message-ID longer than a header line (998 octets) is bad data, refused before the ledger is
written, on both backends: PostgreSQL's unique index on a send's key refused one of some 2,700
octets ("index row size exceeds btree version 4 maximum 2704"), which ``Gate.reserve`` (the
Python API's, and a caller's own bytes through ``Gate.send``) reported as the ledger being
unavailable (exit 69), and SQLite kept what PostgreSQL refused. The bound is the one
``warmup record`` and ``warmup import`` already kept (``api.MESSAGE_ID_LIMIT``).

``warmup send --eml`` and ``warmup queue add`` refused such a message already (65), as a line of
the message over 998 octets ("encode the body quoted-printable ... or break the line", advice
that does not fit a Message-ID); they now name the Message-ID."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, add_box
from tests.peers.fixtures import SMTP_PASSWORD
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Gate, api, open_ledger
from warmup.errors import DataError

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def _message_id(octets: int) -> str:
    """A Message-ID of ``octets`` octets that does not compress (PostgreSQL compresses an index
    entry first: 3,000 x's fit)."""
    domain = "@corp.example>"
    return "<" + secrets.token_hex(octets)[: octets - 1 - len(domain)] + domain


def _rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_the_cli_refuses_a_message_id_over_998_octets_as_bad_data(
    ledger_url,  # noqa: F811
    run,
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    add_box(smtp_ssl.port)
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    mid = _message_id(2800)
    eml = tmp_path / "m.eml"
    eml.write_text(f"Message-ID: {mid}\r\nTo: lead@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    expected = (
        f"Message-ID {mid[:60]!r}... is 2800 octets long; at most 998 (a header line's "
        f"length): give a shorter one or leave it out (warmup adds one)"
    )
    res = run("send", BOX, "--eml", str(eml))
    assert (res.exit_code, res.output) == (65, f"Error: {expected}\n")
    assert smtp_ssl.connections == 0
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output.count("\n") == 1 and expected in res.output, res.output
    assert _rows(ledger_url, "send") == _rows(ledger_url, "outbox") == 0


def test_gate_reserve_refuses_a_message_id_over_998_octets_and_takes_998(
    ledger_url,  # noqa: F811
):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    with Gate(BOX, ledger=ledger) as gate:
        with pytest.raises(DataError, match="is 2800 octets long; at most 998"):
            gate.reserve(["lead@example.com"], _message_id(2800), now=NOW)
        with pytest.raises(DataError, match="is 999 octets long"):
            gate.reserve(["lead@example.com"], _message_id(999), now=NOW)
        assert _rows(ledger_url, "send") == 0
        gate.reserve(["lead@example.com"], _message_id(998), now=NOW).settle("sent", now=NOW)
    assert _rows(ledger_url, "send") == 1
