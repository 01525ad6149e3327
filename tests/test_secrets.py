"""The canary password: one unique random secret, given the three supported ways, must never
show up anywhere warmup writes or passes on.

It goes in through ``WARMUP_PASSWORD``, ``--password-command`` and a (file) keyring filled by
``warmup mailbox login``; it is used for real by ``send`` (delivered, refused login,
unreachable server), ``bounces sync`` (success, refused login), ``doctor`` and a wrapped
``send -- COMMAND`` whose child dumps its own argv, environment and every process's command
line. Then every byte is scanned: the ledger and its -wal/-shm, every file under the test's
HOME/XDG dirs (logs, caches), each command's stdout and stderr, the child's dumps and the
texts of library exceptions, for the canary as it is, in base64 (at any offset: AUTH PLAIN's
response, a basic-authentication header) and URL-encoded. The only files allowed to hold it are
the keyring itself, the password command's source file and the servers' own password files.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests import forkcli
from tests.gatekit import ANY_DAY, policy_file
from tests.peers.dovecot import Dovecot
from tests.peers.fixtures import IMAP_USER
from tests.peers.smtp import SmtpSink, free_port

CANARY = "canary-" + secrets.token_hex(16)
BOX = IMAP_USER
REPO = Path(__file__).resolve().parent.parent
COMMANDS: list[list[str]] = []  # every argv this module started, checked at the end


@pytest.fixture(scope="module")
def canary_imap(pki) -> Iterator[Dovecot]:  # type: ignore[no-untyped-def]
    if not Path("/usr/sbin/dovecot").exists() and not os.environ.get("CI"):
        pytest.skip("dovecot is not installed")
    with Dovecot(pki, user=BOX, password=CANARY) as server:
        yield server


class World:
    """A mailbox on a sink and Dovecot that both accept the canary, with one password source."""

    def __init__(self, root: Path, source: str, sink: SmtpSink, imap: Dovecot) -> None:
        self.root, self.source, self.sink, self.imap = root, source, sink, imap
        self.home = root / "home"
        self.home.mkdir()
        self.db = root / "ledger.db"
        self.secret_files = {root / "keyring.json", root / "pw.txt"}
        (root / "pw.txt").write_text(CANARY + "\n")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WARMUP_PASSWORD")},
            "WARMUP_DB": str(self.db),
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "PYTHONPATH": str(REPO),  # tests.filekeyring, from the test's own working dir
        }
        self.extra: list[str] = []
        if source == "env":
            self.env["WARMUP_PASSWORD"] = CANARY
        elif source == "command":
            self.extra = ["--password-command", f"cat {root / 'pw.txt'}"]
        else:
            self.env["PYTHON_KEYRING_BACKEND"] = "tests.filekeyring.FileKeyring"
            self.env["WARMUP_TEST_KEYRING"] = str(root / "keyring.json")
        self.outputs: list[str] = []

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        ok: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None,
        real: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``warmup ARGS``; ``real``: a fresh interpreter, where what is checked is what other
        processes can read of warmup's own command line and environment in /proc (a child of
        the zygote shows the zygote's); everything else is the same on both."""
        argv = [sys.executable, "-m", "warmup", *args]
        COMMANDS.append(argv)
        res = subprocess.run(
            argv if real else [*forkcli.command(), *args],
            capture_output=True,
            text=True,
            timeout=90,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            env={**self.env, **(env or {})},
            cwd=self.root,
        )
        self.outputs += [res.stdout, res.stderr]
        assert res.returncode in ok, (args, res.returncode, res.stderr)
        return res

    def mailbox(self, smtp_port: int, imap_port: int) -> None:
        self.run(
            "mailbox", "set", BOX, "--smtp-port", str(smtp_port), "--imap-port", str(imap_port)
        )


def add_mailbox(db: Path, **settings: Any) -> None:
    """Register BOX (exmail, SMTP on loopback) in the ledger at ``db``, as ``warmup mailbox
    add`` would, with the exmail policy that sends on CN holidays too: its tests send now."""
    from warmup import api, open_ledger

    ledger = open_ledger(str(db))
    try:
        settings.setdefault("policy", str(ANY_DAY))
        api.add_mailbox(ledger, BOX, "exmail", smtp_host="127.0.0.1", **settings)
    finally:
        ledger.close()


