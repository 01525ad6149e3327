"""The PostgreSQL gate path (warmup/ledger/postgres_gate.py, PostgresGate): deferred settlements ride on
the next reservation, a failure inside the transaction releases the mailbox's lock, a dropped
connection is one clean error and then replaced, the domain cap counts every mailbox of the
domain. (Its answers and rows against the reference: tests/test_gate_paths.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.conftest import policy_changes_at
from tests.gatekit import policy_file
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from warmup import Gate, NotAllowed, api, gateverdict, open_ledger
from warmup.errors import DataError, TempFail, WarmupError
from warmup.ledger import DuplicateSend, SendIn
from warmup.ledger.schema import SEND

BOX = "a@corp.example"
NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def flat(url: str, tmp_path, **policy: object):  # type: ignore[no-untyped-def]
    ledger = open_ledger(url)
    ledger.clock = lambda: NOW
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "flat.toml", 50)))
    return ledger


@pytest.mark.slow
def test_deferred_settlements_are_written_together_by_the_next_reservation(pg_url, tmp_path):  # noqa: F811
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        slots = [
            gate.reserve([f"n{i}@example.com", f"m{i}@example.com"], f"<n{i}@x>", now=NOW)
            for i in range(3)
        ]
        for i, slot in enumerate(slots):
            slot.settle("sent", now=NOW + dt.timedelta(seconds=i))
        assert len(gate._db._deferred) == 6
        gate.reserve(["last@example.com"], "<last@x>", now=NOW)  # writes the six
        assert gate._db._deferred == []
        with ledger.read() as conn:
            got = dict(
                conn.execute(
                    sa.select(SEND.c.recipient, SEND.c.settled_at).where(
                        SEND.c.message_id.like("<n%"), SEND.c.outcome == "sent"
                    )
                ).all()
            )
        assert got == {
            f"{p}{i}@example.com": NOW + dt.timedelta(seconds=i) for i in range(3) for p in "nm"
        }
    ledger.close()


def test_a_failure_inside_the_transaction_releases_the_lock(pg_url, tmp_path, monkeypatch):  # noqa: F811
    ledger = flat(pg_url, tmp_path)
    box = ledger.mailbox(BOX)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("policy failed")

        with monkeypatch.context() as m:
            m.setattr(gateverdict, "evaluate", boom)
            m.setattr(gateverdict.Morning, "allows", boom)  # the decision's quick path too
            with pytest.raises(RuntimeError):
                gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert len(gate._db._deferred) == 1  # rolled back: still to be written
        with ledger.write() as conn:  # nobody holds the mailbox's row
            conn.exec_driver_sql(f"SELECT id FROM mailbox WHERE id = {box.id} FOR UPDATE NOWAIT")
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
        assert gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(
            conn.execute(
                sa.select(SEND.c.recipient, SEND.c.outcome).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"])
                )
            ).all()
        )
    assert got == {"a@example.com": "sent", "c@example.com": "reserved"}
    ledger.close()


def test_a_connection_dropped_while_idle_is_replaced_for_the_next_reservation(
    pg_url,  # noqa: F811
    tmp_path,
):
    """The server dropped the gate's connection between two reservations (a restart, a
    fail-over, pg_terminate_backend): the next reservation failed (Unavailable) and a worker
    held the message back, though the server was there. Nothing of that reservation had
    happened, so it is made once more on a new connection."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        pid = gate._db._pg.info.backend_pid
        with ledger.write() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg.info.backend_pid != pid  # a new connection
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
    with ledger.read() as conn:
        assert sorted(
            conn.execute(
                sa.select(SEND.c.recipient).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"])
                )
            ).scalars()
        ) == ["a@example.com", "b@example.com", "c@example.com"]
    ledger.close()


