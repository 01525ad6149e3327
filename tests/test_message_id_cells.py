"""A Message-ID given by hand (`import`'s message_id cell, `record send --message-id`) is kept
as the gate and the bounce matcher spell one, or refused when it is not one.

Kept as given, `<<x@y>>`, a leading byte-order mark or `a b@c` matched no bounce naming the
real Message-ID, and the same send imported again under its plain spelling was a second one."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import ledger_digest

from warmup.fields import message_id_field

BOX = "a@corp.example"


def _ids(ledger_path) -> list[str | None]:
    with sqlite3.connect(ledger_path) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM send ORDER BY id")]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("<x@y>", "<x@y>"),
        ("x@y", "x@y"),
        ("<<x@y>>", "<x@y>"),
        ("\ufeff<x@y>", "<x@y>"),
        ("\ufeff x@y", "x@y"),
        ("< x@y >", "<x@y>"),
        ("<>", ""),
        ("<< >>", ""),
    ],
)
def test_one_message_id_is_kept_as_the_gate_spells_it(given, kept):
    assert message_id_field(given) == kept


@pytest.mark.parametrize("given", ["a b@c", "<a@b> <c@d>", "<a@b>,<c@d>x", "<a@b", "a@b>", "<a<b>"])
def test_what_is_not_one_message_id_is_refused(given):
    with pytest.raises(Exception, match="is not one Message-ID") as caught:
        message_id_field(given)
    assert getattr(caught.value, "exit_code", None) == 65


def test_import_keeps_the_gates_spelling_and_a_doubled_one_is_the_same_send(
    run, tmp_path, ledger_path
):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,message_id\n"
        f"{BOX},one@example.com,2026-11-02T09:00:00+08:00,<<x@corp.example>>\n"
        f"{BOX},two@example.com,2026-11-02T09:05:00+08:00,\ufeff<y@corp.example>\n",
        encoding="utf-8",
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert _ids(ledger_path) == ["<x@corp.example>", "<y@corp.example>"]
    again = tmp_path / "again.csv"
    again.write_text(
        "mailbox,recipient,sent_at,message_id\n"
        f"{BOX},one@example.com,2026-11-02T09:00:00+08:00,<x@corp.example>\n"
    )
    assert run("import", str(again)).exit_code == 0
    assert len(_ids(ledger_path)) == 2  # the same send, not a second one


def test_import_refuses_a_cell_that_is_not_one_message_id_naming_its_line(
    run, tmp_path, ledger_path
):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,message_id\n"
        f"{BOX},one@example.com,2026-11-02T09:00:00+08:00,<x@corp.example>\n"
        f"{BOX},two@example.com,2026-11-02T09:05:00+08:00,<a@corp.example> <b@corp.example>\n"
    )
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.stderr == (
        f"Error: {log}: line 3: message_id: '<a@corp.example> <b@corp.example>' is not one "
        "Message-ID (white space or an angle bracket inside it); give one, as <id@host> or "
        "id@host\n"
    ), res.stderr
    assert ledger_digest(ledger_path) == before


def test_record_send_spells_a_message_id_as_the_gate_does_or_refuses_it(run, ledger_path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("record", "send", BOX, "--to", "l@example.com", "--message-id", "a b@c")
    assert res.exit_code == 65, res.output
    assert res.stderr == (
        "Error: --message-id: 'a b@c' is not one Message-ID (white space or an angle bracket "
        "inside it); give one, as <id@host> or id@host\n"
    ), res.stderr
    assert ledger_digest(ledger_path) == before
    res = run("record", "send", BOX, "--to", "l@example.com", "--message-id", "<<m@corp.example>>")
    assert res.exit_code == 0, res.output
    assert _ids(ledger_path) == ["<m@corp.example>"]
