"""Team mode under contention: real processes, each with its own PostgreSQL connection.

Two "hosts" (process groups connecting with different ``application_name``) of 8 workers each
race ``Gate.reserve`` on one mailbox whose flat quota is 100: exactly 100 slots are reserved,
every run, and no worker sees a deadlock or a serialization failure; so do workers of two mailboxes
sharing a domain cap. Processes racing to create
a new team ledger migrate it once.
"""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

import pytest
import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.pgkit import PgSchema, pg_server
from warmup import api
from warmup.ledger import migrations, open_ledger
from warmup.ledger.schema import MIGRATIONS, SEND

BOX = "team@corp.example"
HOSTS = ("warmup-host-a", "warmup-host-b")
WORKERS = 8
QUOTA = 100


def _worker(url: str, name: str, ready, go, results) -> None:  # type: ignore[no-untyped-def]
    """One worker (a forked process: warmup already imported, its own connection): open the
    gate, say so, wait for "go", then reserve one recipient at a time until the plan refuses."""
    try:
        from warmup import Gate, NotAllowed

        gate = Gate(BOX, db=url)
        with gate.ledger.read() as conn:
            app = conn.exec_driver_sql("SELECT current_setting('application_name')").scalar()
        ready.put(name)
        go.wait(timeout=120)
        got = 0
        while True:
            try:
                gate.reserve([f"{name}-{got}@example.com"]).settle("sent")
            except NotAllowed:
                break
            got += 1
        gate.close()
        results.put((name, got, app, ""))
    except BaseException:  # any failure must reach the parent, with its traceback
        results.put((name, 0, "", traceback.format_exc()))


def _with_app(url: str, app: str) -> str:
    return f"{url}&application_name={app}"


def race(url: str) -> tuple[list[int], set[str], str]:
    """Run 2 x 8 workers against ``url``; (reservations per worker, application names, errors).

    The workers are forked from this process rather than started as new interpreters: each is
    still its own process with its own connection, without paying 16 imports of warmup."""
    ctx = multiprocessing.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    names = [(host, f"{host}-{n}") for host in HOSTS for n in range(WORKERS)]
    procs = [
        ctx.Process(target=_worker, args=(_with_app(url, host), name, ready, go, results))
        for host, name in names
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:  # every worker connected before any reserves: they all race from the start
            ready.get(timeout=120)
        go.set()
        outs = [results.get(timeout=240) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    counts = [got for _, got, _, _ in outs]
    apps = {app for _, _, app, _ in outs}
    return counts, apps, "".join(err for _, _, _, err in outs)


@pytest.mark.slow
@pytest.mark.parametrize("run", range(3))
def test_two_hosts_of_eight_workers_reserve_exactly_the_quota(run, tmp_path):
    schema = PgSchema("race")
    try:
        ledger = open_ledger(schema.url)
        api.add_mailbox(
            ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "flat.toml", daily=QUOTA))
        )
        ledger.close()  # the workers fork from this process: no connection of ours to inherit
        counts, apps, errors = race(schema.url)
        ledger = open_ledger(schema.url)
        with ledger.read() as conn:
            rows = conn.execute(
                sa.select(SEND.c.outcome, sa.func.count()).group_by(SEND.c.outcome)
            ).all()
            distinct = conn.execute(sa.select(sa.func.count(sa.distinct(SEND.c.recipient))))
            distinct_n = distinct.scalar_one()
        ledger.close()
    finally:
        schema.drop()
    assert sum(counts) == QUOTA, counts
    assert dict(rows) == {"sent": QUOTA}
    assert distinct_n == QUOTA
    assert apps == set(HOSTS)
    assert sum(1 for c in counts if c) >= 2, counts  # more than one worker won slots
    for bad in ("deadlock", "could not serialize", "Traceback", "Error"):
        assert bad not in errors, errors