def test_a_flush_writes_on_the_gates_connection_or_another_once_the_server_dropped_it(
    pg_url,  # noqa: F811
    tmp_path,
):
    """A gate writes its deferred settlements on the connection it holds (none more from the
    pool); one the server dropped while the gate idled (a restart, pg_terminate_backend) is
    replaced by one of the pool's, the settlement written all the same."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        gate.flush()
        assert gate._db._pg is pg and gate._db._deferred == []
        gate.reserve(["b@example.com"], "<b@x>", now=NOW).settle("sent", now=NOW)
        with ledger.write() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pg.info.backend_pid})")
        gate.flush()
        assert gate._db._deferred == []
        with ledger.read() as conn:
            got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
        assert got == {"a@example.com": "sent", "b@example.com": "sent"}
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)  # a new connection for the gate
    ledger.close()


def test_domain_cap_counts_every_mailbox_of_the_domain(pg_url, tmp_path):  # noqa: F811
    policy = policy_file(tmp_path / "capped.toml", daily=50)
    policy.write_text(policy.read_text().replace("growth_factor", "domain_cap = 5\ngrowth_factor"))
    ledger = open_ledger(pg_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy))
    other = api.add_mailbox(ledger, "b@corp.example", "exmail", policy=str(policy))
    api.add_mailbox(ledger, "c@elsewhere.example", "exmail", policy=str(policy))
    now = NOW + dt.timedelta(hours=5)
    ledger.record(other, sends=[SendIn(f"o{k}@example.com", now, f"<o{k}@x>") for k in range(3)])
    ledger.record(
        ledger.mailbox("c@elsewhere.example"),
        sends=[SendIn(f"e{k}@example.com", now, f"<e{k}@x>") for k in range(9)],
    )
    with Gate(BOX, ledger=ledger) as gate:
        assert gate.spec.domain_cap == 5
        gate.reserve(["x@example.com"], "<x@x>", now=now)
        assert gate.allowance(now).remaining == 1  # 3 + 1 of the domain's 5 sent today
        gate.reserve(["y@example.com"], "<y@x>", now=now)  # the fifth of the domain
        with pytest.raises(NotAllowed):
            gate.reserve(["z@example.com"], "<z@x>", now=now)
    ledger.close()


def test_a_resend_of_a_message_just_settled_sent_says_it_was_sent(pg_url, tmp_path):  # noqa: F811
    # The deferred "sent" is written by the same statement that reads this Message-ID's slots
    # (whose snapshot still shows "reserved"): the refusal must name what the ledger now holds.
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        assert len(gate._db._deferred) == 1
        with pytest.raises(DuplicateSend) as caught:
            gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        assert "was already sent to a@example.com" in str(caught.value)
        assert gate._db._deferred == []  # written with the refused reservation
    with ledger.read() as conn:
        assert conn.execute(
            sa.select(SEND.c.outcome).where(SEND.c.message_id == "<a@x>")
        ).scalars().all() == ["sent"]
    ledger.close()


def test_the_gate_statements_survive_psycopgs_deallocate_all(pg_url, tmp_path, monkeypatch):  # noqa: F811
    # psycopg answers a ROLLBACK with DEALLOCATE ALL once it prepared statements of its own on
    # the connection: the gate's prepared statements go too, and the next reservation prepares
    # them again instead of failing.
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        for _ in range(6):  # past psycopg's prepare threshold (5)
            pg.execute("SELECT %s::int", (1,))
        assert pg._prepared._names

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("policy failed")

        with monkeypatch.context() as m:
            m.setattr(gateverdict, "evaluate", boom)
            m.setattr(gateverdict.Morning, "allows", boom)
            with pytest.raises(RuntimeError):
                gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg is pg  # rolled back, the connection kept
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
        assert gate._db._pg is pg
    with ledger.read() as conn:
        got = sorted(
            conn.execute(
                sa.select(SEND.c.recipient).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"])
                )
            ).scalars()
        )
    assert got == ["a@example.com", "c@example.com"]
    ledger.close()


def test_a_closed_gate_gives_its_connection_back_as_the_pool_lent_it(pg_url, tmp_path):  # noqa: F811
    # The gate runs its connection in autocommit (its statements say BEGIN and COMMIT): the
    # ledger's next transaction on the same pooled connection must be a transaction again.
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        pg = gate._db._pg
        assert pg.autocommit
    conn = ledger.connect_for_writes()
    try:
        assert conn.connection.driver_connection is pg  # the same connection, from the pool
        assert pg.autocommit is False
        with pytest.raises(RuntimeError), conn.begin():
            conn.execute(sa.delete(SEND).where(SEND.c.message_id == "<a@x>"))
            raise RuntimeError("abandon")
    finally:
        conn.close()
    with ledger.read() as conn:  # the delete was rolled back with its transaction
        assert conn.execute(
            sa.select(SEND.c.recipient).where(SEND.c.message_id == "<a@x>")
        ).scalars().all() == ["a@example.com"]
    ledger.close()


def test_quotes_and_percent_signs_in_a_message_id_are_data(pg_url, tmp_path):  # noqa: F811
    # The gate's statements carry their values as literals (client-side binding): quotes,
    # backslashes, percent signs and semicolons in a Message-ID or an address stay data.
    ledger = flat(pg_url, tmp_path)
    mid = "<o'k%s\\'; DELETE FROM send; --%(x)s@x>"
    rcpt = "o'brien%x@example.com"
    with Gate(BOX, ledger=ledger) as gate:
        slot = gate.reserve([rcpt], mid, now=NOW)
        slot.settle("sent", now=NOW)
        with pytest.raises(DuplicateSend):
            gate.reserve([rcpt], mid, now=NOW)
        slot = gate.reserve([rcpt], "<other@x>", now=NOW)
    with ledger.read() as conn:
        got = conn.execute(sa.select(SEND.c.message_id, SEND.c.recipient, SEND.c.outcome)).all()
    assert sorted(got) == [(mid, rcpt, "sent"), ("<other@x>", rcpt, "reserved")]
    ledger.close()


def test_a_reservation_prepares_again_what_the_connection_lost(pg_url, tmp_path):  # noqa: F811
    # A DEALLOCATE ALL (or DISCARD ALL) on the gate's connection between two reservations: the
    # next one prepares the gate's statements again instead of failing.
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        pg.execute("DEALLOCATE ALL")
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg is pg and gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(
            conn.execute(
                sa.select(SEND.c.recipient, SEND.c.outcome).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>"])
                )
            ).all()
        )
    assert got == {"a@example.com": "sent", "b@example.com": "reserved"}
    ledger.close()


def test_a_column_widened_under_the_prepared_statements_leaves_the_gate_working(pg_url, tmp_path):  # noqa: F811
    """An administrator widens send.id to bigint (its sequence nears 2^31) while a relay's gate
    stays open: the server refuses its prepared statements at every execution ("cached plan must
    not change result type", not an error warmup maps), and every reservation of that gate failed
    until the relay restarted. They are prepared anew and the reservation made."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        with ledger.write() as conn:
            conn.exec_driver_sql("ALTER TABLE send ALTER COLUMN id TYPE bigint")
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
        assert gate._db._pg is pg and gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
    assert got == {
        "a@example.com": "sent",
        "b@example.com": "reserved",
        "c@example.com": "reserved",
    }
    ledger.close()


def test_a_step_the_server_fails_leaves_the_same_gate_working(pg_url, tmp_path):  # noqa: F811
    """A round trip's statements go together (libpq's pipeline mode, bound by the extended
    protocol): one the server fails (here the lock, cancelled by lock_timeout while another
    session holds the mailbox's row) fails those after it. The gate reads every result, leaves
    pipeline mode and rolls back: its next reservation runs on the same connection, and the
    settlement that rode on the failed one is written by it."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        odd = "o'brien@example.com"  # values go as they are, never quoted into the text
        gate.reserve([odd], "<a'b\\c@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        pg.execute("SET lock_timeout = '100ms'")
        with ledger.write() as holder:
            holder.exec_driver_sql("SELECT id FROM mailbox FOR UPDATE")
            with pytest.raises(TempFail, match="lock timeout"):
                gate.reserve(["b@example.com"], "<b@x>", now=NOW)
            assert len(gate._db._deferred) == 1  # rolled back with it
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg is pg and gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
    assert got == {odd: "sent", "b@example.com": "reserved"}
    ledger.close()


def test_a_policy_lowered_while_a_gate_is_open_holds_its_next_reservation(pg_url, tmp_path):  # noqa: F811
    """A gate kept open (the relay's, the worker's) read the policy when it opened: the next
    reservation after 'mailbox set --policy' follows the new one, which it learns from the rev
    its reservation reads under the mailbox's lock."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["r0@example.com"], "<r0@x>", now=NOW).settle("sent", now=NOW)
        api.set_mailbox(ledger, BOX, policy=str(policy_file(tmp_path / "one.toml", 1)))
        policy_changes_at(ledger, NOW)  # made at this test's clock, not the wall clock's
        with pytest.raises(NotAllowed, match="quota is used"):
            gate.reserve(["r1@example.com"], "<r1@x>", now=NOW)
    ledger.close()


def test_a_gate_prepares_the_read_of_its_policys_shape(pg_url, tmp_path):  # noqa: F811
    """The domain cap's and the recipient-domain caps' parts of the read cost half its server
    CPU even when they never run: a policy without them reads without them, and a policy that
    gains one while a gate is open reads with it from the next reservation on."""
    ledger = flat(pg_url, tmp_path)
    ledger.record(
        api.add_mailbox(ledger, "b@corp.example", "exmail"),
        sends=[SendIn(f"o{k}@example.com", NOW, f"<o{k}@x>") for k in range(3)],
    )

    def reads(gate: Gate) -> dict[str, str]:
        return dict(
            gate._db._pg.execute(
                "SELECT name, statement FROM pg_prepared_statements "
                "WHERE name LIKE 'warmup_gate_read%'"
            ).fetchall()
        )

    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        got = reads(gate)
        assert list(got) == ["warmup_gate_read"]
        assert "LIKE" not in got["warmup_gate_read"]  # no domain's mailboxes
        assert "strpos" not in got["warmup_gate_read"]  # no recipients' domains
        capped = policy_file(tmp_path / "capped.toml", daily=50)
        capped.write_text(
            capped.read_text().replace("growth_factor", "domain_cap = 5\ngrowth_factor")
            + "\n[recipient_domains]\ndefault = 2\n"
        )
        api.set_mailbox(ledger, BOX, policy=str(capped))
        policy_changes_at(ledger, NOW)
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)  # 3 + 2 of the domain's 5
        assert "warmup_gate_read_d_r" in reads(gate)
        with pytest.raises(NotAllowed, match="the domain cap is used"):  # the domain's
            gate.reserve(["c@example.com"], "<c@x>", now=NOW)
    ledger.close()


