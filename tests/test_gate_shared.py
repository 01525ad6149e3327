"""One library :class:`~warmup.Gate` used the ways a script's author may use it: from several
threads at once, after a fork, after close, with recipients given as something else than a list.
Each either works as a Gate used alone does, or is refused in one line before anything is
reserved; never a garbled SMTP conversation or ledger."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import BOX, PASSWORD_ENV, add_box, policy_file, rows
from tests.peers.fixtures import SMTP_PASSWORD
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Gate
from warmup.errors import DataError, UsageError, WrongType

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def _message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = BOX, to, "Hello"
    msg.set_content("Hi there")
    return msg


def test_threads_sharing_a_gate_take_turns_on_its_smtp_connection(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, thread_errors
):
    """A script's worker threads (or ``asyncio.to_thread``) sending through one Gate at once
    wrote their commands on its one SMTP connection together: replies went to the wrong
    thread, messages failed (an SSL ValueError, an AssertionError), and garbled replies were
    recorded as soft bounces, enough of them to pause the mailbox. They take turns: every
    message delivered once, each recorded sent."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    failed: list[BaseException] = []
    start = threading.Barrier(4, timeout=30)
    with Gate(BOX, password=SMTP_PASSWORD) as gate:

        def sender(n: int) -> None:
            start.wait()
            for i in range(4):
                try:
                    gate.send(_message(f"lead{n}-{i}@example.com"))
                except Exception as exc:
                    failed.append(exc)

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failed == [] and thread_errors == []
    got = sorted(r for m in smtp_ssl.messages for r in m.rcpt_tos)
    assert got == sorted(f"lead{n}-{i}@example.com" for n in range(4) for i in range(4))
    assert rows(ledger_path, "SELECT outcome, count(*) FROM send GROUP BY outcome") == [
        ("sent", 16)
    ]
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]


