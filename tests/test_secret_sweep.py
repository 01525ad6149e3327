"""Every command, as a process, with a canary secret in each place a secret lives: none of it
may come out.

tests/test_option_sweep.py feeds every parameter bad values with the canary in the
environment and config file, in-process. Here each leaf command runs as a real process (its
baseline from that sweep, with ``--verbose``, and ``--json`` where it has one) on a
PostgreSQL ledger whose password is the canary, in three states: a role that logs in with it
(every command's own work and success output), the same URL with the password refused, and
a closed port; with the canary also in ``$WARMUP_PASSWORD``, ``$WARMUP_OVERFLOW_PASSWORD``,
``$WARMUP_OAUTH_CLIENT_SECRET``, the keyring (``mailbox login`` is given it), a webhook's
token (a receiver on loopback) and the config file. Then the scanner of tests/test_secrets.py
reads every byte: each command's stdout and stderr, every file under the test's directory
(HOME, XDG dirs, what a command wrote: a plot, a copy of the ledger), every row of the
PostgreSQL ledger, the webhook's bodies, and what the notify command (a script that dumps its
argv, environment and input) was handed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import forkcli
from tests.pgkit import _admin, pg_server, throwaway_role
from tests.test_notify import Receiver
from tests.test_option_sweep import (  # noqa: F401  (files: the fixture)
    _NOT_FOR_USERS,
    BASE,
    COMMANDS,
    SYSEXITS,
    argv,
    files,
    populate,
)
from tests.test_secrets import CANARY, REPO, canary_imap, leaks  # noqa: F401  (a fixture)

SECRET_FILES = ("keyring.json", "secret-config.toml")  # where the canary is put on purpose
# The notify command: its argv, environment, its parent's and what it reads, each to a file of
# the scanned directory. WARMUP_DB is left out: a password in it reaches every command warmup
# starts, as README (team mode) says, since a 'warmup' such a command runs needs the ledger.
DUMP = """\
out=$(mktemp "$WARMUP_SWEEP_DUMPS/notify.XXXXXX")
{ printf 'argv:'; printf ' %s' "$0" "$@"; echo; env; tr '\\0' '\\n' < /proc/$PPID/environ;
  tr '\\0' ' ' < /proc/$PPID/cmdline; echo; cat; } 2>&1 | grep -v '^WARMUP_DB=' > "$out"
"""


@pytest.fixture
def canary_role() -> Iterator[tuple[str, str]]:
    """A login role whose password is the canary (pgkit's throwaway role: skips or fails as
    it does without CREATEROLE) and a schema of its own on the test server: the ledger URL
    (password and all) and the schema's name; dropped afterwards."""
    import sqlalchemy as sa

    server = sa.engine.make_url(pg_server())
    with throwaway_role() as (role, _):
        with _admin(pg_server()) as conn:
            conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{CANARY}'")
            conn.execute(f'CREATE SCHEMA "{role}"')
            conn.execute(f'GRANT ALL ON SCHEMA "{role}" TO "{role}"')
        options = quote(f"-csearch_path={role}", safe="")
        url = (
            f"postgresql+psycopg://{role}:{CANARY}@{server.host}:{server.port or 5432}/"
            f"{server.database}?options={options}"
        )
        try:
            yield url, role
        finally:
            with _admin(pg_server()) as conn:
                conn.execute("SET lock_timeout = '20s'")
                conn.execute(f'DROP SCHEMA "{role}" CASCADE')


def _dump_rows(url: str) -> bytes:
    """Every row of every table of the ledger at ``url`` (its own role: the tables are its), as
    text."""
    import psycopg
    import sqlalchemy as sa

    plain = sa.engine.make_url(url).set(drivername="postgresql")
    out = []
    with psycopg.connect(plain.render_as_string(hide_password=False)) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                out.append(repr(row).encode())
    return b"\n".join(out)


