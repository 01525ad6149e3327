"""``warmup doctor``: check a mailbox's set-up step by step, and say which step is wrong.

    from warmup import doctor
    checks = doctor.run(box, password, timeout=10)
    code = doctor.exit_code(checks)      # 0, or the sysexits code of the first failure (75 last)

The checks follow the path a send takes, in order: every host of the preset (or the mailbox's
override) resolves — primary and backups, SMTP and IMAP —, accepts a TCP connection, completes
a TLS handshake with a certificate verified against the system store (``SSL_CERT_FILE`` is
honoured, like :mod:`warmup.smtp`); then SMTP EHLO + AUTH on the first host that passed (then
QUIT: no mail is ever sent) and an IMAP login (then LOGOUT). A host that fails while another
host of the same service works is a warning: failover will use the other one.

A failure carries the likely cause and the fix, mapped to the provider's setup checklist
(``providers.toml``) in the guide's order: a refused password points at the mailbox-level steps
(for Tencent Exmail steps 2-4: the IMAP/SMTP switch, Secure Login, the client-specific
password); a server saying the service is not enabled/allowed for the account points at the
administrator's scope (step 1). Login is tried once per service: retrying a refused password
only gets an account locked sooner. The password never appears in a check.
"""

from __future__ import annotations

import binascii
import datetime as dt
import imaplib
import re
import shlex
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from warmup.api import endpoints
from warmup.bounces import imapconn
from warmup.errors import ConfigError, PermissionFailure, TempFail, Unavailable, WarmupError
from warmup.ledger import MailboxRow
from warmup.providers import Provider, get_provider
from warmup.smtp import (
    MechanismsRefused,
    failure_text,
    logged_in,
    password_login,
    reply_text,
    smtp_auth_off,
)
from warmup.words import clock_offset_said, plural, scrubbed

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.oauth import Bearer

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = (
    Unavailable.exit_code,
    TempFail.exit_code,
    PermissionFailure.exit_code,
    ConfigError.exit_code,
)
DEFAULT_TIMEOUT = 10.0
# A check may wait ``timeout`` for each answer, and this many times it in all: the socket
# timeout bounds one wait, not a server that keeps talking without ever finishing an answer.
CHECK_TIMEOUTS = 3
# A server that names the service as switched off for the account: the administrator's scope.
_SCOPE_WORDS = re.compile(
    r"not (?:enabled|allowed|open|permitted|authori[sz]ed)|disabled|"
    r"forbidden|no permission|service is closed",
    re.I,
)
_ADMIN_STEP = re.compile(r"\badmin", re.I)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls, DEL


@dataclass
class Check:
    """One step of the diagnosis. ``steps`` are the implicated checklist steps (1-based)."""

    name: str  # dns | tcp | tls | smtp-auth | imap-login | ledger | clock | mx | spf | dkim | dmarc
    target: str  # e.g. "SMTP smtp.exmail.qq.com:465"
    status: str  # ok | warn | fail | skip (not run: an earlier step failed for every host)
    ms: int
    detail: str
    cause: str = ""
    fix: str = ""
    code: int = 0  # sysexits code of a failure
    steps: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        # The detail quotes what a server or a DNS record said, and a fix may name what a record
        # names (an SPF include:): never a terminal's escapes. A fix's own lines (a checklist)
        # are kept.
        self.detail = _shown(self.detail)
        self.cause = _shown(self.cause)
        self.fix = "\n".join(_shown(line) for line in self.fix.split("\n"))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "steps": list(self.steps)}


def _shown(text: str) -> str:
    """``text`` with its control characters written as ``\\xNN``."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


class _Failed(Exception):
    """A step failed: what happened, why it likely did, how to fix it, and the exit code."""

    def __init__(
        self,
        detail: str,
        cause: str = "",
        fix: str = "",
        code: int = EX_UNAVAILABLE,
        steps: tuple[int, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.detail, self.cause, self.fix, self.code, self.steps = detail, cause, fix, code, steps


@dataclass(frozen=True)
class _Service:
    kind: str  # SMTP | IMAP
    hosts: tuple[str, ...]
    port: int
    security: str

    def target(self, host: str) -> str:
        return f"{self.kind} {host}:{self.port}"

    @property
    def option(self) -> str:
        return f"--{self.kind.lower()}"


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed (warnings allowed), else the code of the first failure, a
    temporary one (75: time ran out, a 4xx) only when every failure is: a script retries on
    75, and no retry clears a record to fix or a refused login that failed beside it."""
    failed = [c.code for c in checks if c.status == FAIL]
    return next((code for code in failed if code != EX_TEMPFAIL), failed[0] if failed else 0)


