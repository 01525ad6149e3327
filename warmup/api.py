"""The library's public operations: what the CLI calls, and what users' scripts can call too.

Mailboxes and their settings, quotas and plans, pauses, suppressions and records live here; the
CSV import in :mod:`warmup.importcsv`, the checks of what users give in :mod:`warmup.fields` and
a mailbox's servers in :mod:`warmup.endpoints`, whose public names this module gives too
(``api.import_csv``, ``api.text_field``, ``api.endpoints``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import shlex
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

from warmup import addresses, policies
from warmup.endpoints import USUAL_PORTS as USUAL_PORTS
from warmup.endpoints import Endpoints as Endpoints
from warmup.endpoints import endpoints as endpoints  # re-exported: the gate and the CLI use it
from warmup.errors import (
    ConfigError,
    DataError,
    InvalidField,
    InvalidFieldData,
    NotFound,
    Unavailable,
    WarmupError,
    expect,
)
from warmup.fields import ENHANCED_STATUS, clip, contradicted
from warmup.fields import MESSAGE_ID_LIMIT as MESSAGE_ID_LIMIT
from warmup.fields import REASON_LIMIT as REASON_LIMIT
from warmup.fields import STATUS_LIMIT as STATUS_LIMIT
from warmup.fields import before_start as before_start
from warmup.fields import check_timezone as check_timezone
from warmup.fields import message_id_field as message_id_field
from warmup.fields import text_field as text_field
from warmup.fields import zone_note as zone_note
from warmup.files import STANDARD_INPUT as STANDARD_INPUT  # re-exported: the CLI names it
from warmup.instants import check_event, check_query, local_text, zone
from warmup.instants import now_utc as now_utc  # re-exported: the CLI and scripts use api.*
from warmup.instants import parse_date as parse_date
from warmup.instants import parse_instant as parse_instant
from warmup.ledger import (
    Ask,
    BounceIn,
    MailboxRow,
    Reads,
    Recorded,
    SendIn,
    Snapshot,
    SuppressCount,
    utc,
)
from warmup.ledger import live_now as live_now  # re-exported: the CLI's live questions
from warmup.ledger.reads import BOUNCE_KINDS, EARLIEST_ZONE, stamped
from warmup.ledger.values import UnreadableMailbox, local_day, plain
from warmup.mailboxes import NO_CAP as NO_CAP
from warmup.mailboxes import NO_START as NO_START
from warmup.mailboxes import Removal as Removal
from warmup.mailboxes import add_mailbox as add_mailbox
from warmup.mailboxes import address_arg
from warmup.mailboxes import auth_of as auth_of
from warmup.mailboxes import check_auth as check_auth
from warmup.mailboxes import mailbox_zone as mailbox_zone
from warmup.mailboxes import remove_mailbox as remove_mailbox
from warmup.mailboxes import set_mailbox as set_mailbox
from warmup.policy import Allowance, History, evaluate
from warmup.policy.engine import Walks, evaluate_steps
from warmup.policy.spec import PolicySpec
from warmup.policy.walk import drive_all, inputs_digest, lookback
from warmup.providers import get_provider
from warmup.shards import collector_paused as collector_paused

if TYPE_CHECKING:  # imported when used: ``warmup quota`` reads a ledger without SQLAlchemy
    from warmup.bounces.streaks import SoftStreak
    from warmup.importcsv import IMPORT_BATCH as IMPORT_BATCH
    from warmup.importcsv import IMPORT_EVENTS as IMPORT_EVENTS
    from warmup.importcsv import IMPORT_OPTIONAL as IMPORT_OPTIONAL
    from warmup.importcsv import IMPORT_REQUIRED as IMPORT_REQUIRED
    from warmup.importcsv import Imported as Imported
    from warmup.importcsv import KeptSettings as KeptSettings
    from warmup.importcsv import import_csv as import_csv
    from warmup.ledger import Ledger
    from warmup.ledger.gatepath import GateLedger
    from warmup.policy.plan import MailboxPlan, Plan, PlanDay

# The CSV import's names, given here too, imported on first use (PEP 562): ``warmup quota`` and
# ``warmup send`` import this module and never import a log.
_IMPORTCSV = frozenset(
    ("IMPORT_BATCH", "IMPORT_EVENTS", "IMPORT_OPTIONAL", "IMPORT_REQUIRED", "Imported")
    + ("KeptSettings", "import_csv")
)


def __getattr__(name: str) -> object:
    if name in _IMPORTCSV:
        from warmup import importcsv

        return getattr(importcsv, name)
    raise AttributeError(f"module 'warmup.api' has no attribute {name!r}")


def policy_for(ledger: Reads, box: MailboxRow) -> PolicySpec:
    """The policy ``box`` refers to (a preset, or one stored in the ledger), parsed."""
    return policies.policy_for(ledger, box)


def quota(ledger: Ledger, address: str, at: dt.datetime | None = None) -> Allowance:
    """Today's allowance for ``address`` as of ``at`` (default: now, as the gate counts it:
    today's sends stamped later today count, :class:`~warmup.ledger.Live`)."""
    box = ledger.mailbox(address_arg(address))
    return quota_for(ledger, box, check_query(at) if at else live_now())


def _ask(spec: PolicySpec, box: MailboxRow, capped_before: bool = False) -> tuple[str, Ask]:
    """The memo inputs of ``box`` under ``spec``, and what its history must hold for it;
    ``capped_before``: an earlier policy of the mailbox had a domain cap
    (:func:`warmup.policies.capped_before`)."""
    prov = get_provider(box.provider, of=box.address)
    base = History(
        mailbox=box.address,
        timezone=box.timezone,
        cap=box.cap,
        provider_ceiling=prov.daily_limit,
        provider_min_interval=prov.min_interval,
        started=box.started,
    )
    inputs = inputs_digest(spec, base)
    return inputs, Ask(
        provider_ceiling=prov.daily_limit,
        provider_min_interval=prov.min_interval,
        domain_cap=spec.domain_cap is not None or capped_before,
        memo=(inputs, lookback(spec)),
        recipient_caps=bool(spec.recipient_domains),
    )


