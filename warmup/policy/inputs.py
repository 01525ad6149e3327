"""What the policy walk reads and what it keeps: a mailbox's history, and the walk's memo. Pure.

The ledger answers a question about a mailbox with a :class:`History`: its days
(:class:`DayCounts`), its events (:class:`MailboxEvent`: pauses, resumes, provider back-offs,
policy and cap changes), its limits and, when it keeps one, the walk's state at the start of a day
(:class:`WalkState`), from which the walk resumes (:mod:`warmup.policy.walk`). Nothing here
knows a rule of the walk but how far back its windows reach (:func:`lookback`), so the ledger
can read what a walk needs and keep what it made without importing the walk itself.

**Memos.** Days before yesterday never change without the ledger knowing (it bumps the mailbox's
revision when a write lands on a past day), so the walk's state at the start of a day
(:class:`WalkState`) can be kept and the walk resumed from it: :attr:`History.memo`. A walk that
resumes from a memo reads only the days its windows look back on (:func:`lookback` days before the
memo's day), so a mailbox with three years of history costs what one with a week does. A memo is
valid only for the inputs it was computed from (:func:`inputs_digest`); the answer with or without
it is the same (``tests/test_walk.py`` checks that on random histories).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from warmup.instants import zone

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec
    from warmup.policy.tables import DaySums

GROWTH_DAYS = 7
# Part of every memo's inputs: bump it whenever a rule of the walk or WalkState's layout changes,
# so that no memo computed by older code is ever resumed.
CODE_VERSION = "walk-9"
ONE_DAY = dt.timedelta(days=1)


class DayCounts(NamedTuple):
    """One local day of a mailbox: its sends and the bounces counted on it, by kind.

    A named tuple, not a dataclass: a mailbox asked about without a memo reads every day of its
    history, a year of a thousand mailboxes is 365,000 of them, and a frozen dataclass costs
    three times a tuple to build (~0.35 s of ``warmup quota``'s first answer)."""

    day: dt.date
    sent: int = 0
    hard: int = 0
    soft: int = 0
    block: int = 0
    complaint: int = 0

    @property
    def bounced(self) -> int:
        return self.hard + self.soft + self.block


@dataclass(frozen=True)
class MailboxEvent:
    kind: str  # "pause" | "resume" | "throttle" | "policy" | "cap" (warmup.policy.eras)
    at: dt.datetime  # aware UTC
    until: dt.datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class WalkState:
    """The walk at the start of ``upto``: every day before it closed, no event of ``upto`` applied.

    Everything a walk carries from one day to the next; the day counts themselves are not here
    (the caller passes those the windows need in the :class:`History`). Computed with reasons
    (``health_paused`` holds the full sentence), as :func:`~warmup.policy.engine.evaluate` does.
    """

    upto: dt.date
    eff: int
    last_active: dt.date | None
    last_healthy_quota: int | None
    stepped_back: bool
    health_paused: str | None
    health_cut: dt.date | None
    # Active days of the last GROWTH_DAYS that sent too little to qualify: (ISO day, sent, what
    # the day could deliver). Only for the reasons.
    short_days: tuple[tuple[str, int, int], ...] = ()

    def to_json(self) -> str:
        # not asdict(): its deep copy was most of keeping a thousand memos
        data = {name: getattr(self, name) for name in _state_names()}
        for k in ("upto", "last_active", "health_cut"):
            data[k] = data[k].isoformat() if data[k] is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WalkState:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalkState:
        """From :meth:`to_json`'s object, parsed (``data`` is changed)."""
        for k in ("upto", "last_active", "health_cut"):
            data[k] = dt.date.fromisoformat(data[k]) if data[k] is not None else None
        data["short_days"] = tuple(tuple(d) for d in data.get("short_days", ()))
        return cls(**data)


@functools.cache
def _state_names() -> tuple[str, ...]:
    """The names of :class:`WalkState`'s fields, in order (once: a thousand memos are kept at a
    time)."""
    return tuple(f.name for f in dataclasses.fields(WalkState))


# What a walk carries from one day to the next: every field of WalkState but ``upto``
# (warmup.policy.rules.Walk.resume takes them up).
STATE_FIELDS = (
    "eff",
    "last_active",
    "last_healthy_quota",
    "stepped_back",
    "health_paused",
    "health_cut",
    "short_days",
)


@dataclass(frozen=True)
class History:
    """What the ledger knows of one mailbox, as of ``now``.

    ``memo``: the walk's state at the start of ``memo.upto`` (on or before today), computed for
    this mailbox's current :func:`inputs_digest`; with it, ``days`` need only reach back
    :func:`lookback` days before ``memo.upto``, and ``events`` need only hold those after the
    start of the day before ``memo.upto`` plus the ones still in force (the last pause or resume,
    back-offs not yet over).
    """

    mailbox: str
    timezone: str
    days: tuple[DayCounts, ...] = ()
    events: tuple[MailboxEvent, ...] = ()
    last_send_at: dt.datetime | None = None
    cap: int | None = None
    provider_ceiling: int | None = None
    provider_min_interval: float = 0.0
    started: dt.date | None = None
    domain_sent_today: int | None = None
    memo: WalkState | None = None
    # Sends of this mailbox today per recipient domain (lower-case): every domain for a question
    # about the mailbox, the domains of the message's recipients for a reservation.
    recipient_domains_today: Mapping[str, int] = field(default_factory=dict)
    # Without a memo: every day before today as day sums, given the health window's length
    # (the ledger read the days as arrays for a batch of mailboxes asked about at once:
    # warmup.policy.steady.array_sums); ``days`` then holds only the days today's verdict reads
    # (its windows, today). The walk before today reads the sums, never ``days``.
    sums: Callable[[int], DaySums] | None = field(default=None, compare=False, repr=False)
    # Under a domain cap: what the domain's other mailboxes sent on each day the walk closes
    # (local days, as the ledger's rollup keeps them), which the cap left this one less of.
    # Days the walk does not close (before the memo's day, today) may be missing.
    domain_days: Mapping[dt.date, int] = field(default_factory=dict)
    # The TOML texts of the stored policy versions the ``policy`` events name, by
    # :func:`warmup.policy.eras.ref` ("careful version 2"): the walk judges each day under the
    # policy in force then (warmup.policy.eras). Empty without such events.
    policy_texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def built_history(values: dict[str, Any]) -> History:
    """``History(**values)``, every field given (``values`` is taken, not copied), without the
    frozen dataclass's ``__init__``: its ``object.__setattr__`` for each of the 15 fields was
    ~30k instructions, most of a pool member's snapshot built before each message (the worker's
    look, :func:`warmup.ledger.reads.snapshot`); a dictionary of them costs ~12k."""
    if values.keys() != _history_names():
        raise TypeError(f"History's fields are {sorted(_history_names())}, not {sorted(values)}")
    hist = object.__new__(History)
    hist.__dict__.update(values)
    return hist


@functools.cache
def _history_names() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(History))


