"""What ``warmup quota`` asks of a ledger, and the pieces every backend's answer is built from.

:class:`Reads` is the part of :class:`warmup.ledger.Ledger` the quota path uses (mailboxes, stored
policies, histories, walk memos): a :class:`~warmup.ledger.Ledger` is one, and so is the SQLite
backend's driver-level reader (:class:`warmup.ledger.sqlite_reads.SQLiteReads`), which answers
without importing SQLAlchemy. :func:`snapshot` and :func:`events_of` turn rows into the engine's
inputs, the same way on every path. No SQL and no driver here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from warmup.ledger.values import Ask, MailboxRow, Snapshot, day_start, opt_out
from warmup.policy.inputs import built_history
from warmup.policy.walk import DayCounts, DaySums, MailboxEvent, WalkState

if TYPE_CHECKING:
    from warmup.errors import NewerLedger

BOUNCE_KINDS = ("hard", "soft", "block", "complaint")
COUNT_COLUMNS = ("sent", *BOUNCE_KINDS)
# A delay warning (RFC 3464 ``Action: delayed``): recorded and listed, linked to its send, but
# never counted in a rate (no rollup column) and never suppressing: the message may yet arrive.
DELAYED = "delayed"
# An ARF feedback report that is no recipient's complaint (RFC 6591 ``auth-failure``: a message
# claiming the domain failed SPF/DKIM/DMARC, maybe a forger's; ``not-spam``: a message judged
# wanted): recorded and listed, linked to its send, never counted, never suppressing.
NOTICE = "notice"
RECORDED_KINDS = (*BOUNCE_KINDS, DELAYED, NOTICE)
UNCOUNTED_KINDS = (DELAYED, NOTICE)
# What a counted bounce of a kind this version lacks (a newer version's, a hand edit) counts
# as: see :func:`rate_kind`.
UNKNOWN_COUNTS_AS = "soft"
# The kinds whose counted bounces are not in the bounce rate (a complaint has its own; the
# others never count): a counted bounce of any other kind is, as :func:`rate_kind` reads it.
# The test a statement makes of the rows when it rates them in SQL.
NOT_IN_BOUNCE_RATE = ("complaint", *UNCOUNTED_KINDS)


def rate_kind(kind: str) -> str | None:
    """The count (of :data:`BOUNCE_KINDS`, a ``day_stat`` column) a counted bounce of ``kind``
    is in: its own for a kind this version knows, None for one never counted (a delay
    warning, a notice), and :data:`UNKNOWN_COUNTS_AS` for a kind it lacks, the cautious
    reading: counted in no rate, those bounces let a mailbox climb past its bounce ceiling.
    Such a bounce suppresses nothing (a kind no one can read is no hard bounce). Every reader
    that counts bounces by kind (the engine's inputs, the rollup rebuilt, reports) asks here."""
    if kind in BOUNCE_KINDS:
        return kind
    return None if kind in UNCOUNTED_KINDS else UNKNOWN_COUNTS_AS


def rate_counts(rows: Iterable[Sequence[Any]]) -> dict[tuple[Any, ...], dict[str, int]]:
    """Counted bounces, rows ``(*key, kind, how many)`` (a ``GROUP BY`` of a key and the
    kind), summed under each key by :func:`rate_kind`: a kind this version lacks joins
    :data:`UNKNOWN_COUNTS_AS`'s count, one never counted is left out."""
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for *key, kind, n in rows:
        column = rate_kind(kind)
        if column is not None:
            counts = out.setdefault(tuple(key), {})
            counts[column] = counts.get(column, 0) + n
    return out


def counts(kind: str, diagnostic: str | None) -> bool:
    """Whether a bounce of ``kind`` matched to a send counts in its mailbox's rates (if it is
    the send's first): not a delay warning nor a notice, and not a mail client's unsubscribe
    request (:func:`opt_out`), which anyone can write in a lead's name (its From is all it
    says of its sender) and one of which would pause a mailbox, a complaint rate's pause line
    being a fraction of a percent."""
    return kind not in UNCOUNTED_KINDS and not opt_out(kind, diagnostic)


# Every migration of :mod:`warmup.ledger.migrations`, in order: a ledger that has them all needs
# none (the driver-level "is the schema current?"; tests/test_schema.py checks the list).
MIGRATION_NAMES = (
    "m001_initial",
    "m002_timeline_cache",
    "m003_counted_bounces_and_walk_memo",
    "m004_policies_in_the_ledger",
    "m005_throttle_index",
    "m006_outbox_and_pools",
    "m007_settings",
    "m008_outbox_tally",
    "m009_overflow_channel",
    "m011_mailbox_auth",
    "m012_bounce_original_recipient",
    "m013_send_message_id_partial",
    "m014_pool_rev",
    "m015_ids_never_reused",
    "m016_bounce_returned_original",
    "m017_bounce_report",
    "m018_day_stat_in_key_order",
    "m019_bounce_send_day",
    "m020_outbox_content_key",
    "m021_feedback_notices",
    "m022_timeline_cache_rev",
    "m023_unsubscribe_requests_uncounted",
    "m024_policy_events_say_what_was_in_force",
    "m025_suppression_removals",
    "m026_removals_mark_the_last_send",
    "m027_send_holder",
    "m028_send_release_reason",
    "m029_removals_keep_their_suppression",
    "m030_domain_day",
    "m031_message_id_key",
    "m032_outbox_tally_covers_due",
    "m033_outbox_pool_due",
    "m034_outbox_backoff_until",
    "m035_outbox_hold",
    "m036_outbox_expiry",
    "m037_outbox_backoffs_kept",
    "m038_outbox_waiting",
    "m039_outbox_pool_bulk",
    "m040_outbox_due_by_id",
    "m041_outbox_fault",
)


# The zone whose day ends last (UTC-12). A mailbox under a domain cap walks what the domain's
# other mailboxes sent on its past days, by their own local days; a write on one of them moves
# that mailbox's rev (which the memo's stamp holds) only once the day is over in its zone. A
# mailbox in UTC+14 is two days ahead of one in UTC-11 for an hour a day: its memo of
# yesterday would cover a day the other still sends on, without a rev move, and be resumed
# stale. Its memo is kept only up to the day this zone is on by the wall clock: every day
# before it is over in every zone.
EARLIEST_ZONE = "Etc/GMT+12"


def newer_refusal(done: Iterable[str], where: str) -> NewerLedger | None:
    """The refusal of a ledger that applied the migrations ``done`` when one of them is a
    newer warmup's (this version would read and write a schema it does not know); None when
    none is. ``where`` names the ledger."""
    newer = sorted(set(done) - set(MIGRATION_NAMES))
    if not newer:
        return None
    from warmup.errors import NewerLedger

    return NewerLedger(
        f"{where} was upgraded by a newer warmup (migration {newer[0]}, which this version "
        f"does not know); upgrade warmup to use it"
    )


class Reads(Protocol):
    """The ledger operations ``warmup quota`` needs (each documented on :class:`Ledger`)."""

    warnings: list[str]
    created: bool
    where: str

    def mailbox(self, address: str) -> MailboxRow: ...
    def mailboxes(self) -> list[MailboxRow]: ...
    def policy_text(self, name: str) -> tuple[int, str] | None: ...
    def policy_versions(self, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]: ...
    def eras_naming(
        self, ids: Sequence[int], words: Sequence[str]
    ) -> tuple[dict[tuple[str, int], str], dict[int, list[str]]]: ...
    def first_sends(self, ids: Sequence[int]) -> dict[int, dt.datetime]: ...
    def histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]: ...
    def prepare(self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int: ...
    def keep_memos(self, memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]]) -> int: ...
    def real_today(self, tz: str) -> dt.date: ...
    def discard_if_unused(self) -> bool: ...
    def reopen(self) -> Reads: ...
    def close(self) -> None: ...