def _snapshot(
    ledger: GateLedger,
    box: MailboxRow,
    at: dt.datetime,
    spec: PolicySpec | None = None,
) -> tuple[PolicySpec, str, Any]:
    """The policy (``spec``, else resolved), its memo inputs, and the mailbox's history as of
    ``at`` (with its memo)."""
    spec = spec or policy_for(ledger, box)
    inputs, ask = _ask(spec, box, box.id in policies.capped_before(ledger, [box.id]))
    snap = ledger.history(
        box,
        at,
        provider_ceiling=ask.provider_ceiling,
        provider_min_interval=ask.provider_min_interval,
        domain_cap=ask.domain_cap,
        memo=ask.memo,
        recipient_caps=ask.recipient_caps,
    )
    eras = policies.with_eras(ledger, snap.history)
    return spec, inputs, snap if eras is snap.history else snap._replace(history=eras)


def quotas(ledger: Reads, boxes: Sequence[MailboxRow], at: dt.datetime) -> list[Allowance]:
    """:func:`quota_for` of each of ``boxes`` (the same answers), each policy resolved once and
    every history read in a handful of statements for all of them; the newer walk memos are
    kept in one transaction."""
    specs: dict[str, PolicySpec] = {}
    for box in boxes:
        if box.policy not in specs:
            specs[box.policy] = policy_for(ledger, box)
    return _quotas(ledger, boxes, specs, at)


class Refusal(NamedTuple):
    """A mailbox :func:`quotas_each` could not answer for, and why (its policy or provider
    preset cannot be used: a :class:`ConfigError` naming the mailbox and the fix)."""

    box: MailboxRow
    error: WarmupError


def refusals_code(refusals: Sequence[Refusal]) -> int:
    """The exit code for mailboxes left out: a policy this warmup refuses (78) before any other
    fault; 0 for none."""
    if not refusals:
        return 0
    configs = [r for r in refusals if isinstance(r.error, ConfigError)]
    return (configs or list(refusals))[0].error.exit_code


def quotas_each(
    ledger: Reads,
    boxes: Sequence[MailboxRow],
    at: dt.datetime,
    fork_from: int | None = None,
) -> tuple[list[tuple[MailboxRow, Allowance]], list[Refusal]]:
    """:func:`quotas` of every mailbox of ``boxes`` that can be asked, and the others with the
    reason: one mailbox whose stored policy a stricter warmup refuses (written by an older
    one) must not hide where every other mailbox stands.

    With ``fork_from`` (e.g. :data:`FORK_FROM`), when at least twice that many of them have
    no walk memo, mailboxes are read and walked in parts, one per core (a part per
    ``fork_from`` of those at most), all but one in forked children
    (:func:`warmup.shards.in_shards`): the same answers, sooner."""
    specs, good, asks, refusals = _askable(ledger, boxes)
    answers = _quotas(ledger, good, specs, at, asks, fork_from)
    return list(zip(good, answers, strict=True)), refusals


def askable(
    ledger: Reads, boxes: Sequence[MailboxRow]
) -> tuple[dict[str, PolicySpec], list[MailboxRow], list[Refusal]]:
    """The policies of ``boxes`` by name, the mailboxes whose policy (and provider preset) can
    be used, in order, and a :class:`Refusal` for each of the others."""
    specs, good, _, refusals = _askable(ledger, boxes)
    return specs, good, refusals


def _askable(
    ledger: Reads, boxes: Sequence[MailboxRow]
) -> tuple[dict[str, PolicySpec], list[MailboxRow], list[tuple[str, Ask]], list[Refusal]]:
    """:func:`askable`, with what :func:`_ask` gave for each mailbox that can be used."""
    specs: dict[str, PolicySpec] = {}
    faults: dict[str, ConfigError | NotFound] = {}
    good: list[MailboxRow] = []
    asks: list[tuple[str, Ask]] = []
    refusals: list[Refusal] = []
    before = policies.capped_before(ledger, [box.id for box in boxes])
    for box in boxes:
        if isinstance(box, UnreadableMailbox):  # a value a hand edit left: named, left out
            refusals.append(Refusal(box, box.fault))
            continue
        unzoned = zone_refusal(box)
        if unzoned is not None:
            refusals.append(unzoned)
            continue
        if box.policy not in specs and box.policy not in faults:
            try:
                specs[box.policy] = policies.resolve(ledger, box.policy)
            except (ConfigError, NotFound) as exc:  # refused() makes it the set-up's fault
                faults[box.policy] = exc
        if box.policy in faults:
            refusals.append(Refusal(box, policies.refused(box, faults[box.policy])))
            continue
        try:
            asks.append(_ask(specs[box.policy], box, box.id in before))  # its provider known
        except WarmupError as exc:
            refusals.append(Refusal(box, exc))
            continue
        good.append(box)
    return specs, good, asks, refusals


def zoned(boxes: Sequence[MailboxRow]) -> tuple[list[MailboxRow], list[Refusal]]:
    """The mailboxes of ``boxes`` whose stored time zone this machine knows, in order, and a
    :class:`Refusal` (78) naming each other one: a listing by local time (``bounces list``,
    ``report --by-reason``) answers those and names these, as :func:`askable` does."""
    good: list[MailboxRow] = []
    refusals: list[Refusal] = []
    for box in boxes:
        unzoned = zone_refusal(box)
        if unzoned is None:
            good.append(box)
        else:
            refusals.append(unzoned)
    return good, refusals