def run(
    box: MailboxRow,
    password: str | Bearer | None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    no_password: str = "no password available",
) -> list[Check]:
    """Every check for ``box``, in order. ``password`` None: the login checks fail (exit 78)
    with ``no_password`` as the detail, the network checks still run. A :class:`Bearer`: the
    logins use XOAUTH2 (a token that cannot be refreshed fails them with its own exit code)."""
    ep = endpoints(box)
    provider = get_provider(box.provider, of=box.address)
    services = (
        _Service("SMTP", ep.smtp_hosts, ep.smtp_port, ep.smtp_security),
        _Service("IMAP", ep.imap_hosts, ep.imap_port, ep.imap_security),
    )
    checks: list[Check] = []
    alive: dict[str, list[str]] = {s.kind: list(s.hosts) for s in services}
    for name, probe in (("dns", _resolve), ("tcp", _connect), ("tls", _handshake)):
        for svc in services:
            alive[svc.kind] = _stage(checks, name, svc, alive[svc.kind], probe, timeout)
    smtp_svc, imap_svc = services
    smtp = _login(
        checks,
        "smtp-auth",
        smtp_svc,
        alive["SMTP"],
        box,
        password,
        no_password,
        provider,
        timeout,
        _smtp_login,
    )
    imap = _login(
        checks,
        "imap-login",
        imap_svc,
        alive["IMAP"],
        box,
        password,
        no_password,
        provider,
        timeout,
        _imap_login,
    )
    if smtp is not None and imap is not None and isinstance(password, str):
        _cross_check(smtp, imap, provider)
    return checks


def ledger_check(ledger: Ledger) -> Check | None:
    """Whether the ledger's own storage is whole (SQLite's quick_check: every page read; None
    for a server's database, which keeps its own pages).

    A damaged page is met only by the command that reads it: ``quota`` may answer for weeks
    from the pages still whole while ``report`` on the same file fails, and a send recorded
    meanwhile goes into a file no backup has yet. Exit 78, as any command meeting the damage."""
    with _timer() as ms:
        try:
            damage = ledger.damage()
        except Unavailable as exc:  # a lock held past the busy timeout: nothing is known
            return Check("ledger", ledger.where, WARN, ms(), f"not checked: {exc}")
    if damage is None:
        return None
    found = [line for row in damage for line in row.splitlines() if line.strip()]
    found = [line for line in found if not line.startswith("*** in database")] or found
    if not found:
        return Check("ledger", ledger.where, OK, ms(), "the file's pages are whole (quick_check)")
    more = " (and other problems)" if len(found) > 1 else ""
    return Check(
        "ledger",
        ledger.where,
        FAIL,
        ms(),
        f"the ledger is damaged: {found[0]}{more}",
        "a write torn by a crash or a failing disk, or a copy taken while warmup wrote to it: "
        "commands that read the damaged pages fail, the others answer from what is left",
        "stop what writes to it (warmup run, the relay), keep the damaged file aside and restore "
        "the ledger from a backup; sqlite3's .recover salvages what is still readable",
        EX_CONFIG,
    )


def clock_check(ledger: Ledger) -> Check | None:
    """This host's clock against a shared ledger server's (None for a ledger of one host, a
    SQLite file): a worker's claim is stamped and judged on the server's clock, but the sends
    this host records carry its own, which the gate trusts to :data:`CLOCK_SKEW`. Further off
    than that: a warning to fix the host's time sync (nothing fails for it)."""
    from warmup.ledger.values import CLOCK_SKEW

    with _timer() as ms:
        try:
            offset = ledger.clock_offset()
        except Unavailable as exc:
            return Check("clock", ledger.where, WARN, ms(), f"not checked: {exc}")
    if offset is None:
        return None
    said = clock_offset_said(offset)
    if abs(offset) <= CLOCK_SKEW:
        return Check("clock", ledger.where, OK, ms(), said)
    return Check(
        "clock",
        ledger.where,
        WARN,
        ms(),
        said,
        fix="fix this host's time sync (chrony, ntpd or systemd-timesyncd): the sends it "
        f"records are dated by its clock, which the ledger's other hosts trust to "
        f"{int(CLOCK_SKEW.total_seconds() // 60)} min",
    )