def test_a_statement_an_older_warmup_prepared_under_the_same_name_is_replaced(pg_url, tmp_path):  # noqa: F811
    """Prepared statements live as long as the server connection, which a pooler in session
    mode hands to the next client (pgbouncer with no server_reset_query): one warmup version's
    ``warmup_gate_read`` (before the read had a statement per policy shape it took 14
    parameters) is another's by name only. The gate prepares its own instead of executing that."""
    ledger = flat(pg_url, tmp_path)
    conn = ledger.connect_for_writes()
    pg = conn.connection.driver_connection
    pg.autocommit = True
    pg.execute("DEALLOCATE ALL")
    pg.execute(
        "PREPARE warmup_gate_read (text, text, bigint, text, date, int, text, text, "
        "timestamptz, timestamptz, boolean, boolean, text, timestamptz) AS SELECT 1"
    )
    pg.autocommit = False
    conn.close()  # back to the pool, the stale statement with it
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        assert gate._db._pg is pg
        (text,) = pg.execute(
            "SELECT statement FROM pg_prepared_statements WHERE name = 'warmup_gate_read'"
        ).fetchone()
        assert "FROM day_stat" in text
        since = "SELECT prepare_time FROM pg_prepared_statements WHERE name = 'warmup_gate_read'"
        (at,) = pg.execute(since).fetchone()
    with Gate(BOX, ledger=ledger) as gate:  # its own statement: kept, not prepared again
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg is pg
        assert pg.execute(since).fetchone() == (at,)
    with ledger.read() as conn:
        got = conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all()
    assert sorted(got) == [("a@example.com", "reserved"), ("b@example.com", "reserved")]
    ledger.close()


