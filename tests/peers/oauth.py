"""An OAuth 2.0 authorization server on 127.0.0.1 (http.server in its own thread): the device
authorization grant (RFC 8628) and refresh tokens, as Microsoft's and Google's endpoints answer.

Any path ending in ``devicecode`` or ``device/code`` is the device endpoint, any ending in
``token`` the token endpoint, so the providers' own paths work under ``WARMUP_OAUTH_ENDPOINT``.
A device code is approved after its first poll (which answers ``authorization_pending``).
Access tokens live ``access_lifetime`` seconds (or until :meth:`expire_access_tokens`); every
refresh rotates the refresh token (the old one is then ``invalid_grant``), and
:meth:`revoke` refuses them all. Tokens start with :data:`CANARY` so a test can hunt for them.

Any path ending in ``introspect`` is a token introspection endpoint (RFC 7662, a form post of
``token``) as Dovecot's oauth2 passdb asks it (``introspection_mode = post``): active, for
``user``, while the token is :meth:`valid` and ``introspect_active`` is true (false: every token
inactive, as for a mailbox whose IMAP access is turned off). ``introspected`` lists the tokens
asked about, in order.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

HOST = "127.0.0.1"
CANARY = "oauthcanary"
CLIENT_ID = "test-client-0001"


class OAuthServer:
    def __init__(
        self, access_lifetime: int = 3600, interval: int = 0, user: str = "a@corp.example"
    ) -> None:
        self.access_lifetime = access_lifetime
        self.user = user  # the account every token is for, as introspection names it
        self.introspect_active = True
        self.introspected: list[str] = []
        self.interval = interval
        self._lock = threading.Lock()
        self.devices: dict[str, int] = {}  # device code -> polls so far
        self.access: dict[str, float] = {}  # access token -> monotonic expiry
        self.refresh: set[str] = set()  # refresh tokens that work
        self.issued_refresh: list[str] = []
        self.grants: list[str] = []  # grant_type of every token request
        self.client_secrets: list[str | None] = []  # client_secret of every token request
        self.scopes: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        # Set to an unset Event, every refresh request waits for it (outside the lock) before
        # it is answered; ``arrived`` is released once per refresh request as it comes in.
        self.hold_refresh: threading.Event | None = None
        self.arrived = threading.Semaphore(0)
        self.answers: list[str] = []  # the error code (or "ok") of every refresh answered

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}"

    # -- what tests ask and do ------------------------------------------------------------------
    def valid(self, token: str) -> bool:
        with self._lock:
            return self.access.get(token, 0.0) > time.monotonic()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access = dict.fromkeys(self.access, 0.0)

    def revoke(self) -> None:
        with self._lock:
            self.refresh.clear()

    def secrets(self) -> list[str]:
        with self._lock:
            return [*self.access, *self.issued_refresh]

    # -- the protocol ---------------------------------------------------------------------------
    def _issue(self) -> dict[str, Any]:
        access = f"{CANARY}-at-{secrets.token_hex(12)}"
        refresh = f"{CANARY}-rt-{secrets.token_hex(12)}"
        self.access[access] = time.monotonic() + self.access_lifetime
        self.refresh.add(refresh)
        self.issued_refresh.append(refresh)
        return {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.access_lifetime,
            "refresh_token": refresh,
        }

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") == "refresh_token":
            self.arrived.release()
            hold = self.hold_refresh
            if hold is not None:
                hold.wait(60)
            status, body = self._handle(path, form)
            with self._lock:
                self.answers.append(str(body.get("error", "ok")))
            return status, body
        return self._handle(path, form)

    def _handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path.endswith("introspect"):
            token = form.get("token", "")
            active = self.valid(token) and self.introspect_active
            with self._lock:
                self.introspected.append(token)
            return 200, {"active": True, "username": self.user} if active else {"active": False}
        with self._lock:
            if form.get("client_id") != CLIENT_ID:
                return 400, {"error": "invalid_client"}
            if path.endswith("devicecode") or path.endswith("device/code"):
                self.scopes.append(form.get("scope", ""))
                code = secrets.token_hex(8)
                self.devices[code] = 0
                return 200, {
                    "device_code": code,
                    "user_code": "WDJB-MJHT",
                    "verification_uri": f"http://{HOST}/device",
                    "expires_in": 900,
                    "interval": self.interval,
                }
            if not path.endswith("token"):
                return 404, {"error": "not_found"}
            grant = form.get("grant_type", "")
            self.grants.append(grant)
            self.client_secrets.append(form.get("client_secret"))
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                code = form.get("device_code", "")
                if code not in self.devices:
                    return 400, {"error": "expired_token"}
                self.devices[code] += 1
                if self.devices[code] == 1:
                    return 400, {"error": "authorization_pending"}
                del self.devices[code]
                return 200, self._issue()
            if grant == "refresh_token":
                old = form.get("refresh_token", "")
                if old not in self.refresh:
                    return 400, {"error": "invalid_grant", "error_description": "revoked"}
                self.refresh.discard(old)  # rotated
                return 200, self._issue()
            return 400, {"error": "unsupported_grant_type"}

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(size).decode()))
                status, body = owner.handle(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
