"""A pool's overflow channel: an ESP relay (host, port, credentials) for the pool's bulk messages
once every member's quota of the day is used (the seed's "quality channel").

    warmup pool overflow outreach --host smtp.esp.example --port 587 --security starttls --user api

Only messages queued as bulk (``queue add --bulk``, ``Outbox.add(..., bulk=True)``) go this way,
and only when each member refuses them because its quota is used (``exhausted``); a member paused,
held, outside its window or pacing makes the message wait as any other. Overflow sends never go
through the gate: nothing is written to the warm-up records, so quota, plan and reports do not
see them; the outbox row says ``sent_via = 'overflow'``. Suppressed recipients are never mailed.

The password is never in the ledger: ``$WARMUP_OVERFLOW_PASSWORD``, else the system keyring
(service ``warmup``, user ``overflow:POOL``), filled by ``warmup pool overflow ... --user U``.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from collections.abc import Iterable

from warmup import credentials
from warmup.endpoints import is_host, is_loopback
from warmup.errors import ConfigError, DataError, InvalidField, Unavailable
from warmup.instants import aware, now_utc
from warmup.ledger import Ledger, Overflow, PoolRow
from warmup.providers import SECURITIES
from warmup.smtp import DEFAULT_TIMEOUT, Outcome, Session, Target
from warmup.stopwindow import StopWindow

PASSWORD_ENV = "WARMUP_OVERFLOW_PASSWORD"
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}

__all__ = [
    "PASSWORD_ENV",
    "check",
    "check_environment",
    "configure",
    "keyring_user",
    "password",
    "send",
    "turn_off",
]


def keyring_user(pool: str) -> str:
    """The keyring entry (user, service ``warmup``) of pool ``pool``'s overflow password."""
    return f"overflow:{pool}"


def configure(
    ledger: Ledger,
    pool: str,
    host: str,
    port: int | None = None,
    security: str | None = None,
    user: str | None = None,
    now: dt.datetime | None = None,
) -> PoolRow:
    """Give pool ``pool`` an overflow channel (replacing the one it had); the pool now.
    ``security`` defaults to ssl, ``port`` to that security's usual port; ``none`` (no TLS)
    only with a loopback host. The pool's bulk messages waiting for the members' next day
    become due at once."""
    now = aware(now, "now") if now is not None else now_utc()
    channel = check(host, port, security, user)
    return ledger.set_overflow(ledger.pool(pool).name, channel, now)


def check(
    host: str, port: int | None = None, security: str | None = None, user: str | None = None
) -> Overflow:
    """The channel these settings describe, or :class:`InvalidField` naming the one at fault."""
    security = security or "ssl"
    if security not in SECURITIES:
        raise InvalidField(
            "security",
            "{field} {security!r}: expected one of {choices}",
            security=security,
            choices=", ".join(SECURITIES),
        )
    host = (host or "").strip()
    if not is_host(host):  # as a mailbox's --smtp-host, one host without a backup list
        raise InvalidField(
            "host", "{field} {host!r}: expected one host name or IP address", host=host
        )
    if security == "none" and not is_loopback(host):
        raise InvalidField(
            "security",
            "{field} none sends the password in clear text: allowed only with a loopback "
            "{host} (127.0.0.1, localhost)",
            refs={"host": "host"},
        )
    if port is not None and not 0 < port < 65536:
        raise InvalidField("port", "{field} {port}: expected 1-65535", port=port)
    if user is not None and (not user.strip() or not user.isprintable()):
        raise InvalidField("user", "{field} {user!r}: expected a login name", user=user)
    return Overflow(host, port or DEFAULT_PORTS[security], security, user and user.strip())


def turn_off(ledger: Ledger, pool: str) -> PoolRow:
    """Remove pool ``pool``'s overflow channel (and its stored password): its bulk messages
    wait for the members again. :class:`DataError` if it has none."""
    found = ledger.pool(pool)
    if found.overflow is None:
        raise DataError(
            f"pool {found.name!r} has no overflow channel; give it one with "
            f"'warmup pool overflow {shlex.quote(found.name)} --host HOST'"
        )
    if found.overflow.user is not None:
        try:
            credentials.forget_password(keyring_user(found.name))
        except ConfigError:  # no keyring on this machine: nothing stored there
            pass
    return ledger.set_overflow(found.name, None, now_utc())


def check_environment(pools: Iterable[PoolRow]) -> None:
    """:class:`ConfigError` (naming the variable, never its value) when
    ``$WARMUP_OVERFLOW_PASSWORD`` is set, one of ``pools`` has an overflow channel that logs in,
    and its login could not send that password (:func:`warmup.credentials.usable`). For a
    worker's start: else it surfaced at the first bulk message past every member's quota,
    possibly hours later."""
    secret = os.environ.get(PASSWORD_ENV)
    if secret and any(p.overflow is not None and p.overflow.user for p in pools):
        credentials.usable(secret, PASSWORD_ENV)


def password(pool: str) -> str:
    """The overflow channel's password: ``$WARMUP_OVERFLOW_PASSWORD``, else the keyring."""
    secret = os.environ.get(PASSWORD_ENV)
    if secret:
        return credentials.usable(secret, PASSWORD_ENV)
    try:
        secret = credentials._keyring().get_password(credentials.SERVICE, keyring_user(pool))
    except ConfigError:
        raise ConfigError(
            f"no system keyring for the overflow password of pool {pool}; set {PASSWORD_ENV}"
        ) from None
    except Exception as exc:  # keyring backends raise their own types
        raise ConfigError(
            f"the system keyring failed ({type(exc).__name__}); set {PASSWORD_ENV}"
        ) from None
    if not secret:
        raise ConfigError(
            f"no password for the overflow channel of pool {pool}: store it with 'warmup pool "
            f"overflow {shlex.quote(pool)} --host HOST --user USER' or set {PASSWORD_ENV}"
        )
    return secret


def send(
    pool: PoolRow,
    mail_from: str,
    recipients: list[str],
    data: bytes,
    timeout: float | None = None,
    window: StopWindow | None = None,
) -> Outcome:
    """One message through ``pool``'s overflow channel: the per-recipient results (never raises
    for SMTP replies); :class:`Unavailable` and the login errors when it cannot be handed over.
    ``window``: the caller's stop window, as :meth:`Session.send` takes it."""
    channel = pool.overflow
    assert channel is not None
    secret = password(pool.name) if channel.user else ""
    name = shlex.quote(pool.name)
    configure = f"'warmup pool overflow {name} --host {shlex.quote(channel.host)} --user USER'"
    target = Target(
        (channel.host,),
        channel.port,
        channel.security,
        channel.user or "",
        secret,
        timeout or DEFAULT_TIMEOUT,
        # a 530: the channel's own login is what to fix, not the sending mailbox's
        login_fix=(
            f"check the login of the overflow channel of pool {pool.name} ('warmup pool show "
            f"{name}'; its password: ${PASSWORD_ENV} or the one {configure} stored)"
            if channel.user
            else f"the overflow channel of pool {pool.name} logs in as no one: give it a user "
            f"with {configure}"
        ),
    )
    try:
        session = Session(target)
    except Unavailable as exc:
        why = str(exc).partition("; check")[0]  # without the mailbox's hint
        raise Unavailable(
            f"overflow channel of pool {pool.name}: {why}; check it with "
            f"'warmup pool show {shlex.quote(pool.name)}'"
        ) from None
    try:
        return session.send(mail_from, recipients, data, window)
    finally:
        session.close()
