"""The backends' gate paths against the slow reference, on reads and on writes.

Two ledgers of the same backend get the same history and then the same random sequence of gate
operations — reservations (new messages, retries of released, deferred and sent ones, suppressed
recipients), settlements of every kind, late bounces on past days, pauses, resumes, provider
back-offs, days passing — one through the backend's own path (:meth:`Ledger.gate`: the walk memo,
O(1) reads, raw driver statements), the other through ``tests/reference.py`` (every row read with
Core statements, no memo). After every operation the decisions (the allowance, its reasons, the
refusal) and every row of the ledgers must be the same.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import sqlalchemy as sa

from tests.pgkit import PgSchema
from tests.reference import ReferenceGate
from warmup import api
from warmup.errors import WarmupError
from warmup.gate import NotAllowed
from warmup.ledger import BounceIn, Ledger, SendIn, open_ledger
from warmup.ledger.gatepath import Decision, GatePolicy, Outcome
from warmup.ledger.schema import BOUNCE, DAY_STAT, EVENT, SEND, SUPPRESSION
from warmup.policy import History, evaluate, load_policy
from warmup.policy.engine import recipient_domain_refusal
from warmup.policy.walk import inputs_digest, lookback
from warmup.refusals import refusal, suppressed_refusal

BOX = "a@corp.example"
PEER = "b@corp.example"
TZ = "Asia/Shanghai"
START = dt.datetime(2026, 10, 1, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def twins(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fast.db", f"sqlite:///{tmp_path}/reference.db"
        return
    a, b = PgSchema("fast"), PgSchema("ref")
    try:
        yield a.url, b.url
    finally:
        a.drop()
        b.drop()


class Twin:
    """One ledger and one gate session on it, at the simulated wall clock."""

    def __init__(self, url: str, reference: bool, policy_name: str, clock: list[dt.datetime]):
        self.ledger: Ledger = open_ledger(url)
        self.ledger.clock = lambda: clock[0]
        self.box = api.add_mailbox(self.ledger, BOX, "exmail", timezone=TZ, policy=policy_name)
        self.peer = api.add_mailbox(self.ledger, PEER, "exmail", timezone=TZ, policy=policy_name)
        self.spec = load_policy(policy_name)
        base = History(BOX, TZ, cap=None, provider_ceiling=1000, provider_min_interval=0.0)
        self.policy = GatePolicy(
            inputs_digest(self.spec, base),
            lookback(self.spec),
            self.spec.domain_cap is not None,
            1000,
            0.0,
            bool(self.spec.recipient_domains),
        )
        expiry = dt.timedelta(minutes=15)
        self.gate = (
            ReferenceGate(self.ledger, self.box, self.policy, expiry)
            if reference
            else self.ledger.gate(self.box, self.policy, expiry)
        )
        self.seen: list[Any] = []
        self.memos_used = 0

    def decide(self, rcpts: list[str]):  # type: ignore[no-untyped-def]
        def decide(hist: History, bad: dict[str, str], now: dt.datetime, rev: int) -> Decision:
            if bad:
                self.seen.append(("suppressed", sorted(bad)))
                return Decision(suppressed_refusal(bad))
            a = evaluate(self.spec, hist, now)
            self.seen.append((a, a.reasons))
            self.memos_used += hist.memo is not None
            if not a.can_send or a.remaining < len(rcpts):
                return Decision(NotAllowed(refusal(a, len(rcpts), TZ), a), a.memo)
            capped = recipient_domain_refusal(self.spec, hist, rcpts)
            if capped is not None:
                self.seen.append(("capped", capped))
                return Decision(NotAllowed(capped, a), a.memo)
            return Decision(None, a.memo)

        return decide

    def reserve(self, rcpts: list[str], mid: str, now: dt.datetime) -> tuple[str, Any]:
        try:
            ids, at = self.gate.reserve(rcpts, mid, self.decide(rcpts), lambda: now)
        except WarmupError as exc:
            return type(exc).__name__, str(exc)
        rank = self._ranks()
        return "ok", ([rank[i] for i in ids], at)

    def _ranks(self) -> dict[int, int]:
        """Each send's place in id order. A send's id is a surrogate: PostgreSQL's ``INSERT ...
        ON CONFLICT`` of the fast path takes a sequence value even for the released slot it
        re-reserves in place, so its ids leave gaps the reference's plain UPDATE does not; the
        order of the rows (and which row a bounce points at) is what must agree."""
        with self.ledger.read() as conn:
            ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM send ORDER BY id")]
        return {sid: k for k, sid in enumerate(ids)}

    def slots(self, mid: str) -> list[tuple[Any, ...]]:
        rank = self._ranks()
        with self.ledger.read() as conn:
            return [
                (rank[r[0]], *r[1:])
                for r in conn.execute(
                    sa.select(SEND).where(SEND.c.message_id == mid).order_by(SEND.c.id)
                )
            ]

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the tables a gate writes, as stored: the driver's values, not Core's
        conversions of them (which cost most of this test's time, and could make two different
        stored forms of one instant look the same); send ids as their place in id order
        (:meth:`_ranks`)."""
        rank = self._ranks()
        send_id = [c.name for c in BOUNCE.columns].index("send_id")
        with self.ledger.read() as conn:
            out = {
                t.name: [tuple(r) for r in conn.exec_driver_sql(query)]
                for t, query in _ROWS.items()
            }
        out["send"] = [(rank[r[0]], *r[1:]) for r in out["send"]]
        out["bounce"] = [
            (*r[:send_id], None if r[send_id] is None else rank[r[send_id]], *r[send_id + 1 :])
            for r in out["bounce"]
        ]
        return out