@pytest.fixture(params=["env", "command", "keyring"])
def world(request, pki, ssl_cert_env, canary_imap, tmp_path) -> Iterator[World]:  # type: ignore[no-untyped-def]
    with SmtpSink("ssl", user=BOX, password=CANARY, pki=pki) as sink:
        w = World(tmp_path, request.param, sink, canary_imap)
        w.run(
            "mailbox", "add", BOX, "--provider", "exmail",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port),
            "--imap-host", "127.0.0.1", "--imap-port", str(canary_imap.port),
            "--policy", str(policy_file(tmp_path / "p.toml", 100)),
        )  # fmt: skip
        if request.param == "keyring":
            w.run("mailbox", "login", BOX, stdin=CANARY + "\n")
            assert CANARY in (tmp_path / "keyring.json").read_text()  # it really is in use
        yield w


def leak_forms(secret: str) -> frozenset[bytes]:
    """``secret`` as a leak may carry it: as it is; URL-encoded (as ``quote`` and
    ``quote_plus`` write it, and every byte as ``%XX`` in either case); and in base64, standard
    and URL-safe, at each of the three offsets it can start at inside an encoded run (AUTH
    PLAIN's ``\\0user\\0password``, a basic-authentication header): the characters of the run
    that depend on the secret's bytes alone."""
    raw = secret.encode()
    forms = {raw, quote(secret, safe="").encode(), quote_plus(secret).encode()}
    forms |= {
        "".join(f"%{b:02X}" for b in raw).encode(),
        "".join(f"%{b:02x}" for b in raw).encode(),
    }
    for offset in range(3):
        start, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(b"\0" * offset + raw)[start:end])
    return frozenset(forms)


CANARY_FORMS = leak_forms(CANARY)


def leaks(data: bytes) -> bool:
    """Whether ``data`` holds the canary in any of :data:`CANARY_FORMS`."""
    return any(form in data for form in CANARY_FORMS)


def scan(w: World) -> list[str]:
    """Every place the canary was found (empty: none), as it is, URL-encoded or in base64."""
    hits = [f"output #{i}" for i, text in enumerate(w.outputs) if leaks(text.encode())]
    for path in w.root.rglob("*"):
        if path.is_file() and path not in w.secret_files and leaks(path.read_bytes()):
            hits.append(str(path))
    return hits


def planted_leaks(secret: str = CANARY) -> list[str]:
    """``secret`` leaked as it is, in base64 at each offset (AUTH PLAIN's response, a basic
    authentication header, a URL-safe run) and URL-encoded, each amid other text."""
    plain = base64.b64encode(f"\0{BOX}\0{secret}".encode()).decode()
    basic = base64.b64encode(f"{BOX}:{secret}".encode()).decode()
    return [
        secret,
        f"334 {plain}",
        f"Authorization: Basic {basic}",
        base64.urlsafe_b64encode(f"xx{secret}yy".encode()).decode(),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"x{secret}".encode()).decode(),
        "https://h.example/?p=" + "".join(f"%{b:02x}" for b in secret.encode()),
        "key=" + quote_plus(secret),
    ]


def test_the_scan_finds_the_canary_encoded_and_nothing_else(tmp_path) -> None:
    """The scan looked for the literal canary alone: base64 of it (AUTH PLAIN's response, a
    basic-authentication header, a token a server quoted back) or its URL-encoding passed. Each
    planted form is found, amid other text; the same text without the canary is not."""
    for planted in planted_leaks():
        assert leaks(f"before {planted} after".encode()), planted
    other = "canary-" + secrets.token_hex(16)
    assert not [p for p in planted_leaks(other) if leaks(f"before {p} after".encode())]


# Passwords of 1 to 5 characters: base64 of 5 bytes is 8 characters with its padding, 7
# without, under the 8 that a run of base64 needed to be decoded at all.
SHORT_SECRETS = ["K", "pw", "pw1", "Pw1!", "x9Yz!", "пар"]
# What a server says around a refused login: none of it may be masked for any of them (none
# holds one of them as it is, which is masked wherever it stands).
ORDINARY = (
    "535 5.7.8 Error: authentication failed: Invalid login or password; see "
    "https://support.example.com/?topic=auth (code AB12, id 7f3e) UGFzc3dvcmQ6 Go ahead"
)


