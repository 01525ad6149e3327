"""A worker for a large pool on a team ledger keeps the ledger connections of its few most recent
gates only (:data:`warmup.outbox.worker.CONNECTED_GATES`): the others give theirs back. A gate
whose giving back failed (the ledger busy or away while it wrote its deferred settlements) must
stay in line to be asked again, not keep a connection nobody tracks."""

from __future__ import annotations

import datetime as dt
import threading
from urllib.parse import quote

import psycopg
import sqlalchemy as sa

from tests.gatekit import cli, policy_file
from tests.outboxkit import add_box, midday_zone, queue_plain
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import pg_server, pg_url  # noqa: F401  (the fixture)
from warmup.errors import LedgerBusy
from warmup.ledger import open_ledger
from warmup.outbox.worker import CONNECTED_GATES, Worker

BOXES = [f"m{i}@corp.example" for i in range(CONNECTED_GATES + 1)]


def _hold_row(ledger_url: str, address: str) -> psycopg.Connection:
    """Another session of the team that holds ``address``'s mailbox row (its transaction open
    until the connection is closed), as a long transaction of another host does."""
    url = sa.engine.make_url(pg_server()).set(drivername="postgresql")
    options = sa.engine.make_url(ledger_url).query["options"]
    assert isinstance(options, str)
    conn = psycopg.connect(url.render_as_string(hide_password=False), options=options)
    conn.execute("SELECT id FROM mailbox WHERE address = %s FOR UPDATE", (address,))
    return conn


def _queue_one(to: str) -> None:
    from warmup import Outbox

    ledger = open_ledger()
    try:
        Outbox(ledger).add(f"To: {to}\nSubject: s\n\nhi\n".encode(), pool="P")
    finally:
        ledger.close()


