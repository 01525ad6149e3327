"""Bounce sync over IMAP: read-only, incremental, idempotent, resumable.

Each folder is opened read-only (EXAMINE) and fetched with ``BODY.PEEK[]``, so nothing is marked
seen and nothing is deleted (``move_to`` is the one exception, on request). Progress is the
folder's UIDVALIDITY and last UID, saved after every batch in the same transaction as the
bounces of that batch; every bounce also carries a key made from what its report says (see
:mod:`warmup.bounces.identity`), never from where it was found, which the ledger refuses twice.
A dropped connection reconnects and goes on from the saved UID, and a folder recreated (new
UIDVALIDITY) or copied is read again without recording anything twice.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from warmup.bounces.identity import bounce_key, read_report
from warmup.bounces.parse import parse_bounces
from warmup.errors import PermissionFailure, Unavailable
from warmup.ledger import Ledger, bouncedb, store
from warmup.neterr import describe

BATCH = 50
MAX_MESSAGE = 10 * 1024 * 1024
RETRIES = 3
_UID = re.compile(rb"UID (\d+)")


@dataclass
class SyncReport:
    scanned: int = 0
    bounces: int = 0
    matched: int = 0
    unmatched: list[str] = field(default_factory=list)
    moved: int = 0
    host: str | None = None
    failed_hosts: list[tuple[str, str]] = field(default_factory=list)
    reconnects: int = 0


class LoginFailed(PermissionFailure):
    """The IMAP server refused the credentials (exit 77)."""


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(hosts: tuple[str, ...], port: int, security: str, user: str, password: str,
            timeout: float = 60.0, failed: list[tuple[str, str]] | None = None,
            ) -> tuple[imaplib.IMAP4, str]:
    """Log in on the first host that answers; ``(connection, host)``.

    A host that cannot be reached, fails TLS, or cuts, stalls or garbles the session before
    LOGIN is answered is the network's fault, not the password's: it goes to ``failed`` and
    the next host is tried (:class:`Unavailable`, exit 69, when none is left). Only a NO to
    LOGIN is a refused login (:class:`LoginFailed`, exit 77), and then no other host is tried.
    """
    failed = failed if failed is not None else []
    for host in hosts:
        try:
            if security == "ssl":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
            else:
                imap = imaplib.IMAP4(host, port, timeout=timeout)
                if security == "starttls":
                    imap.starttls(ssl_context=ssl.create_default_context())
        except (OSError, imaplib.IMAP4.error) as exc:
            failed.append((host, describe(exc)))
            continue
        try:
            imap.login(user, password)
        except TimeoutError:
            _drop(imap)
            failed.append((host, f"no answer to LOGIN within {timeout:g} s"))
            continue
        except (OSError, imaplib.IMAP4.abort) as exc:  # abort: the connection is gone
            _drop(imap)
            failed.append((host, f"connection lost during LOGIN ({_reason(exc)})"))
            continue
        except imaplib.IMAP4.error as exc:
            _drop(imap)
            text = _reason(exc)
            if text.startswith("LOGIN command error: BAD"):  # not an answer about the password
                failed.append((host, f"LOGIN refused as a bad command ({text})"))
                continue
            raise LoginFailed(f"{host} refused the IMAP login for {user}: {text}") from None
        return imap, host
    tried = "; ".join(f"{h}:{port}: {w}" for h, w in failed)
    raise Unavailable(f"cannot reach the IMAP server ({tried}); try again later, or check the "
                      f"mailbox's IMAP host and port")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return describe(exc)
    # imaplib's "command: LOGIN => socket error: EOF": the command is said already.
    return str(exc).rpartition("=> ")[2].strip("b'\"")


def _drop(imap: imaplib.IMAP4) -> None:
    """Close without LOGOUT: after a cut or a stall, LOGOUT would only wait for the timeout."""
    try:
        imap.shutdown()
    except OSError:
        pass


def _logout(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (OSError, imaplib.IMAP4.error):
        pass


def sync(ledger: Ledger, box: store.MailboxRow, *, hosts: tuple[str, ...], port: int,
         security: str, password: str, folders: list[str], since: dt.date | None = None,
         move_to: str | None = None, timeout: float = 60.0,
         progress: Callable[[int, int], None] | None = None,
         now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> SyncReport:
    """Record the bounces in ``folders`` of the mailbox; see the module docstring."""
    report = SyncReport()

    def login() -> imaplib.IMAP4:
        imap, report.host = connect(hosts, port, security, box.address, password, timeout,
                                    report.failed_hosts)
        return imap

    imap = login()
    try:
        for folder in folders:
            for attempt in range(RETRIES + 1):
                try:
                    _sync_folder(ledger, box, imap, folder, since, move_to, report, progress, now)
                    break
                except (OSError, imaplib.IMAP4.abort) as exc:
                    if attempt == RETRIES:
                        raise Unavailable(f"IMAP connection kept dropping ({describe(exc)}); "
                                          f"progress is saved, run the sync again") from None
                    report.reconnects += 1
                    _logout(imap)
                    imap = login()
    finally:
        _logout(imap)
    return report


def _sync_folder(ledger: Ledger, box: store.MailboxRow, imap: imaplib.IMAP4, folder: str,
                 since: dt.date | None, move_to: str | None, report: SyncReport,
                 progress: Callable[[int, int], None] | None,
                 now: Callable[[], dt.datetime]) -> None:
    typ, _ = imap.select(_quote(folder), readonly=move_to is None)
    if typ != "OK":
        raise Unavailable(f"IMAP folder {folder!r} cannot be opened; check --folder")
    uidvalidity = int(imap.response("UIDVALIDITY")[1][0])
    with ledger.read() as conn:
        state = bouncedb.sync_state(conn, box, folder)
        if since is None and state is None:
            first = bouncedb.first_send_at(conn, box)
            since = (first - dt.timedelta(days=1)).date() if first else None
    last = state[1] if state and state[0] == uidvalidity else 0
    criteria = f"UID {last + 1}:*"
    if since is not None:
        criteria += f" SINCE {since.strftime('%d-%b-%Y')}"
    # No charset: imaplib drops a None argument, but typeshed types them all as str.
    typ, data = imap.uid("SEARCH", None, criteria)  # type: ignore[arg-type]
    uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last)
    done = 0
    for i in range(0, len(uids), BATCH):
        batch = uids[i:i + BATCH]
        typ, data = imap.uid("FETCH", ",".join(map(str, batch)), "(RFC822.SIZE BODY.PEEK[])")
        if typ != "OK":
            raise imaplib.IMAP4.abort(f"FETCH failed: {data!r}")
        messages = {int(m.group(1)): part[1] for part in data
                    if isinstance(part, tuple) and (m := _UID.search(part[0]))}
        to_move = []
        with ledger.write() as conn:
            for uid in batch:
                raw = messages.get(uid, b"")
                found = _record(conn, box, folder, uidvalidity, uid, raw, report, now())
                if found and move_to:
                    to_move.append(uid)
            bouncedb.save_sync_state(conn, box, folder, uidvalidity, batch[-1])
        report.scanned += len(batch)
        done += len(batch)
        if to_move:
            imap.uid("MOVE", ",".join(map(str, to_move)), _quote(move_to or ""))
            report.moved += len(to_move)
        if progress:
            progress(len(uids), done)
    if not uids:
        with ledger.write() as conn:
            bouncedb.save_sync_state(conn, box, folder, uidvalidity, last)


def _record(conn: Connection, box: store.MailboxRow, folder: str, uidvalidity: int, uid: int,
            raw: bytes, report: SyncReport, now: dt.datetime) -> bool:
    if not raw or len(raw) > MAX_MESSAGE:
        return False
    bounces = parse_bounces(raw, mailbox=box.address)
    if not bounces:
        return False
    facts = read_report(raw)
    stamped = min(facts.date or now, now)
    for i, b in enumerate(bounces):
        rcpt = b.recipient or ""
        key = bounce_key(facts, b, i)
        # A bounce that names no recipient is kept and listed but tied to no send, even when
        # it quotes a send's Message-ID: it proves nothing about that recipient (invariant 8).
        send_id, sent_at = (bouncedb.match_send(conn, box, rcpt, b.message_id or None, now)
                            if rcpt else (None, None))
        at = max(stamped, sent_at) if sent_at else stamped  # never before the send it answers
        new = store.record_bounce(conn, box, rcpt, b.kind, at, key, status=b.status or None,
                                  reply=b.reply or None, diagnostic=b.diagnostic or None,
                                  message_id=b.message_id or None, source="imap",
                                  send_id=send_id)
        if new is not None:
            report.bounces += 1
            if send_id is not None:
                report.matched += 1
            else:
                report.unmatched.append(rcpt or "(no recipient)")
    return True
