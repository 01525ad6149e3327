"""The reports' other frames: where each mailbox stands (:func:`standing`) and its plan ahead
(:func:`ahead`), as ``warmup quota`` and ``warmup plan`` say; bounces per recipient domain, kind
and reason over the days the daily frame shows; suppressions per day; the daily frame per week.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from warmup import api
from warmup.ledger import Ledger, MailboxRow, local_day
from warmup.ledger.reads import rate_kind
from warmup.ledger.schema import BOUNCE_KINDS
from warmup.reports.days import check_days, mailboxes


def standing(
    ledger: Ledger, addresses: Sequence[str] = (), at: dt.datetime | None = None
) -> pd.DataFrame:
    """Where each mailbox stands at ``at``: ``warmup quota``'s answer, with its reasons."""
    at = at or api.now_utc()
    rows = []
    for box in mailboxes(ledger, addresses):
        a = api.quota_for(ledger, box, at)
        rows.append(
            {
                "mailbox": a.mailbox,
                "stage": a.stage,
                "warmup_day": a.day,
                "quota": a.quota,
                "sent": a.sent,
                "remaining": a.remaining,
                "status": a.status,
                "bounce_rate": a.bounce_rate,
                "reasons": "; ".join(a.reasons),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "mailbox",
            "stage",
            "warmup_day",
            "quota",
            "sent",
            "remaining",
            "status",
            "bounce_rate",
            "reasons",
        ],
    )


def _windows(
    boxes: list[MailboxRow], days: int | None, at: dt.datetime | None
) -> list[tuple[list[int], dt.date | None, dt.date]]:
    """The mailboxes grouped by their window of local days, each in its own zone as
    :func:`daily`'s rows are: from the first of the last ``days`` (None: from the start) to the
    day of ``at`` (default now), and never before the mailbox's start day (``--started``), where
    its walk, so :func:`daily`, begins: the bounce tables count the days the report shows. One
    group when they share a zone, as they mostly do."""
    days = check_days(days)
    at = at or api.now_utc()
    groups: dict[tuple[dt.date | None, dt.date], list[int]] = {}
    for b in boxes:
        today = local_day(at, b.timezone)
        since = None if days is None else today - dt.timedelta(days=days - 1)
        if b.started is not None:  # a start day still ahead: today's row is the report's only
            start = min(b.started, today)
            since = start if since is None else max(since, start)
        groups.setdefault((since, today), []).append(b.id)
    return [(ids, since, until) for (since, until), ids in groups.items()]