def ahead_check(ledger: Ledger, box: MailboxRow, now: dt.datetime | None = None) -> Check | None:
    """The mailbox's sends stamped after ``now`` + CLOCK_SKEW (None: none): this host's clock
    is behind (set back, its time sync off), or the host that stamped them runs ahead. Later
    today they count at once (the gate and ``quota`` alike); on a later local day they are that
    day's, not today's, and counting them today would let one wrong stamp block a mailbox for
    good: so a host whose clock is a day behind sends a second full quota in one real day, and
    only a person can tell which clock is wrong. A warning, nothing fails for it."""
    from warmup.instants import local_text, now_utc
    from warmup.ledger.values import local_day

    now = now or now_utc()
    with _timer() as ms:
        n, latest = ledger.sends_ahead(box, now)
    if latest is None:
        return None
    tz = box.timezone
    ahead = latest - now
    amount = (
        f"{ahead.days} d {ahead.seconds // 3600} h"
        if ahead.days
        else f"{ahead.seconds // 3600} h {ahead.seconds % 3600 // 60} min"
    )
    if local_day(latest, tz) > local_day(now, tz):
        counted = (
            "stamped on a later day than this host's today, they are not counted in today's "
            "quota, neither by the gate nor by 'warmup quota': if this host's clock is a day "
            "behind, it sends a second full quota in one real day"
        )
    else:
        counted = "today's quota counts them already (the gate and 'warmup quota' alike)"
    return Check(
        "sends-ahead",
        f"sends of {box.address}",
        WARN,
        ms(),
        f"{plural(n, 'send')} stamped after this host's now, the latest at "
        f"{local_text(latest, tz)} ({amount} ahead): this host's clock may be behind (set "
        f"back, or its time sync off), or the host that sent them runs ahead; {counted}",
        "",
        "compare this host's clock with the right time ('timedatectl' or 'chronyc tracking') and "
        "fix its time sync (chrony, ntpd or systemd-timesyncd); if it is right, fix the clock of "
        "the host that sent them",
    )


def kinds_check(ledger: Ledger, box: MailboxRow) -> Check | None:
    """The mailbox's bounces of a kind this version lacks (None: none), written by hand or by
    a newer warmup. Counted, each counts as a soft bounce in the bounce rate (the cautious
    reading: :func:`warmup.ledger.reads.rate_kind`), suppressing nothing; the gate and
    ``quota`` count it without a word (a line on every question of a sending script would be
    noise, and they read a bounce's kind only on its own day). A warning naming the first row
    and the UPDATE that mends them."""
    from warmup.ledger.reads import UNKNOWN_COUNTS_AS

    with _timer() as ms:
        rows = ledger.unknown_kinds(box)
    if not rows:
        return None
    first, kind, counted = rows[0]
    how = (
        f"counted, it counts as a {UNKNOWN_COUNTS_AS} bounce in the bounce rate"
        if counted
        else "not counted, it is in no rate"
    )
    more = f" ({plural(len(rows) - 1, 'other row')} too)" if len(rows) > 1 else ""
    kinds = sorted({k for _, k, _ in rows})
    which = (
        f"id = {first}"
        if len(rows) == 1
        else f"mailbox_id = {box.id} AND kind IN ({', '.join(_sql_text(k) for k in kinds)})"
    )
    return Check(
        "bounce-kinds",
        f"bounces of {box.address}",
        WARN,
        ms(),
        f"bounce row {first} (of mailbox #{box.id}): kind {kind!r} is not a kind this warmup "
        f"knows (written by hand or by another version?): {how}, and suppresses nothing{more}",
        "",
        f"correct the row, e.g. UPDATE bounce SET kind = '{UNKNOWN_COUNTS_AS}' WHERE {which}; "
        "or upgrade warmup if a newer one wrote it",
    )


def _sql_text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


# -- network steps -------------------------------------------------------------------------------


def _stage(
    checks: list[Check],
    name: str,
    svc: _Service,
    hosts: list[str],
    probe: Callable[[_Service, str, float], str],
    timeout: float,
) -> list[str]:
    """Run ``probe`` on each host still alive; a host failing while another passes is a warning."""
    if not hosts:
        checks.append(
            Check(
                name,
                f"{svc.kind} {', '.join(svc.hosts) or '-'}",
                SKIP,
                0,
                "not run: an earlier step failed for every host",
            )
        )
        return []
    results: list[Check] = []
    passed = []
    for host in hosts:
        with _timer() as ms:
            try:
                detail = _bounded(partial(probe, svc, host, timeout), timeout)
                failure = None
            except _Failed as exc:
                failure = exc
        if failure is None:
            status = WARN if detail.startswith("warning: ") else OK
            results.append(
                Check(name, svc.target(host), status, ms(), detail.removeprefix("warning: "))
            )
            passed.append(host)
        else:
            results.append(
                Check(
                    name,
                    svc.target(host),
                    FAIL,
                    ms(),
                    failure.detail,
                    failure.cause,
                    failure.fix,
                    failure.code,
                    failure.steps,
                )
            )
    if passed:  # failover covers the others
        for c in results:
            if c.status == FAIL:
                c.status, c.code = WARN, 0
                c.detail += f" (failover uses {passed[0]})"
    checks.extend(results)
    return passed