def _open(url: str, n: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    try:
        barrier.wait(timeout=60)
        ledger = open_ledger(url)
        api.add_mailbox(ledger, f"racer{n}@corp.example", "exmail")
        ledger.close()
        results.put((n, None))
    except BaseException:  # any failure must reach the parent, with its traceback
        results.put((n, traceback.format_exc()))


@pytest.mark.slow
def test_processes_racing_on_a_new_team_ledger_migrate_it_once():
    pg_server()
    ctx = multiprocessing.get_context("fork")
    for _ in range(2):
        schema = PgSchema("mig")
        try:
            barrier, results = ctx.Barrier(4), ctx.Queue()
            procs = [
                ctx.Process(target=_open, args=(schema.url, n, barrier, results)) for n in range(4)
            ]
            for p in procs:
                p.start()
            outcomes = dict(results.get(timeout=120) for _ in procs)
            for p in procs:
                p.join(timeout=60)
            ledger = open_ledger(schema.url)
            with ledger.read() as conn:
                applied = sorted(conn.execute(sa.select(MIGRATIONS.c.name)).scalars())
            boxes = len(ledger.mailboxes())
            ledger.close()
        finally:
            schema.drop()
        assert outcomes == {n: None for n in range(4)}, outcomes
        assert applied == sorted(migrations.names())  # each once: the name is the key
        assert boxes == 4


DOMAIN_BOXES = ("a@corp.example", "b@corp.example")
DOMAIN_CAP = 30


def _domain_worker(url: str, box: str, name: str, ready, go, results) -> None:  # type: ignore[no-untyped-def]
    """As :func:`_worker`, for ``box`` (one of a domain's mailboxes)."""
    try:
        from warmup import Gate, NotAllowed

        gate = Gate(box, db=url)
        gate.ledger.mailbox(box)  # connected before "go"
        ready.put(name)
        go.wait(timeout=120)
        got = 0
        while True:
            try:
                gate.reserve([f"{name}-{got}@example.com"]).settle("sent")
            except NotAllowed:
                break
            got += 1
        gate.close()
        results.put((name, got, ""))
    except BaseException:  # any failure must reach the parent, with its traceback
        results.put((name, 0, traceback.format_exc()))


@pytest.mark.slow
def test_two_mailboxes_of_one_domain_racing_never_exceed_the_domain_cap(tmp_path):
    """A policy's domain_cap is shared by every mailbox of the domain, but a reservation locked
    only its own mailbox's row: workers of two mailboxes of one domain, on two "hosts", each
    read the domain's count before the other's insert and together sent past the cap. A
    reservation under a domain cap locks every mailbox of the domain (in id order, so no
    deadlock): exactly the cap is reserved, every run."""
    policy = tmp_path / "capped.toml"
    policy.write_text(
        policy_file(tmp_path / "flat.toml", daily=QUOTA)
        .read_text()
        .replace(f"ceiling = {QUOTA}\n", f"ceiling = {QUOTA}\ndomain_cap = {DOMAIN_CAP}\n")
    )
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        schema = PgSchema("dcap")
        try:
            ledger = open_ledger(schema.url)
            for box in DOMAIN_BOXES:
                api.add_mailbox(ledger, box, "exmail", policy=str(policy))
            ledger.close()
            ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
            procs = [
                ctx.Process(
                    target=_domain_worker,
                    args=(
                        _with_app(schema.url, host),
                        box,
                        f"{host}-{box[0]}-{n}",
                        ready,
                        go,
                        results,
                    ),
                )
                for host in HOSTS
                for box in DOMAIN_BOXES
                for n in range(3)
            ]
            outs = race_all(procs, ready, go, results)
            ledger = open_ledger(schema.url)
            with ledger.read() as conn:
                sent = conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar_one()
            ledger.close()
        finally:
            schema.drop()
        errors = "".join(err for _, _, err in outs)
        assert errors == ""
        assert sum(got for _, got, _ in outs) == DOMAIN_CAP, outs
        assert sent == DOMAIN_CAP


def race_all(procs: list[Any], ready: Any, go: Any, results: Any) -> list[Any]:
    """Start ``procs``, wait until each says it is ready, let them go at once and collect one
    result each; every process is joined (killed if it hangs)."""
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        return [results.get(timeout=240) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