def snapshot(
    box: MailboxRow,
    ask: Ask,
    today: dt.date,
    rev: int,
    state: WalkState | None,
    days: list[DayCounts],
    today_sent: tuple[int, dt.datetime | None],
    kinds: dict[str, int],
    events: tuple[MailboxEvent, ...],
    domain_sent: int | None,
    per_domain: dict[str, int],
    sums: Callable[[int], DaySums] | None = None,
    domain_days: dict[dt.date, int] | None = None,
    stamp: str | None = None,
) -> Snapshot:
    """The :class:`Snapshot` of what was read about ``box`` (today's counts joining the days;
    ``sums``: :attr:`History.sums`)."""
    sent_today, last = today_sent
    if sent_today or kinds:
        counted = rate_counts(kinds.items()).get((), {})
        days.append(DayCounts(today, sent_today, *[counted.get(k, 0) for k in BOUNCE_KINDS]))
    hist = built_history(  # History(...) at ~40% of its cost (the look, each message)
        {
            "mailbox": box.address,
            "timezone": box.timezone,
            "days": tuple(days),
            "events": events,
            "last_send_at": last,
            "cap": box.cap,
            "provider_ceiling": ask.provider_ceiling,
            "provider_min_interval": ask.provider_min_interval,
            "started": box.started,
            "domain_sent_today": domain_sent,
            "memo": state,
            "recipient_domains_today": per_domain,
            "sums": sums,
            "domain_days": domain_days or {},
            "policy_texts": {},
        }
    )
    return Snapshot(hist, rev, stamp)


