"""OAuth 2.0 logins (XOAUTH2) for Microsoft 365 and Gmail: the device authorization grant
(RFC 8628) once, then access tokens refreshed as they are needed.

``warmup mailbox login ADDR --oauth`` runs :func:`login`: it asks the provider's device endpoint
for a user code, shows the verification URL and the code (works over SSH: the browser can be on
any machine), polls the token endpoint until the user approves, and keeps the refresh token —
with the client ID it belongs to — in the system keyring (service ``warmup-oauth``), never in
the ledger, logs, argv or exceptions. A :class:`Bearer` then hands out access tokens for SMTP
``AUTH XOAUTH2`` and IMAP ``AUTHENTICATE XOAUTH2``: cached in memory with their expiry and
refreshed a minute before it; a rotated refresh token replaces the stored one. A refresh token
the provider refuses (``invalid_grant``: expired, revoked, password changed) is
:class:`LoginExpired` (exit 77) naming the command that logs in again.

One small client serves both providers (plain HTTP form posts and JSON, RFC 6749/8628): msal
would cover Microsoft alone, and fetches instance discovery and OpenID metadata from its
authority first, which a loopback test server would have to imitate; Google's libraries have no
device flow at all. ``WARMUP_OAUTH_CLIENT_ID`` (and ``WARMUP_OAUTH_CLIENT_SECRET``, which
Google's device clients need) name the organisation's registered application;
``WARMUP_OAUTH_ENDPOINT`` (scheme://host:port) redirects both endpoints, for tests only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import os
import re
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from warmup.errors import ConfigError, PermissionFailure, TempFail, Unavailable
from warmup.httpdeadline import Deadline
from warmup.providers import OAuthEndpoints, Provider

SERVICE = "warmup-oauth"
REFRESH_AHEAD = dt.timedelta(minutes=1)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 30.0  # seconds for a whole request to an endpoint (not per read)
# Refresh errors only the user can clear, by logging in again (OpenID Connect core 3.1.2.6;
# Microsoft's interaction_required when conditional access wants MFA again).
NEEDS_THE_USER = frozenset({"interaction_required", "login_required", "consent_required"})
MAX_BODY = 1 << 20  # bytes of an answer read: a token answer is a few kilobytes
# The least wait between two polls of a device login, whatever interval the endpoint states:
# an interval of 0 polled a token endpoint hundreds of times a second until the code expired.
MIN_POLL_INTERVAL = 1.0


class LoginExpired(PermissionFailure):
    """The provider refused the OAuth login (exit 77): the user must log in again."""

    def __init__(self, address: str, what: str = "has expired or was revoked") -> None:
        super().__init__(
            f"the OAuth login of {address} {what}; log in again with "
            f"'warmup mailbox login {shlex.quote(address)} --oauth'"
        )


@dataclass(frozen=True)
class App:
    """The OAuth application a login uses: the provider's endpoints and scopes, and the client."""

    device_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DeviceCode:
    """What the user needs to approve the login elsewhere (RFC 8628 section 3.2)."""

    user_code: str
    verification_uri: str
    expires_in: float
    interval: float
    device_code: str = field(repr=False)


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    expires_at: dt.datetime
    refresh_token: str | None = field(default=None, repr=False)


def app_for(provider: Provider, client_id: str | None = None) -> App:
    """The OAuth application for ``provider``'s mailboxes: ``client_id``, else
    ``WARMUP_OAUTH_CLIENT_ID``, else the preset's; :class:`ConfigError` if there is none."""
    ep: OAuthEndpoints | None = provider.oauth
    if ep is None:
        raise ConfigError(
            f"{provider.title} has no OAuth endpoints in warmup; log in with a password "
            f"('warmup mailbox set ADDR --auth password')"
        )
    client = client_id or os.environ.get("WARMUP_OAUTH_CLIENT_ID") or ep.client_id
    if not client:
        raise ConfigError(
            f"no OAuth client ID for {provider.title}: register a public client application "
            f"(device code flow) in your organisation and set WARMUP_OAUTH_CLIENT_ID to its ID"
        )
    return App(
        _redirected(ep.device_url),
        _redirected(ep.token_url),
        ep.scopes,
        client,
        os.environ.get("WARMUP_OAUTH_CLIENT_SECRET") or None,
    )


