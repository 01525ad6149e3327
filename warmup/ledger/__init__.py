"""The ledger: the only code that talks SQL (and the only importer of sqlite3, psycopg,
SQLAlchemy and SQLModel in warmup).

:func:`open_ledger` picks the backend once, from the URL's scheme — the way alisaifee/limits
registers a ``Storage`` per scheme — and returns a :class:`Ledger`: domain questions and records
(:mod:`.core`, the interface and what both backends share), implemented by
:class:`~warmup.ledger.sqlite.SQLiteLedger` (the default: one file per user) and
:class:`~warmup.ledger.postgres.PostgresLedger` (team mode: hosts sharing one ledger). The schema
is defined once (:mod:`.schema`), evolved by frozen migrations (:mod:`.migrations`); the gate's
per-message path is :mod:`.gatepath`; :mod:`.reports_sql` and :mod:`.timeline_cache` answer
reports; :mod:`.copy` moves a ledger to another database. ``warmup quota`` opens it with
:func:`open_reads`: on SQLite a driver-level reader (:mod:`.sqlite_reads`) that never imports
SQLAlchemy, which is why :class:`Ledger` is imported only when asked for. ``warmup send`` opens it
with :func:`open_gate_ledger`: on SQLite :mod:`.sqlite_gate`'s driver-level ledger, which opens
the full backend only for a gate's rare paths.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from warmup.errors import ConfigError, WarmupError, expect
from warmup.lazyre import compiled_later
from warmup.ledger.reads import Reads
from warmup.ledger.values import (
    Ask,
    BounceIn,
    BounceResult,
    Claim,
    ClaimLost,
    DuplicateSend,
    EventIn,
    FaultHold,
    Live,
    MailboxNotFound,
    MailboxRow,
    OutboxIn,
    OutboxRow,
    Overflow,
    PoolNotFound,
    PoolRow,
    Recorded,
    SendIn,
    Snapshot,
    SuppressCount,
    live_now,
    local_day,
    utc,
)

if TYPE_CHECKING:
    from warmup.ledger.core import Ledger
    from warmup.ledger.gatepath import GateLedger

# URL scheme (the part before "+driver") -> "module:class" of its backend.
BACKENDS = {
    "sqlite": "warmup.ledger.sqlite:SQLiteLedger",
    "postgresql": "warmup.ledger.postgres:PostgresLedger",
}
# URL scheme -> "module:class" of a driver-level reader for the quota path, opened without
# SQLAlchemy (its ``open`` returns None when the full backend must open the ledger instead).
# PostgreSQL has none: a server's ledger pays for SQLAlchemy either way (psycopg's own import).
READERS = {
    "sqlite": "warmup.ledger.sqlite_reads:SQLiteReads",
}
# URL scheme -> "module:class" of a driver-level ledger for a gate's common path (``warmup
# send``'s one message), opened as READERS are; it opens the full backend for the rare paths.
GATES = {
    "sqlite": "warmup.ledger.sqlite_gate:SQLiteGateLedger",
}


def __getattr__(name: str) -> Any:
    # Ledger (and with it SQLAlchemy, ~0.4-0.6 s to import) only when something asks for it:
    # ``warmup quota`` answers through a Reads without it.
    if name == "Ledger":
        from warmup.ledger.core import Ledger

        globals()["Ledger"] = Ledger
        return Ledger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKENDS",
    "Ask",
    "BounceIn",
    "BounceResult",
    "Claim",
    "ClaimLost",
    "DuplicateSend",
    "EventIn",
    "FaultHold",
    "Ledger",
    "Live",
    "MailboxNotFound",
    "MailboxRow",
    "OutboxIn",
    "OutboxRow",
    "Overflow",
    "PoolNotFound",
    "PoolRow",
    "Reads",
    "Recorded",
    "SendIn",
    "Snapshot",
    "SuppressCount",
    "default_path",
    "live_now",
    "local_day",
    "mask_url",
    "not_a_path",
    "open_gate_ledger",
    "open_ledger",
    "open_reads",
    "resolve_url",
    "upgrade",
    "utc",
]


def default_path() -> Path:
    """``$XDG_DATA_HOME/warmup/ledger.db`` (``~/.local/share/warmup/ledger.db``): in
    :func:`warmup.files.data_dir`."""
    from warmup.files import data_dir

    return data_dir() / "ledger.db"


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """``--db`` value, else ``$WARMUP_DB``, else the default file; paths become sqlite URLs.
    A script's ``pathlib.Path`` is a path; anything else but text is :class:`WrongType`."""
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if url is not None:
        expect(url, str, "url", " (a SQLite path or a postgresql+psycopg:// URL)")
    raw = url or os.environ.get("WARMUP_DB") or str(default_path())
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        name, plus, driver = scheme.partition("+")
        if name.lower() == "postgres":  # libpq's and Heroku's spelling; SQLAlchemy's is postgresql
            return f"postgresql{plus}{driver}://{rest}"
        return raw
    fault = not_a_path(raw)
    if fault is not None:
        raise ConfigError(f"{fault}; check the URL in --db/WARMUP_DB")
    from warmup.files import home

    # A path is taken literally: SQLAlchemy would read a '?' as the start of options and
    # decode '%41' as 'A', opening (and creating) another file than the one named.
    named = home(raw, "ledger path")
    try:
        resolved = named.resolve()
    except (RuntimeError, OSError):  # a loop of symlinks (RuntimeError before Python 3.13)
        from warmup.ledger.sqlite_file import unusable

        raise unusable(named, OSError(errno.ELOOP, os.strerror(errno.ELOOP))) from None
    path = str(resolved).replace("%", "%25").replace("?", "%3F")
    return f"sqlite:///{path}"