class Sweep:
    """One environment for every command: the canary everywhere, its directory scanned."""

    def __init__(self, root: Path, db: str, receiver: Receiver) -> None:
        self.root, self.db, self.receiver = root, db, receiver
        self.command = forkcli.command()  # first: it names the zygote in os.environ
        self.home = root / "home"
        self.dumps = root / "dumps"
        for d in (self.home, self.dumps):
            d.mkdir(exist_ok=True)
        (root / "notify.sh").write_text(DUMP)
        config = root / "secret-config.toml"
        config.write_text(
            f'db = "postgresql+psycopg://warmup:cfg-{CANARY}@127.0.0.1:1/none"\n'
            f'[notify]\ncommand = "sh {root / "notify.sh"}"\n'
        )
        config.chmod(0o600)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WARMUP_")},
            forkcli.ENV: os.environ.get(forkcli.ENV, ""),
            "WARMUP_DB": db,
            "WARMUP_CONFIG": str(config),
            "WARMUP_PASSWORD": f"pw-{CANARY}",
            "WARMUP_OVERFLOW_PASSWORD": f"ovf-{CANARY}",
            "WARMUP_OAUTH_CLIENT_SECRET": f"app-{CANARY}",
            "WARMUP_NOTIFY_WEBHOOK": receiver.url.replace("token=", f"token={CANARY}"),
            "WARMUP_SWEEP_DUMPS": str(self.dumps),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "PYTHON_KEYRING_BACKEND": "tests.filekeyring.FileKeyring",
            "WARMUP_TEST_KEYRING": str(root / "keyring.json"),
            "PYTHONPATH": str(REPO),
        }
        self.found: list[str] = []
        self.outputs: list[bytes] = []  # every command's stdout and stderr

    def run(self, args: list[str], stdin: str) -> subprocess.CompletedProcess[bytes]:
        res = subprocess.run(
            [*self.command, *args],
            input=stdin.encode(),
            capture_output=True,
            timeout=120,
            env=self.env,
            cwd=self.root,
        )
        self.outputs += [res.stdout, res.stderr]
        shown = " ".join(args)[:200]
        for where, data in (("stdout", res.stdout), ("stderr", res.stderr)):
            if leaks(data):
                self.found.append(f"{shown}: the canary in {where}: {data[-400:]!r}")
        text = res.stderr.decode(errors="replace")
        if res.returncode not in SYSEXITS and res.returncode not in (126, 127):
            self.found.append(f"{shown}: exit {res.returncode}: {text[-400:]!r}")
        elif _NOT_FOR_USERS.search(text):
            self.found.append(f"{shown}: not a user's message: {text[-400:]!r}")
        return res

    def scan_files(self, *more: Path) -> None:
        for root in (self.root, *more):
            for path in root.rglob("*"):
                if path.is_file() and path.name not in SECRET_FILES and leaks(path.read_bytes()):
                    self.found.append(f"the canary in {path}")
        bodies = repr(self.receiver.bodies).encode()
        if leaks(bodies):
            self.found.append(f"the canary in a webhook's body: {bodies[-400:]!r}")


def _sweep_every_command(
    sweep: Sweep,
    files: dict[str, str],  # noqa: F811
    part: int = 0,
    parts: int = 1,
) -> None:
    """Each leaf command's baseline, verbose, and again with ``--json`` where it takes it (of
    the sorted commands, every ``parts``-th from ``part``)."""
    for name in sorted(COMMANDS)[part::parts]:
        args = argv(name, BASE[name], files)
        stdin = "Subject: hi\n\nhello\n" if name == "sendmail" else f"login-{CANARY}\n"
        sweep.run(["--verbose", *args], stdin)
        if name != "plot" and any(p.name == "json_" for p in COMMANDS[name].params):
            cut = len(name.split())
            sweep.run(["--verbose", *args[:cut], "--json", *args[cut:]], stdin)


