"""Hosts of one team ledger administering it at once: two ``mailbox add`` of one address, two
``policy add``/``policy set`` of one name, two ``pool add`` of one pool, two ``notify set``. On SQLite the write
lock taken at the start of every write transaction serialises them; on PostgreSQL each checked
that the name was free, then both inserted, and the second died of the unique constraint with a
traceback (exit 1) instead of the one-line answer a lone command gives.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import traceback
from pathlib import Path

import pytest

from tests import forkcli
from tests.gatekit import policy_file
from tests.pgkit import PgSchema, pg_server, session_name, waiting_for_lock
from warmup import api, policies
from warmup.errors import DataError
from warmup.ledger import Ledger, open_ledger
from warmup.ledger.outbox import target_lock
from warmup.ledger.values import SendIn

BOX = "sales@corp.example"


def test_a_second_host_adding_a_mailbox_being_added_is_told_it_exists(tmp_path):
    """Host A's ``mailbox add`` is mid-transaction when host B adds the same address: B waits
    for A, then says in one line (exit 65) that it exists, as it would a minute later."""
    schema = PgSchema("adm")
    pg_url = schema.url
    ledger = open_ledger(pg_url)
    env = {"WARMUP_DB": f"{pg_url}&application_name=host-b", "XDG_CONFIG_HOME": str(tmp_path / "c")}
    try:
        with ledger.write() as conn:
            ledger.add_mailbox(BOX, "exmail", "Asia/Shanghai", "exmail", conn=conn)
            b = subprocess.Popen(
                [*forkcli.WARMUP, "mailbox", "add", BOX, "--provider", "exmail"],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not waiting_for_lock(pg_url, "host-b"):  # B is blocked behind A: commit A now
                assert b.poll() is None, b.communicate()
        out, err = b.communicate(timeout=60)
        assert b.returncode == 65, err
        assert err == (
            f"Error: mailbox '{BOX}' exists already; change it with "
            f"'warmup mailbox set {BOX} ...'\n"
        )
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()
        schema.drop()


def _admin(url: str, what: str, n: int, path: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One host's administration (a forked process with its own connection)."""
    try:
        ledger = open_ledger(url)
        ledger.mailbox(BOX)  # connected before the barrier
        barrier.wait(timeout=60)
        try:
            if what == "policy add":
                policies.add(ledger, "careful", path)
            elif what == "policy set":
                # a text of its own: the same text again stores no version
                policies.update(
                    ledger, "careful", path.replace("careful.toml", f"careful-{n}.toml")
                )
            elif what == "notify set":
                ledger.set_settings({"notify.webhook": f"https://hooks.example/{n}"})
            else:
                ledger.add_pool("outreach", [f"m{n}@corp.example"], None, dt.datetime.now(dt.UTC))
            results.put((n, "ok"))
        except DataError as exc:
            results.put((n, f"DataError: {exc}"))
        ledger.close()
    except BaseException:  # anything else (an IntegrityError) must reach the parent
        results.put((n, traceback.format_exc()))


@pytest.mark.parametrize("what", ["policy add", "policy set", "pool add", "notify set"])
def test_hosts_administering_one_name_at_once_get_answers_not_tracebacks(tmp_path, what):
    pg_server()
    path = str(policy_file(tmp_path / "careful.toml", 50))
    for n in range(4):  # each host's own version, for "policy set"
        policy_file(tmp_path / f"careful-{n}.toml", 51 + n)
    ctx = multiprocessing.get_context("fork")
    procs = 4
    for _ in range(4):  # the race is lost more often than not; four rounds make it certain
        schema = PgSchema("adm")
        try:
            ledger = open_ledger(schema.url)
            api.add_mailbox(ledger, BOX, "exmail")
            for n in range(procs):
                api.add_mailbox(ledger, f"m{n}@corp.example", "exmail")
            if what == "policy set":
                policies.add(ledger, "careful", path)
            if what == "notify set":  # each host replaces the row the others replace
                ledger.set_settings({"notify.webhook": "https://hooks.example/old"})
            barrier, results = ctx.Barrier(procs), ctx.Queue()
            workers = [
                ctx.Process(target=_admin, args=(schema.url, what, n, path, barrier, results))
                for n in range(procs)
            ]
            for p in workers:
                p.start()
            outcomes = dict(results.get(timeout=120) for _ in workers)
            for p in workers:
                p.join(timeout=60)
            stored = ledger.policies()
            pools = ledger.pools() if what == "pool add" else []
            hooks = ledger.settings("notify.")
            ledger.close()
        finally:
            schema.drop()
        if what == "policy add":  # one stores it, the others are told it exists
            assert sorted(outcomes.values())[-1] == "ok", outcomes
            assert sum(v == "ok" for v in outcomes.values()) == 1, outcomes
            assert all(
                v == "ok" or v.startswith("DataError: policy 'careful' exists already")
                for v in outcomes.values()
            ), outcomes
        else:  # each extends the pool or stores a version: all succeed
            assert set(outcomes.values()) == {"ok"}, outcomes
        if what == "policy set":
            versions = next(p for p in stored if p["name"] == "careful")
            assert versions["version"] == 1 + procs, stored
        if what == "pool add":
            assert len(pools) == 1 and len(pools[0].members) == procs, pools
        if what == "notify set":
            assert hooks["notify.webhook"] in {f"https://hooks.example/{n}" for n in range(procs)}


