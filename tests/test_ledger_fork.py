"""A ledger opened before a fork and used on both sides of it (a script's Outbox, then
``os.fork`` or multiprocessing's fork workers): each process talks to the database on
connections of its own, never on the one they both inherited."""

from __future__ import annotations

import os
from email.message import EmailMessage

from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox, api, open_ledger

BOX = "a@corp.example"


def _message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, "Hello"
    msg.set_content("Hi there")
    return msg


def test_an_outbox_used_by_forked_children_and_their_parent_queues_each_message(
    ledger_url,  # noqa: F811
):
    """The pool's idle connection went into each child, which wrote on it: on PostgreSQL the
    processes' statements crossed on one socket ("server closed the connection unexpectedly"
    in a child, and in the parent a raw psycopg ProgrammingError, "can't change 'autocommit'
    now: connection in transaction status INTRANS"), messages not queued. A connection
    checked out in another process than the one that opened it is left alone (not closed:
    that is the parent's) and replaced."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    outbox = Outbox(ledger)
    outbox.add(_message("first@example.com"), mailbox=BOX)  # a pooled connection, idle
    children = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for i in range(5):
                    outbox.add(_message(f"c{k}-{i}@example.com"), mailbox=BOX)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for i in range(5):
        outbox.add(_message(f"p{i}@example.com"), mailbox=BOX)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children] == [0, 0, 0]
    with ledger.read() as conn:
        got = conn.exec_driver_sql("SELECT recipients FROM outbox").scalars().all()
    want = ["first@example.com", *(f"p{i}@example.com" for i in range(5))]
    want += [f"c{k}-{i}@example.com" for k in range(3) for i in range(5)]
    assert sorted(got) == sorted(want)
    ledger.close()