def test_a_gate_that_could_not_give_its_connection_back_is_asked_again(
    pki,
    ssl_cert_env,
    pg_url,  # noqa: F811
    password,
    monkeypatch,
    tmp_path,
):
    """The first member's message left, but another session held its mailbox row, so its
    record waited (deferred). Eight members later the worker let go of that member's gate to
    keep at most eight connections: the write of the deferred record timed out on the lock,
    and the gate had already been taken off the list of gates holding a connection: it kept
    its connection for the worker's life, one more per outage until the pool had none to
    lend. Now it stays in line and gives its connection back (its record written) as soon as
    the ledger lets it."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    # the lock waits of the worker's own sessions, short: the row held below is found at once
    url = pg_url.replace("options=", "options=" + quote("-c lock_timeout=300ms ", safe=""))
    accounts = {box: SMTP_PASSWORD for box in BOXES}
    with SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts) as s:
        policy = policy_file(tmp_path / "one.toml", daily=1)
        # a zone where it is midday: the worker's clock is the real time, and a Shanghai
        # midnight (16:00 UTC) passed during the test gave every member a new day's quota, so
        # the late message went from another member (7 connections held, not 8)
        zone = midday_zone()
        for box in BOXES:
            add_box(box, s.port, str(policy), zone)
        assert cli("pool", "add", "P", *BOXES).returncode == 0
        first, *_ = queue_plain(len(BOXES))
        held: list[psycopg.Connection] = []
        s.hold_data_reply = threading.Event()

        def hold_first_member() -> None:  # while the first message is in DATA
            assert s.holding.wait(60)
            held.append(_hold_row(pg_url, BOXES[0]))
            assert s.hold_data_reply is not None
            go, s.hold_data_reply = s.hold_data_reply, None
            go.set()

        holder = threading.Thread(target=hold_first_member, daemon=True)
        holder.start()
        ledger = open_ledger(url)
        now = [dt.datetime.now(dt.UTC)]
        worker = Worker(ledger, clock=lambda: now[0], sleep=lambda s: None)
        try:
            # 1: sent by m0, its record cannot be written: the pass stops (the library's
            # caller decides when to try again)
            try:
                worker.run_once()
            except LedgerBusy:
                pass
            else:
                raise AssertionError("the held row did not stop the pass")
            holder.join(60)
            msg1 = ledger.message(first)
            assert ledger.gate_outcomes(msg1.message_id)["r0@example.com"][0] == "reserved"
            # 2-9: m1..m8; before m8 reserves, m0 is asked for its connection: the held row
            # stops it again
            try:
                worker.run_once()
            except LedgerBusy:
                pass
            else:
                raise AssertionError("m0's release did not meet the held row")
            assert [m.rcpt_tos for m in s.messages][1:] == [
                (f"r{i}@example.com",) for i in range(1, CONNECTED_GATES)
            ]
            held[0].close()  # the other host's transaction ends
            # One more message (m8 still has its quota): m0 gives its connection back now.
            _queue_one("late@example.com")
            # queued at the real time, which under load is more than 10 s past the worker's
            # clock (set as the test began): the worker's clock moves on from the real time
            now[0] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
            worker.run_once()
            assert len(s.messages) == CONNECTED_GATES + 1
            assert ledger.gate_outcomes(msg1.message_id)["r0@example.com"][0] == "sent"
            pool = ledger.engine.pool
            assert isinstance(pool, sa.pool.QueuePool)
            assert pool.checkedout() == CONNECTED_GATES
        finally:
            for conn in held:
                conn.close()
            worker.close()
            ledger.close()


def test_a_send_refused_on_a_server_with_one_connection_left_is_settled_on_the_gates_own(
    smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """A team server with one connection slot left for warmup (max_connections nearly used,
    a database's CONNECTION LIMIT): `warmup send` reserved on the gate's connection, the SMTP
    server refused the recipient, and the settlement asked the pool for a second connection,
    which the server refused: exit 75, the hard bounce never recorded nor its address
    suppressed, the slot left ``reserved`` (counted as sent). It is settled on the gate's own
    connection: the bounce recorded, the address suppressed, as with connections to spare."""
    from tests import gatekit
    from tests.pgkit import _admin, _without_password, fresh_database

    smtp_ssl.reject_rcpt = {"gone@example.com": (550, "5.1.1 no such user")}
    with fresh_database("oneslot") as (server, name):
        url = _without_password(server)
        monkeypatch.setenv("WARMUP_DB", url)
        gatekit.add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", 10)))
        with _admin(server) as conn:
            conn.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT 1')
        res = gatekit.warmup(
            "send",
            gatekit.BOX,
            "--to",
            "gone@example.com",
            "--subject",
            "s",
            "--body",
            "b",
            env=gatekit.PASSWORD_ENV,
        )
        with _admin(server) as conn:
            conn.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT -1')
            sends = conn.execute("SELECT outcome FROM send").fetchall()
            suppressed = conn.execute("SELECT address FROM suppression").fetchall()
    assert "no connection left" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    assert "gone@example.com" in res.stderr and "550" in res.stderr, res.stderr
    assert (sends, suppressed) == ([("hard",)], [("gone@example.com",)])


def _one_slot(name: str, limit: int = 1) -> None:
    """Database ``name`` of the test server admits ``limit`` connections (-1: as many as the
    server's); said from the test database, which the limit leaves alone."""
    from tests.pgkit import _admin

    with _admin(pg_server()) as conn:
        conn.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT {limit}')


def test_a_worker_on_a_server_with_one_connection_left_records_its_messages_on_it(
    pki, ssl_cert_env, password, tmp_path, monkeypatch
):
    """A team server with one connection slot left for warmup (a database's CONNECTION LIMIT
    1, as max_connections nearly used): `warmup run --once` claimed the first message, its
    member's gate took the one connection for its reservation and kept it, the message left,
    and the claim of the next (which writes the first's outcome) asked the pool for a second
    connection, which the server refused: exit 75, the message that left stuck ``sending``
    (the next worker calls it ``unknown``, for a person), the rest unsent. A gate now lends
    its idle connection to the process's other work when the server has no slot for it:
    every message sent and recorded ``sent``, exit 0; and a worker's next pass (its reads,
    then the gate's reservation, on the one connection in turn) sends a message queued since."""
    from tests import gatekit
    from tests.pgkit import _admin, _without_password, fresh_database

    with (
        SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki) as s,
        fresh_database("oneslot") as (server, name),
    ):
        url = _without_password(server)
        monkeypatch.setenv("WARMUP_DB", url)
        add_box(SMTP_USER, s.port, str(policy_file(tmp_path / "p.toml", daily=10)))
        assert cli("pool", "add", "P", SMTP_USER).returncode == 0
        queue_plain(3)
        _one_slot(name)
        try:
            res = gatekit.warmup("run", "--once", "--no-sync", env=gatekit.PASSWORD_ENV)
            assert "no connection left" not in res.stderr, res.stderr
            assert res.returncode == 0, res.stdout + res.stderr
            assert len(s.messages) == 3
            # A worker that keeps running: its gate holds the one connection between passes.
            ledger = open_ledger(url)
            worker = Worker(ledger, sleep=lambda s: None)
            try:
                _one_slot(name, -1)
                _queue_one("a@example.com")  # on a connection of its own
                _one_slot(name)
                worker.run_once()
                _one_slot(name, -1)
                _queue_one("b@example.com")
                _one_slot(name)
                worker.run_once()
            finally:
                worker.close()
                ledger.close()
        finally:
            _one_slot(name, -1)
        with _admin(server) as conn:
            states = conn.execute("SELECT state FROM outbox ORDER BY id").fetchall()
            sends = conn.execute("SELECT outcome FROM send ORDER BY id").fetchall()
    assert len(s.messages) == 5
    assert states == [("sent",)] * 5
    assert sends == [("sent",)] * 5