def test_the_read_gives_each_event_once(pg_url, tmp_path):  # noqa: F811
    """The read's events are three searches appended (UNION ALL, no hash table to set up at each
    execution): events the memo has not applied, back-offs in force, the last pause or resume.
    A back-off after the memo's day and still in force, and a suppressed recipient or a slot
    named twice, come back once."""
    ledger = open_ledger(pg_url)
    ledger.clock = lambda: NOW
    api.add_mailbox(ledger, BOX, "exmail")  # the default policy: its walk keeps memos
    later = NOW + dt.timedelta(days=3)
    ledger.clock = lambda: later + dt.timedelta(days=1)  # a memo covers days over by the clock
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        gate.reserve(["b@example.com"], "<b@x>", now=later)  # keeps a memo
        box = ledger.mailbox(BOX)
        with ledger.read() as conn:
            (upto,) = conn.exec_driver_sql("SELECT upto FROM walk_memo").one()
        applied = dt.datetime.combine(upto - dt.timedelta(days=2), dt.time(), dt.UTC)
        ledger.add_event(box, "pause", applied - dt.timedelta(hours=1), "before")
        ledger.add_event(box, "throttle", later, "slow down", later + dt.timedelta(hours=2))
        ledger.add_event(
            box, "throttle", applied - dt.timedelta(hours=2), "old", later + dt.timedelta(hours=1)
        )
        api.suppress(ledger, ["s@example.com"], "by hand")
        with ledger.write() as conn:  # the memo as if walked with these events (they moved rev)
            conn.exec_driver_sql("UPDATE walk_memo SET rev = (SELECT rev FROM mailbox)")
        pg = gate._db
        rows, _, _ = pg._read(
            ["s@example.com", "s@example.com", "b@example.com"], "<b@x>", later, []
        )
        pg._pg.rollback()
    assert rows.memo is not None
    assert sorted((k, why) for k, _, _, why in rows.events) == [
        ("pause", "before"),
        ("throttle", "old"),
        ("throttle", "slow down"),
    ]
    assert list(rows.suppressed) == ["s@example.com"]
    assert list(rows.slots) == ["b@example.com"]
    ledger.close()


