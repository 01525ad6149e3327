"""A private Dovecot IMAP instance (imaps on 127.0.0.1) run from a temp directory, and a proxy
in front of it that cuts or stalls sessions at LOGIN.

Needs the Debian package ``dovecot-imapd``. /etc/dovecot and the system service are not used.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Self

from tests.peers.smtp import HOST, free_port
from tests.peers.tls import TestPKI

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
_LIVE: weakref.WeakSet[Dovecot] = weakref.WeakSet()
_DETACHED = {"stdin": subprocess.DEVNULL, "start_new_session": True}
_QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}

_FAKETIME_ENV = (
    "LD_PRELOAD",
    "FAKETIME",
    "FAKETIME_TIMESTAMP_FILE",
    "FAKETIME_NO_CACHE",
    "FAKETIME_DONT_FAKE_MONOTONIC",
)
_CONFIG = """\
protocols = imap
listen = {host}
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = {instance}
log_path = {dir}/dovecot.log
auth_verbose = yes
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = 1
first_valid_gid = 1
mail_uid = {user}
mail_gid = {group}
mail_location = maildir:{dir}/mail/%u
mail_fsync = never
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = {host}
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
# https://doc.dovecot.org/2.3/configuration_manual/authentication/oauth2/
_OAUTH2 = """\
auth_mechanisms = plain login xoauth2
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {ext}
}}
"""
_OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


def _identities() -> dict[str, str]:
    """Who runs the internal processes, imap-login and mail access.

    Non-root: the current user for everything. Root: Dovecot refuses imap-login and mail
    access as root, so use its own system users (``dovecot``, ``dovenull``).
    """
    if os.geteuid() != 0:
        user, login = pwd.getpwuid(os.geteuid()).pw_name, None
    else:
        user, login = _existing_user("dovecot"), _existing_user("dovenull")
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    return {"user": user, "group": group, "login_user": login or user}


def _existing_user(name: str) -> str:
    try:
        return pwd.getpwnam(name).pw_name
    except KeyError:
        return "nobody"