# libpq's connection-string keywords that start a "key=value ..." string (psql and psycopg
# take one where warmup takes a URL)
_CONNINFO = compiled_later(
    r"\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode|options)\s*="
)
_CONNINFO_SECRET = compiled_later(r"(\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.I)
# A PostgreSQL URL missing its scheme or its "//": postgresql:/..., postgresql//...,
# postgresql+psycopg:user@..., user:password@host[:port][/db]
_NOT_QUITE_URL = compiled_later(
    r"postgres(ql)?(\+\w*)?(:(?!//)|//).*|[^/:@]+:.*@(\[[0-9A-Fa-f:.]*\]|[\w.-]+)(:\d*)?(/[^/]*)?",
    re.I | re.S,
)


def not_a_path(raw: str) -> str | None:
    """Why ``raw``, a ledger given without ``://``, is a PostgreSQL connection string rather
    than a SQLite path (None if it is not one), in words that do not quote its password.
    Taken as a path, it was created as a SQLite ledger (folders and all) whose file name held
    the password, and named in full in "Created a new ledger at ..." and every error; a team's
    host was left writing a ledger of its own."""
    if "=" not in raw and "@" not in raw and not raw[:8].lower().startswith("postgres"):
        return None  # the default path, any ordinary one: no pattern compiled
    if _CONNINFO.match(raw):
        shown = _CONNINFO_SECRET.sub(r"\1***", raw)
        what = "a libpq connection string (key=value)"
    elif _NOT_QUITE_URL.fullmatch(raw):
        scheme = re.match(r"postgres\w*(\+\w*)?:?/*", raw, re.I)
        head = scheme.group(0) if scheme else ""
        shown = head + _masked_userinfo(raw[len(head) :])
        what = "a PostgreSQL URL without its scheme or its '//'"
    else:
        return None
    return (
        f"ledger {shown!r} is {what}, not a SQLite path; write it as "
        f"postgresql+psycopg://USER:PASSWORD@HOST:PORT/DBNAME (a SQLite file: ./NAME)"
    )


def _masked_userinfo(tail: str) -> str:
    """``tail`` (a URL after its ``://``) with the password of its user info replaced by
    ``***``: from the first ``:`` to the *last* ``@`` (see :func:`mask_url`)."""
    at = -1 if tail.startswith("/") else tail.rfind("@")
    if at >= 0:  # a '?' or '#' may be the password's own: mask too much, never less
        user, colon, _ = tail[:at].partition(":")
        if colon:
            return f"{user}:***@{tail[at + 1 :]}"
    return tail


def mask_url(url: str) -> str:
    """``url`` as it may be printed: any password replaced by ``***``.

    The password runs from the first ``:`` of the user info to the *last* ``@``: SQLAlchemy
    reads ``/`` and ``:`` as part of a password, and a password holding an unescaped ``@``
    (refused when connecting) must not show its tail either. libpq also takes one as a query
    parameter (``?password=...``, ``sslpassword=...``): masked too. A URL without an authority
    (``sqlite:///path``) has no password in its user info."""
    head, sep, tail = url.partition("://")
    if not sep:
        return url
    path, question, query = _masked_userinfo(tail).partition("?")
    if question:
        # A key is read decoded ('pass%77ord' is SQLAlchemy's 'password'), and '+' as a space.
        pairs = (p.partition("=") for p in query.split("&"))
        query = "&".join(
            f"{k}{eq}***" if eq and "password" in unquote_plus(k).lower() else f"{k}{eq}{v}"
            for k, eq, v in pairs
        )
    return f"{head}://{path}{question}{query}"


_safe = mask_url

# How a PostgreSQL URL gives several hosts (a primary and its standby), the two forms
# SQLAlchemy's psycopg dialect reads (it refuses ?host=h1&host=h2&port=p1&port=p2, "Can't mix").
SEVERAL_HOSTS = "postgresql+psycopg://USER@/DB?host=h1:p1&host=h2:p2 (or ?host=h1,h2&port=p1,p2)"


def open_ledger(
    url: str | os.PathLike[str] | None = None, *, migrate: bool = True, create: bool = True
) -> Ledger:
    """Open the ledger at ``url`` (see :func:`resolve_url`), creating and migrating it on first
    use; a SQLite file of another program is refused untouched. With ``create=False`` a SQLite
    ledger that does not exist is refused (:class:`ConfigError`) and nothing is created."""
    url = resolve_url(url)
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in BACKENDS:
        raise ConfigError(
            f"ledger URL {_safe(url)!r}: unknown scheme {scheme!r}; use a SQLite "
            f"path or a postgresql+psycopg:// URL"
        )
    module, _, name = BACKENDS[scheme].partition(":")
    try:
        backend = getattr(importlib.import_module(module), name)
        ledger: Ledger = backend(url, create=create)
    except ModuleNotFoundError as exc:
        # The pip of the interpreter warmup runs in: a bare 'pip' is often another one (the
        # system's, outside the clone's .venv), which installs the driver where warmup never
        # looks, or fetches another project's 'warmup' from the index.
        import shlex
        import sys

        python = shlex.quote(sys.executable or "python3")
        raise ConfigError(
            f"ledger URL {_safe(url)!r}: driver not installed ({exc}); for PostgreSQL, "
            f"install it where warmup runs: {python} -m pip install 'warmup[postgres]'"
        ) from None
    except WarmupError:
        raise
    except Exception as exc:  # a malformed URL, from SQLAlchemy
        why = str(exc).splitlines()[0]
        if isinstance(exc, ValueError) and why.startswith("invalid literal for int()"):
            # SQLAlchemy's int() of the port quotes the text it read as one: the password's tail
            # when the password holds an unescaped '@' and ':'.
            why = (
                "its port is not a number (write '@', ':' and '/' in the user name or password "
                "as %40, %3A and %2F)"
            )
            if "," in url.split("://", 1)[-1].split("/", 1)[0].rpartition("@")[2]:
                # libpq's several hosts (a primary and its standby), which SQLAlchemy reads
                # only from the query: the password needs no escaping.
                why = (
                    "its port is not a number: several hosts (h1:p1,h2:p2 after the '@', as "
                    f"libpq writes them) are read only from the query: write {SEVERAL_HOSTS}"
                )
        raise ConfigError(f"ledger URL {_safe(url)!r} is not valid: {why}") from None
    from warmup.ledger import migrations

    pending = ledger.pending_migrations() if migrate or not create else []
    if not create and len(pending) == len(migrations.names()) and not ledger.foreign_tables():
        # A blank ledger (a server's schema with no warmup tables yet): what a missing SQLite
        # file is to a command that creates nothing. 'pool list' on a new team database
        # created warmup's 18 tables there, unasked. (Another program's tables: refused below.)
        absent = ledger.absent()
        ledger.close()
        raise absent
    if migrate and pending:
        try:
            upgrade(ledger)
        except BaseException:
            # A new file whose schema could not be made (a full disk, Ctrl-C): a 4 KiB stub was
            # left behind, which later commands took for a ledger yet to be started.
            ledger.discard_if_unused()
            raise
    return ledger


def upgrade(ledger: Ledger) -> None:
    """Apply ``ledger``'s pending migrations, as :func:`open_ledger` does (for a command that
    checks an older ledger before it changes it: ``db copy``'s target); a database of another
    program is refused and closed, untouched."""
    if not ledger.pending_migrations():
        return
    foreign = ledger.foreign_tables()
    if foreign:
        ledger.close()
        raise ConfigError(
            f"ledger {ledger.where} holds another program's tables "
            f"({', '.join(foreign[:3])}) and no warmup schema; give warmup a new file (or "
            f"an empty database) for its ledger instead"
        )
    ledger.migrate()


def open_reads(url: str | None = None, *, migrate: bool = True) -> Reads:
    """The ledger at ``url`` for the quota path's questions (:class:`Reads`): the backend's
    driver-level reader when it has one and can open this ledger as it is (SQLite, schema
    current), else :func:`open_ledger` (``create=False``: a missing ledger is refused). With
    ``migrate=False`` nothing is written: a ledger of an older schema is refused
    (:class:`ConfigError`), not upgraded."""
    url = resolve_url(url)
    reads: Reads | None = _driver_level(READERS, url)
    if reads is not None:
        return reads
    ledger = open_ledger(url, create=False, migrate=migrate)
    pending = [] if migrate else ledger.pending_migrations()
    if pending:
        ledger.close()
        raise ConfigError(
            f"ledger {ledger.where} has an older schema ({len(pending)} migration(s) behind), "
            f"opened not to be written: upgrade it first"
        )
    return ledger


def open_gate_ledger(url: str | None = None) -> GateLedger:
    """The ledger at ``url`` for a gate (:class:`~warmup.ledger.gatepath.GateLedger`): the
    backend's driver-level one when it has one and can open this ledger as it is (SQLite, schema
    current), else :func:`open_ledger` (``create=False``: a missing ledger is refused)."""
    url = resolve_url(url)
    ledger: GateLedger | None = _driver_level(GATES, url)
    return ledger if ledger is not None else open_ledger(url, create=False)


def _driver_level(table: dict[str, str], url: str) -> Any:
    """``table``'s class for the URL's scheme opened on ``url``, or None (no such class, or it
    cannot open this ledger as it is)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in table:
        return None
    module, _, name = table[scheme].partition(":")
    return getattr(importlib.import_module(module), name).open(url)