@pytest.mark.slow
@pytest.mark.parametrize("part", [0, 1])  # two halves: ~80 s each, for two workers
def test_every_command_on_a_ledger_whose_password_is_the_canary(
    part: int,
    canary_role: tuple[str, str],
    files: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, schema = canary_role
    receiver = Receiver()
    try:
        sweep = Sweep(tmp_path, url, receiver)
        populate({**sweep.env, "WARMUP_PASSWORD": None, "WARMUP_CONFIG": None}, files)
        assert sweep.run(["mailbox", "list"], "").returncode == 0  # it really logs in
        _sweep_every_command(sweep, files, part, 2)
        sweep.scan_files(Path(files["dir"]).parent)
        rows = _dump_rows(url)
        assert b"sales@corp.example" in rows  # the dump reads the ledger, really
        if leaks(rows):
            sweep.found.append("the canary in the ledger's rows")
    finally:
        receiver.close()
    assert not sweep.found, "\n".join(sweep.found)


@pytest.mark.slow
@pytest.mark.parametrize("state", ["refused", "closed"])
def test_every_command_on_a_ledger_that_refuses_or_is_down(
    state: str,
    files: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    import sqlalchemy as sa

    server = sa.engine.make_url(pg_server())
    where = f"{server.host}:{server.port or 5432}" if state == "refused" else "127.0.0.1:1"
    url = f"postgresql+psycopg://warmup:{CANARY}@{where}/{server.database}"
    receiver = Receiver()
    try:
        sweep = Sweep(tmp_path, url, receiver)
        _sweep_every_command(sweep, files)
        sweep.scan_files()
    finally:
        receiver.close()
    assert not sweep.found, "\n".join(sweep.found)


@pytest.mark.slow
def test_refusing_and_untrusted_mail_servers_never_show_the_canary(  # type: ignore[no-untyped-def]
    pki,
    ssl_cert_env,
    canary_imap,  # noqa: F811
    dovecot,
    tmp_path,
) -> None:
    """send, doctor, bounces sync and run --once (verbose, --json where they have it) against a
    server whose certificate is not trusted, one that refuses the canary, and closed ports; the
    queued message's failure is kept in the ledger and shown by queue show/list. The password
    comes from a password command (the source whose child warmup starts); the canary is in the
    environment's other secrets and the webhook too, and notifications go to the dumping
    notify command and a receiver."""
    from tests.gatekit import policy_file
    from tests.peers.smtp import SmtpSink, free_port
    from tests.test_secrets import BOX, World, scan

    (tmp_path / "w").mkdir()
    receiver = Receiver()
    ok = tuple(SYSEXITS)
    try:
        with (
            SmtpSink("ssl", user=BOX, password=CANARY, pki=pki) as sink,
            SmtpSink("ssl", user=BOX, password=CANARY, pki=pki, untrusted=True) as untrusted,
        ):
            w = World(tmp_path / "w", "command", sink, canary_imap)
            sweep = Sweep(tmp_path / "w", str(w.db), receiver)  # its environment, config, dumps
            w.env.update({k: v for k, v in sweep.env.items() if k != "WARMUP_PASSWORD"})
            w.secret_files |= {tmp_path / "w" / name for name in SECRET_FILES}
            w.run(
                "mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1",
                "--smtp-port", str(sink.port), "--imap-host", "127.0.0.1",
                "--imap-port", str(canary_imap.port), "--policy", str(policy_file(w.root / "p.toml", 100)),
            )  # fmt: skip
            (w.root / "leads.csv").write_text("email,name\nl1@example.com,L\n")
            (w.root / "tpl.toml").write_text(
                'subject = "Hi {{ name }}"\ntext = "Dear {{ name }}"\n'
            )
            w.run("queue", "add", "--mailbox", BOX, "--csv", "leads.csv", "--template", "tpl.toml")

            def everything(**env: str) -> None:
                kw = {"ok": ok, "env": env}
                w.run("-v", "send", BOX, "--to", "lead@example.com", "--subject", "s",
                      "--body", "b", "--timeout", "5", *w.extra, **kw)  # fmt: skip
                w.run(
                    "-v", "doctor", BOX, "--no-domain", "--json", "--timeout", "5", *w.extra, **kw
                )
                w.run("-v", "bounces", "sync", BOX, "--timeout", "5", *w.extra, **kw)
                w.run("-v", "run", "--once", "--no-sync", "--timeout", "5", *w.extra, **kw)
                w.run("-v", "queue", "list", "--json", **kw)
                w.run("-v", "queue", "show", "1", "--json", **kw)
                w.run("-v", "queue", "retry", "1", **kw)

            w.mailbox(untrusted.port, canary_imap.port)  # SMTP's certificate untrusted
            everything()
            w.mailbox(sink.port, canary_imap.port)  # IMAP's (and SMTP's) untrusted too
            everything(SSL_CERT_FILE=str(pki.untrusted_ca_pem_path))
            sink.password = f"not-the-{CANARY[::-1]}"  # the canary refused
            w.mailbox(sink.port, dovecot.port)  # Dovecot with another password
            everything()
            w.mailbox(free_port(), free_port())  # nobody there
            everything()
            # A password command that fails saying the secret, a part of it and its own argv
            # (with the canary) on its standard error, then one killed by a signal.
            pw, part = w.root / "pw.txt", CANARY[9:29]
            say = f'cat {pw} >&2; echo {part} >&2; echo "$0 $*" >&2'
            w.mailbox(sink.port, canary_imap.port)
            for fail in ("exit 3", "kill -9 $$"):
                w.extra = ["--password-command", f"sh -c '{say}; {fail}' sh --password={CANARY}"]
                everything()
            w.run("-v", "notify", "test", ok=ok)
        said = "".join(w.outputs)
        assert "does not verify" in said and "535" in said  # TLS refused; the login refused
        # (the shell warmup runs the command through outlives the killed one: exit 137)
        assert "failed with exit code 3" in said and "failed with exit code 137" in said
        assert part not in said, said[-2000:]
        hits = scan(w)
        hits += [
            f"a part of the canary in {path}"
            for path in w.root.rglob("*")
            if path.is_file() and path not in w.secret_files and part.encode() in path.read_bytes()
        ]
        bodies = repr(receiver.bodies).encode()
        if leaks(bodies):
            hits.append(f"a webhook's body: {bodies[-300:]!r}")
        assert receiver.bodies and list(sweep.dumps.iterdir())  # notified, both ways
    finally:
        receiver.close()
    assert not hits, hits


def _config_cases() -> list[object]:
    """(key, value) pairs with the canary for the config file: the ledger URLs --db is swept
    with, the webhooks and commands too, each also with a NUL (TOML's \\u0000) in it."""
    from tests.test_option_sweep import DBS, SECRET_VALUES

    ledgers = [v for v in DBS if CANARY in v]
    pairs = [("db", v) for v in ledgers] + [('commands."db copy".to', v) for v in ledgers[:3]]
    pairs += [("notify.webhook", v) for v in SECRET_VALUES["webhook"]]
    pairs += [("notify.command", v) for v in SECRET_VALUES["command"]]
    pairs += [("commands.send.password-command", v) for v in SECRET_VALUES["password_command"]]
    pairs += [(k, v.rstrip("\0") + "\0") for k, v in pairs if "\0" not in v]
    return [pytest.param(k, v, id=f"{k}-{i}") for i, (k, v) in enumerate(pairs)]


@pytest.mark.parametrize(("key", "value"), _config_cases())
def test_a_secret_the_config_file_holds_is_never_shown(
    key: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config file's every secret-bearing key given each malformed or refused value that
    holds the canary: the file's loading, ``config show`` (and ``--json``) and the commands that
    use the key say what is wrong without it. (A NUL in ``db`` printed the URL, password and
    all, until the file's values were checked as it is read.)"""
    import json

    from click.testing import CliRunner

    from tests.test_option_sweep import CLI

    table, _, name = key.rpartition(".")
    line = f"{json.dumps(name) if ' ' in name else name} = {json.dumps(value)}\n"
    text = f"[{table}]\n{line}" if table else line
    config = tmp_path / "config.toml"
    config.write_text(text)
    config.chmod(0o600)
    monkeypatch.setenv("WARMUP_CONFIG", str(config))
    if key == "db":
        monkeypatch.delenv("WARMUP_DB")
    runs = [["config", "show"], ["config", "show", "--json"], ["quota"], ["db", "copy"]]
    runs += [["notify", "test"], ["send", "a@corp.example", "--to", "x@example.com"]]
    found = []
    for args in runs:
        res = CliRunner().invoke(CLI, args)
        said = res.stdout_bytes + (res.stderr_bytes or b"") + repr(res.exception).encode()
        if leaks(said):
            found.append(f"{' '.join(args)}: {said.decode(errors='replace')[-400:]!r}")
    assert not found, "\n".join(found)


@pytest.mark.slow
def test_an_oauth_server_that_quotes_the_tokens_back_is_never_repeated(  # type: ignore[no-untyped-def]
    pki, ssl_cert_env, tmp_path
) -> None:
    """An OAuth mailbox whose token endpoint, asked for a refresh, refuses it quoting the
    refresh token and the app's client secret (the canary) back as its error code (the part of
    the answer warmup quotes), as posted, percent-encoded and in base64 (HTTP basic): send, doctor --json and bounces sync
    (verbose) say it refused without them; so with the endpoint down. The tokens are in no
    output and no file but the keyring."""
    import base64

    from tests.peers.oauth import CLIENT_ID, OAuthServer
    from tests.peers.smtp import SmtpSink, free_port
    from tests.test_secrets import BOX, leak_forms

    class Quoting(OAuthServer):
        quote = False

        def _handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
            status, body = super()._handle(path, form)
            if self.quote and form.get("grant_type") == "refresh_token":
                token, secret = form.get("refresh_token", ""), form.get("client_secret", "")
                basic = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
                said = f"{token} {secret} {quote(token)} Basic {basic}"  # the code: quoted
                return 400, {"error": said, "error_description": said}
            return status, body

    receiver = Receiver()
    root = tmp_path / "w"
    root.mkdir()
    sweep = Sweep(root, str(root / "ledger.db"), receiver)
    sweep.env["WARMUP_OAUTH_CLIENT_ID"] = CLIENT_ID
    sweep.env.pop("WARMUP_PASSWORD")
    try:
        with Quoting() as server, SmtpSink("ssl", user=BOX, pki=pki) as sink:
            sink.oauth = server.valid
            sweep.env["WARMUP_OAUTH_ENDPOINT"] = server.url
            ok = tuple(SYSEXITS)
            for args in (
                ["mailbox", "add", BOX, "--provider", "gmail", "--smtp-host", "127.0.0.1",
                 "--smtp-port", str(sink.port), "--imap-host", "127.0.0.1",
                 "--imap-port", str(free_port())],
                ["mailbox", "login", BOX, "--oauth"],
            ):  # fmt: skip
                assert sweep.run(args, "").returncode == 0, sweep.found
            server.quote = True
            server.expire_access_tokens()  # the next login must refresh
            send = ["-v", "send", BOX, "--to", "lead@example.com", "--subject", "s", "--body", "b"]
            for env in ({}, {"WARMUP_OAUTH_ENDPOINT": f"http://127.0.0.1:{free_port()}"}):
                sweep.env.update(env)
                for args in (
                    [*send, "--timeout", "5"],
                    ["-v", "doctor", BOX, "--no-domain", "--json", "--timeout", "5"],
                    ["-v", "bounces", "sync", BOX, "--timeout", "5"],
                ):
                    res = sweep.run(args, "")
                    assert res.returncode in ok and res.returncode != 0, res.stderr
            tokens = server.secrets()
            assert any(CANARY in a for a in server.answers)  # it did refuse, quoting them
    finally:
        receiver.close()
    assert len(tokens) >= 2 and not sink.messages
    forms = frozenset().union(*(leak_forms(t) for t in tokens))
    said = b"".join(sweep.outputs)
    assert b"Basic ***" in said, said[-2000:]  # the server's words quoted, masked
    if any(f in said for f in forms):
        sweep.found.append(f"a token in the output: {said[-1500:]!r}")
    for path in root.rglob("*"):
        if path.is_file() and path.name not in SECRET_FILES:
            data = path.read_bytes()
            if any(f in data for f in forms):
                sweep.found.append(f"a token in {path}")
    sweep.scan_files()
    assert not sweep.found, "\n".join(sweep.found)