def events_of(
    rows: list[Any], memo: WalkState | None, tz: str, now: dt.datetime
) -> tuple[MailboxEvent, ...]:
    """The events the walk needs from all of a mailbox's event ``rows`` up to the cut
    (``(mailbox_id, id, kind, at, until, reason)`` in order of ``at``, ``id``): all of them, or
    with a memo those it has not applied (after the start of the day before its day) and those
    still in force at ``now`` (the last pause or resume, back-offs not over)."""
    if memo is not None:
        applied = day_start(memo.upto - dt.timedelta(days=1), tz)
        manual = [r[1] for r in rows if r[2] in ("pause", "resume") and r[3] <= applied]
        last_manual = manual[-1] if manual else None
        rows = [
            r
            for r in rows
            if r[3] > applied
            or (r[2] == "throttle" and r[4] is not None and r[4] > now)
            or r[1] == last_manual
        ]
    return tuple(MailboxEvent(k, a, u, r or "") for _, _, k, a, u, r in rows)


def memo_since(state: WalkState | None, ask: Ask) -> dt.date:
    """The first day a mailbox's history must hold: all of it without a memo, else the days the
    policy's windows look back on from the memo's day."""
    if state is None or ask.memo is None:
        return dt.date.min
    return state.upto - dt.timedelta(days=ask.memo[1])


def domain_since(state: WalkState | None) -> dt.date:
    """The first day the walk closes, for which it needs what the domain's other mailboxes
    sent (:attr:`History.domain_days`): the memo's day, or all of them without a memo."""
    return dt.date.min if state is None else state.upto


def sibling_stamp(rows: Iterable[tuple[int, int]]) -> str:
    """The other mailboxes of a domain as ``(id, rev)`` in id order, as one hex digest: under a
    domain cap a mailbox's walk reads what they sent (:attr:`History.domain_days`), and any
    write on one of their past days moves its ``rev`` (as a removal or a new mailbox changes
    the list), so a memo kept with it is valid only while it holds. The PostgreSQL gate
    computes the same in SQL (``md5`` of the same text)."""
    text = ",".join(f"{i}:{r}" for i, r in rows)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def stamped(inputs: str, stamp: str | None) -> str:
    """The memo inputs a walk memo is kept with: the policy's (:func:`inputs_digest`), and under
    a domain cap the stamp of the domain's other mailboxes (:func:`sibling_stamp`)."""
    return inputs if stamp is None else f"{inputs}|{stamp}"


def memo_valid(
    ask: Ask,
    upto: dt.date | None,
    memo_rev: int | None,
    rev: int,
    inputs: str | None,
    today: dt.date,
    stamp: str | None = None,
) -> bool:
    """A stored walk memo may be used: computed at the mailbox's revision, for the inputs this
    policy has (and, under a domain cap, the domain's other mailboxes at their revisions), not
    after ``today``."""
    return (
        ask.memo is not None
        and upto is not None
        and memo_rev == rev
        and inputs == stamped(ask.memo[0], stamp)
        and upto <= today
    )
