"""Bounce sync over IMAP: read-only, incremental, idempotent, resumable.

Each folder is opened read-only (EXAMINE) and fetched with ``BODY.PEEK[]``, so nothing is marked
seen and nothing is deleted (``move_to`` is the one exception, on request). Only the first
:data:`READ_BYTES` of a message are fetched, a few messages at a time, so a 20 MB report costs
no more memory than a small one (one whose first part names no failed recipient is asked for
again part by part: :func:`_by_parts`). A batch is parsed before any transaction is opened, then
written in short transactions (:func:`record_batch`, the one writer). Progress is the folder's
UIDVALIDITY and last UID, saved in the same transaction as the bounces it covers; every bounce
also carries a key made from what its report says (see :mod:`warmup.bounces.identity`), never
from where it was found, which the ledger refuses twice. A dropped connection reconnects and
goes on from the saved UID, and a folder recreated (new UIDVALIDITY) or copied is read again
without recording anything twice. With ``move_to`` the position passes a batch's reports only
once they are moved (MOVE, else COPY and UID EXPUNGE of just those). An explicit ``since``
reads a folder again from that date (the saved position never goes back), and every sync first
links the bounces read before their send was recorded (:meth:`Ledger.match_late`).

The connection, its login and its bounds are :mod:`warmup.bounces.imapconn`'s; folder names,
their checks against the server and the moving of reports, :mod:`warmup.bounces.imapfolders`'s.
This module holds the sync itself: the position in each folder, the fetch, the reading of each
report and its recording.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import functools
import imaplib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from warmup.bounces import formats
from warmup.bounces.identity import bounce_key, read_report, report_key
from warmup.bounces.imapconn import MIN_RATE as MIN_RATE
from warmup.bounces.imapconn import (
    READ_BYTES,
    Flooded,
    connect,
    drop,
    every_host_flooded,
    logout,
    lost,
    number,
    reason,
    searched,
    server_text,
    whole_messages,
)
from warmup.bounces.imapconn import LoginFailed as LoginFailed
from warmup.bounces.imapfolders import check_folder as check_folder
from warmup.bounces.imapfolders import (
    check_move_to,
    check_readable,
    gone,
    move,
    quote,
    same_folder,
)
from warmup.bounces.message import read_in_part
from warmup.bounces.parse import capped, parse_bounces
from warmup.bounces.record import Bounce
from warmup.errors import (
    LEDGER_FAULTS,
    InvalidFieldData,
    Unavailable,
    UsageError,
    WarmupError,
    restated,
)
from warmup.instants import EARLIEST
from warmup.ledger import BounceIn, Ledger, MailboxRow
from warmup.ledger.reads import DELAYED, NOTICE
from warmup.ledger.values import PER_SEND_KEPT as PER_SEND_KEPT
from warmup.ledger.values import UNMATCHED_KEPT as UNMATCHED_KEPT
from warmup.ledger.values import day_start, zone
from warmup.words import printable, scrubbed

if TYPE_CHECKING:
    from warmup.notify import Notifier
    from warmup.oauth import Bearer

BATCH = 50  # messages per round of fetch, parse, record
FETCH_BYTES = 4 * READ_BYTES  # at most this much message data in memory at once
WRITE_BOUNCES = 50  # bounces per write transaction (~0.15 s on SQLite): the lock stays short
# A bounce for an address the mailbox never mailed costs a fifth of one its sends may answer
# (one look-up: no send can): a transaction takes five of them for one. A stranger's report of
# 1,000 such addresses was 20 transactions and 3 s of pauses (WRITE_PAUSE) to write.
STRANGERS = 5
# Between two write transactions in a row. SQLite's lock is not fair: a send waiting for it
# retries every 100 ms and would miss the instant between back-to-back transactions (a report
# listing 500 recipients kept a writer out for 1.1 s). The pause lets it in.
WRITE_PAUSE = 0.15
RETRIES = 3
# IMAP's date-month (RFC 3501): English whatever the locale (strftime's %b is the locale's).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_ARRIVED = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"'
)


@dataclass
class SyncReport:
    scanned: int = 0
    bounces: int = 0
    matched: int = 0
    unmatched: list[str] = field(default_factory=list)
    # Of the new bounces, the delay warnings (RFC 3464 Action: delayed): kept, never counted.
    delayed: int = 0
    # Of the new bounces, the notices (ARF auth-failure, not-spam: feedback that is no
    # complaint): kept, never counted, never suppressing.
    notices: int = 0
    moved: int = 0
    # Bounces read by an earlier sync, linked now to the sends recorded since.
    linked: int = 0
    host: str | None = None
    failed_hosts: list[tuple[str, str]] = field(default_factory=list)
    reconnects: int = 0
    # Reports larger than what is read whose first part named no failed recipient.
    partial: list[str] = field(default_factory=list)
    # Reports listing more than MAX_RECIPIENTS failed recipients: the first ones recorded.
    capped: list[str] = field(default_factory=list)
    # Bounces read and not kept: counting nothing, past what the ledger keeps of them
    # (UNMATCHED_KEPT answering no send, PER_SEND_KEPT of one send): a flood of forged reports.
    not_kept: int = 0

    def new_text(self) -> str:
        """ "3 new bounces, 2 matched to their sends", "1 new bounce, matched to its send"."""
        from warmup.words import plural

        if self.bounces == 1:
            return f"1 new bounce, {'matched to its send' if self.matched else 'no send matched'}"
        return f"{plural(self.bounces, 'new bounce')}, {self.matched} matched to their sends"

    def not_kept_text(self) -> str:
        """The line for :attr:`not_kept` (said by 'bounces sync' and by the worker's syncs)."""
        from warmup.words import plural

        return (
            f"Not kept: {plural(self.not_kept, 'bounce')} counting nothing, past the "
            f"{UNMATCHED_KEPT:,} answering no send a mailbox keeps or the {PER_SEND_KEPT} of "
            f"one send (a flood of forged reports?): nothing of them counts or suppresses"
        )


def check_since(since: dt.date | None, box: MailboxRow, now: dt.datetime) -> None:
    """Refuse a ``--since`` after the mailbox's today (exit 65, as any time out of bounds):
    IMAP's SINCE finds nothing dated then, and a sync that read nothing and said so looked like
    a mailbox without bounces."""
    if since is None:
        return
    today = now.astimezone(zone(box.timezone)).date()
    if since > today:
        raise InvalidFieldData(
            "since",
            "{field} {day} is after today ({today}, {zone}): no report is dated then; give "
            "the date to read from, today or earlier",
            day=since.isoformat(),
            today=today.isoformat(),
            zone=box.timezone,
        )


def sync(
    ledger: Ledger,
    box: MailboxRow,
    *,
    hosts: tuple[str, ...],
    port: int,
    security: str,
    password: str | Bearer,
    folders: list[str],
    since: dt.date | None = None,
    move_to: str | None = None,
    timeout: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    notifier: Notifier | None = None,
) -> SyncReport:
    """Record the bounces in ``folders`` of the mailbox; see the module docstring.

    ``notifier``: told when the bounces recorded pause, hold or step back the mailbox."""
    report = SyncReport()
    for folder in folders:
        check_folder(folder)
    check_since(since, box, now())
    if move_to is not None:
        check_folder(move_to, "--move-to")
        if same_folder(move_to) in {same_folder(f) for f in folders}:
            # A report moved onto a folder being synced comes back under a new UID past the
            # folder's position: read and moved again by every sync, for ever.
            raise UsageError(
                f"--move-to {move_to!r} is a folder being synced; move the reports to "
                f"another folder"
            )

    # Hosts that flooded this sync's connection after its login (Flooded): never asked again
    # by it, since they would only do it again; the others may take over where it was.
    flooded: list[str] = []

    def login() -> imaplib.IMAP4:
        left = tuple(h for h in hosts if h not in flooded)
        if not left:
            raise Unavailable(
                every_host_flooded(
                    report.failed_hosts,
                    port,
                    "nothing of it was recorded, progress is saved: run the sync again later",
                )
            )
        imap, report.host = connect(
            left, port, security, box.address, password, timeout, report.failed_hosts
        )
        return imap

    def check(imap: imaplib.IMAP4) -> None:
        if move_to is not None:
            check_move_to(imap, move_to)
        for folder in folders:  # a typo in the last is refused before the first is recorded
            check_readable(imap, folder)

    imap = login()
    # Folder -> (UIDVALIDITY, last UID) this run has read and recorded: a reconnect goes on from
    # there. The saved position alone is not enough: an explicit ``since`` reads from the
    # folder's start whatever was saved, and started again there at each dropped connection.
    reached: dict[str, tuple[int, int]] = {}

    def retrying(step: Callable[[imaplib.IMAP4], None]) -> None:
        """Run ``step`` on the connection, reconnecting when it drops (progress is saved), and
        on another host when this one floods it (:class:`Flooded`)."""
        nonlocal imap
        drops = 0
        while True:
            try:
                step(imap)
                return
            except Flooded as exc:
                # The host is broken, not the connection: asked again, it would only do it
                # again. Another host (the backup) goes on from where this one was, as after
                # a drop: what was recorded stays recorded, nothing is read twice.
                drop(imap)
                host = report.host or ""
                flooded.append(host)
                report.failed_hosts.append((host, exc.why))
                report.reconnects += 1
                imap = login()
            except (OSError, imaplib.IMAP4.abort) as exc:
                # Dropped, not logged out: a server that stalled would let LOGOUT wait out
                # the timeout again, each time (a sync gave up after twice its timeouts).
                drop(imap)
                if drops == RETRIES:
                    raise Unavailable(
                        f"IMAP connection kept dropping ({lost(exc)}); "
                        f"progress is saved, run the sync again"
                    ) from None
                drops += 1
                report.reconnects += 1
                imap = login()
            except imaplib.IMAP4.error as exc:  # a BAD, or an answer imaplib cannot read
                why = printable(reason(exc))[:200]
                if why.startswith("got more than"):  # imaplib's line limit, not the server's no
                    raise Unavailable(
                        f"an answer of the IMAP server was longer than a line may be ({why}): "
                        f"a folder this large is read in parts only from a server that states "
                        f"its UIDNEXT, and this one does not; move its older mail to another "
                        f"folder, or sync with --since; progress is saved"
                    ) from None
                raise Unavailable(
                    f"the IMAP server refused a command of the sync "
                    f"({why}); progress is saved, run the sync again "
                    f"later (or ask the server's administrator)"
                ) from None

    try:
        retrying(check)
        report.linked = ledger.match_late(box)
        for folder in folders:
            retrying(
                functools.partial(
                    _sync_folder, ledger, box, folder=folder, since=since, move_to=move_to,
                    report=report, progress=progress, now=now, reached=reached,
                )
            )  # fmt: skip
    except WarmupError as exc:
        # The server's words go into the error as it said them (a NO or BAD to EXAMINE,
        # SEARCH, FETCH): one quoting the password or token back ("LOGIN pw is not a
        # command") put the secret on the terminal and in the worker's log. Masked, as the
        # login's own errors and the IDLE watcher's lines are.
        exc.args = (scrubbed(str(exc), password), *exc.args[1:])
        if not isinstance(exc, LEDGER_FAULTS) or not report.bounces:
            raise
        # Each batch is committed: "disk I/O error ..." alone read as nothing recorded.
        raise restated(
            exc,
            f"{exc}; bounces sync of {box.address}: recorded before it: {report.new_text()}; "
            f"the same sync again reads on from there (a bounce recorded is not recorded twice)",
        ) from None
    finally:
        logout(imap)
    if notifier is not None and notifier.active:
        from warmup import api, notify

        at = now()
        notify.observe(ledger, notifier, api.quota_for(ledger, box, at), at)
    return report


def _sync_folder(
    ledger: Ledger,
    box: MailboxRow,
    imap: imaplib.IMAP4,
    folder: str,
    since: dt.date | None,
    move_to: str | None,
    report: SyncReport,
    progress: Callable[[int, int], None] | None,
    now: Callable[[], dt.datetime],
    reached: dict[str, tuple[int, int]],
) -> None:
    typ, selected = imap.select(quote(folder), readonly=move_to is None)
    if typ != "OK":
        # The folder was there when the sync began (STATUS): a NO now is the server's trouble
        # ([UNAVAILABLE], [INUSE]), not a typo; it was exit 64 "check --folder", without why.
        # Unless it is gone since (renamed, deleted): "run the sync again later" then sent a
        # cron job to try again, each next run refused as a --folder the server lacks.
        if gone(imap, folder):
            check_readable(imap, folder)
        raise Unavailable(
            f"IMAP refused to open folder {folder!r} ({server_text(selected)}); progress is "
            f"saved, run the sync again later"
        )
    stated = imap.response("UIDVALIDITY")[1][0]
    if not isinstance(stated, bytes) or not stated.strip().isdigit():
        raise Unavailable(
            f"the IMAP server did not state the UIDVALIDITY of folder {folder!r} when it was "
            f"opened; a sync cannot tell which of its messages it has read without it (ask the "
            f"server's administrator)"
        )
    # 99999999999999999999 was an OverflowError, and one of 5,000 digits a ValueError
    if not 0 < (number(stated.strip()) or 0) <= MAX_UID:
        raise Unavailable(
            f"the IMAP server stated UIDVALIDITY {server_text(stated)} for folder {folder!r}, "
            f"which is no UIDVALIDITY (a number from 1 to {MAX_UID}); nothing was recorded (ask "
            f"the server's administrator)"
        )
    uidvalidity = int(stated.strip())
    asked = since
    last, saved, since = _position(ledger, box, folder, uidvalidity, since)
    been = reached.get(folder)
    if been is not None and been[0] == uidvalidity:  # read by this run before a reconnect
        last = max(last, been[1])
    uidnext = _number(imap.response("UIDNEXT"))
    if uidnext is not None and not 0 < uidnext <= MAX_UID + 1:
        # No UIDNEXT a UID can reach: as if unstated. Taken as said, a first sync saved it as
        # its position (an OverflowError past 2^63), and windowed a search up to it.
        uidnext = None
    exists = _number(selected)
    # --since is a day of the mailbox's zone, but SEARCH SINCE compares the day each message
    # arrived in the server's (RFC 3501): a server west of the mailbox passed over what came
    # early in that day. Asked two days before (zones are at most 26 h apart), the messages that
    # came before the day began in the mailbox's zone are left out once their arrival is read.
    start = day_start(asked, box.timezone) if asked is not None else None
    searched = asked - dt.timedelta(days=2) if asked is not None else since
    uids = _search(imap, folder, last, searched, exists, uidnext)
    news: list[int] = []
    if asked is not None and saved > last:
        # The mail new since the last sync, whatever its date (a report filed here keeps the
        # date it arrived): the position passes it too, and no sync would read it after.
        news = _search(imap, folder, max(saved, last), None, exists, uidnext)
        uids = sorted(set(uids).union(news))
    new_ones = set(news)
    kept = False
    done = 0
    for i in range(0, len(uids), BATCH):
        batch = uids[i : i + BATCH]
        # Read and parse first, with no transaction open: parsing takes time, writing does not.
        found = []
        for uid, size, raw, arrived in _fetch(imap, folder, batch):
            early = start is not None and arrived is not None and arrived < start
            if early and uid not in new_ones:
                continue  # came before the day asked for, in the mailbox's zone
            item = _read(uid, size, raw, box.address, now(), arrived)
            if item.partial:
                item = _read_parts(imap, item, box.address, now(), arrived)
            found.append(item)
        for item in found:
            if item.partial:
                report.partial.append(f"{folder} UID {item.uid} ({item.size / 1e6:.1f} MB)")
            if item.capped:
                report.capped.append(f"{folder} UID {item.uid}")
        to_move = [item.uid for item in found if item.bounces] if move_to else []
        named = [b for item in found for _, b in item.bounces]
        mailed = ledger.mailed_of(box, named) if named else set()
        for n, (rows, position) in enumerate(_chunks(found, last, mailed)):
            if n:
                time.sleep(WRITE_PAUSE)
            # Reports to move: the position passes them once they are moved, so a connection
            # lost at the MOVE reads them again (recording nothing twice) and moves them.
            at = last if to_move else position
            for rcpt, matched, kind in record_batch(
                ledger, box, folder, uidvalidity, max(at, saved), rows, now(), report
            ):
                report.bounces += 1
                report.matched += matched
                report.delayed += kind == DELAYED
                report.notices += kind == NOTICE
                if not matched:
                    report.unmatched.append(rcpt or "(no recipient)")
            reached[folder] = (uidvalidity, at)
        # what came before the day asked for is passed over as a search leaves it: passed
        # only by a later message read, so the next sync reads one after the last read
        last = batch[-1] if start is None else max((i.uid for i in found), default=last)
        kept = kept or bool(found)
        report.scanned += len(found)
        done += len(batch)
        if to_move and move_to:
            report.moved += move(imap, to_move, folder, move_to)
            record_batch(ledger, box, folder, uidvalidity, max(last, saved), [], now())
            reached[folder] = (uidvalidity, last)
        if progress:
            progress(len(uids), done)
    # A first sync reads only the mail since the day before the first send: the older mail
    # it passed over is passed over for good, up to the UIDNEXT the folder stated when opened.
    # Saved at the last UID read, the next sync read all of it (no date: the position is
    # there), and so read a whole folder's history when the first found nothing.
    end = uidnext - 1 if asked is None and since is not None and uidnext else 0
    if not kept or end > max(last, saved):
        record_batch(ledger, box, folder, uidvalidity, max(last, saved, end), [], now())
        reached[folder] = (uidvalidity, max(last, end))


def _number(data: object) -> int | None:
    """The number an imaplib answer states (``[b'42']``, ``('UIDNEXT', [b'42'])``), if any."""
    if isinstance(data, tuple):
        data = data[1]
    first = data[0] if isinstance(data, list) and data else None
    return number(first.strip()) if isinstance(first, bytes) and first.strip().isdigit() else None


def _search(
    imap: imaplib.IMAP4,
    folder: str,
    last: int,
    since: dt.date | None,
    exists: int | None,
    uidnext: int | None,
) -> list[int]:
    """The UIDs past ``last`` (and since ``since``) in the selected ``folder``, in order.

    The answer to a search is one line of every UID found, and imaplib refuses a line over its
    limit (1 MB), which one search of a folder of ~100,000 messages passes: a folder that
    large (``exists`` messages) is searched in windows of UIDs up to its UIDNEXT, the last
    one open-ended (for mail that came since)."""
    date = f" SINCE {since.day:02d}-{_MONTHS[since.month - 1]}-{since.year}" if since else ""
    # A UID has at most 10 digits: a window's answer stays under imaplib's line limit.
    span = max(1, getattr(imaplib, "_MAXLINE", 1_000_000) // 12 - 1)
    if exists is not None and exists <= span:
        uidnext = None  # one search answers in one line short enough
    found: set[int] = set()
    low = last + 1
    while True:
        final = uidnext is None or low + span >= uidnext
        window = f"{low}:*" if final else f"{low}:{low + span - 1}"
        # No charset: imaplib drops a None argument, but typeshed types them all as str.
        typ, data = imap.uid("SEARCH", None, f"UID {window}{date}")  # type: ignore[arg-type]
        if typ != "OK":
            raise Unavailable(
                f"IMAP refused to search {folder!r} ({server_text(data)}); progress is saved, run "
                f"the sync again later"
            )
        found.update(u for u in _uids(folder, searched(data)) if u > last)
        if final:
            return sorted(found)
        low += span


# RFC 3501's nz-number: UIDs and UIDVALIDITY are unsigned 32-bit, never 0.
MAX_UID = 2**32 - 1


def _uids(folder: str, said: bytes) -> list[int]:
    """The UIDs of a SEARCH answer; :class:`Unavailable` for a word that is no UID (RFC 3501:
    a number from 1 to 2^32-1). From a broken server, ``abc`` was a ValueError and
    99999999999999999999 an OverflowError writing the position, each a traceback."""
    out = []
    for word in said.split():
        uid = int(word) if word.isdigit() and len(word) <= 10 else 0
        if not 0 < uid <= MAX_UID:
            raise Unavailable(
                f"the IMAP server answered a search of {folder!r} with {server_text(word)!r}, "
                f"which is no UID (a number from 1 to {MAX_UID}); nothing of it was recorded, "
                f"progress is saved (ask the server's administrator)"
            )
        out.append(uid)
    return out


@dataclass(frozen=True)
class Found:
    """One message of a folder, read and parsed: its bounces with their ledger keys."""

    uid: int
    size: int
    at: dt.datetime  # when the report was written (never after now)
    bounces: list[tuple[str, Bounce]]  # (key, bounce)
    partial: bool  # longer than what was read (bytes or lines), looked like a report, named no one
    capped: bool = False  # listed more than MAX_RECIPIENTS: the first ones kept
    report: str | None = None  # what its bounces are known by as one report (report_key)


def _fetch(
    imap: imaplib.IMAP4, folder: str, uids: list[int]
) -> Iterator[tuple[int, int, bytes, dt.datetime | None]]:
    """``(uid, size, first READ_BYTES bytes, when it reached the mailbox)`` of each message,
    holding at most FETCH_BYTES. The arrival is the server's INTERNALDATE (None if it states
    none that can be read).

    A NO to a FETCH ([SERVERBUG], [UNAVAILABLE], [LIMIT]) is a live server's answer, not a
    dropped connection: :class:`Unavailable` at once, in its words (it was asked again on three
    new connections, then told as "connection kept dropping"). Not passed over either: the
    position would pass the messages unread, their bounces lost for good."""
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE INTERNALDATE)")
    if typ != "OK":
        _fetch_refused(folder, uids, data)
    sizes: dict[int, int] = {}
    arrived: dict[int, dt.datetime] = {}
    for line in data:
        text = line[0] if isinstance(line, tuple) else line
        m_uid, m_size = _UID.search(text or b""), _SIZE.search(text or b"")
        uid = number(m_uid.group(1)) if m_uid else None
        size = number(m_size.group(1)) if m_size else None
        if uid is not None and size is not None:
            sizes[uid] = size
            when = _arrival(text)
            if when is not None:
                arrived[uid] = when
    for group in _groups(uids, sizes):
        largest = max((sizes.get(uid, 0) for uid in group), default=0)
        with whole_messages(imap, largest):
            typ, data = imap.uid(
                "FETCH", ",".join(map(str, group)), f"(BODY.PEEK[]<0.{READ_BYTES}>)"
            )
        if typ != "OK":
            _fetch_refused(folder, group, data)
        got = dict(_bodies(data))
        del data
        # Listed with its size a moment ago, missing now: not taken for a message gone (the
        # position would pass it unread, for good) unless the server, asked again, no longer
        # lists it either (another session expunged it: a mail client, a person). Else a new
        # connection's SEARCH is asked: each expunge cost a login, and the fourth in a folder
        # stopped the sync, exit 69, as a connection that "kept dropping".
        unread = [uid for uid in group if uid in sizes and uid not in got]
        gone = _expunged(imap, folder, unread) if unread else set()
        if len(gone) < len(unread):
            first = next(uid for uid in unread if uid not in gone)
            raise imaplib.IMAP4.abort(
                f"FETCH: no message for UID {first}, which the server had just listed"
            )
        for uid in group:
            if uid not in gone:
                yield uid, sizes.get(uid, 0), got.pop(uid, b""), arrived.get(uid)


def _expunged(imap: imaplib.IMAP4, folder: str, uids: list[int]) -> set[int]:
    """Of ``uids``, those a SEARCH of the selected ``folder`` no longer lists (none if the
    server will not answer it)."""
    # No charset: imaplib drops a None argument, but typeshed types them all as str.
    typ, data = imap.uid("SEARCH", None, f"UID {','.join(map(str, uids))}")  # type: ignore[arg-type]
    if typ != "OK":
        return set()
    return set(uids).difference(_uids(folder, searched(data)))


def _arrival(text: bytes) -> dt.datetime | None:
    """The INTERNALDATE of a FETCH answer's line (RFC 3501's date-time: "17-Jul-1996 02:44:25
    -0700", its month in English whatever the locale), in UTC; None if it states none."""
    m = _ARRIVED.search(text)
    if m is None or m.group(2).decode().title() not in _MONTHS:
        return None
    day, year, hour, minute, second = (int(m.group(i)) for i in (1, 3, 4, 5, 6))
    month = _MONTHS.index(m.group(2).decode().title()) + 1
    offset = dt.timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
    try:
        zone = dt.timezone(-offset if m.group(7) == b"-" else offset)
        local = dt.datetime(year, month, day, hour, minute, second, tzinfo=zone)
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # "31-Feb", a zone of 99 hours: none stated
        return None


def _fetch_refused(folder: str, uids: list[int], data: object) -> NoReturn:
    span = f"{uids[0]}:{uids[-1]}" if len(uids) > 1 else str(uids[0])
    raise Unavailable(
        f"IMAP refused to read messages of {folder!r} (UID {span}: {server_text(data)}); progress "
        f"is saved, run the sync again later"
    )


def _bodies(data: list[object]) -> Iterator[tuple[int, bytes]]:
    """``(uid, body)`` of each message of a FETCH answer (``b""`` for a body sent as ``""`` or
    NIL, not as a literal). RFC 3501 sets no order for the UID:
    before the literal (``(b'1 (UID 5 BODY[]<0> {n}', body)``) or after it, in the line that
    follows (``b' UID 5)'``)."""
    for i, part in enumerate(data):
        if not isinstance(part, tuple):
            # No literal: an empty message's body comes as "" (or NIL), in the line itself.
            m = _UID.search(part) if isinstance(part, bytes) and b"BODY[" in part else None
            if m and (uid := number(m.group(1))) is not None:
                yield uid, b""
            continue
        after = data[i + 1] if i + 1 < len(data) else b""
        m = _UID.search(part[0]) or (_UID.search(after) if isinstance(after, bytes) else None)
        if m and (uid := number(m.group(1))) is not None:
            yield uid, part[1]


def _groups(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """``uids`` in runs whose first READ_BYTES add up to at most FETCH_BYTES."""
    group: list[int] = []
    held = 0
    for uid in uids:
        n = min(sizes.get(uid, READ_BYTES), READ_BYTES)
        if group and held + n > FETCH_BYTES:
            yield group
            group, held = [], 0
        group.append(uid)
        held += n
    if group:
        yield group


def _read(
    uid: int,
    size: int,
    raw: bytes,
    mailbox: str,
    now: dt.datetime,
    arrived: dt.datetime | None = None,
) -> Found:
    """Parse one message (no ledger access: this is the slow part). ``arrived``: when the
    server says it reached the mailbox."""
    bounces, cut = capped(parse_bounces(raw, mailbox=mailbox) if raw else [])
    facts = read_report(raw)
    partial = (
        not any(b.recipient for b in bounces)
        and (size > len(raw) or read_in_part(raw))
        and _looks_like_report(raw)
    )
    # A date before the ledger's first possible instant says nothing: taken as when it arrived,
    # else as when it is read.
    if arrived is not None and arrived < EARLIEST:
        arrived = None
    at = facts.date if facts.date is not None and facts.date >= EARLIEST else arrived or now
    # Never after it reached the mailbox, by the server's clock: a report without a Date, or
    # one from an MTA whose clock runs ahead, read by a sync days later (a worker stopped over
    # a weekend) counted on the day of the sync, not the day it came.
    if arrived is not None:
        at = min(at, arrived)
    return Found(
        uid,
        size,
        min(at, now),
        [(bounce_key(facts, b, i), b) for i, b in enumerate(bounces)],
        partial,
        cut,
        report_key(facts, raw),
    )


# A report whose first READ_BYTES (or first MAX_LINES lines) name no failed recipient (its
# delivery status after megabytes of notification, or behind a header line of 20 MB) is asked
# for again part by part: the server knows its MIME structure and gives each part alone, each
# bounded.
PARTS = 8  # the top-level parts looked at: a report has three
PART_BYTES = 65_536  # of a part's MIME header, of the report's and the original's header fields
_SECTION = re.compile(rb"BODY\[([^\]]*)\]")
_FIELDS = "HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)"
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers")
_JOIN = b"warmup-report-parts"


def _sections(imap: imaplib.IMAP4, uid: int, items: list[str]) -> dict[str, bytes]:
    """Section -> its bytes, of a FETCH of ``items`` (``BODY.PEEK[section]<0.n>``) of ``uid``
    (a section the message lacks comes empty)."""
    try:
        typ, data = imap.uid("FETCH", str(uid), f"({' '.join(items)})")
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:  # a BAD: a server without partial sections; read as before
        return {}
    if typ != "OK":
        return {}
    out: dict[str, bytes] = {}
    for part in data:
        if isinstance(part, tuple):
            named = _SECTION.findall(part[0])
            if named:
                out[named[-1].decode("ascii", "replace")] = part[1]
    return out


def _by_parts(imap: imaplib.IMAP4, uid: int) -> bytes:
    """Report ``uid`` made again of its header fields, its delivery-status part and the
    original's header fields, each fetched alone; b"" if none of its first PARTS parts is
    a delivery status."""

    def peek(section: str, size: int = PART_BYTES) -> str:
        return f"BODY.PEEK[{section}]<0.{size}>"

    heads = _sections(imap, uid, [peek(_FIELDS), *(peek(f"{n}.MIME") for n in range(1, 1 + PARTS))])
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    kinds = {
        n: parser.parsebytes(heads.get(f"{n}.MIME", b"")).get_content_type()
        for n in range(1, 1 + PARTS)
    }
    status = next((n for n, kind in kinds.items() if kind in _STATUS_TYPES), None)
    if status is None:
        return b""
    original = next((n for n, kind in kinds.items() if kind in _ORIGINAL_TYPES), None)
    wanted = {status: str(status)}
    if original is not None:  # only the header fields a sync checks, never its body
        inner = (
            str(original) if kinds[original] == "text/rfc822-headers" else f"{original}.{_FIELDS}"
        )
        wanted[original] = inner
    bodies = _sections(
        imap,
        uid,
        [peek(wanted[status], READ_BYTES), *(peek(s) for n, s in wanted.items() if n != status)],
    )
    out = [
        heads.get(_FIELDS, b"").rstrip(b"\r\n"),
        b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="' + _JOIN + b'"\r\n\r\n',
    ]
    for n, section in wanted.items():
        mime = heads.get(f"{n}.MIME", b"").rstrip(b"\r\n")
        if n == original and section != str(n):
            mime = b"Content-Type: text/rfc822-headers"  # its header fields alone
        out += [b"--", _JOIN, b"\r\n", mime, b"\r\n\r\n", bodies.get(section, b""), b"\r\n"]
    out += [b"--", _JOIN, b"--\r\n"]
    return b"".join(out)


def _read_parts(
    imap: imaplib.IMAP4, item: Found, mailbox: str, now: dt.datetime, arrived: dt.datetime | None
) -> Found:
    """``item``, a report read only in part that named no failed recipient, read again from
    its parts (:func:`_by_parts`), if that names one."""
    raw = _by_parts(imap, item.uid)
    again = _read(item.uid, item.size, raw, mailbox, now, arrived) if raw else item
    return again if any(b.recipient for _, b in again.bounces) else item


def _looks_like_report(raw: bytes) -> bool:
    head = raw[:65_536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    return (
        msg.get_content_type() == "multipart/report"
        or formats.is_daemon_sender(msg)  # its Subject and type after a header of megabytes
        or formats.looks_like_bounce(msg, "")
    )


# (key, bounce, when it was reported[, the report it is one of: its bounces count for one message])
Row = tuple[str, Bounce, dt.datetime] | tuple[str, Bounce, dt.datetime, str | None]


def _chunks(found: list[Found], position: int, mailed: set[str]) -> Iterator[tuple[list[Row], int]]:
    """The batch's bounces in transactions of at most WRITE_BOUNCES (each bounce for an
    address not in ``mailed``, which no send can answer, weighing 1/STRANGERS of one), each
    with the folder position it completes: the last UID whose bounces are all written by then
    (a message may span two transactions; read again after a crash, its keys make it
    idempotent)."""
    rows: list[Row] = []
    weight = 0
    for item in found:
        for key, bounce in item.bounces:
            answers = (
                bounce.redacted  # matched by its Message-ID: its recipient is the send's
                or bounce.recipient in mailed
                or bounce.original_recipient in mailed
            )
            cost = STRANGERS if answers else 1
            if rows and weight + cost > WRITE_BOUNCES * STRANGERS:
                yield rows, position
                rows, weight = [], 0
            rows.append((key, bounce, item.at, item.report))
            weight += cost
        position = item.uid
    yield rows, position


# -- the ledger: the only two functions of a sync that touch it ---------------------------------


def _position(
    ledger: Ledger, box: MailboxRow, folder: str, uidvalidity: int, since: dt.date | None
) -> tuple[int, int, dt.date | None]:
    """(the UID to read after, the last UID read in ``folder`` under this UIDVALIDITY else 0,
    the SINCE date to use). A ``since`` asked for reads the folder again from that date,
    whatever was read before (a history imported later has older reports; their keys make
    reading one again record nothing); the saved position never goes back."""
    state = ledger.sync_position(box, folder)
    saved = state[1] if state and state[0] == uidvalidity else 0
    if since is not None:
        return 0, saved, since
    if state is None or state[0] != uidvalidity:
        # Never read, or recreated since (a new UIDVALIDITY: a folder deleted and made again,
        # a mailbox moved to other storage): read as a first sync reads a folder. The older
        # mail a first sync passed over for good was read again, years of it, and recorded.
        first = ledger.first_send_at(box)
        since = (first - dt.timedelta(days=1)).date() if first else None
    return saved, saved, since


def _with_report(row: Row) -> tuple[str, Bounce, dt.datetime, str | None]:
    """``row`` with its report (None when the caller named none)."""
    return row if len(row) == 4 else (*row, None)


def record_batch(
    ledger: Ledger,
    box: MailboxRow,
    folder: str,
    uidvalidity: int,
    last_uid: int,
    rows: list[Row],
    now: dt.datetime,
    report: SyncReport | None = None,
) -> list[tuple[str, bool, str]]:
    """Record parsed bounces and the folder's new position in one short write transaction.

    Returns ``(recipient, matched to a send, the kind recorded)`` for each bounce that was new.
    Mail in a mailbox is from strangers: the bounces are untrusted
    (:class:`warmup.ledger.BounceIn`), so one that answers no send of the mailbox is kept and
    listed but neither counts nor suppresses, and one that names no recipient is tied to no
    send, even when it quotes a send's Message-ID (DESIGN invariant 8). A delay warning is
    recorded as kind ``delayed``: matched and listed, never counted nor suppressing (the message
    may yet arrive; the failure reported later counts). A report about a forwarded message
    carries the address mailed (its Original-Recipient), which the ledger matches on when the
    mailbox never mailed the forwarded-to one. The bounces of one report count for the sends of
    one message only (a report is about one message); a complaint whose recipient was redacted
    is matched by its Message-ID alone. A bounce that counts nothing past what the ledger keeps
    of such (a flood) is not kept: added to ``report.not_kept``.
    """
    bounces = [
        BounceIn(
            b.recipient or "",
            DELAYED if b.delayed else b.kind,
            reported,
            key,
            status=b.status or None,
            reply=b.reply or None,
            diagnostic=b.diagnostic or None,
            message_id=b.message_id or None,
            source="imap",
            trusted=False,
            original_recipient=b.original_recipient or None,
            original_from=b.original_from or None,
            original_date=dt.datetime.fromisoformat(b.original_date) if b.original_date else None,
            report=report,
            redacted=b.redacted,
        )
        for key, b, reported, report in map(_with_report, rows)
    ]
    got = ledger.record_synced(box, folder, uidvalidity, last_uid, bounces)
    if report is not None:
        report.not_kept += sum(r.dropped for r in got.results)
    # ``results`` follows ``bounces`` one for one.
    return [
        (r.recipient, r.matched, b.kind) for r, b in zip(got.results, bounces, strict=True) if r.new
    ]