def bounces_by_domain(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox and recipient domain: the period's sends, their counted bounces by kind and
    their bounce rate (never above 100%), worst first."""
    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    sends: list[tuple[int, str, int]] = []
    bounces: list[tuple[int, str, str, int]] = []
    for ids, since, until in _windows(boxes, days, at):
        got = ledger.domain_counts(ids, since, until, at)
        sends += got[0]
        bounces += got[1]
    frame = pd.DataFrame(sends, columns=["mailbox_id", "domain", "sends"])
    kinds = pd.DataFrame(bounces, columns=["mailbox_id", "domain", "kind", "n"]).pivot_table(
        index=["mailbox_id", "domain"], columns="kind", values="n", aggfunc="sum", fill_value=0
    )
    kinds = kinds.reindex(columns=list(BOUNCE_KINDS), fill_value=0).reset_index()
    frame = frame.merge(kinds, on=["mailbox_id", "domain"], how="outer").fillna(0)
    for c in ("sends", *BOUNCE_KINDS):
        frame[c] = frame[c].astype("int64")
    frame.insert(0, "mailbox", frame.pop("mailbox_id").map(names))
    frame["bounce_rate"] = (frame.hard + frame.soft + frame.block) / frame.sends.where(
        frame.sends > 0
    )
    return frame.sort_values(
        ["mailbox", "bounce_rate", "sends"], ascending=[True, False, False]
    ).reset_index(drop=True)


def bounces_by_kind(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per mailbox, local day, bounce kind and enhanced status: how many bounces. A counted
    one of a kind this version lacks is under the kind the rates count it as (:func:`rate_kind`)."""
    boxes = mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    rows = [
        (m, d, (rate_kind(k) or k) if c else k, s, c, n)
        for ids, since, until in _windows(boxes, days, at)
        for m, d, k, s, c, n in ledger.bounces_by_kind(ids, since, until, at)
    ]
    keys = ["mailbox_id", "date", "kind", "status", "counted"]
    frame = pd.DataFrame(rows, columns=[*keys, "bounces"])
    if len(frame) > len(frame.drop_duplicates(keys)):  # a kind this version lacks joined one
        frame = frame.groupby(keys, as_index=False, sort=False).agg(bounces=("bounces", "sum"))
    frame = frame.astype({"counted": bool, "bounces": np.int64})  # typed even when empty
    frame.insert(0, "mailbox", frame.pop("mailbox_id").map(names))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def bounces_by_reason(
    ledger: Ledger,
    addresses: Sequence[str] = (),
    days: int | None = None,
    at: dt.datetime | None = None,
    boxes: Sequence[MailboxRow] | None = None,
) -> pd.DataFrame:
    """Per mailbox, local day, kind and reason (:func:`warmup.bounces.reasons.recorded_reason`,
    from the text each bounce was recorded with): how many bounces, ``counted`` or not,
    ``matched`` to a send of the mailbox or not. ``boxes``: the mailboxes' rows, when the
    caller has them (``addresses`` is then unused)."""
    from warmup.bounces.classify import recorded_reason

    boxes = list(boxes) if boxes is not None else mailboxes(ledger, addresses)
    names = {b.id: b.address for b in boxes}
    reason = functools.lru_cache(maxsize=4096)(recorded_reason)
    rows = [
        (names[m], d, k, reason(k, s, r, g), c, x, n)
        for ids, since, until in _windows(boxes, days, at)
        for m, d, k, s, r, g, c, x, n in ledger.bounce_texts(ids, since, until, at)
    ]
    keys = ["mailbox", "date", "kind", "reason", "counted", "matched"]
    frame = pd.DataFrame(rows, columns=[*keys, "bounces"])
    out = frame.groupby(keys, as_index=False, sort=True).agg(bounces=("bounces", "sum"))
    out["date"] = pd.to_datetime(out["date"])
    return out


def reasons_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`bounces_by_reason` over its whole period: per mailbox, reason, kind, whether
    counted and whether matched to a send, most bounces first."""
    keys = ["mailbox", "reason", "kind", "counted", "matched"]
    out = frame.groupby(keys, as_index=False).agg(bounces=("bounces", "sum"))
    return out.sort_values(
        ["mailbox", "counted", "bounces", "reason", "matched"],
        ascending=[True, False, False, True, False],
    ).reset_index(drop=True)


def suppressions(
    ledger: Ledger, timezone: str = "UTC", at: dt.datetime | None = None
) -> pd.DataFrame:
    """The do-not-mail list per local day and kind: the suppressions ``added``, those taken back
    (``removed``, ``warmup suppress remove``), and ``total``, the whole list's size at the end
    of the day (every kind): an address taken back still counts on the days it was on the list.

    A suppression's day, and its removal's, is the local day of the mailbox whose bounce or
    complaint caused it (as every other report); one with no mailbox (added by hand) falls on
    its day in ``timezone``. ``at``: as of this instant (what was added or taken back after it
    is left out; default: all). A removal made before m029 is not known (its suppression's
    time was not kept): its address counts on no day.
    """
    zones = {b.id: b.timezone for b in ledger.mailboxes()}
    rows = []
    for start, end, kind, box in ledger.suppression_spans():
        if at is not None and start > at:
            continue
        zone = zones.get(box, timezone) if box is not None else timezone
        rows.append((local_day(start, zone), kind, 1, 0))
        if end is not None and (at is None or end <= at):
            rows.append((local_day(end, zone), kind, 0, 1))
    frame = pd.DataFrame(rows, columns=["date", "kind", "added", "removed"])
    frame = frame.groupby(["date", "kind"], as_index=False, sort=True)[["added", "removed"]].sum()
    frame["date"] = pd.to_datetime(frame["date"])
    net = (frame["added"] - frame["removed"]).groupby(frame["date"]).transform("sum")
    # each day's change counted on its first row (of its kinds), summed over the days so far
    frame["total"] = net.where(~frame["date"].duplicated(), 0).cumsum().astype(int)
    return frame


def weekly(frame: pd.DataFrame) -> pd.DataFrame:
    """The daily frame summed per mailbox and local week (Monday to Sunday), with the week's
    bounce rate: of the week's sends, the share that bounced (``sends_bounced``, whenever the
    bounce arrived; ``hard``, ``soft`` and ``block`` are the bounces that arrived in the week);
    ``week`` is the week's last day, a date (no time of day)."""
    cols = ["sent", "hard", "soft", "block", "complaints", "sends_bounced"]
    out = frame.set_index("date").groupby("mailbox")[cols].resample("W-SUN").sum().reset_index()
    out.insert(1, "week", out.pop("date").dt.date)
    out["bounce_rate"] = out.sends_bounced / out.sent.where(out.sent > 0)
    return out


def rollup_mismatches(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Where the ``day_stat`` rollup disagrees with the raw rows ([] when it is sound)."""
    return ledger.rollup_mismatches()


def ahead(
    ledger: Ledger, addresses: Sequence[str] = (), days: int = 14, at: dt.datetime | None = None
) -> pd.DataFrame:
    """Each mailbox's plan for the next ``days`` local days (``warmup plan``): date, warm-up day,
    stage, quota and the cumulative recipients, one row per mailbox and day."""
    at = at or api.now_utc()
    rows = [
        {
            "mailbox": plan.mailbox,
            "date": p.date,
            "warmup_day": p.day,
            "stage": p.stage,
            "quota": p.quota,
            "cumulative": p.cumulative,
        }
        for plan in api.mailbox_plans(ledger, mailboxes(ledger, addresses), days, at)
        for p in plan.days
    ]
    cols = ["mailbox", "date", "warmup_day", "stage", "quota", "cumulative"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
