"""The ledger's timeline memo: a hit gives exactly the fresh walk; any input change misses.

Runs on SQLite and (with ``WARMUP_TEST_PG``) PostgreSQL. Each write path that moves the
mailbox's ``rev`` (which the memo is valid at) is in ``tests/test_timeline_rev.py``. The walk's own resume (:func:`walk_timeline` from a :class:`WalkState` given as
``History.memo``) is checked on random histories in ``test_resume_from_any_day_is_the_full_walk``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given

from tests.conftest import SH, at, policy_changes_at
from tests.pgkit import PgSchema, ledger_url  # noqa: F401  (the fixture: sqlite, postgresql)
from tests.test_properties import PROPS, SPECS, histories
from warmup import api, reports
from warmup.ledger import open_ledger
from warmup.ledger import timeline_cache as tc
from warmup.ledger.copy import copy_ledger
from warmup.ledger.schema import DAY_STAT
from warmup.policy import walk_timeline
from warmup.reports import days as report_days

D0 = dt.date(2026, 10, 1)
AT = at(D0 + dt.timedelta(days=40), 9)  # a morning 40 days in


def _day(k: int) -> dt.date:
    return D0 + dt.timedelta(days=k)


def _fill(led) -> None:  # type: ignore[no-untyped-def]
    """Two mailboxes with 40 days of sends and some bounces; one paused and resumed."""
    for name in ("a@corp.example", "b@corp.example"):
        api.add_mailbox(led, name, "exmail", timezone=SH)
    for k in range(40):
        for name, n in (("a@corp.example", 30 + k), ("b@corp.example", 20)):
            api.record_send(led, name, [f"r{k}-{i}@example.com" for i in range(n)], at(_day(k), 9))
        if k % 6 == 0:
            api.record_bounce(
                led, "a@corp.example", f"r{k}-0@example.com", "soft", at=at(_day(k), 11)
            )
    api.pause(led, "b@corp.example", "list review", at=at(_day(20), 18))
    api.resume(led, "b@corp.example", at=at(_day(23), 10))


class _Filled:
    """:func:`_fill`'s ledger, built once per module and backend by the first test that asks
    (inside that test's environment): a SQLite file, or a PostgreSQL schema."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.urls: dict[str, str] = {}
        self.schemas: list[PgSchema] = []

    def url(self, backend: str) -> str:
        if backend not in self.urls:
            if backend == "sqlite":  # a folder of each try's: a failed one's rows stay in it
                url = f"sqlite:///{Path(tempfile.mkdtemp(dir=self.where)) / 'filled.db'}"
            else:
                self.schemas.append(PgSchema("filled"))
                url = self.schemas[-1].url
            led = open_ledger(url)
            try:
                _fill(led)
            finally:
                led.close()
            self.urls[backend] = url
        return self.urls[backend]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Filled]:
    built = _Filled(tmp_path_factory.mktemp("filled"))
    yield built
    for schema in built.schemas:
        schema.drop()


@pytest.fixture
def ledger(ledger_url, filled):  # noqa: F811  (pytest fixture argument)
    """A fresh copy of :func:`_fill`'s ledger on this test's backend (building it through the
    api for every test cost ~1.2 s each): the SQLite file copied, or on PostgreSQL the rows
    copied from the schema filled once (:func:`copy_ledger`: ids, sequences and a checksum of
    every table; the derived memos, empty there too, are not copied)."""
    if ledger_url.startswith("sqlite:///"):
        shutil.copyfile(filled.url("sqlite").removeprefix("sqlite:///"), ledger_url[10:])
        led = open_ledger(ledger_url)
    else:
        led = open_ledger(ledger_url)
        source = open_ledger(filled.url("postgresql"))
        try:
            copy_ledger(source, led)
        finally:
            source.close()
    yield led
    led.close()


def _memos(led) -> dict[str, tc.Memo]:
    """The memos the ledger accepts as valid right now, by mailbox address (inputs digested like
    the report's; no day limit, so a memo of any day counts)."""
    from warmup.policies import resolve
    from warmup.providers import get_provider

    boxes = {b.id: b for b in led.mailboxes()}

    def digest(mailbox_id, events):  # type: ignore[no-untyped-def]
        b = boxes[mailbox_id]
        return tc.inputs_digest(
            address=b.address,
            timezone=b.timezone,
            policy=resolve(led, b.policy),
            cap=b.cap,
            started=b.started,
            provider_ceiling=get_provider(b.provider).daily_limit,
            provider_min_interval=get_provider(b.provider).min_interval,
            events=events,
        )

    # a policy that caps its domain: the domain's others are part of the inputs, as the report's
    capped = {m: b.address for m, b in boxes.items() if resolve(led, b.policy).domain_cap}
    got = led.timeline_inputs(
        list(boxes),
        digest,
        dict.fromkeys(boxes, dt.date.max),
        dict.fromkeys(boxes, 0),
        capped=capped,
    ).memos
    return {b.address: got[m] for m, b in boxes.items() if m in got}


