"""One library :class:`~warmup.Gate` used the ways a script's author may use it: from several
threads at once, after a fork, after close, with recipients given as something else than a list.
Each either works as a Gate used alone does, or is refused in one line before anything is
reserved; never a garbled SMTP conversation or ledger."""

from __future__ import annotations

import threading
from email.message import EmailMessage

from tests.gatekit import BOX, add_box, policy_file, rows
from tests.peers.fixtures import SMTP_PASSWORD
from warmup import Gate


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