def _redirected(url: str) -> str:
    base = os.environ.get("WARMUP_OAUTH_ENDPOINT")
    if not base:
        return url
    try:
        to, parts = urllib.parse.urlsplit(base), urllib.parse.urlsplit(url)
        to.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:  # "Invalid IPv6 URL", a port that is not a number
        raise ConfigError(
            f"WARMUP_OAUTH_ENDPOINT {base!r} is not a URL like http://127.0.0.1:8080; unset it "
            f"(it is for tests)"
        ) from None
    return urllib.parse.urlunsplit((to.scheme, to.netloc, parts.path, parts.query, ""))


def _check_url(url: str) -> None:
    if url.startswith("https://"):
        return
    parts = urllib.parse.urlsplit(url)
    try:
        loopback = (
            url.startswith("http://") and ipaddress.ip_address(parts.hostname or "").is_loopback
        )
    except ValueError:
        loopback = parts.hostname == "localhost"
    if not loopback:
        raise ConfigError(f"OAuth endpoint {url!r} is not https; only loopback may use http")


def _post(
    url: str, form: dict[str, str], timeout: float = TIMEOUT
) -> tuple[int, dict[str, object]]:
    """POST a form; (HTTP status, JSON body) within ``timeout`` seconds in all. Network
    failures, and an answer not complete in time, are :class:`Unavailable`."""
    _check_url(url)
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data, {"Accept": "application/json"})
    deadline = Deadline(timeout)
    try:
        try:
            with deadline.opener().open(req, timeout=timeout) as resp:
                status, body = resp.status, resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:  # its body is read like any other
            status, body = exc.code, exc.read(MAX_BODY)
    # http.client's own errors (a broken status line, a body cut short) are no OSErrors
    except (OSError, ValueError, http.client.HTTPException) as exc:
        if deadline.ran_out(exc):
            reason: object = f"no complete answer within {timeout:g} s"
        elif isinstance(exc, http.client.HTTPException):
            reason = f"a broken HTTP answer: {type(exc).__name__}"
        else:
            reason = getattr(exc, "reason", exc)
        raise Unavailable(
            f"cannot reach the OAuth endpoint {urllib.parse.urlsplit(url).netloc} ({reason}); "
            f"check the network and try again"
        ) from None
    finally:
        deadline.cancel()
    if 300 <= status < 400:
        raise Unavailable(
            f"the OAuth endpoint {url} answered HTTP {status}, a redirect (not followed); "
            f"check WARMUP_OAUTH_ENDPOINT and the network's proxy"
        )
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        parsed = None
    if not isinstance(parsed, dict):
        # An HTML page: the provider's own outage page (5xx: as its JSON 5xx, try later,
        # however long the page), or a proxy or captive portal answering in its place.
        if _temporary(status, ""):
            raise TempFail(
                f"the OAuth endpoint {url} answered HTTP {status} without JSON (it cannot "
                f"answer now); try again later"
            )
        if len(body) >= MAX_BODY:
            raise Unavailable(
                f"the OAuth endpoint {url} answered HTTP {status} with over {MAX_BODY >> 20} "
                f"MiB, no token answer (a few kilobytes); check WARMUP_OAUTH_ENDPOINT and the "
                f"network's proxy, then try again"
            )
        raise Unavailable(
            f"the OAuth endpoint {url} answered HTTP {status} without JSON (a proxy or "
            f"captive portal may have answered in its place); check the network and try again"
        )
    return status, parsed


_ERROR_CODE = re.compile(r"[a-z_]{1,64}")  # RFC 6749's codes: invalid_grant, slow_down, ...


def _error(body: dict[str, object], *secrets: str | None) -> str:
    """The answer's ``error`` code as a message may quote it: an endpoint's text, so its
    control characters shown as escapes (a terminal acts on them) and at most 64 of them,
    and the ``secrets`` the request carried masked (an endpoint or proxy echoing the form:
    as posted, percent-encoded, in base64, or cut short)."""
    from warmup.words import echoed_away, shown

    # 4096: more is never shown, and the pieces of a secret are looked for word by word
    text = str(body.get("error") or "unknown_error")[:4096]
    if not _ERROR_CODE.fullmatch(text):  # a code as is: a short secret would mangle it
        for secret in secrets:  # before the cut: a token cut short would no longer be found
            text = echoed_away(text, secret)
    text = shown(text)
    return text if len(text) <= 64 else text[:61] + "..."