@pytest.fixture
def resumes(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The memo (``History.memo``) every walk the report runs resumes from (None: walked from
    the first day)."""
    seen: list[object] = []
    real = report_days.timeline_checkpoint_steps

    def spy(spec, hist, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(hist.memo)
        return real(spec, hist, *args, **kwargs)

    monkeypatch.setattr(report_days, "timeline_checkpoint_steps", spy)
    return seen


@pytest.mark.slow
def test_hit_is_the_fresh_walk(ledger, resumes):
    fresh = reports.daily(ledger, at=AT, cache=False)
    assert _memos(ledger) == {}
    first = reports.daily(ledger, at=AT)  # walks everything, stores the memos
    memos = _memos(ledger)
    assert set(memos) == {"a@corp.example", "b@corp.example"}
    today = AT.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    assert all(m.upto == today - dt.timedelta(days=1) for m in memos.values())  # of yesterday
    resumes.clear()
    again = reports.daily(ledger, at=AT)
    assert len(resumes) == 2 and all(r is not None for r in resumes)  # served from the memo
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(again, fresh)
    assert (fresh["status"] == "paused").any() and (fresh["status"] == "resumed").any()
    short = reports.daily(ledger, ["b@corp.example"], days=5, at=AT)
    pd.testing.assert_frame_equal(
        short, reports.daily(ledger, ["b@corp.example"], days=5, at=AT, cache=False)
    )


@pytest.mark.slow
def test_memo_goes_on_from_its_day(ledger, resumes):
    reports.daily(ledger, at=AT)
    later = AT + dt.timedelta(days=3)
    for k in range(40, 43):
        api.record_send(
            ledger, "a@corp.example", [f"n{k}-{i}@example.com" for i in range(40)], at(_day(k), 9)
        )
    resumes.clear()
    warm = reports.daily(ledger, at=later)
    assert all(r is not None for r in resumes)  # the new days were walked on from the memo
    pd.testing.assert_frame_equal(warm, reports.daily(ledger, at=later, cache=False))
    # a report about an earlier day cannot use a memo of later days, nor replace it
    early = AT - dt.timedelta(days=5)
    pd.testing.assert_frame_equal(
        reports.daily(ledger, at=early), reports.daily(ledger, at=early, cache=False)
    )
    assert min(m.upto for m in _memos(ledger).values()) >= later.date() - dt.timedelta(days=1)


@pytest.mark.slow
def test_a_late_bounce_of_yesterday_keeps_the_memo(ledger, resumes):
    """The memo is of yesterday (the walk at its start, the days before it): a bounce recorded
    after the report for a send of yesterday (synced this morning) lands on a day the memo
    never read. With a memo of today's start, that bounce sent the mailbox's next report back
    to its first day, every day a sync found one."""
    box = "a@corp.example"
    yesterday = AT.astimezone(dt.timezone(dt.timedelta(hours=8))).date() - dt.timedelta(days=1)
    api.record_send(ledger, box, ["y@example.com"], at(yesterday, 9))
    before = reports.daily(ledger, at=AT)
    api.record_bounce(ledger, box, "y@example.com", "hard", at=at(yesterday, 9, 30))
    assert box in _memos(ledger)
    resumes.clear()
    after = reports.daily(ledger, at=AT)
    assert len(resumes) == 2 and all(r is not None for r in resumes)  # both from their memo
    pd.testing.assert_frame_equal(after, reports.daily(ledger, at=AT, cache=False))
    mine = after[after["mailbox"] == box].reset_index(drop=True)
    assert not mine.equals(before[before["mailbox"] == box].reset_index(drop=True))


def _late_bounce(led, box, tmp_path):
    api.record_bounce(led, box, "r3-5@example.com", "hard", at=at(_day(3), 15))


def _event(led, box, tmp_path):
    api.pause(led, box, "checking", at=at(_day(30), 8))
    api.resume(led, box, at=at(_day(31), 8))


def _cap(led, box, tmp_path):
    """A cap change judges the days from its own on (warmup.policy.eras): dated ten days
    before the report's morning, it changes those days' rows."""
    api.set_mailbox(led, box, cap=25)
    policy_changes_at(led, AT - dt.timedelta(days=10), kinds=("cap",))


def _policy_version(led, box, tmp_path):
    """The mailbox's policy is stored in the ledger; a new version of it (same name, lower
    ceiling) is stored with ``policy set``. Editing the file alone changes nothing: the ledger
    keeps its own copy."""
    from warmup import policies

    text = (Path(api.__file__).parent / "policy" / "presets" / "default.toml").read_text()
    path = tmp_path / "ours.toml"
    path.write_text(text)
    api.set_mailbox(led, box, policy=str(path))
    policy_changes_at(led, AT - dt.timedelta(days=3))
    reports.daily(led, at=AT)  # memo under the policy's first version
    assert box in _memos(led)
    path.write_text(text.replace("ceiling = 300", "ceiling = 40"))
    assert box in _memos(led)  # the file is not the policy
    policies.update(led, "ours", path)
    policy_changes_at(led, AT - dt.timedelta(days=2))


@pytest.mark.parametrize(
    "change",
    [_late_bounce, _event, _cap, _policy_version],
    ids=["late-bounce", "event", "cap", "policy-version"],
)
@pytest.mark.slow
def test_any_change_of_an_input_misses(ledger, change, tmp_path, resumes):
    box = "a@corp.example"
    reports.daily(ledger, at=AT)
    before = reports.daily(ledger, at=AT)
    assert box in _memos(ledger)
    change(ledger, box, tmp_path)
    assert box not in _memos(ledger)  # the fingerprint no longer matches
    assert "b@corp.example" in _memos(ledger)  # ... only this mailbox's
    resumes.clear()
    after = reports.daily(ledger, at=AT)
    fresh = reports.daily(ledger, at=AT, cache=False)
    pd.testing.assert_frame_equal(after, fresh)
    mine = after[after["mailbox"] == box].reset_index(drop=True)
    old = before[before["mailbox"] == box].reset_index(drop=True)
    assert not mine.equals(old)  # the change shows: a stale memo would have hidden it
    assert box in _memos(ledger)  # and the memo was refreshed


@pytest.mark.slow
def test_memo_round_trips(ledger):
    reports.daily(ledger, at=AT)
    memo = _memos(ledger)["b@corp.example"]
    back = tc.decode(tc.encode(memo))
    assert back.state == memo.state and back.stages == memo.stages
    assert type(back.state.last_active) is dt.date and back.upto == memo.upto  # dates stay dates
    for name, _ in tc.COLUMNS:
        assert back.columns[name].tolist() == pytest.approx(
            memo.columns[name].tolist(), nan_ok=True, rel=0, abs=0
        )


@pytest.mark.slow
@PROPS
@given(histories())
def test_resume_from_any_day_is_the_full_walk(case):
    """Going on from the state at an earlier day gives the full walk's later days exactly."""
    name, hist, now = case
    spec = SPECS[name]
    full, _ = walk_timeline(spec, hist, now, explain=False)
    for back in (1, 7, 30):
        earlier = now - dt.timedelta(days=back)
        _, state = walk_timeline(spec, hist, earlier, explain=False)
        rest, _ = walk_timeline(spec, dataclasses.replace(hist, memo=state), now, explain=False)
        if state.last_active is None:  # nothing walked yet: a fresh walk
            assert rest == full
        else:
            assert rest == [v for v in full if v.date >= state.upto]
            assert rest[0].date == state.upto