_ROWS = {
    t: f"SELECT * FROM {t.name} ORDER BY {', '.join(c.name for c in t.primary_key.columns)}"
    for t in (SEND, DAY_STAT, BOUNCE, EVENT, SUPPRESSION)
}


def history(rng: random.Random) -> tuple[list[SendIn], list[SendIn]]:
    """A month of sends with bounces for both mailboxes (the same for both twins): a bounce
    rate drawn from healthy to pausing, complaints rare (at one in four bounces, as before,
    every history paused the mailbox on its complaint rate, and the gate's writes were
    hardly exercised)."""
    mine, peer = [], []
    rate = rng.choice([0.01, 0.02, 0.04, 0.08])
    for k in range(rng.randint(3, 35)):
        day = START + dt.timedelta(days=k)
        for i in range(rng.randint(0, 60)):
            at = day + dt.timedelta(minutes=3 * i)
            rcpt = f"h{k}-{i}@ex{i % 4}.example"
            bounce = None
            if rng.random() < rate:
                kind = rng.choices(["hard", "soft", "block", "complaint"], [5, 5, 3, 1])[0]
                bounce = BounceIn(rcpt, kind, at + dt.timedelta(minutes=30), f"h:{k}:{i}")
            mine.append(SendIn(rcpt, at, f"<h{k}.{i}@x>", "import", bounce))
        peer.extend(
            SendIn(f"p{k}-{i}@ex.example", day + dt.timedelta(minutes=i))
            for i in range(rng.randint(0, 10))
        )
    return mine, peer


OUTCOMES = ["sent", "sent", "sent", "soft", "hard", "block", "released", "unknown", None]
CHECK_EVERY = 7  # steps between comparisons of every row of both ledgers