def zone_refusal(box: MailboxRow) -> Refusal | None:
    """None when this machine knows ``box``'s stored time zone (cached: what every later step
    of the mailbox reads anyway), else the :class:`Refusal` naming it."""
    try:
        zone(box.timezone)
    except ConfigError:
        return Refusal(box, _zone_refused(box))
    return None


def _zone_refused(box: MailboxRow) -> ConfigError:
    """``box``'s stored time zone unknown here (a hand edit, another host's newer tzdata),
    named with the mailbox: the zone's own error says ADDRESS, and failed every mailbox."""
    return ConfigError(
        f"mailbox {box.address!r} is stored with time zone {box.timezone!r}, unknown to this "
        f"machine's time zone database; set it with 'warmup mailbox set "
        f"{shlex.quote(box.address)} --timezone NAME' (an IANA name like Asia/Shanghai) or "
        "update the system's tzdata"
    )


# ``warmup quota`` for many mailboxes without walk memos splits them across the cores
# (warmup.shards) from this many a part: a fork, a connection and a pickled answer cost a few
# milliseconds, a mailbox's year walked from its first day ~1 ms.
FORK_FROM = 200


def _quotas(
    ledger: Reads,
    boxes: Sequence[MailboxRow],
    specs: dict[str, PolicySpec],
    at: dt.datetime,
    asks: Sequence[tuple[str, Ask]] | None = None,
    fork_from: int | None = None,
) -> list[Allowance]:
    if asks is None:
        before = policies.capped_before(ledger, [box.id for box in boxes])
        asks = [_ask(specs[box.policy], box, box.id in before) for box in boxes]
    pairs = [(box, ask) for box, (_, ask) in zip(boxes, asks, strict=True)]
    # Only many mailboxes without a memo are worth the processes: measured on 1,000 warm
    # ones, the fork, pickles and exits cost more CPU (~15%) than the halved walks saved on a
    # busy machine.
    with collector_paused():
        cold = ledger.prepare(pairs, at) if fork_from and len(pairs) >= 2 * fork_from else 0
        if fork_from and cold >= 2 * fork_from:
            from warmup import shards

            answers = shards.in_shards(
                pairs,
                shards.shard_count(cold, fork_from),
                functools.partial(_answers, ledger, specs, at),
                functools.partial(_answers_reopened, ledger, specs, at),
            )
        else:
            answers = _answers(ledger, specs, at, pairs)
        _keep_newer(ledger, boxes, [inputs for inputs, _ in asks], answers)
        return [allowance for allowance, *_ in answers]


class Asked(NamedTuple):
    """What :func:`recipient_checks` asks about a mailbox: its row and policy, the policy's
    walk memo inputs and what its history must hold (:class:`Ask`), and the mailbox's ``rev``
    when they were read (a change to the mailbox or to the stored policy it names moves it)."""

    box: MailboxRow
    spec: PolicySpec
    inputs: str
    ask: Ask
    rev: int


def asked(ledger: Reads, boxes: Sequence[tuple[MailboxRow, int]]) -> list[Asked]:
    """:class:`Asked` of each of ``boxes`` (a row and the ``rev`` it was read at), each policy
    resolved once, the domain caps of their past policies in one statement; the errors of
    :func:`quota_for` for a mailbox that cannot be asked (its policy or provider unknown)."""
    before = policies.capped_before(ledger, [box.id for box, _ in boxes])
    specs: dict[str, PolicySpec] = {}
    out = []
    for box, rev in boxes:
        if box.policy not in specs:
            specs[box.policy] = policy_for(ledger, box)
        inputs, ask = _ask(specs[box.policy], box, box.id in before)
        out.append(Asked(box, specs[box.policy], inputs, ask, rev))
    return out


# What :func:`recipient_checks` keeps of each mailbox's last answer between calls, by address:
# the policy and the history it was worked out from, the instant asked, and the answer.
Answers = dict[str, tuple[PolicySpec, History, dt.datetime, "_Answer"]]


def recipient_checks(
    ledger: Reads,
    boxes: Sequence[Asked],
    recipients: list[str],
    at: dt.datetime,
    snaps: Sequence[Snapshot] | None = None,
    walks: Walks | None = None,
    kept: Answers | None = None,
) -> list[tuple[Allowance, str | None]] | None:
    """:func:`recipient_check` of each of ``boxes`` (the same answers), every history read in
    one transaction of a handful of statements (:meth:`Ledger.histories`; ``snaps``: read
    already, at ``at``) and the newer walk memos kept in one more; None when the ledger has
    one of them at another ``rev`` than ``boxes`` say (changed since they were read: read
    them again), nothing kept then. :class:`MailboxNotFound` for one removed. ``walks``: the
    walks kept between calls (:func:`warmup.policy.engine.evaluate_steps`).

    ``kept``: the last answers, kept between calls. A mailbox whose history (read afresh,
    whoever wrote it) is the one its kept answer was worked out from, under the same policy,
    gets that answer while ``at`` is before its :attr:`~warmup.policy.Allowance.steady` (the
    engine is pure: the same inputs give the same answer): a worker's look at a pool's
    members before each message works out again only the member that sent."""
    from warmup.policy.engine import recipient_domain_refusal

    pairs = [(b.box, b.ask) for b in boxes]
    with collector_paused():
        if snaps is None:
            snaps = ledger.histories(pairs, at)
        if any(snap.rev != b.rev for snap, b in zip(snaps, boxes, strict=True)):
            return None
        answers: list[_Answer | None] = [None] * len(boxes)
        if kept is not None:
            for i, (b, snap) in enumerate(zip(boxes, snaps, strict=True)):
                k = kept.get(b.box.address)
                if k is not None and _still(k, b.spec, snap.history, at):
                    answers[i] = k[3]
        todo = [i for i, answer in enumerate(answers) if answer is None]
        if todo:
            specs = {boxes[i].box.policy: boxes[i].spec for i in todo}
            fresh = _answers(
                ledger, specs, at, [pairs[i] for i in todo], [snaps[i] for i in todo], walks
            )
            _keep_newer(
                ledger, [boxes[i].box for i in todo], [boxes[i].inputs for i in todo], fresh
            )
            for i, worked in zip(todo, fresh, strict=True):
                answers[i] = worked
                if kept is not None:
                    kept[boxes[i].box.address] = (boxes[i].spec, snaps[i].history, at, worked)
    out = []
    for got, b, snap in zip(answers, boxes, snaps, strict=True):
        assert got is not None
        out.append((got[0], recipient_domain_refusal(b.spec, snap.history, recipients)))
    return out


