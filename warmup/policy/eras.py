"""A mailbox's policy over time: each day of the walk judged under the policy in force then.

``warmup policy set NAME FILE`` stores a new version of a policy and ``warmup mailbox set ADDRESS
--policy NAME`` moves a mailbox to another: each marks the mailbox with a ``policy`` event whose
reason names the policy it follows from then on and the one it followed before
(:func:`policy_reason`: ``policy careful version 3 (was careful version 2)``). The walk starts
under the policy the first such event says was in force and takes up each one as it replays
the event (:meth:`warmup.policy.rules.Walk.apply_events`), so days already walked keep the
verdicts they had: raising week 1 from 50 to 100 a day does not turn ten days that qualified at
30 sends into ten that did not, nor send a mailbox on day 11 back to day 1. Pure, no I/O: the
TOML texts of the stored versions the events name come with the history
(:attr:`warmup.policy.inputs.History.policy_texts`); a built-in preset is named without a version.
A policy that cannot be had (an event written before events said what was in force, a version
that no longer parses) is the mailbox's current one, as every day was judged before.

A mailbox's cap is kept the same way: ``warmup mailbox set ADDRESS --cap N`` marks it with a
``cap`` event naming the cap from then on and the one before (:func:`cap_reason`: ``cap 20 (was
none)``), and the walk holds the cap in force on each day (:func:`cap_in_force`), so lowering a
cap does not turn the days sent under the old one into days sent over quota, nor change the
warm-up day they reached. A ledger without such events has its current cap on every day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from warmup.errors import ConfigError, NotFound
from warmup.instants import zone
from warmup.lazyre import compiled_later
from warmup.policy.spec import PolicySpec, load_policy, parse_policy_text, preset_names

if TYPE_CHECKING:
    from warmup.policy.inputs import History, MailboxEvent

# A policy's name (warmup.policies.NAME: no spaces), and its version if stored.
_REF = r"([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?: version ([1-9][0-9]{0,9}))?"
_REASON = compiled_later(rf"policy {_REF}(?: \(was {_REF}\))?")
# A cap, or none (warmup.mailboxes.NO_CAP).
_CAP = r"(none|0|[1-9][0-9]{0,9})"
_CAP_REASON = compiled_later(rf"cap {_CAP} \(was {_CAP}\)")
# The kinds of event that change the rules a day is judged under (the walk takes them up).
ERA_KINDS = ("policy", "cap")


def ref(name: str, version: int | None) -> str:
    """How a reason names a policy: ``careful version 3``, or a preset's name alone."""
    return name if version is None else f"{name} version {version}"


def policy_reason(name: str, version: int | None, was: tuple[str, int | None] | None = None) -> str:
    """The reason of a mailbox's ``policy`` event: which policy it follows from then on
    (``version`` None: a built-in preset) and, ``was``, which it followed until then. The one
    place that words it (:func:`refs` reads it back)."""
    text = f"policy {ref(name, version)}"
    return text if was is None else f"{text} (was {ref(*was)})"


def refs(reason: str) -> tuple[str, str | None] | None:
    """``(the policy followed from then on, the one before or None)`` of a ``policy`` event's
    reason, as :func:`ref` names them; None when it names none this way (a path)."""
    m = _REASON.fullmatch(reason)
    if m is None:
        return None
    name, version, was_name, was_version = m.groups()
    after = ref(name, None if version is None else int(version))
    if was_name is None:
        return after, None
    return after, ref(was_name, None if was_version is None else int(was_version))


def stored(reasons: Iterable[str]) -> set[tuple[str, int]]:
    """``(name, version)`` of each stored policy version the ``policy`` events' ``reasons``
    name (before or after): whose texts a walk over those events needs."""
    out: set[tuple[str, int]] = set()
    for reason in reasons:
        m = _REASON.fullmatch(reason)
        if m is None:
            continue
        name, version, was_name, was_version = m.groups()
        if version is not None:
            out.add((name, int(version)))
        if was_version is not None:
            out.add((was_name, int(was_version)))
    return out


def cap_reason(cap: int | None, was: int | None) -> str:
    """The reason of a mailbox's ``cap`` event: the cap from then on and the one until then
    (None: no cap). The one place that words it (:func:`cap_refs` reads it back)."""
    return f"cap {_cap_text(cap)} (was {_cap_text(was)})"