def scenario(
    seed: int, urls: tuple[str, str], policy_name: str, steps: int = 90, min_granted: int = 10
) -> None:
    rng = random.Random(seed)
    clock = [START]
    fast, ref = (Twin(u, r, policy_name, clock) for u, r in ((urls[0], False), (urls[1], True)))
    mine, peer = history(rng)
    now = max((s.at for s in mine + peer), default=START) + dt.timedelta(hours=rng.randint(1, 30))
    for t in (fast, ref):
        t.ledger.record(t.box, sends=mine)
        t.ledger.record(t.peer, sends=peer)
        t.ledger.suppress(["blocked@ex.example"], "manual", "test", at=START)
    messages: list[tuple[str, list[str]]] = []
    reserved: list[tuple[list[int], list[str], str]] = []
    granted = 0
    for step in range(steps):
        now += dt.timedelta(minutes=rng.choice([1, 2, 7, 12, 30, 90, 400, 1500]))
        clock[0] = now
        op = rng.random()
        if op < 0.45 or not messages:
            rcpts = [f"n{step}-{j}@ex{rng.randint(0, 3)}.example" for j in range(rng.randint(1, 3))]
            if rng.random() < 0.05:
                rcpts.append("blocked@ex.example")
            mid = f"<m{step}@x>"
            messages.append((mid, rcpts))
        elif op < 0.65:
            mid, rcpts = rng.choice(messages)  # a retry: released, soft, or a duplicate
        elif op < 0.85 and reserved:
            ids, rcpts, mid = reserved.pop(rng.randrange(len(reserved)))
            outcome = rng.choice(OUTCOMES)
            if outcome is None:
                continue  # left reserved: expires later
            for t in (fast, ref):
                slot = dict(zip(rcpts, ids))
                if outcome == "sent":
                    t.gate.sent(ids, now)
                else:
                    reply = {
                        "soft": (451, "4.2.2 mailbox full"),
                        "hard": (550, "5.1.1 unknown"),
                        "block": (554, "5.7.1 spam"),
                    }.get(outcome, (None, ""))
                    t.gate.settle(
                        slot,
                        {r: Outcome(outcome, reply[0], reply[1]) for r in rcpts},
                        mid,
                        None,
                        now,
                    )
            if step % CHECK_EVERY == 0:
                assert fast.rows() == ref.rows(), f"step {step}: settle {outcome}"
            continue
        elif op < 0.92:
            back = dt.timedelta(days=rng.randint(0, 12), minutes=rng.randint(0, 600))
            late = rng.choice(mine) if mine else None
            kind = rng.choice(["hard", "soft"])
            if late is not None:
                for t in (fast, ref):  # a late DSN, stamped days ago: a past day changes
                    t.ledger.record(
                        t.box,
                        bounces=[
                            BounceIn(
                                late.recipient,
                                kind,
                                max(now - back, late.at),
                                f"late:{step}",
                                message_id=late.message_id,
                                trusted=False,
                            )
                        ],
                    )
            continue
        else:
            kind = rng.choice(["pause", "resume", "throttle"])
            timed = kind == "throttle" or kind == "pause" and rng.random() < 0.5  # pause --until
            until = now + dt.timedelta(minutes=rng.randint(5, 900)) if timed else None
            at = now - dt.timedelta(hours=rng.choice([0, 0, 0, 30]))
            for t in (fast, ref):
                t.ledger.add_event(t.box, kind, at, kind, until)
            continue
        got = fast.reserve(list(rcpts), mid, now)
        want = ref.reserve(list(rcpts), mid, now)
        assert fast.seen[-1:] == ref.seen[-1:], f"step {step}: decisions differ"
        assert got == want, f"step {step}"
        if got[0] == "ok":
            granted += 1
            reserved.append((got[1][0], list(dict.fromkeys(rcpts)), mid))
        if step % CHECK_EVERY == 0 or got[0] != "ok":
            assert fast.rows() == ref.rows(), f"step {step}: rows differ"
        else:  # this message's slots, every step; every row, now and then (reading it is slow)
            assert fast.slots(mid) == ref.slots(mid), f"step {step}: slots differ"
    for t in (fast, ref):
        t.gate.close()
    assert fast.rows() == ref.rows()
    with fast.ledger.read() as conn:  # the fast path did keep memos, and answered from them
        kept = conn.exec_driver_sql("SELECT count(*) FROM walk_memo").scalar()
    assert kept >= 1 and fast.memos_used >= 5 and ref.memos_used == 0
    assert granted >= min_granted, f"{granted} reservations granted: the writes went untested"
    for t in (fast, ref):
        t.ledger.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_equals_reference(twins, seed):
    scenario(seed, twins, "default")


@pytest.mark.slow
def test_fast_path_equals_reference_with_a_domain_cap(twins, tmp_path):
    policy = tmp_path / "capped.toml"
    text = (resources.files("warmup.policy") / "presets" / "default.toml").read_text()
    policy.write_text(
        text.replace("growth_factor", "domain_cap = 120\ngrowth_factor")
        + '\n[recipient_domains]\ndefault = 4\n"ex1.example" = 2\n'
    )
    scenario(7, twins, str(policy))


@pytest.mark.slow
@pytest.mark.parametrize(
    "cap",
    ["domain_cap = 120\n", None],
    ids=["domain cap alone", "recipient-domain caps alone"],
)
def test_fast_path_equals_reference_with_one_kind_of_cap(twins, tmp_path, cap):
    # PostgreSQL reads with a statement of the policy's shape (postgres_gate._read_sql): each
    # kind of cap without the other is a shape of its own.
    policy = tmp_path / "capped.toml"
    text = (resources.files("warmup.policy") / "presets" / "default.toml").read_text()
    if cap is None:
        text += '\n[recipient_domains]\ndefault = 4\n"ex1.example" = 2\n'
    else:
        text = text.replace("growth_factor", cap + "growth_factor")
    policy.write_text(text)
    scenario(8, twins, str(policy))