class Dovecot:
    """A real Dovecot IMAP server on 127.0.0.1 with implicit TLS and one passwd-file user.

    The maildir, config, sockets and log live in a temp dir that survives ``stop()`` and
    ``restart()`` (same port, same mail) and is removed by ``close()`` / the context
    manager / interpreter exit. The master runs in the foreground as a child process in its
    own process group. A watchdog ``sh`` blocked on a pipe from this process kills that
    group if this process dies without cleaning up (even on SIGKILL); PR_SET_PDEATHSIG
    would not do, as the Dovecot master loses it.
    """

    def __init__(
        self,
        pki: TestPKI,
        user: str = "bounces@corp.example",
        password: str = "b0unce-pass",
        *,
        untrusted: bool = False,
        extra_config: str = "",
        introspection_url: str | None = None,
    ) -> None:
        self.pki = pki
        self.user = user
        self.password = password
        self.untrusted = untrusted
        self.extra_config = extra_config  # appended to the generated dovecot.conf
        # AUTHENTICATE XOAUTH2 too, each token checked by a POST to this URL (RFC 7662): the
        # oauth2 passdb (Dovecot 2.3's syntax) after the passwd-file one
        self.introspection_url = introspection_url
        self.host = HOST
        self.port = 0
        self.directory = Path(tempfile.mkdtemp(prefix="warmup-dovecot-"))
        self.directory.chmod(0o755)  # the auth process (dovecot user) reads the passwd file
        self.config_path = self.directory / "dovecot.conf"
        self.log_path = self.directory / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _prepare(self) -> None:
        # A master killed while it rewrote its instance list leaves this lock behind, and the
        # next master waits ~10 s for it to go stale before it serves anyone (its port already
        # accepts meanwhile): a restart right after a start then timed out a client in CI.
        # No master of this directory runs here, so the lock is stale by construction.
        (self.directory / "state" / "instances.lock").unlink(missing_ok=True)
        ids = _identities()
        mail = self.directory / "mail"
        mail.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(mail, ids["user"], ids["group"])
        passwd = self.directory / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        passwd.chmod(0o644)
        pki, bad = self.pki, self.untrusted
        cert = pki.untrusted_cert_path if bad else pki.cert_path
        key = pki.untrusted_key_path if bad else pki.key_path
        params = {"host": self.host, "port": self.port, "dir": self.directory, **ids}
        params.update(cert=cert, key=key, instance=self.directory.name)
        oauth2 = ""
        if self.introspection_url is not None:
            ext = self.directory / "oauth2.conf.ext"
            ext.write_text(_OAUTH2_EXT.format(url=self.introspection_url))
            ext.chmod(0o644)
            oauth2 = _OAUTH2.format(ext=ext)
        # Under scripts/clockrun (libfaketime) the master would clear its children's
        # environment: its imap processes kept the real time, and dated every APPEND past it
        # back to their own now (Dovecot takes no INTERNALDATE from the future), so a sync at a
        # moved instant found none of the test's reports. Passed on, they read the moved clock;
        # FAKE_UTIME, as libfaketime moves the times stat() reads, moves back those utime()
        # writes (a maildir's INTERNALDATE is its file's mtime: else moved twice).
        faked = [name for name in _FAKETIME_ENV if name in os.environ]
        moved = ""
        if "FAKETIME" in faked or "FAKETIME_TIMESTAMP_FILE" in faked:
            moved = f"import_environment = $import_environment {' '.join(faked)} FAKE_UTIME=1\n"
        self.config_path.write_text(_CONFIG.format(**params) + moved + oauth2 + self.extra_config)

    def start(self, timeout: float = 30.0) -> Dovecot:  # a bound on a hang: CI is loaded
        if self.running:
            return self
        if self.port:
            return self._start(timeout)
        for _ in range(5):  # a port found free may be taken before dovecot binds it: another
            self.port = free_port()
            for log in (self.directory / "stderr.log", self.log_path):
                log.unlink(missing_ok=True)  # only this attempt's words are read below
            try:
                return self._start(timeout)
            except RuntimeError as exc:
                if "Address already in use" not in str(exc):
                    raise
        raise RuntimeError(f"dovecot found no free port:\n{self.logs()}")

    def _start(self, timeout: float) -> Dovecot:
        self._prepare()
        with open(self.directory / "stderr.log", "ab") as err:
            command = [DOVECOT, "-F", "-c", str(self.config_path)]
            self._proc = subprocess.Popen(command, stdout=err, stderr=err, **_DETACHED)
        # `read` returns at EOF of its stdin pipe, i.e. when this process is gone.
        watch = f"read _ignored; kill -s KILL -- -{self._proc.pid} 2>/dev/null"
        self._watchdog = subprocess.Popen(["sh", "-c", watch], stdin=subprocess.PIPE, **_QUIET)
        deadline = time.monotonic() + timeout
        probe = ssl.create_default_context()  # only asks "is TLS served?": trust is not tested
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        while True:  # poll until a TLS handshake completes: the port accepts (into its backlog)
            # before the master has started a login process, so a connect alone proves nothing
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"dovecot exited at start-up:\n{self.logs()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    probe.wrap_socket(sock).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(
                        f"dovecot not listening after {timeout}s:\n{self.logs()}"
                    ) from None
                time.sleep(0.02)

    def stop(self, graceful: bool = True) -> None:
        """Stop the server, keeping the directory.

        Graceful: TERM to the master (it takes ~1 s), then KILL the whole process group.
        Not graceful: KILL the process group at once, like a crash.
        """
        proc, self._proc = self._proc, None
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()
            watchdog.stdin.close()
        if proc is None:
            return
        if graceful and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any worker the master left behind
        proc.wait()
        _until_group_gone(proc.pid)
        self._until_port_closed()

    def _until_port_closed(self, timeout: float = 10.0) -> None:
        """Wait until nothing listens on the port. The master is reaped above, but a killed
        login process may still hold the listening socket for a moment: a start() then saw that
        socket accept and returned before the new server had bound, and the next connection
        was refused."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
            except ConnectionRefusedError:
                return
            except OSError:
                pass
            time.sleep(0.01)
        raise TimeoutError(f"port {self.port} still accepts {timeout}s after dovecot was killed")

    def restart(self) -> Dovecot:
        """Kill and start again on the same port with the same mail (drops every session)."""
        self.stop(graceful=False)
        return self.start()

    def close(self) -> None:
        """Stop at once (its mail is deleted next: a graceful stop would cost ~1 s for nothing)
        and delete the temp directory."""
        self.stop(graceful=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def logs(self) -> str:
        files = (self.directory / "stderr.log", self.log_path)
        return "\n".join(p.read_text(errors="replace") for p in files if p.exists())

    def _doveadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [DOVEADM, "-c", str(self.config_path), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)

    def sessions(self) -> int:
        """How many IMAP sessions of the user are connected now."""
        out = self._doveadm("who", "-1", self.user).stdout
        return sum(1 for line in out.splitlines() if line.startswith(self.user))

    def kick(self, timeout: float = 30.0) -> None:
        """Disconnect every current IMAP session (``doveadm kick``), waiting until gone."""
        self._doveadm("kick", self.user)
        deadline = time.monotonic() + timeout
        while self.sessions():  # a test goes on only once they are: not just after 5 s
            if time.monotonic() > deadline:
                raise TimeoutError(f"sessions of {self.user} still there {timeout} s after kick")
            time.sleep(0.02)

    # -- IMAP helpers (real IMAP over verified TLS) ----------------------------------------
    def connect(self) -> imaplib.IMAP4_SSL:
        """A logged-in imaplib client (verifying against the test CA)."""
        client = imaplib.IMAP4_SSL(
            self.host, self.port, ssl_context=self.pki.client_ssl_context(), timeout=10
        )
        client.login(self.user, self.password)
        return client

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ()) -> int:
        """APPEND a message (creating the folder if needed); return its UID."""
        return self.append_many(folder, [raw], flags)[0]

    def append_many(
        self, folder: str, raws: Iterable[bytes], flags: Iterable[str] = ()
    ) -> list[int]:
        """APPEND messages in order over one connection (creating the folder); their UIDs."""
        uids = []
        with self.connect() as client:
            if folder.upper() != "INBOX":
                client.create(_quote(folder))  # NO [ALREADYEXISTS] is fine
            flag_list = f"({' '.join(flags)})" if flags else None
            for raw in raws:
                # INTERNALDATE by this process's clock (what Dovecot would stamp, unless
                # scripts/clock-sweep moved this clock and not Dovecot's)
                when = imaplib.Time2Internaldate(time.time())
                typ, data = client.append(_quote(folder), flag_list, when, raw)
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data!r}")
                match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
                uids.append(int(match.group(1)) if match else -1)
        return uids

    def delete(self, folder: str) -> None:
        """Delete a folder and its messages (a later APPEND recreates it, new UIDVALIDITY)."""
        with self.connect() as client:
            typ, data = client.delete(_quote(folder))
            if typ != "OK":
                raise RuntimeError(f"DELETE {folder!r} failed: {data!r}")

    def _fetch(self, folder: str, items: str) -> list:
        with self.connect() as client:
            typ, data = client.select(_quote(folder), readonly=True)
            if typ != "OK":
                raise RuntimeError(f"cannot examine {folder!r}: {data!r}")
            if int(data[0] or 0) == 0:
                return []
            return client.uid("FETCH", "1:*", items)[1]

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """uid -> flags (without the session flag \\Recent), read without changing anything."""
        result: dict[int, set[str]] = {}
        for item in self._fetch(folder, "(FLAGS)"):
            line = item[0] if isinstance(item, tuple) else item
            uid = re.search(rb"UID (\d+)", line)
            flags = re.search(rb"FLAGS \(([^)]*)\)", line)
            if uid and flags:
                result[int(uid.group(1))] = set(flags.group(1).decode().split()) - {"\\Recent"}
        return result

    def fetch(self, folder: str = "INBOX") -> dict[int, bytes]:
        """uid -> raw message, via BODY.PEEK[] (does not set \\Seen)."""
        result: dict[int, bytes] = {}
        for item in self._fetch(folder, "(BODY.PEEK[])"):
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0])
                if uid:
                    result[int(uid.group(1))] = item[1]
        return result

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.connect() as client:
            typ, data = client.status(_quote(folder), "(UIDVALIDITY)")
            if typ != "OK":
                raise RuntimeError(f"STATUS failed: {data!r}")
            return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def reset(self) -> None:
        """Empty INBOX and delete every other folder."""
        with self.connect() as client:
            names = []
            for line in client.list()[1]:
                match = re.match(rb'\(.*?\) (?:"[^"]*"|NIL) (.*)$', line or b"")
                if match:
                    names.append(match.group(1).decode().strip('"'))
            for name in sorted(names, key=len, reverse=True):
                if name.upper() != "INBOX":
                    client.delete(_quote(name))
            client.select("INBOX")
            if client.uid("SEARCH", "ALL")[1][0].split():
                client.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
                client.expunge()


Fault = Literal["cut", "stall", "flood", "pass"]
SessionFault = Literal["literal", "garbled", "pass"]
IdleFault = Literal["cut", "push", "bad", "nodone", "mute", "ended", "pass"]
HUGE = 10**12  # the literal a hostile session announces: far past any bound of the client
# What a flooding peer sends (four times the client's bound on one answer, 16 MiB), line by line.
FLOOD_BYTES = 64 * 1024 * 1024
FLOOD_LINE = b"* OK [ALERT] still thinking, " + b"." * 1000 + b"\r\n"


class LoginFaultProxy:
    """A TLS-terminating proxy on 127.0.0.1 in front of ``server`` that fails sessions at LOGIN.

    The client speaks verified TLS to the proxy (same test certificate as Dovecot) and the
    proxy speaks TLS to Dovecot, so it sees the IMAP commands. ``faults`` gives, connection by
    connection, what happens when the client sends LOGIN (the last one repeats):
    ``"cut"`` closes the connection instead of passing it on; ``"stall"`` passes it on but
    never passes the reply back (the client waits until its timeout); ``"flood"`` answers it
    (never passed on) with :data:`FLOOD_BYTES` of untagged lines, never the tagged completion,
    then hangs up; ``"pass"`` forwards everything. ``logins`` records the fault applied at
    each LOGIN seen, in order. (What a flood wrote is no measure of what the client read: an
    asyncio transport takes writes after the client has gone. The scripted
    :class:`tests.peers.imap.ImapServer` counts what it managed to send.)

    ``hide``: capabilities the server is made not to have, as servers without them answer
    (MOVE is RFC 6851, an extension many servers lack): left out of every CAPABILITY it
    states, and their commands (``MOVE``, ``UID EXPUNGE``) answered BAD, never passed on.
    ``cut_on``: the first command of this name (``"UID MOVE"``) cuts its connection instead of
    being passed on, once. ``flood_on``: likewise, answered with a flood (as ``"flood"`` at
    LOGIN: ``'EXAMINE "Junk"'``, after LOGIN succeeded), once. ``uid_last``: a FETCH answer
    that carries a literal names its UID after it (``* 1 FETCH (BODY[]<0> {n}...literal... UID 5)``), as RFC 3501 allows.
    ``refuse``: every command of this name is answered NO (``refuse_with``, with
    ``refuse_text``), never passed on.
    ``drop``: the server's lines that start with these bytes (``b"* OK [UIDVALIDITY"``) are
    left out of what the client gets, as from a server that does not send them.
    ``literal``: a FETCH answer's literal is announced as this many bytes (``{n}``), whatever
    it holds, as a broken or hostile server might.
    ``whole``: a partial FETCH (``BODY.PEEK[]<0.n>``) is asked of the server as a whole one,
    as from a server that ignores the partial and sends each message whole.
    ``sessions``: connection by connection (the last one repeats), a hostile session:
    ``"literal"`` answers the first command after LOGIN with a line announcing a literal of
    :data:`HUGE` bytes (and nothing more); ``"garbled"`` answers the CAPABILITY before LOGIN
    with bytes that are not ASCII; ``"pass"`` does neither.
    ``idle``: IDLE command by IDLE command over the proxy's life (the last one repeats):
    ``"cut"`` cuts the connection once the server has accepted the IDLE (its ``+`` passed on);
    ``"push"`` cuts it right after passing on the first new mail (``* n EXISTS``) the server
    pushes during the IDLE; ``"bad"`` answers the IDLE BAD, never passed on, from a server that
    states IDLE; ``"nodone"`` forwards it but never passes on the client's DONE, so the server
    goes on idling (and saying "still here") as if never told to stop; ``"mute"`` swallows the
    DONE and passes on nothing more the server says (a link gone silent just then);
    ``"ended"`` ends the IDLE as some servers do on their own, a tagged OK right after its
    ``+`` (the server is told DONE, its own answer swallowed: it pushes no new mail after);
    ``"pass"`` forwards it. ``idles`` records the fault applied to each IDLE seen, in order.
    Both lists, and ``faults`` and ``literal``, may be changed while the proxy runs.
    """

    def __init__(
        self,
        server: Dovecot,
        faults: Sequence[Fault],
        hide: Sequence[str] = (),
        cut_on: str | None = None,
        flood_on: str | None = None,
        uid_last: bool = False,
        refuse: str | None = None,
        drop: bytes | None = None,
        literal: int | None = None,
        refuse_text: bytes = b"[SERVERBUG] Internal error",
        refuse_with: bytes = b"NO",
        whole: bool = False,
        sessions: Sequence[SessionFault] = ("pass",),
        idle: Sequence[IdleFault] = ("pass",),
    ) -> None:
        self.whole = whole
        self.sessions = list(sessions)
        self.idle = list(idle)
        self.idles: list[IdleFault] = []
        self.refuse_with = refuse_with
        self.refuse_text = refuse_text
        self.literal = literal
        self.uid_last = uid_last
        self.drop = drop
        self.refuse = refuse.upper().encode() if refuse else None
        self.server = server
        self.faults = list(faults)
        self.hide = {c.upper().encode() for c in hide}
        self.cut_on = cut_on.upper().encode() if cut_on else None
        self.flood_on = flood_on.upper().encode() if flood_on else None
        self.logins: list[Fault] = []
        self.host = HOST
        self.port = 0
        self._connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> Self:
        self._thread.start()
        ctx = self.server.pki.server_ssl_context()
        start = asyncio.start_server(self._handle, self.host, 0, ssl=ctx)
        self._listener = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._listener is not None:
                self._listener.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        fault: Fault = self.faults[min(self._connections, len(self.faults) - 1)]
        hostile: SessionFault = self.sessions[min(self._connections, len(self.sessions) - 1)]
        self._connections += 1
        up_reader, up_writer = await asyncio.open_connection(
            self.server.host,
            self.server.port,
            ssl=self.server.pki.client_ssl_context(),
            server_hostname=self.server.host,
            limit=2**24,  # read by line when hiding capabilities: a message's lines too
        )
        stalled = False
        cut_at_plus = False  # an IDLE to cut once the server accepts it
        cut_at_push = False  # ... once the server pushes new mail
        end_at_plus = b""  # the tag of an IDLE to end once the server accepts it
        swallow = b""  # the tag whose completion the server sends is not passed on

        async def downstream() -> None:
            nonlocal end_at_plus, swallow
            lines = self.hide or self.uid_last or self.drop or self.literal or self.idle != ["pass"]
            read = up_reader.readline if lines else lambda: up_reader.read(65536)
            while data := await read():
                if self.literal is not None and _FETCH_ANY_LITERAL.match(data):
                    data = re.sub(rb"\{\d+\}\r\n$", b"{%d}\r\n" % self.literal, data)
                m = _FETCH_LITERAL.match(data) if self.uid_last else None
                if m:  # the UID moves after the literal
                    literal = await up_reader.readexactly(int(m.group(4)))
                    rest = await up_reader.readline()
                    data = m.group(1) + m.group(3) + literal + b" UID " + m.group(2) + rest
                if self.drop and data.startswith(self.drop):
                    continue
                if swallow and data.startswith(swallow + b" "):
                    swallow = b""
                    continue
                if self.hide and b"CAPABILITY" in data.upper():
                    words = data.rstrip(b"\r\n").split(b" ")
                    data = b" ".join(w for w in words if w.upper() not in self.hide) + b"\r\n"
                if not stalled:
                    writer.write(data)
                    await writer.drain()
                if end_at_plus and data.startswith(b"+"):
                    writer.write(end_at_plus + b" OK Idle completed (ended by the server)\r\n")
                    await writer.drain()
                    up_writer.write(b"DONE\r\n")
                    await up_writer.drain()
                    swallow, end_at_plus = end_at_plus, b""
                pushed = data.startswith(b"* ") and data.rstrip().upper().endswith(b" EXISTS")
                if (cut_at_plus and data.startswith(b"+")) or (cut_at_push and pushed):
                    writer.transport.abort()
                    return

        async def upstream() -> None:
            nonlocal stalled, cut_at_plus, cut_at_push, end_at_plus, hostile
            logged_in = swallow_done = mute = False
            while line := await reader.readline():
                words = line.upper().split()
                if hostile == "garbled" and not logged_in and words[1:2] == [b"CAPABILITY"]:
                    writer.write(
                        b"* CAPABILITY IMAP4rev1 IDLE \xff\xfe\r\n%s OK done\r\n" % words[0]
                    )
                    await writer.drain()
                    continue
                if hostile == "literal" and logged_in:
                    hostile = "pass"
                    writer.write(b"* OK [ALERT] {%d}\r\n" % HUGE)
                    await writer.drain()
                    continue
                if words[1:2] == [b"IDLE"]:
                    how = self.idle[min(len(self.idles), len(self.idle) - 1)]
                    self.idles.append(how)
                    if how == "bad":
                        writer.write(words[0] + b" BAD Hostile: no IDLE today\r\n")
                        await writer.drain()
                        continue
                    cut_at_plus, cut_at_push = how == "cut", how == "push"
                    end_at_plus = words[0] if how == "ended" else b""
                    swallow_done = how in ("nodone", "mute")
                    mute = how == "mute"
                if swallow_done and line.strip().upper() == b"DONE":
                    stalled = stalled or mute
                    continue
                hidden = {cmd for c in self.hide for cmd in _HIDDEN.get(c, (c,))}
                names = {b" ".join(words[1:2]), b" ".join(words[1:3])}
                if self.cut_on in names:
                    self.cut_on = None
                    writer.transport.abort()
                    return
                if self.flood_on in names:
                    self.flood_on = None
                    await _flood(writer)
                    writer.transport.abort()
                    return
                if self.refuse in names:
                    writer.write(words[0] + b" %s %s\r\n" % (self.refuse_with, self.refuse_text))
                    await writer.drain()
                    continue
                if names & hidden:
                    writer.write(words[0] + b" BAD Unknown command\r\n")
                    await writer.drain()
                    continue
                if b" LOGIN " in line.upper():
                    logged_in = True
                    self.logins.append(fault)
                    if fault == "cut":
                        writer.transport.abort()
                        return
                    if fault == "flood":  # the account is never asked
                        await _flood(writer)
                        writer.transport.abort()
                        return
                    stalled = fault == "stall"
                if self.whole:
                    line = re.sub(rb"BODY\.PEEK\[\]<0\.\d+>", b"BODY.PEEK[]", line)
                up_writer.write(line)
                await up_writer.drain()

        try:
            down = asyncio.ensure_future(downstream())
            await upstream()
            down.cancel()
            await asyncio.gather(down, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
            self._tasks.discard(task)


async def _flood(writer: asyncio.StreamWriter) -> None:
    """:data:`FLOOD_LINE` over and over, :data:`FLOOD_BYTES` of it (or until the transport
    knows the client is gone, which it may not: it takes writes after that)."""
    chunk = FLOOD_LINE * (65_536 // len(FLOOD_LINE))
    sent = 0
    while sent < FLOOD_BYTES and not writer.transport.is_closing():
        part = chunk[: FLOOD_BYTES - sent]
        writer.write(part)
        await writer.drain()
        sent += len(part)


_FETCH_ANY_LITERAL = re.compile(rb"\* \d+ FETCH \(.*\{\d+\}\r\n$", re.S)
_FETCH_LITERAL = re.compile(rb"(\* \d+ FETCH \()UID (\d+) (.*\{(\d+)\}\r\n)$", re.S)
# The commands a capability brings, where they are not the capability's own name.
_HIDDEN = {b"MOVE": (b"MOVE", b"UID MOVE"), b"UIDPLUS": (b"UID EXPUNGE",)}


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@atexit.register
def _close_all() -> None:
    for server in list(_LIVE):
        server.close()


def _until_group_gone(group: int, timeout: float = 10.0) -> None:
    """Wait until no process of the killed server's process group is alive (a zombie holds no
    socket). SIGKILL is delivered at once but a process takes a moment to exit: a start()
    meanwhile found the old config process's socket alive ("Socket already exists") and
    dovecot refused to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[2]) == group and fields[0] != b"Z":
                alive = True
                break
        if not alive:
            return
        time.sleep(0.01)
    raise TimeoutError(f"dovecot's processes (group {group}) still alive {timeout}s after KILL")
