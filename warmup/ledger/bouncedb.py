"""Bounce matching, IMAP sync state, bounce listings and manual suppressions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.db import Ledger
from warmup.ledger.store import BOUNCE, MAILBOX, SEND, SUPPRESSION, SYNC_STATE, MailboxRow, utc

MATCH_WINDOW = dt.timedelta(days=30)


def match_send(conn: Connection, box: MailboxRow, recipient: str, message_id: str | None,
               at: dt.datetime) -> tuple[int | None, dt.datetime | None]:
    """(id, time) of the send a bounce answers: by original Message-ID, else the latest send to
    the recipient within :data:`MATCH_WINDOW` before ``at``; (None, None) if none."""
    base = sa.select(SEND.c.id, SEND.c.at).where(SEND.c.mailbox_id == box.id)
    if message_id:
        stmt = base.where(SEND.c.message_id == message_id)
        if recipient:
            stmt = stmt.where(SEND.c.recipient == recipient)
        found = conn.execute(stmt).all()
        if len(found) == 1 or (found and recipient):
            return found[0].id, found[0].at
    if not recipient:
        return None, None
    row = conn.execute(base.where(
        SEND.c.recipient == recipient, SEND.c.at <= utc(at),
        SEND.c.at >= utc(at - MATCH_WINDOW)).order_by(SEND.c.at.desc()).limit(1)).first()
    return (row.id, row.at) if row else (None, None)


def first_send_at(conn: Connection, box: MailboxRow) -> dt.datetime | None:
    return conn.execute(sa.select(sa.func.min(SEND.c.at)).where(
        SEND.c.mailbox_id == box.id)).scalar()


def sync_state(conn: Connection, box: MailboxRow, folder: str) -> tuple[int, int] | None:
    row = conn.execute(sa.select(SYNC_STATE.c.uidvalidity, SYNC_STATE.c.last_uid).where(
        SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder)).first()
    return (int(row.uidvalidity), int(row.last_uid)) if row else None


def save_sync_state(conn: Connection, box: MailboxRow, folder: str, uidvalidity: int,
                    last_uid: int) -> None:
    where = (SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder)
    if conn.execute(SYNC_STATE.update().where(*where).values(
            uidvalidity=uidvalidity, last_uid=last_uid)).rowcount == 0:
        conn.execute(SYNC_STATE.insert().values(mailbox_id=box.id, folder=folder,
                                                uidvalidity=uidvalidity, last_uid=last_uid))


def list_bounces(ledger: Ledger, mailbox: str | None = None, kind: str | None = None,
                 limit: int = 1000) -> list[dict[str, Any]]:
    stmt = (sa.select(MAILBOX.c.address.label("mailbox"), BOUNCE.c.recipient, BOUNCE.c.kind,
                      BOUNCE.c.status, BOUNCE.c.reply, BOUNCE.c.at, BOUNCE.c.source,
                      BOUNCE.c.message_id, BOUNCE.c.send_id, BOUNCE.c.diagnostic)
            .join(MAILBOX, MAILBOX.c.id == BOUNCE.c.mailbox_id)
            .order_by(BOUNCE.c.at.desc()).limit(limit))
    if mailbox:
        stmt = stmt.where(MAILBOX.c.address == mailbox.strip().lower())
    if kind:
        stmt = stmt.where(BOUNCE.c.kind == kind)
    with ledger.read() as conn:
        return [{**r._asdict(), "at": r.at.isoformat(), "matched": r.send_id is not None}
                for r in conn.execute(stmt)]


def list_suppressions(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.read() as conn:
        return [{**r._asdict(), "created_at": r.created_at.isoformat()} for r in conn.execute(
            sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind, SUPPRESSION.c.reason,
                      SUPPRESSION.c.created_at).order_by(SUPPRESSION.c.address))]


def remove_suppression(ledger: Ledger, address: str) -> bool:
    with ledger.write() as conn:
        return bool(conn.execute(SUPPRESSION.delete().where(
            SUPPRESSION.c.address == address)).rowcount)