def _seconds(body: dict[str, object], key: str, default: float, most: float) -> float:
    """``body[key]`` as seconds within [0, ``most``]; ``default`` if absent or not a finite
    number. What an endpoint says is not trusted with a sleep or a timedelta: a negative,
    NaN or 1e300 there was a traceback."""
    try:
        value = float(str(body.get(key, default)))
    except ValueError:
        return default
    if value != value:  # NaN
        return default
    return min(max(value, 0.0), most)


_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 section 2.1


def _tokens(body: dict[str, object], now: dt.datetime, url: str) -> Tokens:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise Unavailable(
            f"the OAuth endpoint {url} answered without an access token; try again later"
        )
    if not _B64TOKEN.fullmatch(access):
        # It goes into the XOAUTH2 response as is: smtplib's and imaplib's ASCII encoding of a
        # UTF-8 one raised mid-login, a line break or space there is another SASL field.
        raise Unavailable(
            f"the OAuth endpoint {url} answered with an access token that is not a bearer "
            f"token; try again later"
        )
    # At most a day: a longer lifetime claimed only means refreshing sooner than needed.
    lifetime = _seconds(body, "expires_in", 3600.0, 86400.0)
    refresh = body.get("refresh_token")
    return Tokens(
        access, now + dt.timedelta(seconds=lifetime), refresh if isinstance(refresh, str) else None
    )


def _temporary(status: int, error: str) -> bool:
    """An endpoint that cannot answer now: a 5xx, throttled (429), or saying so."""
    return status >= 500 or status == 429 or error == "temporarily_unavailable"


def start(app: App) -> DeviceCode:
    """Ask for a device code and the user code to show (RFC 8628 section 3.1)."""
    status, body = _post(
        app.device_url, {"client_id": app.client_id, "scope": " ".join(app.scopes)}
    )
    if status != 200 and _temporary(status, _error(body)):
        raise TempFail(
            f"the OAuth device endpoint cannot start a login now ({_error(body)}); try again later"
        )
    if status != 200:
        raise ConfigError(
            f"the OAuth device endpoint refused the login request ({_error(body)}); check "
            f"WARMUP_OAUTH_CLIENT_ID and that the application allows the device code flow"
        )
    uri = body.get("verification_uri") or body.get("verification_url")  # Google says _url
    user_code, device_code = body.get("user_code"), body.get("device_code")
    if not all(isinstance(v, str) and v for v in (uri, user_code, device_code)):
        raise Unavailable(
            f"the OAuth device endpoint {app.device_url} answered without a user code, device "
            f"code or verification URL; try again later"
        )
    return DeviceCode(
        str(user_code),
        str(uri),
        _seconds(body, "expires_in", 900.0, 3600.0),
        _seconds(body, "interval", 5.0, 60.0),
        str(device_code),
    )


def poll(
    app: App,
    code: DeviceCode,
    address: str,
    *,
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], None] = time.sleep,
) -> Tokens:
    """Poll the token endpoint until the user approves, refuses, or the code expires."""
    # The code's lifetime on the clock: the intervals slept leave out the time each answer
    # took, and an interval of 0 made a loop that never ended.
    interval, started, expired = max(code.interval, MIN_POLL_INTERVAL), now(), False
    form = {"grant_type": DEVICE_GRANT, "device_code": code.device_code, "client_id": app.client_id}
    if app.client_secret:
        form["client_secret"] = app.client_secret
    while True:
        sleep(interval)
        status, body = _post(app.token_url, form)
        if status == 200:
            tokens = _tokens(body, now(), app.token_url)
            if tokens.refresh_token is None:
                raise ConfigError(
                    "the provider issued no refresh token; the application must allow "
                    "offline access"
                )
            return tokens
        error = _error(body, code.device_code, app.client_secret)
        if error == "slow_down" or status == 429:
            interval += 5
        elif error == "authorization_pending" or _temporary(status, error):
            pass  # an endpoint's hiccup while the user approves: the next poll may be answered
        elif error in ("access_denied", "authorization_declined"):  # RFC 8628's, Microsoft's
            raise PermissionFailure(f"the login of {address} was refused at the provider")
        elif error == "expired_token":
            expired = True
        else:
            raise ConfigError(
                f"the OAuth token endpoint refused the login ({error}); check "
                f"WARMUP_OAUTH_CLIENT_ID (and WARMUP_OAUTH_CLIENT_SECRET) and that the "
                f"application allows the device code flow"
            )
        if expired or (now() - started).total_seconds() > code.expires_in:
            raise TempFail(
                f"the code was not approved within {code.expires_in:g} s; run "
                f"'warmup mailbox login {shlex.quote(address)} --oauth' again"
            )