def lookback(spec: PolicySpec) -> int:
    """How many days before a memo's day a walk resumed from it reads: the growth limit's
    :data:`GROWTH_DAYS`, or the health window and one day more. A memo's state has not applied
    the events of the day before it (:meth:`~warmup.policy.rules.Walk.resume`); a resume on
    that day is applied by the resumed walk and judges what it forgives on the window before
    its day plus that day (:meth:`~warmup.policy.rules.Walk.due_at_resume`), which begins
    ``window_days + 1`` days before the memo's day."""
    return max(spec.health.window_days + 1, GROWTH_DAYS)


def inputs_digest(spec: PolicySpec, hist: History) -> str:
    """SHA-256 over every input of a walk but the day counts and events: what a memo is valid for.

    The policy's content (``repr`` of the parsed spec: every number the walk reads, whatever its
    file or preset is called), the mailbox's zone, cap and start day, the provider's limits and
    :data:`CODE_VERSION` (and the holidays library's version when the policy has a calendar:
    a new version may correct a past holiday).
    """
    if spec.calendar:
        from warmup.policy.calendar import data_version

        calendar_data = data_version()
    else:
        calendar_data = None
    parts = [
        CODE_VERSION,
        hist.mailbox,
        hist.timezone,
        _spec_text(spec),
        hist.cap,
        hist.started.isoformat() if hist.started else None,
        hist.provider_ceiling,
        hist.provider_min_interval,
        calendar_data,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _spec_text(spec: PolicySpec) -> str:
    """``repr(spec)``, once per policy: ``warmup quota`` asks for a thousand mailboxes of one."""
    return by_spec(_SPEC_TEXTS, spec, (), lambda: repr(spec))


_SPEC_TEXTS: dict[tuple[Any, ...], tuple[PolicySpec, Any]] = {}


def by_spec(
    memo: dict[tuple[Any, ...], tuple[PolicySpec, Any]],
    spec: PolicySpec,
    key: tuple[Any, ...],
    make: Callable[[], Any],
) -> Any:
    """``make()`` kept in ``memo`` for this very ``spec`` object and ``key`` (at most 64).

    By identity, not by value: hashing a policy hashes each of its stages and rules, ~10 µs,
    and a cold ``warmup quota`` of a thousand mailboxes asked ~3,000 times (the spec is kept
    with the answer, so its id cannot be another object's while the entry lives)."""
    k = (id(spec), *key)
    got = memo.get(k)
    if got is None or got[0] is not spec:
        if len(memo) >= 64:
            memo.clear()
        got = memo[k] = (spec, make())
    return got[1]


def current_pause(events: tuple[MailboxEvent, ...], now: dt.datetime) -> MailboxEvent | None:
    """The manual pause or provider back-off in force at ``now``, if any. A pause by hand with
    an ``until`` ('mailbox pause --until') ends then, as a back-off does; the last pause by hand
    replaces the one before it (a timed one ends an open-ended one). Both a pause by hand and
    a back-off in force: the one that ends later (an open-ended pause never ends by itself), as
    the mailbox sends again only when both have ended."""
    if not events:  # most answers: no sort, no key function to make
        return None
    manual: MailboxEvent | None = None
    throttle: MailboxEvent | None = None
    for ev in sorted(events, key=lambda e: e.at):
        if ev.at > now:
            break
        if ev.kind == "pause":
            manual = ev if ev.until is None or ev.until > now else None
        elif ev.kind == "resume":
            manual = throttle = None
        elif ev.kind == "throttle" and ev.until is not None and ev.until > now:
            throttle = ev
    if manual is None or throttle is None:
        return manual or throttle
    if manual.until is None or throttle.until is None:
        return manual if manual.until is None else throttle
    return manual if manual.until >= throttle.until else throttle


def local(ts: dt.datetime, tz: str) -> dt.datetime:
    return ts.astimezone(zone(tz))


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """The instant (aware UTC) local ``day`` begins in zone ``tz``."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)
