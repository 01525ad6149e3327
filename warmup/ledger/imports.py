"""Imports: a sending log's rows written in batches (a mixin of :class:`warmup.ledger.Ledger`).

An import writes what :meth:`Records.record` would write row by row — sends idempotent on
their keys, each row's bounce answering its send, counted once per send, suppressing a hard
bounce's or complaint's address, the rollup and the mailbox's ``rev`` kept with them — but a
batch of every mailbox at once in a fixed handful of statements: one lookup of the keys
present, one ``executemany`` of the new sends, one lookup of the bounces present and of the
sends already answered (and, when some bounces are present, one of what they say: a row's
other bounce of a send is counted as skipped), one insert of the new bounces, one of the
suppressions, one rollup upsert per (mailbox, day), one ``rev`` bump. Row by row, 603 bounces
of a 50,000-row log cost a quarter of its write time (bench/RESULTS.md). The two lookups and
the sends' insert are the backends' own driver statements (:meth:`_present_keys`,
:meth:`_insert_sends`); SQLite inserts the sends first and looks their keys up only when some
were present already (:meth:`_insert_new_sends`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError
from warmup.ledger.matching import send_day_of
from warmup.ledger.outbox_targets import release_waiting
from warmup.ledger.schema import (
    BOUNCE,
    BOUNCE_KINDS,
    COUNT_COLUMNS,
    DAY_STAT,
    MAILBOX,
    SEND,
    SUPPRESSION,
    TIMELINE_CACHE,
    WALK_MEMO,
)
from warmup.ledger.values import (
    BounceIn,
    EventIn,
    MailboxExists,
    MailboxNotFound,
    MailboxRow,
    Recorded,
    SendIn,
    from_utc_text,
    local_day,
    other_message_id,
    utc,
    zone,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

_B = sa.bindparam
_T = TypeVar("_T")
_MINUTE = dt.timedelta(minutes=1)
_SECOND = dt.timedelta(seconds=1)
_MICROSECOND = dt.timedelta(microseconds=1)
_IMPORT_STATEMENTS: dict[tuple[type, str], Any] = {}
# (mailbox id, recipient, message id, at, day, outcome, source, key, settled_at): what
# _insert_sends takes, instants aware UTC.
SendRow = tuple[int, str, str | None, dt.datetime, dt.date, str, str, str, dt.datetime | None]
# A row of an import, as import_batch takes it (checked already; plain tuples of text: they
# are built, and spooled between an import's two passes, in a fraction of the time of
# SendIn/BounceIn and datetimes), instants as utc_text writes them:
#   send:  (mailbox, recipient, sent_at, message_id, bounce_kind, bounce_status, bounced_at),
#          the three bounce fields None without a bounce;
#   event: (mailbox, None, at, kind, reason)
ImportRow = tuple[Any, ...]
# The columns of an import's bounce, as _insert_bounces takes them (instants aware UTC).
BOUNCE_COLUMNS = ("mailbox_id", "send_id", "recipient", "kind", "status", "reply", "diagnostic",
                  "message_id", "at", "day", "source", "key", "counted")  # fmt: skip


class Imports:
    """Batched imports (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def real_today(self, tz: str) -> dt.date: ...
        def _lock_present(self, conn: Connection, boxes: Iterable[MailboxRow]) -> None: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def _bump_domains(
            self, conn: Connection, sends: Iterable[tuple[int, dt.date, str]], by: int = 1
        ) -> None: ...
        def _mailbox(self, conn: Connection, address: str) -> MailboxRow: ...
        def _event(self, conn: Connection, box: MailboxRow, e: EventIn, once: bool) -> bool: ...
        def add_mailbox(
            self,
            address: str,
            provider: str,
            timezone: str,
            policy: str = ...,
            *,
            conn: Connection | None = None,
            **settings: Any,
        ) -> MailboxRow: ...

    def import_done(self) -> None:
        """After an import's last batch: what the backend does once (SQLite: a checkpoint of
        the WAL its batches left); nothing here."""

    def import_batch(
        self,
        rows: Sequence[ImportRow],
        register: dict[str, dict[str, Any]],
        boxes: dict[str, MailboxRow] | None = None,
        before: dict[int, int] | None = None,
        committing: Callable[[], object] | None = None,
    ) -> Recorded:
        """One short transaction of an import: its rows (:data:`ImportRow`), and the mailboxes to register first (address -> :meth:`add_mailbox` arguments) if the ledger
        does not know them yet. ``boxes``: the mailboxes an earlier batch of the same import
        found or registered (filled here), so each is looked up once per import. ``before``:
        mailbox id -> the highest send id it had before the import's first batch of it (filled
        here): a row without a Message-ID is matched by a time of another precision only with
        the sends present before the import (:meth:`_present_coarsely`). ``committing``: called
        once the rows are written, before the COMMIT (the import holds stops from there until
        it has counted the batch)."""
        known = {} if boxes is None else boxes
        # Another host registered one of the file's mailboxes after this batch looked for it
        # (two imports of one log at once): the batch was rolled back; once more, with the
        # mailbox the other host registered, as for one known before the import. Each lost
        # race finds one more of the batch's mailboxes registered: as many tries as it has.
        tries = len(set(map(itemgetter(0), rows))) + 1
        for _ in range(tries - 1):
            try:
                return self._import_batch(rows, register, known, before, committing)
            except MailboxExists:
                continue
        return self._import_batch(rows, register, known, before, committing)

    def _import_batch(
        self,
        rows: Sequence[ImportRow],
        register: dict[str, dict[str, Any]],
        known: dict[str, MailboxRow],
        before: dict[int, int] | None,
        committing: Callable[[], object] | None = None,
    ) -> Recorded:

        def body(conn: Connection) -> tuple[Recorded, dict[str, MailboxRow]]:
            out = Recorded()
            mine: dict[str, MailboxRow] = {}
            for address in dict.fromkeys(map(itemgetter(0), rows)):
                box = known.get(address)
                if box is None:
                    try:
                        box = self._mailbox(conn, address)
                    except MailboxNotFound:
                        if address not in register:
                            raise
                        box = self.add_mailbox(address, conn=conn, **register[address])
                        out.mailboxes += 1
                mine[address] = box
            self._lock_present(conn, mine.values())  # read by the check, or a batch before
            self._import_rows(conn, mine, rows, out, {} if before is None else before)
            if committing is not None:
                committing()
            return out, mine

        # Cut before its COMMIT, the batch is written again on a new connection; cut in it, the
        # server is asked whether it landed (before: exit 75, and the import run again).
        out, mine = self.write_once(body)
        known.update(mine)  # only once committed: a batch rolled back registered nothing
        return out

    def _import_rows(
        self,
        conn: Connection,
        boxes: dict[str, MailboxRow],
        rows: Sequence[ImportRow],
        out: Recorded,
        before: dict[int, int],
    ) -> None:
        """Write a batch's rows (``boxes`` locked): see the module docstring."""
        sends: dict[tuple[int, str], SendRow] = {}
        bounced: dict[str, list[tuple[tuple[int, str], SendIn]]] = {a: [] for a in boxes}
        events: list[tuple[MailboxRow, EventIn]] = []
        ids = {a: b.id for a, b in boxes.items()}
        zones = {a: zone(b.timezone) for a, b in boxes.items()}
        # Per mailbox, UTC hour "YYYY-MM-DDTHH" -> the local day of every instant of that hour,
        # or None where the hour straddles a local midnight or an offset change: a batch's rows
        # share a few hours, and astimezone(...).date() was a fifth of the loop's time. The
        # hours of a zone are shared by its mailboxes.
        by_zone: dict[Any, dict[str, dt.date | None]] = {}
        days = {a: by_zone.setdefault(tz, {}) for a, tz in zones.items()}
        fromisoformat = dt.datetime.fromisoformat
        pairs: list[tuple[int, str]] = []  # each send row's, in order (to count those present)
        for row in rows:
            if row[1] is None:
                address, _, text, mid, kind = row
                events.append((boxes[address], EventIn(mid, from_utc_text(text), kind)))
                continue
            address, rcpt, text, mid, kind, _, _ = row
            key = f"{mid}|{rcpt}" if mid else f"@{text}|{rcpt}"  # send_key, inlined (every row)
            pair = (ids[address], key)
            if pair not in sends:
                other = (pair[0], f"{other_message_id(mid)}|{rcpt}") if mid else None
                if other and other in sends:  # the same message, its id written the other way
                    pair = other
                else:
                    at = fromisoformat(f"{text}+00:00")  # from_utc_text, inlined
                    hours = days[address]
                    hour = text[:13]
                    day = hours[hour] if hour in hours else _hour_day(hours, zones[address], hour)
                    if day is None:  # local_day, inlined
                        day = at.astimezone(zones[address]).date()
                    sends[pair] = (pair[0], rcpt, mid, at, day, "sent", "import", key, at)
            pairs.append(pair)
            if kind is not None:
                bounced[address].append((pair, _bounced(row, key)))
        elsewhere = self._present_otherwise(conn, sends)
        exact, coarse = self._present_coarsely(conn, sends, before, ids.values())
        present, fresh = self._insert_new_sends(conn, sends)
        present.update(elsewhere)
        present.update(exact)
        present.update((pair, id_) for pair, (id_, _) in coarse.items())
        counts: dict[tuple[int, dt.date], dict[str, int]] = {}
        # Counted per (mailbox, day) first, not through a dict of zeros built for every row.
        for box_day, n in Counter(map(_BOX_DAY, fresh)).items():
            per = counts[box_day] = dict.fromkeys(COUNT_COLUMNS, 0)
            per["sent"] = n
        self._bump_domains(conn, ((m, day, r) for m, r, _, _, day, *_ in fresh))
        out.sends += len(fresh)
        # Rows in the ledger before (an import run again): said, not only left out. A row
        # repeating another of the same import is neither new nor one of these.
        if present:  # a first import finds none: no pass over the rows
            out.already += sum(1 for pair in pairs if pair in present)
        if any(bounced.values()):
            self._import_bounces(conn, boxes, bounced, present, counts, out, coarse)
        self._bump_days(conn, counts)
        self._touch_days(conn, boxes, counts)
        resumed = []
        for box, e in events:
            new = self._event(conn, box, e, once=True)
            out.events += new
            out.already += not new
            if new and e.kind == "resume":
                resumed.append(box.id)
        # What the worker put back until a pause's end may go now ('mailbox resume' does so)
        release_waiting(conn, resumed, dt.datetime.now(dt.UTC))

    def _present_otherwise(
        self, conn: Connection, sends: dict[tuple[int, str], SendRow]
    ) -> dict[tuple[int, str], int]:
        """The sends of the batch present under their Message-ID written the other way (with
        or without its angle brackets: the gate stores ``<id>``, logs often say ``id``), taken
        out of ``sends``: their ids, by the batch's pair. A lookup only if some have an id."""
        other = {
            pair: (pair[0], f"{other_message_id(r[2])}|{r[1]}") for pair, r in sends.items() if r[2]
        }
        if not other:
            return {}
        found = self._present_keys(conn, "send", list(other.values()))
        got = {pair: found[alt] for pair, alt in other.items() if alt in found}
        for pair in got:
            del sends[pair]
        return got

    def _present_coarsely(
        self,
        conn: Connection,
        sends: dict[tuple[int, str], SendRow],
        before: dict[int, int],
        mailboxes: Iterable[int],
    ) -> tuple[dict[tuple[int, str], int], dict[tuple[int, str], tuple[int, str]]]:
        """The sends of the batch without a Message-ID present under a time of another
        precision, taken out of ``sends``: their ids and keys, by the batch's pair; and, found
        first, those of its mailboxes present already under their own keys (a file imported
        again), taken out too: their ids.

        Such a send is keyed on its time, and a log opened and saved in Excel comes back with
        its times cut or rounded to the minute or the second (``09:14:27.318`` as ``09:14`` or
        ``09:14:27``): each row was a new send, the mailbox's history counted twice. A row
        matches a send present before the import (``before``) of its mailbox and recipient,
        without a Message-ID either, less than one unit of the coarser of their two precisions
        apart, each present send matched once, the nearest first. A time's precision is read
        off its digits: a fraction of a second, else seconds, else minutes. A send of the
        import itself is never matched so (two rows of one file are the same send only with
        the same key, as before). The keys' lookup, then one range query per mailbox of the
        batch for the rows it did not find, on ``ix_send_mailbox_at``; neither for a mailbox
        without sends before the import (its first import: the rows are not even looked at),
        no range query when every row was found (a file imported again)."""
        for m in mailboxes:
            if m not in before:
                before[m] = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(SEND.c.id), 0)).where(
                        SEND.c.mailbox_id == m
                    )
                ).scalar_one()
        if not any(before.values()):
            return {}, {}
        spans: dict[int, tuple[dt.datetime, dt.datetime]] = {}
        for r in sends.values():
            if r[2] is None and before[r[0]]:
                lo, hi = spans.get(r[0], (r[3], r[3]))
                spans[r[0]] = (min(lo, r[3]), max(hi, r[3]))
        # Only mailboxes with a send of before the import within a minute of the batch's times:
        # a log of another stretch of time costs one look per mailbox, not a lookup per row.
        overlap = {
            m
            for m, (lo, hi) in spans.items()
            if conn.execute(
                sa.select(SEND.c.id)
                .where(
                    SEND.c.mailbox_id == m,
                    SEND.c.at > _plain(lo) - _MINUTE,
                    SEND.c.at < _plain(hi) + _MINUTE,
                    SEND.c.id <= before[m],
                )
                .limit(1)
            ).first()
        }
        if not overlap:
            return {}, {}
        timed = [pair for pair, r in sends.items() if r[2] is None and pair[0] in overlap]
        exact = self._present_keys(conn, "send", timed)
        by_box: dict[int, list[tuple[tuple[int, str], SendRow]]] = {}
        for pair in timed:
            if pair in exact:
                del sends[pair]
            else:
                by_box.setdefault(pair[0], []).append((pair, sends[pair]))
        taken = set(exact.values())  # a send present under a row's key is that row's
        got: dict[tuple[int, str], tuple[int, str]] = {}
        for m, items in by_box.items():
            upto = before[m]
            # pendulum's instants (times read without an offset) lose their zone in arithmetic
            ats = [_plain(r[3]) for _, r in items]
            stored: dict[str, list[tuple[dt.datetime, int, str]]] = {}
            for id_, rcpt, at, key in conn.execute(
                sa.select(SEND.c.id, SEND.c.recipient, SEND.c.at, SEND.c.key).where(
                    SEND.c.mailbox_id == m,
                    SEND.c.at > min(ats) - _MINUTE,
                    SEND.c.at < max(ats) + _MINUTE,
                    SEND.c.message_id.is_(None),
                    SEND.c.id <= upto,
                )
            ):
                stored.setdefault(rcpt, []).append((at, id_, key))
            if not stored:
                continue
            near = []
            for (pair, r), mine in zip(items, ats, strict=True):
                for at, id_, key in stored.get(r[1], ()):
                    apart = abs(at - mine)
                    if apart and apart < max(_precision(at), _precision(mine)):
                        near.append((apart, id_, key, pair))
            near.sort()
            for _, id_, key, pair in near:
                if id_ not in taken and pair not in got:
                    taken.add(id_)
                    got[pair] = (id_, key)
        for pair in got:
            del sends[pair]
        return exact, got

    def _import_bounces(
        self,
        conn: Connection,
        boxes: dict[str, MailboxRow],
        bounced: dict[str, list[tuple[tuple[int, str], SendIn]]],
        present: dict[tuple[int, str], int],
        counts: dict[tuple[int, dt.date], dict[str, int]],
        out: Recorded,
        coarse: dict[tuple[int, str], tuple[int, str]],
    ) -> None:
        """The batch's bounces, each answering its row's send, in the order the row-by-row path
        takes them (mailbox by mailbox, then the file's order): the first suppression of an
        address names its mailbox and reason. The bounce of a row matched to its send by a time
        of another precision (``coarse``) is also looked for under the key the send's own time
        gives it: the same bounce, imported before from the other log."""
        linked = [pair for items in bounced.values() for pair, _ in items]
        ids = {
            **present,
            **self._present_keys(conn, "send", [p for p in linked if p not in present]),
        }
        keys = {  # each bounce's key, and the same with its Message-ID written the other way
            # (or, matched by another precision, the key of the send's own time)
            (p[0], s.bounce.key): (p[0], f"import:{other_message_id(s.message_id)}|{s.recipient}")
            if s.message_id and s.bounce.key.startswith("import:")
            else (p[0], f"import:{coarse[p][1]}")
            if p in coarse and s.bounce.key.startswith("import:")
            else None
            for items in bounced.values()
            for p, s in items
            if s.bounce
        }
        done = self._present_keys(conn, "bounce", [*keys, *filter(None, keys.values())])
        # What each present (or, below, earlier) bounce says: a row's bounce that says
        # otherwise is a second bounce of its send, skipped and counted, not dropped unsaid
        said = self._bounces_said(conn, done)
        answered = {
            (sid, kind == "complaint")
            for sid, kind in conn.execute(
                sa.select(BOUNCE.c.send_id, BOUNCE.c.kind).where(
                    BOUNCE.c.counted, BOUNCE.c.send_id.in_({ids[p] for p in linked})
                )
            )
        }
        inserts: list[dict[str, Any]] = []
        suppress: list[dict[str, Any]] = []
        for address, items in bounced.items():
            box = boxes[address]
            for pair, s in items:
                b = s.bounce
                assert b is not None
                if b.kind not in BOUNCE_KINDS:
                    raise DataError(
                        f"bounce kind {b.kind!r}: expected one of {', '.join(BOUNCE_KINDS)}"
                    )
                other = keys[(box.id, b.key)]
                mine = (b.kind, b.status, utc(b.at))
                if (box.id, b.key) in done or other in done:
                    first = said.get((box.id, b.key)) or (said.get(other) if other else None)
                    if first is not None and not _same_bounce(first, mine):
                        out.skipped += 1
                    continue
                done[(box.id, b.key)] = 0
                said[(box.id, b.key)] = mine
                if other:
                    done[other] = 0
                sid = ids[pair]
                counted = (sid, b.kind == "complaint") not in answered
                at = mine[2]
                day = local_day(at, box.timezone)
                inserts.append(
                    {"mailbox_id": box.id, "send_id": sid, "recipient": b.recipient,
                     "kind": b.kind, "status": b.status, "reply": b.reply,
                     "diagnostic": b.diagnostic, "message_id": b.message_id, "at": at,
                     "day": day, "source": b.source, "key": b.key, "counted": counted}
                )  # fmt: skip
                out.bounces += 1
                out.matched += 1
                if counted:
                    answered.add((sid, b.kind == "complaint"))
                    out.counted += 1
                    per = counts.setdefault((box.id, day), dict.fromkeys(COUNT_COLUMNS, 0))
                    per[b.kind] += 1
                if b.kind in ("hard", "complaint") and b.recipient:
                    suppress.append(
                        {"address": b.recipient, "kind": b.kind,
                         "reason": f"{b.kind} bounce {b.status or ''}".strip(),
                         "mailbox_id": box.id, "created_at": at}
                    )  # fmt: skip
        if inserts:
            self._insert_bounces(conn, inserts)
        if suppress:
            conn.execute(self._import_statement("suppress"), suppress)

    def _bounces_said(
        self, conn: Connection, present: dict[tuple[int, str], int]
    ) -> dict[tuple[int, str], tuple[str, str | None, dt.datetime]]:
        """The kind, status and time of the bounces ``present`` names (by (mailbox id, key)):
        one lookup, only when an import meets bounces it has (a file imported again)."""
        if not present:
            return {}
        by_id = {i: pair for pair, i in present.items()}
        rows = conn.execute(
            sa.select(BOUNCE.c.id, BOUNCE.c.kind, BOUNCE.c.status, BOUNCE.c.at).where(
                BOUNCE.c.id.in_(list(by_id))
            )
        )
        return {by_id[i]: (kind, status, utc(at)) for i, kind, status, at in rows}

    def _bump_days(
        self, conn: Connection, counts: dict[tuple[int, dt.date], dict[str, int]]
    ) -> None:
        """Add a batch's counts to the rollup: one row per (mailbox, day)."""
        if counts:
            conn.execute(
                self._import_statement("bumps"),
                [{"mid": m, "day": d, **per} for (m, d), per in counts.items()],
            )

    def _touch_days(
        self,
        conn: Connection,
        boxes: dict[str, MailboxRow],
        counts: dict[tuple[int, dt.date], dict[str, int]],
    ) -> None:
        """Bump ``rev`` of the mailboxes whose past the batch changed (memos of it are stale):
        :meth:`Records._touch` for a whole batch, one statement."""
        first: dict[int, dt.date] = {}
        for m, d in counts:
            if m not in first or d < first[m]:
                first[m] = d
        txn = conn.get_transaction()
        seen: tuple[object, dict[int, dt.date]] | None = conn.info.get("warmup.touched")
        if seen is None or seen[0] is not txn:
            seen = conn.info["warmup.touched"] = (txn, {})
        ids: list[int] = []
        today_on: list[int] = []
        for b in boxes.values():
            if b.id in first and b.id not in seen[1]:
                (ids if first[b.id] < self.real_today(b.timezone) else today_on).append(b.id)
        ids.sort()
        for m in today_on:  # memos that closed the day already: a clock ahead kept them
            for memo in (WALK_MEMO, TIMELINE_CACHE):
                conn.execute(memo.delete().where(memo.c.mailbox_id == m, memo.c.upto > first[m]))
        if ids:
            # their memos are not carried (an import ends by keeping new ones): nothing left
            # for a later write of this transaction to drop
            seen[1].update(dict.fromkeys(ids, dt.date.min))
            conn.execute(
                MAILBOX.update().where(MAILBOX.c.id.in_(ids)).values(rev=MAILBOX.c.rev + 1)
            )

    # -- statements ----------------------------------------------------------------------------

    def _insert_new_sends(
        self, conn: Connection, sends: dict[tuple[int, str], SendRow]
    ) -> tuple[dict[tuple[int, str], int], list[SendRow]]:
        """Insert those of ``sends`` (by (mailbox id, key)) whose keys are not present (their
        mailboxes locked): the ids of those present, and the rows inserted, in order."""
        present = self._present_keys(conn, "send", list(sends))
        fresh = [r for pair, r in sends.items() if pair not in present]
        if fresh:
            self._insert_sends(conn, fresh)
        return present, fresh

    def _present_keys(
        self, conn: Connection, table: str, pairs: list[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """The ids of the rows of ``table`` (``send`` or ``bounce``) with these (mailbox id,
        key) pairs, those present. The backends override it with their driver's own query."""
        if not pairs:
            return {}
        t = BOUNCE if table == "bounce" else SEND
        found = conn.execute(
            sa.select(t.c.mailbox_id, t.c.key, t.c.id).where(
                sa.tuple_(t.c.mailbox_id, t.c.key).in_(pairs)
            )
        )
        return {(m, k): i for m, k, i in found}

    def _insert_sends(self, conn: Connection, rows: list[SendRow]) -> None:
        """Insert sends made elsewhere (a key already present is skipped). The backends
        override it with their driver's own executemany."""
        columns = ("mid", "recipient", "message_id", "at", "day", "outcome", "source", "key",
                   "settled_at")  # fmt: skip
        conn.execute(self._import_statement("sends"), [dict(zip(columns, r)) for r in rows])

    def _insert_bounces(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert an import batch's bounces (by :data:`BOUNCE_COLUMNS`; a key already present
        is skipped). SQLite overrides it with its driver's own executemany."""
        conn.execute(self._import_statement("bounces"), rows)

    def _import_statement(self, name: str) -> Any:
        key = (type(self), name)
        stmt = _IMPORT_STATEMENTS.get(key)
        if stmt is None:
            stmt = _IMPORT_STATEMENTS[key] = getattr(self, f"_build_import_{name}")()
        return stmt

    def _build_import_sends(self) -> Any:
        return (
            self._insert(SEND)
            .values(
                mailbox_id=_B("mid"),
                **{
                    c: _B(c)
                    for c in (
                        "recipient",
                        "message_id",
                        "at",
                        "day",
                        "outcome",
                        "source",
                        "key",
                        "settled_at",
                    )
                },  # fmt: skip
            )
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
        )

    def _build_import_bounces(self) -> Any:
        return (
            self._insert(BOUNCE)
            .values(**{c: _B(c) for c in BOUNCE_COLUMNS}, send_day=send_day_of(_B("send_id")))
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
        )

    def _build_import_suppress(self) -> Any:
        columns = ("address", "kind", "reason", "mailbox_id", "created_at")
        return (
            self._insert(SUPPRESSION)
            .values(**{c: _B(c) for c in columns})
            .on_conflict_do_nothing(index_elements=["address"])
        )

    def _build_import_bumps(self) -> Any:
        ins = self._insert(DAY_STAT).values(
            mailbox_id=_B("mid"), day=_B("day"), **{c: _B(c) for c in COUNT_COLUMNS}
        )
        return ins.on_conflict_do_update(
            index_elements=["mailbox_id", "day"],
            set_={c: DAY_STAT.c[c] + ins.excluded[c] for c in COUNT_COLUMNS},
        )


def _bounced(row: ImportRow, key: str) -> SendIn:
    """An import row with a bounce (its send's key ``key``) as :meth:`_import_bounces` takes it."""
    _, rcpt, text, mid, kind, status, bounced_at = row
    bounce = BounceIn(
        rcpt,
        kind,
        from_utc_text(bounced_at),
        f"import:{key}",
        status=status,
        message_id=mid,
        source="import",
    )
    return SendIn(rcpt, from_utc_text(text), mid, "import", bounce)


def _same_bounce(
    a: tuple[str, str | None, dt.datetime], b: tuple[str, str | None, dt.datetime]
) -> bool:
    """Whether two bounces of one send, (kind, status, time), are one: the same kind and
    status at the same time, to the coarser of the two times' precisions (a log saved by Excel
    comes back with its times cut to the minute or second)."""
    if a[:2] != b[:2]:
        return False
    apart = abs(a[2] - b[2])
    return not apart or apart < max(_precision(a[2]), _precision(b[2]))


def _hour_day(days: dict[str, dt.date | None], tz: Any, hour: str) -> dt.date | None:
    """The local day (in zone ``tz``) of every instant of the UTC hour ``hour``
    (``YYYY-MM-DDTHH``, as :func:`utc_text` begins), kept in ``days`` (that zone's); None if
    the hour's instants fall on two local days (a zone whose offset is not whole hours) or its
    offset changes within it: each of its instants is then turned into its zone."""
    first = from_utc_text(f"{hour}:00:00.000000").astimezone(tz)
    last = from_utc_text(f"{hour}:59:59.999999").astimezone(tz)
    same = first.date() == last.date() and first.utcoffset() == last.utcoffset()
    day = days[hour] = first.date() if same else None
    return day


_BOX_DAY = itemgetter(0, 4)  # a send row's (mailbox id, day)


def _precision(at: dt.datetime) -> dt.timedelta:
    """The unit a time was written to, as its digits tell: a time on a whole minute may have
    been cut to it (Excel's ``yyyy-mm-dd hh:mm``), one on a whole second to the second."""
    if at.microsecond:
        return _MICROSECOND
    return _SECOND if at.second else _MINUTE


def _plain(at: dt.datetime) -> dt.datetime:
    """An aware UTC instant as a plain :class:`datetime.datetime` (not a subclass's)."""
    if type(at) is dt.datetime:
        return at
    return dt.datetime(at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond,
                       tzinfo=dt.UTC)  # fmt: skip