def test_a_gate_whose_socket_is_past_select_s_limit_reserves(pg_url, tmp_path):  # noqa: F811
    """A process with many files and sockets open (a relay serving many clients) gets descriptors
    past 1023 for its new connections: select() refuses those (ValueError, a traceback), so the
    gate's round trips wait with poll()."""
    resource = pytest.importorskip("resource")  # no such limit to reach on Windows
    import os

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"at most {hard} open files here")
    ledger = flat(pg_url, tmp_path)
    ledger.engine.dispose()  # the gate's connection is opened below, past the files
    fds: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    try:
        while not fds or fds[-1] < 1100:
            fds.append(os.open(os.devnull, os.O_RDONLY))
        with Gate(BOX, ledger=ledger) as gate:
            gate.reserve(["a@example.com"], "<a@x>", now=NOW)
            assert gate._db._pg.pgconn.socket > 1100
            gate.reserve(["b@example.com"], "<b@x>", now=NOW)
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with ledger.read() as conn:
        got = sorted(conn.execute(sa.select(SEND.c.recipient)).scalars())
    assert got == ["a@example.com", "b@example.com"]
    ledger.close()


def test_values_go_in_the_connections_client_encoding(pg_url, tmp_path):  # noqa: F811
    """A LATIN1 database's sessions speak LATIN1 unless told otherwise (as here, by the URL's
    options): a Message-ID's 'é' went as UTF-8 bytes, read as two LATIN1 characters, so the
    ledger held '<cafÃ©@x>', a Message-ID no other statement of warmup's would look for."""
    url = pg_url.replace("options=", "options=-cclient_encoding%3DLATIN1%20")
    ledger = flat(url, tmp_path)
    mid = "<café@x>"
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], mid, now=NOW).settle("sent", now=NOW)
        assert gate._db._pg.info.encoding == "iso8859-1"
        with pytest.raises(DuplicateSend):
            gate.reserve(["a@example.com"], mid, now=NOW)
    with ledger.read() as conn:
        assert conn.execute(sa.select(SEND.c.message_id)).scalars().all() == [mid]


