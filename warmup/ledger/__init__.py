"""The ledger: the only code that talks SQL.

Layout: :mod:`.db` opens a ledger from a URL (SQLite file by default, PostgreSQL for teams) and
migrates it; :mod:`.store` records mailboxes, sends, bounces, events and suppressions and answers
history questions; :mod:`.slots` reserves and settles quota slots atomically; :mod:`.fastpath`
(SQLite) and :mod:`.pgpath` (PostgreSQL) run the gate's per-message statements with fewer round
trips; :mod:`.copy` moves a whole ledger to another database (``warmup db copy``).

Design:
- Writes that must be atomic across processes take the write lock up front: SQLite
  ``BEGIN IMMEDIATE`` (WAL, 30 s busy timeout, so "database is locked" does not reach users),
  PostgreSQL ``SELECT ... FOR UPDATE`` on the mailbox row, taken first in every gate
  transaction, with writes at READ COMMITTED (so statements after the lock see what the previous
  holder committed) and reads at REPEATABLE READ (one snapshot per question).
- ``day_stat`` is a per-mailbox, per-local-day rollup, bumped in the same transaction as each send
  and bounce, so history is O(days) whatever the size of ``send``; today's counts are read from raw
  rows so that ``--at`` can cut a day at any instant. ``rebuild_rollup`` recomputes it from raw rows.
- Core statements only (no ORM sessions): the gate runs them per message.
"""

from warmup.ledger.db import Ledger, default_path, open_ledger, resolve_url
from warmup.ledger.store import MailboxRow

__all__ = ["Ledger", "MailboxRow", "default_path", "open_ledger", "resolve_url"]