def _still(
    k: tuple[PolicySpec, History, dt.datetime, _Answer],
    spec: PolicySpec,
    hist: History,
    at: dt.datetime,
) -> bool:
    """Whether kept answer ``k`` is the answer for ``hist`` under ``spec`` at ``at``: the same
    policy object, an equal history (without day sums, which do not compare) and ``at`` from
    the instant it was asked until its ``steady``."""
    spec_then, hist_then, asked, (allowance, *_) = k
    steady = allowance.steady
    return (
        spec_then is spec
        and steady is not None
        and asked <= at < steady
        and hist.sums is None
        and (hist_then is hist or hist_then == hist)
    )


def _keep_newer(
    ledger: Reads, boxes: Sequence[MailboxRow], inputs: Sequence[str], answers: list[_Answer]
) -> None:
    """Keep, in one transaction, the walk memos of ``answers`` newer than those their walks
    resumed from (``inputs``: each mailbox's memo inputs)."""
    newer = []
    for box, given, (allowance, held, stamp, rev) in zip(boxes, inputs, answers, strict=True):
        memo = allowance.memo
        if memo is not None and (held is None or held < memo.upto):
            if stamp is not None and memo.upto > ledger.real_today(EARLIEST_ZONE):
                continue  # a day it covers is not over everywhere yet (EARLIEST_ZONE)
            newer.append((box, memo, stamped(given, stamp), rev))
    try:
        ledger.keep_memos(newer)
    except (ConfigError, Unavailable):  # a ledger this user may only read still answers
        pass


# What a mailbox's answer leaves for the memo's bookkeeping: the allowance, the day of the memo
# its walk resumed from (None: walked from the start), the domain stamp and revision read.
_Answer = tuple[Allowance, "dt.date | None", "str | None", int]


def _answers(
    ledger: Reads,
    specs: dict[str, PolicySpec],
    at: dt.datetime,
    pairs: Sequence[tuple[MailboxRow, Ask]],
    snaps: Sequence[Snapshot] | None = None,
    walks: Walks | None = None,
) -> list[_Answer]:
    """Each of ``pairs``' answer, from its history (``snaps``: as read already; ``walks``: as
    :func:`recipient_checks` takes them)."""
    snaps = ledger.histories(pairs, at) if snaps is None else snaps
    at = plain(at)  # read: a Live instant says no more to the engine, only costs (~3% a message)
    # every mailbox's walk at once, the stretches they reach together walked together
    allowances = drive_all(
        [
            evaluate_steps(specs[box.policy], policies.with_eras(ledger, snap.history), at, walks)
            for (box, _), snap in zip(pairs, snaps, strict=True)
        ]
    )
    out: list[_Answer] = []
    for snap, allowance in zip(snaps, allowances, strict=True):
        held = snap.history.memo
        out.append((allowance, None if held is None else held.upto, snap.stamp, snap.rev))
    return out


def _answers_reopened(
    ledger: Reads,
    specs: dict[str, PolicySpec],
    at: dt.datetime,
    pairs: Sequence[tuple[MailboxRow, Ask]],
) -> list[_Answer]:
    """:func:`_answers` on a connection of its own (in a forked child: never its parent's)."""
    own = ledger.reopen()
    try:
        return _answers(own, specs, at, pairs)
    finally:
        own.close()


def keep_walks(ledger: Reads, at: dt.datetime | None = None) -> None:
    """Walk every mailbox once and keep its walk memo (:func:`quotas`, answers discarded): after
    a write that changed past days (an import), so that the next ``warmup quota``, send or
    worker resumes each mailbox's walk from yesterday instead of walking its whole history.
    Only a speed-up: a mailbox that cannot be walked now (its policy gone) is left for the next
    question to explain."""
    # One mailbox that cannot be asked (its provider preset unknown to this version, its
    # policy unreadable) failed quotas() for all of them: no memo was kept for any.
    specs, good, asks, _ = _askable(ledger, ledger.mailboxes())
    try:
        _quotas(ledger, good, specs, at or now_utc(), asks)
    except WarmupError:
        pass


def quota_for(
    ledger: GateLedger, box: MailboxRow, at: dt.datetime, spec: PolicySpec | None = None
) -> Allowance:
    """What ``warmup quota`` answers for ``box`` at ``at`` (``spec``: its policy, if the caller
    has resolved it already)."""
    spec, inputs, snap = _snapshot(ledger, box, at, spec)
    allowance = evaluate(spec, snap.history, plain(at))
    _keep(ledger, box, allowance, snap, inputs)
    return allowance