def refresh(
    app: App, refresh_token: str, address: str, now: dt.datetime, timeout: float = TIMEOUT
) -> Tokens:
    """New tokens from ``refresh_token``; :class:`LoginExpired` if the provider refuses it.
    ``timeout``: seconds for the whole request."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        "scope": " ".join(app.scopes),
    }
    if app.client_secret:
        form["client_secret"] = app.client_secret
    status, body = _post(app.token_url, form, timeout)
    if status == 200:
        return _tokens(body, now, app.token_url)
    error = _error(body, refresh_token, app.client_secret)
    if error == "invalid_grant":
        raise LoginExpired(address)
    if error in NEEDS_THE_USER:
        raise LoginExpired(address, f"needs you at the provider ({error})")
    if _temporary(status, error):
        raise TempFail(f"the OAuth token endpoint cannot refresh now ({error}); try again later")
    # invalid_client, unauthorized_client, invalid_scope: the application the login was made
    # with (its client ID is stored with it) is gone, changed, or no longer allowed.
    raise ConfigError(
        f"the OAuth token endpoint refused the refresh for {address} ({error}): the "
        f"provider no longer accepts the application it was logged in with; check the "
        f"application registered as WARMUP_OAUTH_CLIENT_ID, then log in again with 'warmup "
        f"mailbox login {shlex.quote(address)} --oauth'"
    )


def save(address: str, client_id: str, refresh_token: str) -> str:
    """Keep the refresh token (and its client) in the keyring; returns the backend's name."""
    from warmup import credentials

    entry = json.dumps({"client_id": client_id, "refresh_token": refresh_token})
    return credentials.store_secret(SERVICE, address, entry)


def forget(address: str) -> bool:
    """Delete the OAuth login of ``address``; whether there was one."""
    from warmup import credentials

    return credentials.forget_password(address, SERVICE)