def short_planted(secret: str) -> list[str]:
    """How a login sends a short ``secret``, each as a server may quote it back: AUTH LOGIN's
    response, with its padding and without; AUTH PLAIN's ``^@user^@password`` for a user short
    enough that the whole is a short run too; basic authentication's ``user:password``."""
    raw = secret.encode()
    runs = [
        base64.b64encode(raw),
        base64.b64encode(b"\0u\0" + raw),
        base64.b64encode(b"\0" + raw),  # an empty authorization and user
        base64.b64encode(b"u:" + raw),
    ]
    return sorted({form for r in runs for form in (r.decode(), r.decode().rstrip("="))})


def test_a_short_password_quoted_back_in_base64_is_masked_and_ordinary_words_are_not() -> None:
    """``words.scrubbed`` decoded runs of 8 base64 characters or more: a password of up to 5
    characters that a server quoted back as AUTH LOGIN sent it (``cHcx`` for ``pw1``) was left
    readable by anyone who decodes it. Each form is masked; the server's ordinary words, and
    base64 of another short password, are kept."""
    from warmup.words import scrubbed

    for secret in SHORT_SECRETS:
        for planted in short_planted(secret):
            said = f"535 5.7.8 bad credentials {planted}, try again"
            assert scrubbed(said, secret) == "535 5.7.8 bad credentials ***, try again", planted
            assert scrubbed(f"{said} {ORDINARY}", secret).endswith(ORDINARY), planted
        assert scrubbed(ORDINARY, secret) == ORDINARY, secret
        other = short_planted("zz" if secret != "zz" else "yy")
        kept = " ".join(other)
        assert scrubbed(kept, secret) == kept, secret