def _cap_text(cap: int | None) -> str:
    return "none" if cap is None else str(cap)


def cap_refs(reason: str) -> tuple[int | None, int | None] | None:
    """``(the cap from then on, the one before)`` of a ``cap`` event's reason (None: no cap),
    or None when the reason does not say them (:func:`cap_reason`)."""
    m = _CAP_REASON.fullmatch(reason)
    if m is None:
        return None
    after, before = (None if g == "none" else int(g) for g in m.groups())
    return after, before


def cap_in_force(current: int | None, events: Sequence[MailboxEvent], done: int) -> int | None:
    """The cap once the first ``done`` of ``events`` (as the walk takes them, in order) are
    applied: the one the last ``cap`` event applied names, else the one the first still to come
    says was in force; ``current`` (the mailbox's cap now) once none is to come, or where an
    event does not say."""
    to_come = next((e for e in events[done:] if e.kind == "cap"), None)
    if to_come is None:
        return current
    applied = next((e for e in reversed(events[:done]) if e.kind == "cap"), None)
    got = cap_refs((applied or to_come).reason)
    if got is None:
        return current
    return got[0] if applied is not None else got[1]


def from_day_start(events: Iterable[MailboxEvent], tz: str) -> list[MailboxEvent]:
    """``events`` as the walk takes them: a ``policy`` or ``cap`` event at the start of its
    local day in zone ``tz``, so that the day of a change is judged under the new policy or cap
    (as ``warmup quota`` answers after the change, and as every gate does from then on), the
    days before under the one in force then."""
    where = zone(tz)
    out = []
    for e in events:
        if e.kind in ERA_KINDS:
            start = dt.datetime.combine(e.at.astimezone(where).date(), dt.time(), where)
            e = dataclasses.replace(e, at=start.astimezone(dt.UTC))
        out.append(e)
    return out


def in_force(
    current: PolicySpec, events: Sequence[MailboxEvent], done: int, texts: Mapping[str, str]
) -> PolicySpec:
    """The policy followed once the first ``done`` of ``events`` (as the walk takes them:
    :func:`from_day_start`, in order) are applied: the one the last ``policy`` event applied
    names, else the one the first still to come says was in force; ``current`` (the mailbox's
    policy now) once none is to come, or where the one named cannot be had."""
    if not any(e.kind == "policy" for e in events[done:]):
        return current
    applied = [e for e in events[:done] if e.kind == "policy"]
    if applied:
        got = refs(applied[-1].reason)
        named = None if got is None else got[0]
    else:
        got = refs(next(e for e in events[done:] if e.kind == "policy").reason)
        named = None if got is None else got[1]
    return spec_of(named, texts) or current


def on_day(current: PolicySpec, hist: History, day: dt.date) -> PolicySpec:
    """The policy in force on local ``day`` of ``hist``'s mailbox, whose policy now is
    ``current``: what the walk judges that day under (a change from the start of its day on)."""
    events = sorted(from_day_start(hist.events, hist.timezone), key=lambda e: e.at)
    start = dt.datetime.combine(day, dt.time(), zone(hist.timezone)).astimezone(dt.UTC)
    done = sum(1 for e in events if e.at <= start)
    return in_force(current, events, done, hist.policy_texts)


def spec_of(name_ref: str | None, texts: Mapping[str, str]) -> PolicySpec | None:
    """The policy ``name_ref`` names (:func:`ref`), from ``texts`` (stored versions' TOML by
    reference) or the presets; None when it cannot be had."""
    if name_ref is None:
        return None
    if " " not in name_ref:
        return _preset(name_ref) if name_ref in preset_names() else None
    text = texts.get(name_ref)
    return None if text is None else _parsed(name_ref, text)


@functools.lru_cache(maxsize=64)
def _preset(name: str) -> PolicySpec | None:
    try:
        return load_policy(name)
    except (ConfigError, NotFound):  # pragma: no cover - a preset shipped with warmup
        return None


@functools.lru_cache(maxsize=64)
def _parsed(name_ref: str, text: str) -> PolicySpec | None:
    name = name_ref.split(" ", 1)[0]
    try:
        spec = parse_policy_text(text, f"{name_ref}", name)
    except ConfigError:  # stored before a check existed: its days are judged as today's
        return None
    return dataclasses.replace(spec, name=name)