def login(
    address: str,
    provider: Provider,
    show: Callable[[DeviceCode], None],
    *,
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The device authorization grant for ``address``; stores its refresh token and returns
    the keyring backend's name."""
    app = app_for(provider)
    code = start(app)
    show(code)
    tokens = poll(app, code, address, now=now, sleep=sleep)
    assert tokens.refresh_token is not None
    from warmup import credentials

    try:
        return save(address, app.client_id, tokens.refresh_token)
    except credentials.KeyringRefused as exc:
        # Not store_secret's advice (WARMUP_PASSWORD, --password-command): a password's ways,
        # which an OAuth login never reads.
        raise ConfigError(
            f"the system keyring refused to store the OAuth login of {address} ({exc.cause}); "
            f"an OAuth login is kept only there: make the keyring writable (unlock it), then "
            f"log in again with 'warmup mailbox login {shlex.quote(address)} --oauth'"
        ) from None


def lock_path(address: str) -> Path:
    """The file whose lock one process holds while it refreshes ``address``'s tokens: in
    warmup's data directory (``$XDG_DATA_HOME/warmup``, the default ledger's), per user like
    the keyring."""
    from warmup.files import data_dir

    name = hashlib.sha256(address.encode()).hexdigest()[:32]  # an address is no file name
    return data_dir() / "oauth-locks" / f"{name}.lock"


@contextmanager
def one_refresh_at_a_time(address: str, wait: float = TIMEOUT) -> Iterator[None]:
    """Hold ``address``'s refresh lock, waiting at most ``wait`` seconds for another process's
    refresh. A provider that rotates refresh tokens refuses the old one once the new one is
    out: two processes refreshing from the same stored token at once (a send and a bounces
    sync, two sends of a pool) left one of them with ``invalid_grant`` and told the user to log
    in again. Under the lock each reads what the last refresh stored. A holder past ``wait``
    (stopped, or hung on a keyring) is :class:`TempFail`: refreshing anyway could send the
    token it is rotating. Where no lock file can be made (a read-only home) or locked, the
    refresh goes on without it. The lock is the kernel's (flock), so a process killed while it
    held it leaves no stale lock behind."""
    try:
        import fcntl

        path = lock_path(address)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except (ImportError, OSError, RuntimeError):  # no fcntl (Windows), no home, read-only
        yield
        return
    try:
        deadline, pause = time.monotonic() + wait, 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # held by another process
                if time.monotonic() >= deadline:
                    raise TempFail(
                        f"another warmup process has been refreshing the OAuth login of "
                        f"{address} for over {wait:g} s (it holds {path}); try again later, "
                        f"or end that process"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.25)
            except OSError:  # a file system without locks
                break
        yield
    finally:
        os.close(fd)  # releases the lock


def sasl(user: str, token: str) -> str:
    """The XOAUTH2 initial client response, before base64 (SMTP and IMAP encode it)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def _no_login(address: str) -> ConfigError:
    return ConfigError(
        f"no OAuth login for {address}: log in with 'warmup mailbox login "
        f"{shlex.quote(address)} --oauth'"
    )


class Bearer:
    """Access tokens for one mailbox, refreshed from the keyring's refresh token as needed.

    Keep one per process (a gate, a sync): the access token lives only in its memory.
    """

    def __init__(
        self,
        address: str,
        provider: Provider,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.address = address
        self.provider = provider
        self.clock = clock
        self._tokens: Tokens | None = None
        self._cached = False  # the last token handed out came from memory, not a refresh
        self._lock = threading.Lock()  # a sync and its IDLE watcher share one

    def __repr__(self) -> str:
        return f"<Bearer {self.address}>"

    def held(self) -> str | None:
        """The access token in memory, if any, with no refresh: to scrub it from text."""
        tokens = self._tokens
        return tokens.access_token if tokens is not None else None

    def check_login(self) -> None:
        """Raise :class:`ConfigError` (what to run) when no login is stored for the mailbox:
        before a send takes a slot, as a password is read before it (no network)."""
        from warmup import credentials

        if self._tokens is None and not credentials.read_secret(SERVICE, self.address):
            raise _no_login(self.address)

    def token(self, timeout: float = TIMEOUT) -> str:
        """A current access token (refreshed a minute before it expires; ``timeout``: seconds
        for the refresh's request)."""
        with self._lock:
            return self._token(timeout)

    def _token(self, timeout: float = TIMEOUT) -> str:
        now = self.clock()
        if self._tokens is not None and now < self._tokens.expires_at - REFRESH_AHEAD:
            self._cached = True
            return self._tokens.access_token
        with one_refresh_at_a_time(self.address, timeout):
            return self._refresh(now, timeout)

    def _refresh(self, now: dt.datetime, timeout: float) -> str:
        from warmup import credentials

        stored = credentials.read_secret(SERVICE, self.address)
        if not stored:
            raise _no_login(self.address)
        try:
            entry = json.loads(stored)
            client_id, old = str(entry["client_id"]), str(entry["refresh_token"])
        except (ValueError, KeyError, TypeError):
            raise LoginExpired(self.address, "in the keyring is unreadable") from None
        tokens = refresh(app_for(self.provider, client_id), old, self.address, now, timeout)
        self._tokens, self._cached = tokens, False
        if tokens.refresh_token and tokens.refresh_token != old:
            try:
                save(self.address, client_id, tokens.refresh_token)  # the provider rotated it
            except credentials.KeyringRefused as exc:
                # Said as what it means for the login, not the password advice store_secret
                # gives. The access token stays in memory: this process may go on an hour.
                raise ConfigError(
                    f"the system keyring refused to store the new OAuth refresh token of "
                    f"{self.address} ({exc.cause}), and the provider may no longer take the "
                    f"old one; make the keyring writable, then log in again with 'warmup "
                    f"mailbox login {shlex.quote(self.address)} --oauth'"
                ) from None
        return tokens.access_token

    def refused(self) -> bool:
        """A server refused the last token handed out: forget it. True if it came from memory,
        when a fresh one may be accepted (a provider may end an access token before its
        ``expires_in``, and a clock set back keeps one past it): log in once more. A token just
        refreshed and refused is the login's fault."""
        with self._lock:
            retry, self._cached = self._cached, False
            if retry:
                self._tokens = None
            return retry

    def sasl(self) -> str:
        """The XOAUTH2 client response with a current token."""
        return sasl(self.address, self.token())

    def smtp_response(self) -> Callable[..., str]:
        """The ``authobject`` for :meth:`smtplib.SMTP.auth`: the client response first, then an
        empty line to the server's error challenge (which a 535 follows)."""
        first = [self.sasl()]

        def respond(challenge: bytes | None = None) -> str:
            return first.pop() if first else ""

        return respond

    def imap_response(self) -> Callable[[bytes], bytes]:
        """The same for :meth:`imaplib.IMAP4.authenticate`."""
        respond = self.smtp_response()
        return lambda challenge: respond(challenge).encode()