def test_recipients_given_as_one_string_a_set_or_a_generator_are_those_addresses(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """``gate.send(msg, "lead@example.com")`` took each character for a recipient ("malformed
    recipient 'l'"), although ``reserve`` takes one string as one address; a set of one address,
    or a generator, failed deep inside with Python's TypeError ("'set' object is not
    subscriptable", "object of type 'generator' has no len()")."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, password=SMTP_PASSWORD) as gate:
        gate.send(_message("header@example.com"), "one@example.com")
        gate.send(_message("header@example.com"), {"set@example.com"})
        gate.send(_message("header@example.com"), (r for r in ["gen@example.com"]))
        gate.reserve({"slot@example.com"}).settle("released")
        gate.reserve(r for r in ["slot2@example.com"]).settle("released")
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [
        ("one@example.com",),
        ("set@example.com",),
        ("gen@example.com",),
    ]


def test_an_empty_list_of_recipients_sends_to_no_one(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    """``recipients=[]`` (a script's list after it filtered out every lead) was taken for "not
    given": the message went to whoever its To and Cc name. It is refused as a message to no
    one, before anything is reserved; None still means "read them from the message"."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, password=SMTP_PASSWORD) as gate:
        with pytest.raises(DataError, match="^no recipients$"):
            gate.send(_message("everyone@example.com"), [])
        with pytest.raises(DataError, match="^no recipients$"):
            gate.send(_message("everyone@example.com").as_bytes(), [], message_id="<m@corp>")
        assert smtp_ssl.messages == []
        assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
        gate.send(_message("everyone@example.com"), None)
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("everyone@example.com",)]


def test_recipients_of_a_wrong_type_are_refused_naming_the_parameter(ledger_path, tmp_path):
    """``b"lead@example.com"`` was read byte by byte (``recipient: expected a str, got int
    108``), a number as a TypeError of Python's."""
    from warmup import api, open_ledger

    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    with Gate(BOX, ledger=ledger) as gate:
        for wrong, shown in [(b"lead@example.com", "bytes b'lead@example.com'"), (5, "int 5")]:
            given: Any = wrong
            send: Any = lambda r: gate.send(_message("x@example.com"), r)  # noqa: E731
            for call in (send, gate.reserve):
                with pytest.raises(WrongType) as err:
                    call(given)
                assert str(err.value) == (
                    f"recipients: expected a list of addresses (str), got {shown}"
                )
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_a_closed_gate_says_so_instead_of_opening_again(ledger_path, closed_port):
    """A gate used after close() (a script's send after its ``with`` block) opened its ledger
    connection again, never to be closed, and reserved: a slot left ``reserved`` for a gate
    nobody would close. Each use is one line saying the gate is closed, nothing written; a
    second close() is nothing."""
    add_box(closed_port[1])  # were it to connect: refused on loopback
    gate = Gate(BOX, password=SMTP_PASSWORD)
    gate.reserve(["first@example.com"]).settle("released")
    gate.close()
    before = ledger_digest(ledger_path)
    msg = _message("x@example.com")
    calls: list[Callable[[], object]] = [
        lambda: gate.send(msg),
        lambda: gate.reserve(["x@example.com"]),
        gate.flush,
        gate.allowance,
        lambda: gate.preview(["x@example.com"]),
        lambda: gate.check_refusals(["x@example.com"], None),
    ]
    for call in calls:
        with pytest.raises(UsageError) as err:
            call()
        assert str(err.value) == f"the Gate of {BOX} is closed; open a new Gate to use it again"
    gate.close()
    assert ledger_digest(ledger_path) == before


def test_a_reservation_settled_after_its_gate_closed_is_refused_not_retried_for_ever(
    ledger_path, closed_port
):
    """A slot settled "sent" after its gate was closed started the gate's settler thread,
    whose write the closed gate refused: it tried again, every 30 s, for as long as the
    process ran, and the slot was never written. The settle is refused in one line (the slot
    stays counted, as one whose holder crashed), and no thread is left behind."""
    add_box(closed_port[1])
    gate = Gate(BOX, password=SMTP_PASSWORD)
    slot = gate.reserve(["late@example.com"])
    gate.close()
    with pytest.raises(UsageError, match="^the Gate of .* is closed; open a new Gate"):
        slot.settle("sent")
    assert not any(t.name == "warmup-gate-settle" for t in threading.enumerate())
    assert rows(ledger_path, "SELECT outcome FROM send") == [("reserved",)]


_INHERITED: list[Gate] = []  # a script's global gate, which fork workers inherit


def _reserve_in_child() -> str:
    """What a gate the parent opened answers a reservation in this (forked) child."""
    [gate] = _INHERITED
    try:
        gate.reserve(["child@example.com"], now=NOW).settle("sent", now=NOW)
    except UsageError as exc:
        return str(exc)
    finally:
        gate.close()  # the child's 'with' block ending: nothing of the parent's closed
    return "reserved"


def test_a_gate_used_after_a_fork_is_refused_in_the_child(ledger_url, tmp_path):  # noqa: F811
    """A gate opened before a fork (a global of a script that then forks, multiprocessing's
    fork workers) carried the parent's ledger connection into the child: on PostgreSQL the
    two processes' statements crossed on one socket ("cannot exit pipeline mode while busy",
    "server closed the connection unexpectedly", or "its settings or policy kept changing"),
    on SQLite a connection used across a fork, which SQLite warns may corrupt the file. The
    child is told in one line to open its own; it writes nothing; the parent goes on."""
    import multiprocessing
    import os

    from warmup import api, open_ledger

    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "p.toml", 50)))
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["before@example.com"], now=NOW).settle("sent", now=NOW)
        _INHERITED[:] = [gate]
        try:
            with multiprocessing.get_context("fork").Pool(1) as pool:
                said = pool.apply(_reserve_in_child)
        finally:
            _INHERITED.clear()
        assert said == (
            f"the Gate of {BOX} was opened by process {os.getpid()}, which this one was forked "
            f"from; open a Gate in this process (with multiprocessing: in each worker)"
        )
        gate.reserve(["after@example.com"], now=NOW).settle("sent", now=NOW)
    with ledger.read() as conn:
        got = sorted(conn.exec_driver_sql("SELECT recipient, outcome FROM send").all())
    assert got == [("after@example.com", "sent"), ("before@example.com", "sent")]
    ledger.close()


# A script that sends and ends without closing its gate ("exit"), or drops it ("drop").
UNCLOSED = textwrap.dedent("""\
    import gc, os, sys, warnings
    from email.message import EmailMessage

    from warmup import Gate

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = os.environ["BOX"], "lead@example.com", "Hello"
    msg.set_content("Hi there")
    gate = Gate(os.environ["BOX"])
    gate.send(msg)
    if sys.argv[1] == "drop":
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", ResourceWarning)
            del gate
            gc.collect()
        # the gate's own warning alone: its SMTP connection closed too, not left to the
        # socket's (smtplib's "unclosed <ssl.SSLSocket ...>")
        print([str(w.message) for w in seen if issubclass(w.category, ResourceWarning)])
        con = __import__("sqlite3").connect(os.environ["WARMUP_DB"])
        print(con.execute("SELECT outcome FROM send").fetchall())
""")