def test_a_pool_add_naming_a_mailbox_another_host_removes_meanwhile_says_so(
    tmp_path,
):
    """Host B's ``pool add`` read its mailbox, then waited for the pool's lock while host A
    removed that mailbox: B inserted a member naming a row that was gone and died of the
    foreign key (traceback, exit 1). It now checks its mailboxes under their locks and says in
    one line (exit 64, as 'not found' a moment later) which was removed; no pool is created."""
    schema = PgSchema("adm")
    pg_url = schema.url
    ledger = open_ledger(pg_url)
    remover = open_ledger(pg_url)
    host = session_name("host-b")
    env = {"WARMUP_DB": f"{pg_url}&application_name={host}", "XDG_CONFIG_HOME": str(tmp_path / "c")}
    try:
        api.add_mailbox(ledger, BOX, "exmail")
        api.add_mailbox(ledger, "bd@other.example", "exmail")
        with ledger.write() as conn:
            ledger._lock_name(conn, "pool outreach")  # another host extending the pool now
            b = subprocess.Popen(
                [*forkcli.WARMUP, "pool", "add", "outreach", "bd@other.example", BOX],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not waiting_for_lock(pg_url, host):  # B read its mailboxes, then waits
                assert b.poll() is None, b.communicate()
            remover.remove_mailbox("bd@other.example")  # host A, not held up by B
        out, err = b.communicate(timeout=60)
        assert (b.returncode, out) == (64, ""), err
        assert err == (
            "Error: mailbox 'bd@other.example' was removed meanwhile (by another command or "
            "host); nothing was written for it: see 'warmup mailbox list'\n"
        )
        assert ledger.pools() == []
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        remover.close()
        ledger.close()
        schema.drop()


@pytest.mark.parametrize(
    "command",
    [
        ["record", "send", BOX, "--to", "lead@example.net"],
        ["mailbox", "pause", BOX, "--reason", "list cleaning"],
        ["import", "log.csv"],
    ],
    ids=["record send", "mailbox pause", "import"],
)
def test_a_command_whose_mailbox_another_host_removes_under_it_says_so_in_one_line(
    tmp_path, command
):
    """Host B read its mailbox (a record's or pause's look-up, an import's check of the whole
    file, a bounce sync's start), then host A's ``mailbox remove`` held its row and deleted it:
    B's write named a row that was gone and died of the foreign key (traceback, exit 1). It now
    says in one line which mailbox was removed meanwhile (exit 64), nothing written."""
    schema = PgSchema("adm")
    pg_url = schema.url
    ledger = open_ledger(pg_url)
    (tmp_path / "log.csv").write_text(
        f"mailbox,recipient,sent_at\n{BOX},lead@example.net,{dt.datetime.now(dt.UTC).isoformat()}\n"
    )
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        with ledger.write() as conn:
            # Host A's removal is held after it locked the mailbox's row, B behind that lock.
            held = target_lock("mailbox", box.id)
            ledger._lock_name(conn, held)
            a = start(ledger, tmp_path, ["mailbox", "remove", BOX], "advisory", held)
            b = start(ledger, tmp_path, command, "row")  # a row's lock: host A's
        assert a.communicate(timeout=60) == (f"Removed {BOX}.\n", "")
        out, err = b.communicate(timeout=60)
        assert (b.returncode, out) == (64, ""), err
        assert err == (
            f"Error: mailbox '{BOX}' was removed meanwhile (by another command or host); "
            f"nothing was written for it: see 'warmup mailbox list'\n"
        )
        assert ledger.mailboxes() == []
    finally:
        ledger.close()
        schema.drop()


def test_a_send_recorded_while_a_remove_waits_keeps_the_mailbox_without_force(tmp_path):
    """``mailbox remove`` (no --force) counted the mailbox's history, found none, then waited
    for its row while the gate recorded the new mailbox's first send: it deleted that send with
    the mailbox, as only --force may. The history is now counted under the row's lock: the
    removal is refused (exit 65) and the send kept."""
    schema = PgSchema("adm")
    ledger = open_ledger(schema.url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        with ledger.write() as conn:
            ledger._lock_mailboxes(conn, [box.id])  # a send of the mailbox being recorded
            a = start(ledger, tmp_path, ["mailbox", "remove", BOX], "row")
            ledger._record(conn, box, [SendIn("lead@example.net", dt.datetime.now(dt.UTC))], (), ())
        out, err = a.communicate(timeout=60)
        assert (a.returncode, out) == (65, ""), err
        assert err == (
            f"Error: mailbox {BOX} has 1 send in its history; add --force to delete them too\n"
        )
        assert ledger.history_counts(ledger.mailbox(BOX)) == (1, 0)
    finally:
        ledger.close()
        schema.drop()


def test_a_policy_set_while_another_host_removes_one_of_its_mailboxes_skips_that_one(tmp_path):
    """``policy set`` read the mailboxes following the policy, then waited for their rows
    while host A removed one: it marked the change on the removed one too, an event naming a
    row that was gone (foreign key: traceback, exit 1). It reads them again under the locks."""
    schema = PgSchema("adm")
    ledger = open_ledger(schema.url)
    try:
        policies.add(ledger, "careful", str(policy_file(tmp_path / "careful.toml", 50)))
        policy_file(tmp_path / "careful-2.toml", 60)
        api.add_mailbox(ledger, "keep@corp.example", "exmail", policy="careful")
        box = api.add_mailbox(ledger, BOX, "exmail", policy="careful")
        with ledger.write() as conn:
            held = target_lock("mailbox", box.id)
            ledger._lock_name(conn, held)  # A holds the row, waits
            a = start(ledger, tmp_path, ["mailbox", "remove", BOX], "advisory", held)
            b = start(ledger, tmp_path, ["policy", "set", "careful", "careful-2.toml"], "row")
        assert a.communicate(timeout=60) == (f"Removed {BOX}.\n", "")
        out, err = b.communicate(timeout=60)
        assert b.returncode == 0, err
        assert [(m.address, m.policy) for m in ledger.mailboxes()] == [
            ("keep@corp.example", "careful")
        ]
        assert ledger.policies()[0]["version"] == 2
    finally:
        ledger.close()
        schema.drop()


def start(
    ledger: Ledger, tmp_path: Path, args: list[str], waits: str, name: str | None = None
) -> subprocess.Popen[str]:
    """``warmup ARGS`` as another host of ``ledger`` (a process of its own), once it waits for
    a lock of the kind ``waits`` (:func:`lock_waits`): for ``advisory``, the lock of ``name``
    (the one the test holds) when given."""
    host = session_name("host")
    started = subprocess.Popen(
        [*forkcli.WARMUP, *args],
        env={
            **os.environ,
            "XDG_CONFIG_HOME": str(tmp_path / "c"),
            "WARMUP_DB": f"{ledger.where}&application_name={host}",
        },
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while waits not in lock_waits(ledger, host, name):
        assert started.poll() is None, started.communicate()
    return started


def lock_waits(ledger: Ledger, app: str, name: str | None = None) -> set[str]:
    """What the sessions named ``app`` wait for: ``advisory`` (a name's lock: only ``name``'s
    when given), ``row`` (a row another transaction locked), or another lock's kind.

    Name locks belong to the database, not the schema: a test of another xdist worker (its own
    schema, the same mailbox id and address) may hold a name the command asks for on its way
    to ours. Counted as the wait for ours, the next command started before the first held the
    row it was to wait behind, and ran through (one CI run at a moved clock)."""
    import sqlalchemy as sa

    from warmup.ledger.postgres_locks import NAME_LOCKS, name_key

    with ledger.read() as conn:
        waits = conn.execute(
            sa.text(
                "SELECT a.wait_event, l.classid::bigint, l.objid::bigint "
                "FROM pg_stat_activity a LEFT JOIN pg_locks l "
                "ON l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory' "
                "WHERE a.application_name = :app AND a.wait_event_type = 'Lock'"
            ),
            {"app": app},
        ).all()
    key = None if name is None else (NAME_LOCKS, name_key(name) % 2**32)
    return {
        "row" if k in ("tuple", "transactionid") else k
        for k, classid, objid in waits
        if k != "advisory" or key is None or (classid, objid) == key
    }


@pytest.mark.parametrize(
    ("second", "code", "said"),
    [
        (["pool", "remove", "outreach"], 64, "Error: pool 'outreach' not found; create it with "),
        (["pool", "add", "outreach", "bd@corp.example"], 0, "Pool outreach: 1 mailbox (1 new): "),
        (["pool", "overflow", "outreach", "--host", "relay.example"], 64, "Error: pool 'outre"),
    ],
    ids=["remove", "add", "overflow"],
)
def test_a_pool_write_while_another_host_removes_the_pool_waits_for_it(
    tmp_path, second, code, said
):
    """Host A's ``pool remove`` is paused after its DELETE, before its COMMIT (a real process),
    when host B writes the same pool. B read the pool A had not yet committed away, then:
    a second removal said "Removed pool outreach." having removed nothing (0), a member added
    died of the foreign key (traceback, exit 1) and so did A, whose DELETE met B's member. Every
    write of a pool now waits for the others of that pool first, then reads it: B answers as
    it would a moment later (the pool not found, or made anew with its member)."""
    import sys
    import time

    from tests.test_pg_kill_points import PAUSED

    schema = PgSchema("adm")
    pg_url = schema.url
    ledger = open_ledger(pg_url)
    try:
        api.add_mailbox(ledger, BOX, "exmail")
        api.add_mailbox(ledger, "bd@corp.example", "exmail")
        ledger.add_pool("outreach", [BOX], None, dt.datetime.now(dt.UTC))
        where = tmp_path / "paused"
        where.mkdir()
        os.mkfifo(where / "go")
        base = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "c")}
        a = subprocess.Popen(  # host A, paused as it ends the pool's holds (after its DELETE)
            [sys.executable, "-c", PAUSED, str(where), "remove_pool>outbox_holds.py:end_holds"]
            + ["1", "pool", "remove", "outreach"],
            env={**base, "WARMUP_DB": pg_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not (where / "reached").exists():
            assert a.poll() is None and time.monotonic() < deadline, a.communicate()
            time.sleep(0.01)  # a poll's pace, not a wait for time to pass
        host = session_name("host-b")
        b = subprocess.Popen(
            [*forkcli.WARMUP, *second],
            env={**base, "WARMUP_DB": f"{pg_url}&application_name={host}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not waiting_for_lock(pg_url, host):  # B waits behind A: let A commit
            assert b.poll() is None and time.monotonic() < deadline, b.communicate()
        with open(where / "go", "w") as go:
            go.write("go")
        out_a, err_a = a.communicate(timeout=60)
        out, err = b.communicate(timeout=60)
        assert (a.returncode, out_a, err_a) == (0, "Removed pool outreach.\n", "")
        assert b.returncode == code, (out, err)
        assert "Traceback" not in err and (out if code == 0 else err).startswith(said), err
        assert len(err.splitlines()) == (code != 0)
        pools = [(p.name, [m.address for m in p.members]) for p in ledger.pools()]
        assert pools == ([("outreach", ["bd@corp.example"])] if code == 0 else [])
    finally:
        for proc in ("a", "b"):
            p = locals().get(proc)
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
        ledger.close()
        schema.drop()