def test_resume_ignores_a_state_before_any_activity():
    from warmup.policy import DayCounts, History

    spec = SPECS["default"]
    hist = History("x@corp.example", "UTC", days=(DayCounts(dt.date(2026, 11, 10), 30),))
    now = dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC)
    _, empty = walk_timeline(spec, hist, now - dt.timedelta(days=10))
    assert empty.last_active is None
    again, _ = walk_timeline(spec, dataclasses.replace(hist, memo=dataclasses.replace(empty)), now)
    assert again == walk_timeline(spec, hist, now)[0]
    assert again[0].date == dt.date(2026, 11, 10)


def test_sqlite_reads_the_rollup_arrays_as_any_backend_does(tmp_path):
    """On SQLite a report's rollup arrays come from a text of numbers per mailbox column
    (``SQLiteLedger._rollup_arrays``, ``reports_sql._sqlite_day_arrays``): the same arrays, by mailbox and day, as the row at a
    time read every backend has, all of them or from a day on, with mailboxes without rows and
    rows written out of day order."""
    import random

    from warmup.ledger import reports_sql

    rng = random.Random(77)
    ledger = open_ledger(str(tmp_path / "l.db"))
    ids = []
    for k in range(5):
        ids.append(api.add_mailbox(ledger, f"m{k}@corp.example", "exmail").id)
    rows = [
        {
            "mailbox_id": m,
            "day": dt.date(2026, 1, 1) + dt.timedelta(days=d),
            "sent": rng.randint(0, 60),
            "hard": rng.randint(0, 3),
            "soft": rng.randint(0, 3),
            "block": rng.randint(0, 2),
            "complaint": rng.randint(0, 1),
        }
        for m in ids[:4]
        for d in rng.sample(range(300), 90)
    ]
    with ledger.write() as conn:
        conn.execute(sa.insert(DAY_STAT), rows)
    day_number = ledger._sql_day_number
    for since in (None, dt.date(2026, 6, 1)):
        with ledger.read() as conn:
            got = ledger._rollup_arrays(conn, [*ids, 999], since)  # SQLite's: texts of numbers
            want = reports_sql._day_stat_arrays(conn, [*ids, 999], day_number, since)
        assert got.keys() == want.keys() == set(ids[:4])
        for m in want:
            assert np.array_equal(got[m][0], want[m][0]) and np.array_equal(got[m][1], want[m][1])
            assert got[m][0].dtype == got[m][1].dtype == np.int64
        assert sum(len(o) for o, _ in got.values()) == sum(
            1 for r in rows if since is None or r["day"] >= since
        )
    ledger.close()