def recipient_check(
    ledger: GateLedger, box: MailboxRow, recipients: list[str], at: dt.datetime
) -> tuple[Allowance, str | None]:
    """The allowance at ``at`` (as :func:`quota_for`), and why a message to ``recipients``
    would break a recipient-domain cap today, or None. Reserves nothing."""
    from warmup.policy.engine import recipient_domain_refusal

    spec, inputs, snap = _snapshot(ledger, box, at)
    allowance = evaluate(spec, snap.history, plain(at))
    _keep(ledger, box, allowance, snap, inputs)
    return allowance, recipient_domain_refusal(spec, snap.history, recipients)


def _keep(
    ledger: GateLedger, box: MailboxRow, allowance: Allowance, snap: Any, inputs: str
) -> None:
    """Keep the walk's newer memo, so the next question about ``box`` need not walk its past;
    a ledger this user may only read still gets its answer."""
    memo, held = allowance.memo, snap.history.memo
    if memo is None or (held is not None and held.upto >= memo.upto):
        return
    if snap.stamp is not None and memo.upto > ledger.real_today(EARLIEST_ZONE):
        return  # under a domain cap: a day it covers is not over everywhere yet (EARLIEST_ZONE)
    try:
        ledger.keep_memo(box, memo, stamped(inputs, snap.stamp), snap.rev)
    except (ConfigError, Unavailable):
        pass


def named_mailboxes(ledger: Reads, addresses: Sequence[str]) -> list[MailboxRow]:
    """The mailboxes ``addresses`` name, each once, in the order first named: an address given
    twice (or in another case) is one mailbox, so a plan's volume or a report never counts it
    twice. An unknown address is :class:`MailboxNotFound`. An address read from the ledger
    (a pool's member) that a hand edit or another version stored in a form no lookup takes
    (malformed: :class:`DataError`; not lower case: not found) is that row, found among every
    mailbox: it failed whole commands (``queue status``, exit 65) that only read it.

    More than a few: every mailbox is read at once and each address looked up among them by
    its stored form (another form is looked up alone): one statement an address, ``queue
    status`` read 300 of a team's mailboxes twice, 0.6-0.9 s of its time on PostgreSQL."""
    boxes: dict[int, MailboxRow] = {}
    stored = {b.address: b for b in ledger.mailboxes()} if len(addresses) > _FEW else {}
    for address in addresses:
        box = stored.get(address)
        if box is None:
            try:
                box = ledger.mailbox(address)
            except (DataError, NotFound):  # an error's path: every mailbox read once
                stored = stored or {b.address: b for b in ledger.mailboxes()}
                if address not in stored:
                    raise
                box = stored[address]
        boxes.setdefault(box.id, box)
    return list(boxes.values())


_FEW = 4  # addresses looked up one by one (``quota a@x``); more: every mailbox read at once


def added_by(
    ledger: Reads,
    boxes: Sequence[MailboxRow],
    at: dt.datetime,
    text: str | None = None,
    field: str = "at",
) -> tuple[list[MailboxRow], list[Refusal]]:
    """The mailboxes of ``boxes`` that were in the ledger on ``at``'s local day, and a
    :class:`Refusal` (:class:`InvalidFieldData`, 65) for each of the others: a question about
    an instant (its quota, stage, plan, report) before a mailbox was added has no answer, and
    the ramp walked from a day it did not exist answered one. A mailbox is in the ledger from
    the local day it was added, or from its first send when its history starts before that (an
    import, a send recorded ``--at`` a past time). ``text``: ``at`` as the user typed it."""
    late = [b for b in boxes if local_day(at, b.timezone) < local_day(b.created_at, b.timezone)]
    if not late:
        return list(boxes), []
    firsts = ledger.first_sends([b.id for b in late])
    refusals = {}
    for box in late:
        added = local_day(box.created_at, box.timezone)
        first = firsts.get(box.id)
        since = added if first is None else min(added, local_day(first, box.timezone))
        if local_day(at, box.timezone) >= since:
            continue
        what = (
            "was added on {day} ({zone})"
            if since == added
            else "has no history before {day} ({zone}: its first send; it was added on {added})"
        )
        refusals[box.id] = Refusal(
            box,
            InvalidFieldData(
                field,
                "mailbox {mailbox} " + what + "; {field} {value} is before it: give a time on "
                "or after that day",
                mailbox=repr(box.address),
                day=since.isoformat(),
                added=added.isoformat(),
                zone=box.timezone,
                value=text or at.isoformat(),
            ),
        )
    return [b for b in boxes if b.id not in refusals], list(refusals.values())


def plan(ledger: Ledger, address: str, days: int, at: dt.datetime | None = None) -> list[PlanDay]:
    """The days ahead of ``address``: each day's quota and what the gate would let through
    (:func:`warmup.policy.project`)."""
    box = ledger.mailbox(address_arg(address))
    when = check_query(at) if at else live_now()
    return list(mailbox_plan(ledger, box, expect(days, int, "days"), when).days)


def mailbox_plan(
    ledger: Ledger, box: MailboxRow, days: int, at: dt.datetime, until: int | None = None
) -> MailboxPlan:
    """``box``'s days ahead (:func:`warmup.policy.project`; ``until``: stop once it alone
    will have sent that many)."""
    spec, _, snap = _snapshot(ledger, box, at)
    return _plan_of(box, spec, snap.history, days, at, until)


def mailbox_plans(
    ledger: Ledger,
    boxes: Sequence[MailboxRow],
    days: int,
    at: dt.datetime,
    until: int | None = None,
) -> list[MailboxPlan]:
    """:func:`mailbox_plan` of each of ``boxes`` (the same plans), each policy resolved once and
    every history read in a handful of statements for all of them (:meth:`Ledger.histories`):
    read one by one, 300 mailboxes were 2,700 statements, a round trip each on PostgreSQL."""
    planner = mailbox_planner(ledger, boxes, at)
    return [planner(box, days, until) for box in boxes]