def send(w: World, *more: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    return w.run(
        "send",
        BOX,
        "--to",
        f"lead{len(w.outputs)}@example.com",
        "--subject",
        "s",
        "--body",
        "b",
        "--timeout",
        "5",
        *w.extra,
        *more,
        ok=ok,
    )


@pytest.mark.slow
def test_canary_never_leaks(world: World, dovecot) -> None:  # type: ignore[no-untyped-def]
    w = world
    # send: delivered, the login refused, the server unreachable
    send(w)
    assert [m.auth_login for m in w.sink.messages] == [BOX]  # the canary did log in
    w.sink.password = "not-the-canary"
    assert "535" in send(w, ok=(77,)).stderr
    w.sink.password = CANARY
    w.mailbox(free_port(), w.imap.port)
    assert "connection refused" in send(w, ok=(69,)).stderr
    w.mailbox(w.sink.port, w.imap.port)
    # bounces sync: success, then the login refused (the shared Dovecot has another password)
    w.imap.append("INBOX", b"From: x@example.org\r\nSubject: hi\r\n\r\nnot a bounce\r\n")
    assert "Scanned" in w.run("bounces", "sync", BOX, "--since", "2026-01-01", *w.extra).stdout
    w.mailbox(w.sink.port, dovecot.port)
    w.run("bounces", "sync", BOX, *w.extra, ok=(77,))
    w.mailbox(w.sink.port, w.imap.port)
    # doctor: every step, both logins
    w.run("doctor", BOX, "--no-domain", "--json", *w.extra)
    # a wrapped command: its argv, its environment and every process's command line
    dump = w.root / "dump"
    dump.mkdir()
    script = (
        f"tr '\\0' ' ' < /proc/self/cmdline > {dump}/argv; env > {dump}/env; "
        f"for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done "
        f"> {dump}/all-cmdlines 2>/dev/null; "
        f"printf 'To: wrapped@example.com\\nSubject: s\\n\\nhi\\n' | sendmail -t; "
        f"echo rc=$? > {dump}/sendmail-rc"
    )
    w.run("send", BOX, "--timeout", "5", *w.extra, "--", "sh", "-c", script, real=True)
    assert (dump / "sendmail-rc").read_text().strip() == "rc=0"
    assert "WARMUP_SMTP_PASSWORD" in (dump / "env").read_text()  # the one-time one instead
    assert "-m warmup send" in (dump / "all-cmdlines").read_text()  # warmup's own argv seen
    assert len(w.sink.messages) == 2
    # the ledger files and everything else under the test's directory
    assert sorted(p.name for p in w.root.glob("ledger.db*"))[0] == "ledger.db"
    control = w.home / "control.log"  # the scanner does see a leak where one is
    for planted in planted_leaks():
        control.write_text(f"oops {planted}")
        assert scan(w) == [str(control)], planted
    control.unlink()
    assert scan(w) == []
    assert not [argv for argv in COMMANDS if any(leaks(a.encode()) for a in argv)]


def test_library_errors_and_reprs_never_hold_it(ssl_cert_env, tmp_path) -> None:
    from warmup import Gate, api, open_ledger, smtp
    from warmup.bounces import imap
    from warmup.errors import WarmupError

    ledger = open_ledger(str(tmp_path / "l.db"))
    api.add_mailbox(
        ledger,
        BOX,
        "exmail",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        imap_host="127.0.0.1",
        imap_port=free_port(),
    )
    texts = []
    target = smtp.Target(("127.0.0.1",), free_port(), "ssl", BOX, CANARY, 2)
    texts.append(repr(target))
    with pytest.raises(WarmupError) as unreachable:
        smtp.Session(target)
    with Gate(BOX, ledger=ledger, password=CANARY, timeout=2) as gate:
        texts.append(repr(gate))
        with pytest.raises(WarmupError) as gated:
            gate.send(b"To: lead@example.com\r\nSubject: s\r\n\r\nb\r\n")
    with pytest.raises(WarmupError) as imap_down:
        imap.connect(("127.0.0.1",), free_port(), "ssl", BOX, CANARY, 2)
    for info in (unreachable, gated, imap_down):
        texts += [
            str(info.value),
            repr(info.value),
            "".join(traceback.format_exception(info.value)),
        ]
    ledger.close()
    assert all(texts) and not [t for t in texts if leaks(t.encode())]
    assert not leaks(b"".join(p.read_bytes() for p in tmp_path.glob("l.db*")))


# What the wrapped command runs: it looks for the password in every ancestor's environment
# (/proc/PID/environ is the environment a process was started with, whatever it did later),
# in the pipe warmup may have used to hand it over, then sends through the relay.
SNOOP = """\
import os, subprocess, sys
out, pid = open(sys.argv[1], "wb"), os.getppid()
while pid > 1:
    for name in ("environ", "cmdline"):
        try:
            out.write(open(f"/proc/{pid}/{name}", "rb").read() + b"\\n")
        except OSError as exc:
            out.write(f"{pid}/{name}: {exc}\\n".encode())
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
parent = open(f"/proc/{os.getppid()}/environ", "rb").read().split(b"\\0")
env = dict(v.split(b"=", 1) for v in parent if b"=" in v)
fd = env.get(b"WARMUP_PASSWORD_FD")
if fd:
    try:
        pipe = os.open(f"/proc/{os.getppid()}/fd/{int(fd)}", os.O_RDONLY | os.O_NONBLOCK)
        out.write(b"handover fd: " + os.read(pipe, 4096) + b"\\n")
    except OSError as exc:
        out.write(f"handover fd: {exc}\\n".encode())
out.close()
msg = b"To: wrapped@example.com\\nSubject: s\\n\\nhi\\n"
sys.exit(subprocess.run(["sendmail", "-t"], input=msg).returncode)
"""


def _clean_env(tmp_path, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """This environment without WARMUP_PASSWORD*, the ledger in ``tmp_path``, and ``extra``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("WARMUP_PASSWORD")},
        "WARMUP_DB": str(tmp_path / "ledger.db"),
        **extra,
    }


def _snooped_send(pki, tmp_path, env, *options: str):  # type: ignore[no-untyped-def]
    """``warmup send BOX [options] -- python SNOOP dump`` against a sink taking CANARY: the
    result and what the wrapped command could read of warmup (its dump)."""
    script, dump = tmp_path / "snoop.py", tmp_path / "dump"
    script.write_text(SNOOP)
    with SmtpSink("ssl", user=BOX, password=CANARY, pki=pki) as sink:
        add_mailbox(tmp_path / "ledger.db", smtp_port=sink.port)
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "warmup",
                "send",
                BOX,
                *options,
                "--",
                sys.executable,
                str(script),
                str(dump),
            ],  # fmt: skip
            env=env,
            capture_output=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
        assert res.returncode == 0, res.stderr
        assert [m.auth_login for m in sink.messages] == [BOX]  # warmup itself still had it
    return res, dump.read_bytes()


@pytest.mark.slow
def test_a_wrapped_command_cannot_read_the_password_from_warmups_environment(
    pki, ssl_cert_env, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    env = {**_clean_env(tmp_path), "WARMUP_PASSWORD": CANARY}
    res, seen = _snooped_send(pki, tmp_path, env)
    assert b"-m warmup send" in seen.replace(b"\0", b" ")  # the parent was read, really
    assert not leaks(seen + res.stdout + res.stderr)


@pytest.mark.slow
def test_oauth_tokens_never_reach_a_wrapped_command_output_or_the_ledger(
    pki, ssl_cert_env, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The same for an OAuth mailbox: the refresh token (keyring) and the access token (memory)
    are nowhere in the wrapped command's view, warmup's output or the ledger files."""
    from tests.peers.oauth import CANARY as TOKEN_MARK
    from tests.peers.oauth import CLIENT_ID, OAuthServer

    forked = forkcli.command()  # started before ``env`` is copied: it names the zygote
    env = {
        **_clean_env(tmp_path),
        "PYTHON_KEYRING_BACKEND": "tests.filekeyring.FileKeyring",
        "WARMUP_TEST_KEYRING": str(tmp_path / "keyring.json"),
        "WARMUP_OAUTH_CLIENT_ID": CLIENT_ID,
        # a confidential client's secret: the send must still refresh with it, though it
        # re-executes itself without it (see the test above)
        "WARMUP_OAUTH_CLIENT_SECRET": "app-" + TOKEN_MARK,
        "PYTHONPATH": str(REPO),
    }
    script, dump = tmp_path / "snoop.py", tmp_path / "dump"
    script.write_text(SNOOP)

    def warmup(*args: str, real: bool = False) -> subprocess.CompletedProcess[bytes]:
        """``warmup ARGS``; ``real``: a fresh interpreter, for the send whose wrapped command
        reads warmup's command line and environment in /proc (a child of the zygote shows the
        zygote's); the mailbox commands before it fork from the zygote (~1 s of CPU each less)."""
        argv = [sys.executable, "-m", "warmup", *args]
        COMMANDS.append(argv)
        return subprocess.run(
            argv if real else [*forked, *args],
            env=env,
            capture_output=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )

    with OAuthServer() as server, SmtpSink("ssl", user=BOX, pki=pki) as sink:
        sink.oauth = server.valid
        env["WARMUP_OAUTH_ENDPOINT"] = server.url
        outputs = [
            warmup(
                "mailbox", "add", BOX, "--provider", "gmail",
                "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port),
            ),
            warmup("mailbox", "login", BOX, "--oauth"),
            warmup("send", BOX, "--", sys.executable, str(script), str(dump), real=True),
        ]  # fmt: skip
        assert [r.returncode for r in outputs] == [0, 0, 0], outputs[-1].stderr
        assert [m.auth_login for m in sink.messages] == [BOX]  # logged in with a token
        tokens = server.secrets()
        assert server.grants[-1] == "refresh_token"  # the send's, after it re-executed
        assert set(server.client_secrets) == {"app-" + TOKEN_MARK}  # every request carried it
    assert len(tokens) == 4  # device grant: access + refresh; the send's refresh: both again
    mark = TOKEN_MARK.encode()
    seen = dump.read_bytes()
    assert b"-m warmup send" in seen.replace(b"\0", b" ")  # the parent was read, really
    assert mark not in seen + b"".join(r.stdout + r.stderr for r in outputs)
    assert mark not in b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert mark in (tmp_path / "keyring.json").read_bytes()  # where the refresh token lives
    assert not [argv for argv in COMMANDS if any(TOKEN_MARK in a for a in argv)]


@pytest.mark.parametrize(
    "password",
    [f"pässwort-{CANARY}", f"x\r\nA9 {CANARY}", f"x\n{CANARY}", f"{CANARY}\r"],
    ids=["non-ascii", "crlf", "lf", "trailing-cr"],
)
def test_a_password_no_login_can_send_is_refused_before_connecting_never_quoted(
    password, pki, ssl_cert_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A password given to the library (``Gate(password=...)``, the overflow channel's
    ``$WARMUP_OVERFLOW_PASSWORD``) that smtplib and imaplib cannot send: a non-ASCII one raised
    UnicodeEncodeError quoting one of its characters and its position (the worker died with a
    traceback, leaving an overflow message ``unknown``), and imaplib sent a line break's tail to
    the server as a command of its own. Now one :class:`ConfigError` that quotes none of it, and
    nothing reaches a server; ``$WARMUP_PASSWORD`` (a CRLF ``.env`` file) is refused alike."""
    from warmup import credentials, smtp
    from warmup.bounces import imap
    from warmup.errors import ConfigError

    texts = []
    with SmtpSink("ssl", user=BOX, password=password, pki=pki) as sink:
        target = smtp.Target(("127.0.0.1",), sink.port, "ssl", BOX, password, 5)
        with pytest.raises(ConfigError) as smtp_refused:
            smtp.Session(target)
        assert sink.connections == 0  # refused before connecting
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        with pytest.raises(ConfigError) as imap_refused:
            imap.connect(("127.0.0.1",), listener.getsockname()[1], "ssl", BOX, password, 1)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    monkeypatch.setenv("WARMUP_PASSWORD", password)
    with pytest.raises(ConfigError) as env_refused:
        credentials.get_password(BOX)
    for info in (smtp_refused, imap_refused, env_refused):
        texts += [str(info.value), "".join(traceback.format_exception(info.value))]
    assert "ASCII" in texts[0] and "line break" in texts[0]
    for text in texts:
        assert not leaks(text.encode()) and "ä" not in text and "\\xe4" not in text, text


@pytest.mark.slow
def test_a_wrapped_command_cannot_read_the_overflow_or_oauth_app_secret_from_warmup(
    pki, ssl_cert_env, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``WARMUP_OVERFLOW_PASSWORD`` and ``WARMUP_OAUTH_CLIENT_SECRET`` exported in the shell were
    removed from the wrapped command's environment but stayed in warmup's own initial one,
    which the command read in /proc/PPID/environ (warmup re-executed itself only for
    ``WARMUP_PASSWORD``): the relay's promise, no way into the overflow channel or the OAuth
    app, was kept only against a command that did not look."""
    ovf, app = "ovf-" + CANARY, "app-" + CANARY
    env = _clean_env(tmp_path, WARMUP_OVERFLOW_PASSWORD=ovf, WARMUP_OAUTH_CLIENT_SECRET=app)
    (tmp_path / "pw.txt").write_text(CANARY + "\n")
    res, seen = _snooped_send(
        pki, tmp_path, env, "--password-command", f"cat {tmp_path / 'pw.txt'}"
    )
    assert b"-m warmup send" in seen.replace(b"\0", b" ")  # the parent was read, really
    assert b"WARMUP_DB=" in seen  # its environment too
    for secret in (ovf, app):
        assert secret.encode() not in seen + res.stdout + res.stderr


@pytest.mark.slow
def test_a_webhook_token_in_the_environment_reaches_no_command_warmup_starts(
    pki, ssl_cert_env, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``$WARMUP_NOTIFY_WEBHOOK`` is where a host without a keyring keeps a robot's token
    (README: Notifications), yet it was no secret to warmup: the wrapped command read it in its
    own environment and in /proc/PPID/environ, and the password command and the notify command
    were handed it. It is now shed as the passwords are, and warmup itself still notifies."""
    from tests.test_notify import TOKEN, Receiver

    receiver = Receiver()
    try:
        env = _clean_env(tmp_path, WARMUP_NOTIFY_WEBHOOK=receiver.url)
        (tmp_path / "pw.sh").write_text(
            f"env > {tmp_path / 'pwcmd-env'}; cat /proc/$PPID/environ >> {tmp_path / 'pwcmd-env'}"
            f"; echo {CANARY}\n"
        )
        script, dump = tmp_path / "snoop.py", tmp_path / "dump"
        script.write_text(SNOOP)
        with SmtpSink("ssl", user=BOX, password=CANARY, pki=pki) as sink:
            add_mailbox(tmp_path / "ledger.db", smtp_port=sink.port)
            sink.fail_after_mail = (421, "4.7.0 Too many messages, try again later")
            res = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "warmup",
                    "send",
                    BOX,
                    "--password-command",
                    f"sh {tmp_path / 'pw.sh'}",
                    "--",
                    sys.executable,
                    str(script),
                    str(dump),
                ],  # fmt: skip
                env=env,
                capture_output=True,
                timeout=90,
                stdin=subprocess.DEVNULL,
            )
        seen = dump.read_bytes() + (tmp_path / "pwcmd-env").read_bytes()
        assert b"-m warmup send" in seen.replace(b"\0", b" ")  # the parent was read, really
        assert TOKEN.encode() not in seen + res.stdout + res.stderr
        # The throttle paused the mailbox, and warmup (re-executed without the variable) said so.
        assert [b["event"] for b in receiver.bodies] == ["paused"], res.stderr
    finally:
        receiver.close()