def test_a_message_id_the_client_encoding_cannot_carry_is_a_data_error(pg_url, tmp_path):  # noqa: F811
    """A LATIN1 session and a Chinese Message-ID (message_id_field takes any text): encoding the
    value raised UnicodeEncodeError, a traceback (exit 1), and in the middle of the gate's
    pipeline, its first statements already sent, the connection was given up. It is a data
    error (65) naming the characters, nothing sent, and the same connection reserves next."""
    url = pg_url.replace("options=", "options=-cclient_encoding%3DLATIN1%20")
    ledger = flat(url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        pg = gate._db._pg
        with pytest.raises(DataError, match="'日本' has no form in the connection's client enc"):
            gate.reserve(["b@example.com"], "<日本@x>", now=NOW)
        assert gate._db._pg is pg and len(gate._db._deferred) == 1
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
    with ledger.read() as conn:
        got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
    assert got == {"a@example.com": "sent", "c@example.com": "reserved"}
    ledger.close()


def test_a_message_id_with_a_lone_surrogate_is_a_data_error(pg_url, tmp_path):  # noqa: F811
    # text that was not UTF-8, read with surrogateescape: no encoding has a form for it
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        with pytest.raises(
            DataError, match=r"'\\udcff' has no form .*\(utf-8\): give the value without it$"
        ):
            gate.reserve(["b@example.com"], "<a\udcff@x>", now=NOW)
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
    ledger.close()


def test_record_of_a_message_id_the_client_encoding_cannot_carry_is_one_line(pg_url, tmp_path):  # noqa: F811
    from click.testing import CliRunner

    from warmup.cli import cli

    url = pg_url.replace("options=", "options=-cclient_encoding%3DLATIN1%20")
    flat(url, tmp_path).close()
    args = ["record", "send", BOX, "--to", "x@example.com", "--message-id", "<日本@x>"]
    got = CliRunner().invoke(cli, args, catch_exceptions=False, env={"WARMUP_DB": url})
    assert got.exit_code == 65, got.output
    assert "Traceback" not in got.output and len(got.output.strip().splitlines()) == 1
    assert "'日本' has no form in the connection's client encoding" in got.output
    ledger = open_ledger(url)
    with ledger.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar() == 0
    ledger.close()


def test_a_character_the_database_encoding_lacks_is_a_data_error(pg_url):  # noqa: F811
    """The server's own refusal (22P05 untranslatable_character: a UTF8 session writing Chinese
    into a LATIN1 database; convert_to here, on the test server's UTF8 one) was raised as
    psycopg's error, a traceback: it is a data error (65)."""
    ledger = open_ledger(pg_url)
    with pytest.raises(DataError, match="no equivalent in encoding"), ledger.write() as conn:
        conn.exec_driver_sql("SELECT convert_to('日本', 'LATIN1')")
    ledger.close()


def test_a_relay_on_a_team_ledger_moves_no_checkpoint_and_starts_no_thread(pg_url, tmp_path):  # noqa: F811
    import threading

    ledger = flat(pg_url, tmp_path)
    before = threading.active_count()
    told: list[str] = []
    with Gate(BOX, ledger=ledger) as gate:
        assert gate.checkpoint_aside(told.append) is False  # PostgreSQL: nothing to move
        assert threading.active_count() == before
        slot = gate.reserve(["n@example.com"], "<n@x>", now=NOW)
        slot.settle("sent", now=NOW)
        gate.checkpoint_inline()  # the relay's stop: the deferred settlement written
        assert gate._db._deferred == []
    assert told == []
    ledger.close()


# A trigger on warmup's send table, as a team's DBA may add one (an audit, a freeze): each body
# makes the server fail the gate's second round trip (the reservation's INSERT) in its own way.
_TRIGGER = """
CREATE FUNCTION audit_send() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {body}; RETURN NEW; END $$;
CREATE TRIGGER audit_send BEFORE INSERT ON send FOR EACH ROW EXECUTE FUNCTION audit_send();
"""


@pytest.mark.parametrize(
    ("body", "code", "said"),
    [
        (
            "RAISE EXCEPTION 'sends are frozen by the audit team'",
            78,
            "the server refused: sends are frozen by the audit team (PL/pgSQL function "
            "audit_send() line 2 at RAISE); a trigger or function added to warmup's tables "
            "refused it: ask whoever runs the database",
        ),
        (
            "RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure'",
            75,
            "the server rolled the transaction back: could not serialize access; nothing of it "
            "was written: try again",
        ),
        (
            # A pooler in transaction mode (PgBouncer's pool_mode = transaction) gives each round
            # trip another server connection: the statements the gate prepared are not there,
            # again after it prepared them anew. The server's own words, from the trigger.
            "RAISE EXCEPTION 'prepared statement \"warmup_gate_reserve\" does not exist' "
            "USING ERRCODE = 'invalid_sql_statement_name'",
            78,
            'prepared statement "warmup_gate_reserve" does not exist; warmup\'s prepared '
            "statements were gone from its connection: a pooler in transaction mode between "
            "warmup and the server (PgBouncer's pool_mode = transaction)? give warmup a pool "
            "in session mode, or the server itself",
        ),
        ("PERFORM pg_sleep(5)", 75, "a statement timed out: canceling statement due to"),
    ],
    ids=["raise", "serialization", "prepared-lost", "statement-timeout"],
)
def test_an_error_the_server_raises_in_the_reservation_is_one_line_and_writes_nothing(
    pg_url,  # noqa: F811
    tmp_path,
    body,
    code,
    said,
):
    """A trigger's RAISE EXCEPTION (P0001), a serialization failure (40001) or a prepared
    statement the server does not have (26000) in the gate's round trip reached the user as
    psycopg's exception and traceback (the serialization failure as 69, "unavailable", though
    the server is up and a retry may pass). One line with its exit code; the reservation and
    the settlement that rode with it rolled back, the same gate working once the trigger goes."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger, settle_after=None) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)
        with ledger.write() as conn:
            conn.exec_driver_sql(_TRIGGER.format(body=body))
        gate._db._pg.execute("SET statement_timeout = '200ms'")
        with pytest.raises(WarmupError) as caught:
            gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert caught.value.exit_code == code, caught.value
        assert str(caught.value).startswith(f"ledger {ledger.where}: {said}"), caught.value
        assert "\n" not in str(caught.value)
        assert len(gate._db._deferred) == 1  # rolled back with it: still to be written
        with ledger.read() as conn:
            got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
        assert got == {"a@example.com": "reserved"}
        with ledger.write() as conn:
            conn.exec_driver_sql("DROP TRIGGER audit_send ON send")
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
    assert got == {"a@example.com": "sent", "b@example.com": "reserved"}
    ledger.close()


def test_a_trigger_refusing_a_send_ends_the_command_with_one_line(pg_url, tmp_path, monkeypatch):  # noqa: F811
    """The same refusal through a command: 'Error: ...' and 78, never a traceback."""
    from tests.gatekit import cli

    ledger = flat(pg_url, tmp_path)
    with ledger.write() as conn:
        conn.exec_driver_sql(_TRIGGER.format(body="RAISE EXCEPTION 'frozen'"))
    monkeypatch.setenv("WARMUP_DB", pg_url)
    res = cli("record", "send", BOX, "--to", "lead@example.com")
    assert res.returncode == 78, (res.stdout, res.stderr)
    assert res.stderr.startswith(f"Error: ledger {ledger.where}: the server refused: frozen ")
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    with ledger.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar() == 0
    ledger.close()