def mailbox_planner(
    ledger: Ledger, boxes: Sequence[MailboxRow], at: dt.datetime
) -> Callable[[MailboxRow, int, int | None], MailboxPlan]:
    """``plan(box, days, until)``: :func:`mailbox_plan` of one of ``boxes`` at ``at``, for any
    horizon and as often as asked, from the policies and histories :func:`mailbox_plans` reads
    for all of them at once (``queue status`` plans each mailbox of the outbox, some twice)."""
    specs: dict[str, PolicySpec] = {}
    for box in boxes:
        if box.policy not in specs:
            specs[box.policy] = policy_for(ledger, box)
    before = policies.capped_before(ledger, [box.id for box in boxes])
    pairs = [(box, _ask(specs[box.policy], box, box.id in before)[1]) for box in boxes]
    with collector_paused():
        snaps = ledger.histories(pairs, at) if pairs else []
    histories = {
        box.id: policies.with_eras(ledger, snap.history)
        for box, snap in zip(boxes, snaps, strict=True)
    }

    def plan(box: MailboxRow, days: int, until: int | None = None) -> MailboxPlan:
        return _plan_of(box, specs[box.policy], histories[box.id], days, at, until)

    return plan


def _plan_of(
    box: MailboxRow,
    spec: PolicySpec,
    history: Any,
    days: int,
    at: dt.datetime,
    until: int | None,
) -> MailboxPlan:
    """``box``'s plan from its policy and history (:func:`mailbox_plan`)."""
    from warmup.policy.plan import MailboxPlan, plan_notes, project  # not on quota's path

    days_ahead = project(spec, history, at, days, until)
    notes = plan_notes(spec, days_ahead)
    if days_ahead and all(d.status == "paused" for d in days_ahead):
        # Every day 0 until a person resumes it: say so once, rather than leave a --volume
        # plan to read "not reached within 730 days" as the policy's doing.
        notes += (
            f"paused: the plan assumes it stays paused; "
            f"'warmup mailbox resume {shlex.quote(box.address)}' resumes it",
        )
    return MailboxPlan(box.address, box.policy, tuple(days_ahead), notes, spec.domain_cap)


VOLUME_HORIZON = 730  # days a --volume plan looks ahead


def plan_each(
    ledger: Ledger,
    addresses: list[str],
    days: int = 30,
    at: dt.datetime | None = None,
    volume: int | None = None,
    within: int | None = None,
) -> tuple[Plan, list[Refusal]]:
    """``warmup plan``: the days ahead of each mailbox; with ``volume``, up to the first day on
    which they will have sent that many recipients between them, looking up to ``within`` days
    ahead (default :data:`VOLUME_HORIZON`); not within them, ``later`` says when, looking
    :data:`VOLUME_HORIZON` days ahead. Only the mailboxes that can be planned, and a
    :class:`Refusal` for each of the others (a policy or provider preset this warmup does not
    know, stored by a newer one in a shared ledger): one such mailbox named must not hide the
    others' plans."""
    return plan_boxes(ledger, named_mailboxes(ledger, addresses), days, at, volume, within)


def plan_boxes(
    ledger: Ledger,
    boxes: Sequence[MailboxRow],
    days: int = 30,
    at: dt.datetime | None = None,
    volume: int | None = None,
    within: int | None = None,
) -> tuple[Plan, list[Refusal]]:
    """:func:`plan_each` of mailboxes already read (``ledger.mailboxes()``, every mailbox):
    not looked up again by address, so one stored by hand or by another version under an
    address this warmup would refuse to look up is planned as ``quota`` answers it, and does
    not take every other mailbox's plan down with it (it did, exit 65)."""
    from warmup.policy.plan import combine

    at = check_query(at) if at else live_now()
    _, boxes, refusals = askable(ledger, boxes)
    horizon = days if volume is None else within or VOLUME_HORIZON
    # Each mailbox's plan may stop where it alone reaches the volume: together they reach it
    # no later (and plans are cut at that day anyway).
    result = combine(mailbox_plans(ledger, boxes, horizon, at, volume), volume)
    if volume is None:
        return result, refusals
    result = dataclasses.replace(result, within=horizon)
    if result.reached is None and horizon < VOLUME_HORIZON:
        # not within the days asked: say when, looking as far as an unbounded plan does
        further = combine(mailbox_plans(ledger, boxes, VOLUME_HORIZON, at, volume), volume)
        if further.reached is not None and further.reached_day is not None:
            result = dataclasses.replace(result, later=(further.reached, further.reached_day))
    return result, refusals


def volume_date(
    ledger: Ledger,
    mailboxes: list[str],
    volume: int,
    at: dt.datetime | None = None,
    horizon: int = VOLUME_HORIZON,
) -> tuple[dt.date | None, int]:
    """The first day on which ``volume`` recipients will have been sent across ``mailboxes``,
    and its number (1 = today); ``(None, horizon)`` when not within ``horizon`` days."""
    from warmup.policy.plan import combine

    at = check_query(at) if at else live_now()
    boxes = named_mailboxes(ledger, mailboxes)
    result = combine(mailbox_plans(ledger, boxes, horizon, at, volume), volume)
    return result.reached, result.reached_day or horizon


def volume_dates(
    ledger: Ledger,
    mailboxes: list[str],
    volumes: Sequence[int],
    at: dt.datetime | None = None,
    horizon: int = VOLUME_HORIZON,
) -> dict[int, dt.date | None]:
    """:func:`volume_date`'s day for each of ``volumes`` (None: not within ``horizon`` days),
    the mailboxes' plans projected once, up to the largest."""
    from warmup.policy.plan import combine

    at = check_query(at) if at else live_now()
    boxes = named_mailboxes(ledger, mailboxes)
    most = max(volumes, default=0)
    plans = [mailbox_plan(ledger, b, horizon, at, most) for b in boxes]
    return {v: combine(plans, v).reached for v in set(volumes)}