@pytest.mark.parametrize("end", ["exit", "drop"])
def test_a_gate_never_closed_still_records_its_last_message_sent(
    end, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """A script that sent and ended without close() (or dropped its gate) left its last
    message ``reserved``: the settler thread, a daemon, died with the interpreter (or ended
    with the gate), and once the process was gone the slot turned ``unknown``: a message
    the server took, shown as one of unknown fate. The gate writes it when it is collected
    or at the interpreter's exit, and says it was left open (a ResourceWarning), its own
    alone: its SMTP connection is closed too, where its socket, collected, added smtplib's
    "unclosed <ssl.SSLSocket ...>"."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    run = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", UNCLOSED, end],
        env={
            **os.environ,
            **PASSWORD_ENV,
            "BOX": BOX,
            "WARMUP_DB": str(ledger_path),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "unclosed <ssl.SSLSocket" not in run.stderr, run.stderr
    if end == "drop":  # written as the gate went, not at the exit
        warned = f"unclosed Gate of {BOX}: close it, or open it with 'with Gate(...)'"
        assert run.stdout.splitlines() == [str([warned]), "[('sent',)]"]
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [
        ("lead@example.com", "sent")
    ]
    assert len(smtp_ssl.messages) == 1


def test_from_asyncio_a_gate_sends_on_the_loop_or_through_to_thread(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """What README says of asyncio: ``gate.send`` inside a coroutine works (no "event loop is
    already running": it runs no loop of its own) but blocks the loop until the server
    answers; ``await asyncio.to_thread(gate.send, msg)`` from many coroutines at once takes
    turns on the gate's connection, each message delivered and recorded once."""
    import asyncio

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))

    async def main() -> None:
        with Gate(BOX, password=SMTP_PASSWORD) as gate:
            gate.send(_message("on-the-loop@example.com"))
            await asyncio.gather(
                *(asyncio.to_thread(gate.send, _message(f"t{i}@example.com")) for i in range(6))
            )

    asyncio.run(main())
    got = sorted(r for m in smtp_ssl.messages for r in m.rcpt_tos)
    assert got == sorted(["on-the-loop@example.com", *(f"t{i}@example.com" for i in range(6))])
    assert rows(ledger_path, "SELECT outcome, count(*) FROM send GROUP BY outcome") == [("sent", 7)]


def test_a_message_parsed_from_text_with_non_ascii_headers_is_sent_as_its_text(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """``email.message_from_string(text)`` (compat32) of a message whose Subject and body are
    not ASCII, the way a script reads its .eml template, was refused: "message cannot be
    written out (UnicodeEncodeError); build it as an email.message.EmailMessage", although
    the same text given as a str goes. Such a message is read as its text."""
    import email

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    text = f"From: {BOX}\nTo: lead@example.com\nSubject: Grüße 你好\n\nHéllo 你好\n"
    with Gate(BOX, password=SMTP_PASSWORD) as gate:
        gate.send(email.message_from_string(text))
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.com",)
    assert str(got.message["Subject"]) == "Grüße 你好"
    assert got.message.get_content().rstrip() == "Héllo 你好"
    assert got.message.get_content_charset() == "utf-8"
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",)]


def test_a_password_of_a_wrong_type_is_refused_without_showing_it(ledger_path):
    """``Gate(..., password=123456)`` (a PIN-like password read as a number), bytes or a list
    failed at the first send as "'int' object has no attribute 'check_login'". Refused at once
    naming the parameter, as every other parameter of the wrong type is, but without its
    value: an error message must never carry a secret."""
    from warmup import api, open_ledger

    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    for wrong in (123456, b"s3cret-pass", ["s3cret-pass"]):
        given: Any = wrong
        for name in ("password", "password_command"):
            with pytest.raises(WrongType) as err:
                Gate(BOX, ledger=ledger, **{name: given})
            assert str(err.value) == f"{name}: expected a str, got {type(wrong).__name__}"
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_close_waits_for_the_message_another_thread_is_sending(smtp_ssl, ssl_cert_env, tmp_path):
    """close() from one thread while another's send waited for the server's answer to its
    DATA closed the ledger under it: the answer could no longer be recorded, and the slot of
    a message the server took was left reserved. close() waits for that send to end."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    smtp_ssl.hold_data_reply = threading.Event()
    failed: list[BaseException] = []
    gate = Gate(BOX, password=SMTP_PASSWORD)

    def sender() -> None:
        try:
            gate.send(_message("lead@example.com"))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert smtp_ssl.holding.wait(30)
        closer = threading.Thread(target=gate.close)
        closer.start()
        closer.join(0.5)
        assert closer.is_alive()  # waiting for the send
    finally:
        smtp_ssl.hold_data_reply.set()
    thread.join(30)
    closer.join(30)
    assert failed == [] and not closer.is_alive()
    assert rows(tmp_path / "ledger.db", "SELECT outcome FROM send") == [("sent",)]