def _bounded(step: Callable[[], str], timeout: float, late: _Failed | None = None) -> str:
    """``step()``, given at most :data:`CHECK_TIMEOUTS` times ``timeout`` in all (past it:
    ``late``, by default a mail server's endless answer).

    An endless multi-line greeting or a reply trickled in keeps every read within the socket
    timeout; the step runs in a daemon thread that is left behind when its time is up, as
    :func:`_resolve` leaves getaddrinfo (its socket goes when the process exits)."""
    limit = CHECK_TIMEOUTS * timeout
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["ok"] = step()
        except BaseException as exc:  # re-raised in the caller's thread
            box["err"] = exc

    worker = threading.Thread(target=run, name="warmup-doctor-check", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise late or _Failed(
            f"no complete answer within {limit:g} s",
            "the server keeps sending without finishing its answer: not a mail server on this "
            "port, or a broken one",
            "check the host and port (a wrong one may be another service), or try again later",
        )
    if "err" in box:
        raise box["err"]
    return cast(str, box["ok"])


@contextmanager
def _timer() -> Iterator[Callable[[], int]]:
    start = time.monotonic()
    end: list[float] = []
    yield lambda: round(((end[0] if end else time.monotonic()) - start) * 1000)
    end.append(time.monotonic())


def _resolve(svc: _Service, host: str, timeout: float) -> str:
    # getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting.
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["ok"] = socket.getaddrinfo(host, svc.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["err"] = exc

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    dns_fix = (
        f"check the host name ({svc.option}-host, 'warmup mailbox show'; the presets are "
        f"in 'warmup providers') and this machine's network and DNS resolver"
    )
    if worker.is_alive():
        raise _Failed(
            f"no DNS answer for {host} within {timeout:g} s",
            "network/DNS: the resolver does not answer",
            dns_fix,
        )
    if "err" in box:
        raise _Failed(
            f"{host} does not resolve ({box['err'].strerror or box['err']})",
            "network/DNS: the name is unknown or the network is down",
            dns_fix,
        )
    addrs = sorted({a[4][0] for a in box["ok"]})
    return f"{host} -> {', '.join(addrs[:4])}"


def _connect(svc: _Service, host: str, timeout: float) -> str:
    try:
        socket.create_connection((host, svc.port), timeout=timeout).close()
    except OSError as exc:
        why = failure_text(exc)
        if isinstance(exc, ConnectionRefusedError):
            cause = f"nothing listens on port {svc.port}: a wrong port, or the server is down"
        elif "timed out" in why:
            cause = "no answer: a firewall drops the traffic, or the host is down"
        else:
            cause = "the network cannot reach the host"
        raise _Failed(
            f"cannot connect: {why}",
            cause,
            f"check {svc.option}-port ({_usual(svc.kind)}) and that outbound port "
            f"{svc.port} is open on this network",
        ) from None
    if svc.port in (25, 143):
        return f"warning: connected, but port {svc.port} is " + (
            "server-to-server relay, often blocked; submit on 465 (ssl) or 587 (starttls)"
            if svc.port == 25
            else "plain IMAP; prefer 993 (ssl)"
        )
    return "connected"


def _usual(kind: str) -> str:
    return "SMTP: 465 ssl or 587 starttls" if kind == "SMTP" else "IMAP: 993 ssl"


_NEVER_ANSWERED = (
    "the server accepted the connection but never answered: the wrong port, or a "
    "proxy/firewall in the way"
)


def _handshake(svc: _Service, host: str, timeout: float) -> str:
    if svc.security == "none":
        return (
            f"warning: plaintext connection (security none): the password crosses the "
            f"network unencrypted; use {svc.option}-security ssl"
        )
    ctx = ssl.create_default_context()
    try:
        if svc.security == "ssl":
            with (
                socket.create_connection((host, svc.port), timeout=timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as tls,
            ):
                return _describe(tls)
        if svc.kind == "SMTP":
            with smtplib.SMTP(host, svc.port, timeout=timeout) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise _Failed(
                        "the server does not offer STARTTLS",
                        "this port does not speak STARTTLS",
                        f"use {svc.option}-security ssl with port 465, or the port "
                        f"that offers STARTTLS (587)",
                    )
                smtp.starttls(context=ctx)
                # starttls() replaced the plain socket with the TLS one.
                return _describe(cast(ssl.SSLSocket, smtp.sock))
        imap = imaplib.IMAP4(host, svc.port, timeout=timeout)
        try:
            imap.starttls(ssl_context=ctx)
            return _describe(cast(ssl.SSLSocket, imap.sock))  # as for SMTP
        finally:
            imapconn.logout(imap)
    except ssl.SSLCertVerificationError as exc:
        raise _Failed(
            failure_text(exc),
            "the certificate is not signed by a CA this machine trusts, "
            "or is for another name (a TLS-inspecting proxy or antivirus, a private "
            "server, or the wrong host name)",
            "use the provider's own host name; for a private CA put it in the system "
            "store or point SSL_CERT_FILE at it (verification is never turned off)",
        ) from None
    except smtplib.SMTPConnectError as exc:
        raise _greeting(exc, svc) from None
    except (ssl.SSLError, smtplib.SMTPServerDisconnected) as exc:
        if isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc):
            # smtplib words a server that never greets as one that hung up ("Connection
            # unexpectedly closed: timed out"): it was told as a port without STARTTLS.
            raise _Failed(
                f"TLS handshake failed: no SMTP greeting within {timeout:g} s (timed out)",
                _NEVER_ANSWERED,
                f"check {svc.option}-port and {svc.option}-security ({_usual(svc.kind)})",
            ) from None
        raise _Failed(
            failure_text(exc),
            f"the server on port {svc.port} does not speak "
            f"{'implicit TLS' if svc.security == 'ssl' else 'STARTTLS'} "
            f"(security {svc.security} does not match the port)",
            f"match {svc.option}-security to the port ({_usual(svc.kind)})",
        ) from None
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error) as exc:
        why = failure_text(exc)
        cause = _NEVER_ANSWERED if "timed out" in why else "the server broke off the TLS handshake"
        raise _Failed(
            f"TLS handshake failed: {why}",
            cause,
            f"check {svc.option}-port and {svc.option}-security ({_usual(svc.kind)})",
        ) from None


def _greeting(exc: smtplib.SMTPConnectError, svc: _Service) -> _Failed:
    """The server's first line was not SMTP's 220 greeting."""
    said = reply_text(exc.smtp_error)
    if exc.smtp_code == -1:  # no reply code: smtplib kept the line from its fifth character
        return _Failed(
            f"no SMTP greeting (the server said '...{said}')",
            f"port {svc.port} is another service's (HTTP, IMAP, ...), not SMTP",
            f"check {svc.option}-port ({_usual(svc.kind)})",
        )
    return _Failed(
        f"the server refused the connection: {exc.smtp_code} {said}",
        "the server turns this client away (its address, or too many connections)",
        "run 'warmup doctor' again later; if it persists, ask the provider why",
    )


def _describe(tls: ssl.SSLSocket) -> str:
    cert = tls.getpeercert() or {}
    # typeshed types every field of the decoded certificate as a union of their shapes.
    alt = cast("tuple[tuple[str, str], ...]", cert.get("subjectAltName", ()))
    names = [v for k, v in alt if k in ("DNS", "IP Address")]
    text = f"{tls.version()}, certificate verified for {', '.join(names[:3]) or 'the host'}"
    if "notAfter" in cert:
        left = (ssl.cert_time_to_seconds(cast(str, cert["notAfter"])) - time.time()) / 86400
        if left < 14:
            return f"warning: {text}, but it expires in {plural(max(round(left), 0), 'day')}"
        text += f", valid {left:.0f} more days"
    return text


# -- logins -------------------------------------------------------------------------------------


def _login(
    checks: list[Check],
    name: str,
    svc: _Service,
    hosts: list[str],
    box: MailboxRow,
    password: str | Bearer | None,
    no_password: str,
    provider: Provider,
    timeout: float,
    attempt: Callable[[_Service, str, str, str | Bearer, float], str],
) -> Check | None:
    """One login on the first host that passed TLS (as a send's failover would pick)."""
    if not hosts:
        checks.append(
            Check(
                name,
                f"{svc.kind} {', '.join(svc.hosts) or '-'}",
                SKIP,
                0,
                "not run: no host passed the earlier steps",
            )
        )
        return None
    host = hosts[0]
    if password is None:
        cause, fix = (
            "no password is available",
            (
                f"store it with 'warmup mailbox login {shlex.quote(box.address)}', or set "
                f"WARMUP_PASSWORD, or use --password-command 'CMD'"
            ),
        )
        if no_password.startswith("the password command"):
            # There was one: "use --password-command" told whoever had given it to give it.
            cause = "the password command gave no password"
            fix = (
                f"run it by hand to see why (WARMUP_MAILBOX={shlex.quote(box.address)} sh -c "
                f"'CMD': its own error says it), or store the password with 'warmup mailbox "
                f"login {shlex.quote(box.address)}'"
            )
        check = Check(name, svc.target(host), FAIL, 0, no_password, cause, fix, EX_CONFIG)
        checks.append(check)
        return None
    with _timer() as ms:
        try:
            if not isinstance(password, str):
                _access_token(password, timeout)
            detail = _bounded(partial(attempt, svc, host, box.address, password, timeout), timeout)
            failure = None
        except _Failed as exc:
            failure = exc
        except WarmupError as exc:  # no OAuth access token: the refresh failed
            failure = _Failed(str(exc), code=exc.exit_code)
    if (
        failure is not None
        and not isinstance(password, str)
        and failure.code not in (EX_UNAVAILABLE, EX_TEMPFAIL)
        and not failure.fix  # one the step knows better (a server offering no XOAUTH2)
    ):
        # (an endpoint or server that did not answer, or cannot refresh now: logging in again
        # would not help)
        failure.cause = failure.cause or "the OAuth login was refused or could not be refreshed"
        failure.fix = f"log in again with 'warmup mailbox login {shlex.quote(box.address)} --oauth'"
    elif failure is not None and failure.code == EX_NOPERM:
        failure.cause, failure.fix, failure.steps = _auth_advice(failure.detail, provider)
    if failure is None:
        check = Check(
            name,
            svc.target(host),
            WARN if detail.startswith("warning: ") else OK,
            ms(),
            detail.removeprefix("warning: "),
        )
    else:
        check = Check(
            name,
            svc.target(host),
            FAIL,
            ms(),
            failure.detail,
            failure.cause,
            failure.fix,
            failure.code,
            failure.steps,
        )
    checks.append(check)
    return check


def _access_token(bearer: Bearer, timeout: float) -> None:
    """Fetch ``bearer``'s access token before a login needs it, its refresh given ``timeout``
    (the login then uses it as cached): a token endpoint that does not answer is named as such,
    never taken for a mail server that does not finish its answer."""
    cause = "the OAuth token endpoint gave no access token (the mail server was not asked)"
    fix = "check the network (and WARMUP_OAUTH_ENDPOINT if set), then run doctor again"
    late = f"no access token from the OAuth token endpoint within {CHECK_TIMEOUTS * timeout:g} s"
    try:
        _bounded(partial(bearer.token, timeout), timeout, _Failed(late, cause, fix))
    # Its refresh request failed, took longer than ``timeout``, or the endpoint cannot refresh
    # now (5xx, 429): the stored login may be fine.
    except (Unavailable, TempFail) as exc:
        raise _Failed(str(exc), cause, fix, exc.exit_code) from None


def _smtp_login(svc: _Service, host: str, user: str, password: str | Bearer, timeout: float) -> str:
    ctx = ssl.create_default_context()
    try:
        if svc.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, svc.port, timeout=timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(host, svc.port, timeout=timeout)
        try:
            smtp.ehlo()
            if svc.security == "starttls":
                smtp.starttls(context=ctx)
                smtp.ehlo()
            # smtplib keeps the AUTH line with a leading space (" LOGIN PLAIN"): single-spaced
            mechanisms = " ".join((smtp.esmtp_features.get("auth") or "").upper().split())
            if not smtp.has_extn("auth"):
                if svc.security == "none":
                    return "warning: EHLO ok; the server asks for no AUTH (an open local relay?)"
                raise _Failed(
                    "the server offers no AUTH after EHLO",
                    "this is not a submission port (or AUTH needs TLS first)",
                    f"use the submission port ({_usual('SMTP')})",
                    EX_CONFIG,
                )
            if not isinstance(password, str) and "XOAUTH2" not in mechanisms.split():
                raise _no_xoauth2(f"AUTH {mechanisms or '(no mechanism named)'}", user)
            try:
                if isinstance(password, str):
                    password_login(smtp, user, password)
                else:
                    logged_in(
                        smtp.auth("XOAUTH2", password.smtp_response(), initial_response_ok=True)
                    )
            except smtplib.SMTPAuthenticationError as exc:
                text = (
                    exc.smtp_error.decode("utf-8", "replace")
                    if isinstance(exc.smtp_error, bytes)
                    else str(exc.smtp_error)
                )
                # a server quoting the password or token back: never in a check
                refused = scrubbed(
                    f"AUTH refused: {exc.smtp_code} {' '.join(text.split())}", password
                )
                if isinstance(exc, MechanismsRefused):  # as a send says it (exit 69)
                    raise _Failed(
                        f"AUTH {exc.advertised} advertised, then {', '.join(exc.tried)} "
                        f"refused as not supported: {refused.removeprefix('AUTH refused: ')}",
                        "the server refuses the login mechanisms it advertises: its set-up is "
                        "at fault, not the password (never checked)",
                        "ask the server's administrator; 'warmup doctor' again once it is fixed",
                        EX_UNAVAILABLE,
                    ) from None
                if not isinstance(password, str) and exc.smtp_code == 504:  # no such mechanism
                    raise _no_xoauth2(refused, user) from None
                if exc.smtp_code == 535 and smtp_auth_off(refused):
                    raise _Failed(  # as a send says it (exit 78): no new password changes it
                        refused,
                        "authenticated SMTP is turned off for this mailbox or its tenant: "
                        "the password is not the fault",
                        f"an administrator must turn it on (Exchange Online: 'Set-CASMailbox "
                        f"{shlex.quote(user)} -SmtpClientAuthenticationDisabled $false', and "
                        f"for the tenant)",
                        EX_CONFIG,
                    ) from None
                if 400 <= exc.smtp_code < 500 and exc.smtp_code != 432:
                    raise _Failed(  # as a send says it (exit 75): 432 asks for a new password
                        refused,
                        "the server could not check the login just now (a temporary "
                        "failure, not a refused password)",
                        "run 'warmup doctor' again later",
                        EX_TEMPFAIL,
                    ) from None
                raise _Failed(refused, code=EX_NOPERM) from None
            except binascii.Error:  # smtplib decodes a 334 challenge unchecked
                raise _Failed(
                    "AUTH failed: the server's challenge (its 334 reply) is not base64",
                    "the server's login is broken, whatever the password",
                    "ask the server's administrator; 'warmup doctor' again once it is fixed",
                ) from None
            return (
                f"EHLO ok, AUTH {mechanisms or '?'}: login accepted for {user}; {_sends_with(smtp)}"
            )
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    except smtplib.SMTPConnectError as exc:
        raise _greeting(exc, svc) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _Failed(
            f"SMTP conversation failed: {scrubbed(failure_text(exc), password)}",
            "the server broke off before the login",
            "run 'warmup doctor' again; if it persists, the provider may be refusing this network",
        ) from None


def _no_xoauth2(detail: str, user: str) -> _Failed:
    """An SMTP server that takes no XOAUTH2, for an OAuth login: as IMAP's (exit 78)."""
    return _Failed(
        f"the server offers no OAuth login (XOAUTH2): {detail}",
        "the server offers no OAuth login (XOAUTH2): logging in again would not change that",
        f"check the mailbox's SMTP host, or log in with a password instead ('warmup mailbox "
        f"login {shlex.quote(user)}')",
        code=EX_CONFIG,
    )


def _sends_with(smtp: smtplib.SMTP) -> str:
    """How warmup's sends will talk to this server, from its EHLO: the extensions that change
    the conversation (a round trip saved, 8-bit data kept, the size it takes)."""
    from warmup.smtp import chunking_setting

    used = [x.upper() for x in ("pipelining", "8bitmime", "smtputf8") if smtp.has_extn(x)]
    if smtp.has_extn("chunking"):
        wanted, source = chunking_setting()
        if not smtp.has_extn("pipelining"):
            used.append("CHUNKING (not used without PIPELINING)")
        elif wanted:
            used.append("CHUNKING")
        else:
            used.append(f"CHUNKING (off: {source})")
    size = (smtp.esmtp_features.get("size") or "").strip()
    if size.isascii() and size.isdigit() and int(size):  # "\u00b2" is a digit to isdigit()
        # Under a MiB in KiB: a 100 KB limit is not 'SIZE 0 MiB', as if it took nothing.
        octets = int(size)
        if octets >= 2**20:
            shown = f"{octets / 2**20:.0f} MiB"
        else:
            shown = f"{octets / 2**10:.0f} KiB" if octets >= 2**10 else f"{octets} bytes"
        used.append(f"SIZE {shown}")
    return f"sends with {', '.join(used)}" if used else "sends one command at a time"


def _imap_login(svc: _Service, host: str, user: str, password: str | Bearer, timeout: float) -> str:
    try:
        imap, _ = imapconn.connect((host,), svc.port, svc.security, user, password, timeout)
    except PermissionFailure as exc:  # LoginFailed, or an OAuth token refused (LoginExpired)
        raise _Failed(str(exc), code=EX_NOPERM) from None
    except ConfigError as exc:
        if isinstance(password, str):  # LOGINDISABLED: no password on a connection without TLS
            raise _Failed(
                str(exc),
                "the server takes no password on a connection without TLS (LOGINDISABLED): "
                "the password was not sent",
                f"connect with TLS: 'warmup mailbox set {shlex.quote(user)} --imap-security "
                f"ssl' (or starttls)",
                code=EX_CONFIG,
            ) from None
        # an OAuth login, a server offering no XOAUTH2
        raise _Failed(
            str(exc),
            "the server offers no OAuth login (XOAUTH2): logging in again would not change that",
            f"check the mailbox's IMAP host, or log in with a password instead ('warmup "
            f"mailbox login {shlex.quote(user)}')",
            code=EX_CONFIG,
        ) from None
    except Unavailable as exc:
        raise _Failed(
            str(exc), "the server broke off before the login", "run 'warmup doctor' again"
        ) from None
    imapconn.logout(imap)
    return f"login accepted for {user}"


def _auth_advice(text: str, provider: Provider) -> tuple[str, str, tuple[int, ...]]:
    """(cause, fix, checklist steps) for a refused login, in the guide's order."""
    steps = list(enumerate(provider.checklist, 1))
    scope = tuple(i for i, s in steps if _ADMIN_STEP.search(s))
    mailbox = tuple(i for i, _ in steps if i not in scope)
    if _SCOPE_WORDS.search(text) and scope:
        chosen, cause = (
            scope,
            (
                "the server says the service is not enabled for this account: "
                "the administrator's scope"
            ),
        )
    else:
        chosen = mailbox or tuple(i for i, _ in steps)
        cause = "the server refused the password"
        if chosen:
            cause += f" (likely checklist step{'s' if len(chosen) > 1 else ''} {_span(chosen)})"
    return cause, _fix(provider, chosen), chosen


def _cross_check(smtp: Check, imap: Check, provider: Provider) -> None:
    """Both logins used the same password: their two answers narrow the cause down."""
    steps = list(enumerate(provider.checklist, 1))
    if smtp.code == EX_NOPERM and imap.code == EX_NOPERM and smtp.steps == imap.steps:
        pw = tuple(i for i, s in steps if re.search(r"\bpassword\b", s, re.I))
        switch = tuple(
            i
            for i, s in steps
            if re.search(r"switch|service", s, re.I) and i not in pw and not _ADMIN_STEP.search(s)
        )
        chosen = tuple(sorted(set(pw + switch))) or smtp.steps
        for c in (smtp, imap):
            c.cause = (
                f"SMTP and IMAP both refused the same password: the password itself or "
                f"the IMAP/SMTP switch (checklist step{'s' if len(chosen) > 1 else ''} "
                f"{_span(chosen)})"
            )
            c.fix, c.steps = _fix(provider, chosen), chosen
    elif smtp.code == EX_NOPERM and imap.status == OK:
        scope = tuple(i for i, s in steps if _ADMIN_STEP.search(s))
        switch = tuple(i for i, s in steps if "SMTP" in s and i not in scope)
        chosen = tuple(sorted(set(scope + switch[:1]))) or smtp.steps
        smtp.cause = (
            "IMAP accepted the same password, so the password is right: SMTP is not "
            f"enabled for this account (checklist step{'s' if len(chosen) > 1 else ''} "
            f"{_span(chosen)})"
        )
        smtp.fix, smtp.steps = _fix(provider, chosen), chosen


def _span(steps: tuple[int, ...]) -> str:
    if len(steps) > 2 and steps == tuple(range(steps[0], steps[-1] + 1)):
        return f"{steps[0]}-{steps[-1]}"
    return ", ".join(map(str, steps))


def _fix(provider: Provider, steps: tuple[int, ...]) -> str:
    lines = [f"  {i}. {provider.checklist[i - 1]}" for i in steps]
    return "\n".join([f"check the {provider.title} setup, in this order:", *lines])