def pause(
    ledger: Ledger,
    address: str,
    reason: str,
    at: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> None:
    """Pause ``address`` by hand (at ``at``, default now) until :func:`resume`, or with
    ``until`` until then (it sends again by itself, as after a provider back-off: the same
    ``until`` of the event), and tell the notification targets (:mod:`warmup.notify`).
    :func:`pause_end` reads an ``until`` a user typed."""
    from warmup import notify

    address_arg(address)
    reason = text_field(reason, "reason", REASON_LIMIT)
    if not reason:
        raise InvalidField("reason", "{field} is empty: say why the mailbox is paused")
    at = check_event(at) if at else now_utc()
    if until is not None and check_query(until, "until") <= at:
        raise InvalidField(
            "until", "{field}: {value} is not after the pause begins", value=until.isoformat()
        )
    box = ledger.mailbox(address)
    ledger.add_event(box, "pause", at, reason, until)
    with notify.notifier_for(ledger) as notifier:
        notifier.send(notify.event("paused", box.address, at, reason, cause="manual", until=until))


def pause_end(
    ledger: Ledger, address: str, text: str, now: dt.datetime | None = None
) -> dt.datetime:
    """The end of a pause of ``address`` as a user wrote it: a span (``3d``, ``12h``) from
    ``now`` (default: this machine's clock), or a date or time, the mailbox's local time when it
    has no UTC offset (a date alone: its local midnight; a time alone already past today:
    tomorrow's). Unreadable: :class:`InvalidField`
    (exit 64); not in the future, or from 2100 on: :class:`InvalidFieldData` (65)."""
    from warmup.instants import read_until

    return read_until(
        text, ledger.mailbox(address_arg(address)).timezone, check_query(now) if now else now_utc()
    )


def resume(ledger: Ledger, address: str, at: dt.datetime | None = None) -> None:
    """Resume a paused ``address`` (at ``at``, default now)."""
    at = check_event(at) if at else now_utc()
    ledger.add_event(ledger.mailbox(address_arg(address)), "resume", at, "resumed by hand")


def suppress(ledger: Ledger, recipients: Sequence[str], reason: str) -> int:
    """Suppress ``recipients`` by hand, with ``reason`` (one line, as a pause's); returns how many
    were not suppressed already. Every address and the reason are checked before any is kept."""
    return suppress_listed(ledger, recipients, reason).added


def suppress_listed(
    ledger: Ledger, recipients: Sequence[str], reason: str, listed: PurePath | None = None
) -> SuppressCount:
    """:func:`suppress` ``recipients`` and the addresses the file at ``listed`` lists
    (:func:`warmup.suppresslist.addresses_in`; :data:`STANDARD_INPUT`: standard input), read
    as a stream and staged before the ledger's write lock is taken: how many were given, how
    many distinct addresses, how many new. Every address and the reason are checked before any
    is kept; a bad one is :class:`DataError` (the file's naming its line), nothing kept."""
    from itertools import chain

    from warmup.suppresslist import addresses_in, exact_address

    if isinstance(recipients, str):  # else each of its characters was "malformed address 'a'"
        expect(recipients, (list, tuple), "recipients", f"; give [{recipients!r}]")
    reason = text_field(reason, "reason", REASON_LIMIT)
    if not reason:
        raise InvalidField("reason", "{field} is empty: say why these addresses are suppressed")
    given = [exact_address(a) for a in recipients]
    found = () if listed is None else addresses_in(listed)
    return ledger.suppress_many(((a, reason, None) for a in chain(given, found)), "manual")


def unsuppress_listed(
    ledger: Ledger, recipients: Sequence[str], listed: PurePath | None = None
) -> SuppressCount:
    """Take back the suppressions of ``recipients`` and of the addresses the file at
    ``listed`` lists, read and staged as :func:`suppress_listed` reads and stages them (a bad
    line is :class:`DataError` naming it, nothing taken back), in one transaction: how many
    were given, how many distinct addresses, how many were suppressed and are taken back
    (``added`` counts those here; the others are left as they were)."""
    from itertools import chain

    from warmup.suppresslist import addresses_in

    if isinstance(recipients, str):
        expect(recipients, (list, tuple), "recipients", f"; give [{recipients!r}]")
    # As a lone 'suppress remove ADDRESS' looks one up: a DSN's suppression is of any length.
    given = [addresses.lookup(a) for a in recipients]
    found = () if listed is None else addresses_in(listed)
    return ledger.unsuppress_many(chain(given, found))


SOFT_STREAK_SENDS = (2, 1000)  # bounds of ``sends`` in a soft streak
SOFT_STREAK_DAYS = (0, 3650)  # and of ``days``


def soft_streaks(
    ledger: Ledger, sends: int = 3, days: int = 7, mailbox: str | None = None
) -> list[SoftStreak]:
    """The addresses not suppressed whose last ``sends`` sends from one mailbox (``mailbox``:
    from that one only; its history alone is read) were each answered by a soft bounce for the
    address's own state (a full mailbox, a disabled one:
    :data:`warmup.bounces.streaks.ADDRESS_STATES`), the first at least ``days`` days before the
    last; one a mailbox. Of an address taken back (:meth:`warmup.ledger.Ledger.unsuppress`),
    only the sends after its latest removal count. Nothing is suppressed: see
    :func:`suppress_streaks`."""
    from warmup.bounces.streaks import soft_streaks as streaks

    for field, value, (low, high) in (
        ("sends", sends, SOFT_STREAK_SENDS),
        ("days", days, SOFT_STREAK_DAYS),
    ):
        expect(value, int, field)
        if not low <= value <= high:
            raise InvalidField(
                field, "{field} {value}: expected {low} to {high}", value=value, low=low, high=high
            )
    box = None if mailbox is None else ledger.mailbox(address_arg(mailbox)).id
    return streaks(ledger.soft_bounced_sends(sends, box), sends, days)


def suppress_streaks(
    ledger: Ledger, streaks: Sequence[SoftStreak], at: dt.datetime | None = None
) -> int:
    """Suppress the addresses of ``streaks`` (:func:`soft_streaks`), kind ``soft``, each with
    its streak as the reason; how many were not suppressed already. An address taken back
    (``warmup suppress remove``) since its streak's first send was recorded is left out: the
    streak was read before the removal, which sets those sends aside."""
    at = check_event(at) if at else now_utc()
    ids = ledger.first_send_ids((s.mailbox_id, s.address, s.first) for s in streaks)
    since: dict[str, int] = {}
    for s in streaks:  # of two mailboxes' streaks, one begun after the removal still counts
        first = ids.get((s.mailbox_id, s.address, s.first))
        if first is not None:  # else its sends went with their mailbox: nothing to compare
            since[s.address] = max(first, since.get(s.address, first))
    return ledger.suppress_each(
        ((s.address, s.reason, s.mailbox_id) for s in streaks),
        "soft",
        at,
        unless_taken_back=since,
    )


def record_send(
    ledger: Ledger,
    address: str,
    recipients: list[str],
    at: dt.datetime | None = None,
    message_id: str | None = None,
    *,
    committing: Callable[[], object] | None = None,
) -> int:
    """Record sends made outside the gate; returns how many were new. ``committing`` is
    called once they are written, before the COMMIT (the CLI holds stops from there).

    A recipient is read as :func:`import_csv` reads a log's
    (:func:`warmup.importcsv._recipient`): a record of a send that happened, so one over RFC
    5321's 64 octets before the '@' (which some servers take) is recorded, as the import
    records it, where a new message to it is refused."""
    address_arg(address)
    if isinstance(recipients, str):  # else each of its characters was "malformed address 'a'"
        expect(recipients, (list, tuple), "recipients", f"; give [{recipients!r}]")
    rcpts = [addresses.normalize(r, "recipient", limits=False) for r in recipients]
    at = check_event(at) if at else now_utc()
    if message_id is not None:
        message_id = message_id_field(message_id) or None
    box = ledger.mailbox(address)
    refused = before_start(box.address, box.started, box.timezone, at, now_utc())
    if refused is not None:
        raise DataError(refused + "; nothing was recorded")
    sends = [SendIn(r, at, message_id) for r in rcpts]
    return ledger.record(box, sends=sends, committing=committing).sends


def record_bounce(
    ledger: Ledger,
    address: str,
    recipient: str,
    kind: str = "hard",
    status: str | None = None,
    at: dt.datetime | None = None,
    message_id: str | None = None,
) -> Recorded:
    """Record a bounce learnt elsewhere. It counts in the mailbox's rates only if it answers a
    send of the mailbox (by ``message_id``, else the latest send to the recipient in the 30 days
    before); a hard bounce suppresses the address either way (the user vouches for it)."""
    address_arg(address)
    rcpt = addresses.normalize(recipient, "recipient", limits=False)  # one it mailed, maybe
    if kind not in BOUNCE_KINDS:
        raise InvalidField(
            "kind",
            "{field} {value!r}: expected one of {choices}",
            value=kind,
            choices=", ".join(BOUNCE_KINDS),
        )
    untimed = not at  # now: a repeat of this command is this bounce again
    at = check_event(at) if at else now_utc()
    if status is not None:
        status = text_field(status, "status", STATUS_LIMIT) or None
        if status is not None and not ENHANCED_STATUS.fullmatch(status):
            raise InvalidFieldData(
                "status",
                "{field} {value!r}: expected an enhanced status code X.Y.Z, X being 2, 4 or 5 "
                "(RFC 3463), e.g. 5.1.1",
                value=clip(status),
            )
        wrong = status and contradicted(kind, status)
        if wrong:
            raise InvalidFieldData(
                "status", "{field} {value} is " + wrong, refs={"kind": "kind"}, value=status
            )
    if message_id is not None:
        message_id = message_id_field(message_id) or None
    box = ledger.mailbox(address)
    key = f"record:{utc_iso(at)}|{rcpt}|{kind}"
    got = ledger.record(
        box,
        bounces=[
            BounceIn(
                rcpt,
                kind,
                at,
                key,
                status=status,
                message_id=message_id,
                source="record",
                untimed=untimed,
            )
        ],
    )
    if not got.bounces and status is not None:
        # The same bounce again is nothing new (idempotent); one saying another status was
        # dropped unsaid, "Already recorded." as if the ledger held what was typed.
        present, stored = ledger.bounce_status(box, key)
        if present and stored != status:
            raise InvalidFieldData(
                "status",
                "{field} {value}: a {kind} bounce for {rcpt} at {at} is recorded already "
                + ("with status {stored}" if stored else "without a status")
                + "; a bounce is recorded once (one of another time is another report)",
                value=status,
                kind=kind,
                rcpt=rcpt,
                at=local_text(at, box.timezone, "%Y-%m-%d %H:%M:%S %Z"),
                stored=stored or "",
            )
    return got


def utc_iso(ts: dt.datetime) -> str:
    return f"{utc(ts):%Y-%m-%dT%H:%M:%S.%f}"
