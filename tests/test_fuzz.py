"""Hostile input, bounded in time: the bounce parser, CSV import, policy TOML, the relay's SMTP.

Every run first replays the regression corpus in ``tests/fuzz_corpus/<kind>/`` (weird inputs
kept on purpose, and any input a property below once failed on: a failing example is written
there as ``found-<hash>``, so commit it with the fix), then lets hypothesis generate and mutate
more. The contract in each case: a clean, expected error or a valid result — never another
exception, never a hang, never a half-done write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import socket
import sqlite3
import time
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context, currently_in_test_context

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import BOX, policy_file
from tests.peers.fixtures import SMTP_PASSWORD
from warmup import api
from warmup.bounces import parse_bounces
from warmup.errors import ConfigError, DataError
from warmup.ledger import open_ledger
from warmup.policy.spec import load_policy
from warmup.smtp import dot_stuff

CORPUS = Path(__file__).parent / "fuzz_corpus"
NOW = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
FAST = settings(
    max_examples=120,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def corpus(kind: str) -> list[Path]:
    files = sorted((CORPUS / kind).iterdir())
    assert files, f"regression corpus {CORPUS / kind} is empty"
    return files


@contextmanager
def keep_on_failure(kind: str, data: bytes) -> Iterator[None]:
    """If hypothesis's final, shrunk example fails, save it to the corpus for every later run."""
    try:
        yield
    except BaseException:
        if currently_in_test_context() and current_build_context().is_final:
            name = f"found-{hashlib.sha256(data).hexdigest()[:12]}"
            (CORPUS / kind / name).write_bytes(data)
        raise


def mutate(data: st.DataObject, raw: bytes, tokens: list[bytes]) -> bytes:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "token", "dup"]))
        pos = data.draw(st.integers(0, len(buf)))
        if op == "flip" and buf:
            buf[min(pos, len(buf) - 1)] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del buf[pos : pos + data.draw(st.integers(1, 200))]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(max_size=32))
        elif op == "token":
            buf[pos:pos] = data.draw(st.sampled_from(tokens))
        else:
            buf[pos:pos] = buf[pos : pos + data.draw(st.integers(1, 400))]
    return bytes(buf)


# -- bounce parser -------------------------------------------------------------------------------


def check_bounces(raw: bytes) -> None:
    start = time.monotonic()
    with keep_on_failure("bounces", raw):
        found = parse_bounces(raw)
        assert isinstance(found, list)
        assert all(b.kind in {"hard", "soft", "block", "complaint", "notice"} for b in found)
        assert all(len(b.diagnostic) <= 500 for b in found)
        assert time.monotonic() - start < 5, "parser too slow on this input"


@pytest.mark.parametrize("path", corpus("bounces"), ids=lambda p: p.name)
def test_bounce_corpus_replays(path: Path) -> None:
    check_bounces(path.read_bytes())


@FAST
@given(data=st.data())
def test_bounce_parser_on_mutated_corpus(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(corpus("bounces"))).read_bytes()[:20_000]
    check_bounces(
        mutate(
            data,
            raw,
            [
                b"\n--q\n",
                b"Status: 5.1.1\n",
                b"Final-Recipient: ",
                b"=?utf-8?B?",
                b"boundary=",
                b"\r",
                b"\x00",
                b"\xff",
            ],
        )
    )


# -- CSV import ----------------------------------------------------------------------------------

VALID_CSV = (
    b"mailbox,recipient,sent_at,message_id,bounce_kind,bounce_status,bounced_at,"
    b"provider,timezone,event,reason\n"
    b"a@corp.example,lead1@example.com,2026-09-30T09:00:00+08:00,<m1@x>,,,,,,,\n"
    b"b@corp.example,gone@example.com,2026-09-30T09:10:00+08:00,,hard,5.1.1,"
    b"2026-09-30T09:17:00+08:00,exmail,Asia/Shanghai,,\n"
    b"a@corp.example,,2026-10-27T08:30:00+08:00,,,,,,,resume,stale list\n"
)
CSV_TOKENS = [
    b",",
    b'"',
    b"\n",
    b"\r\n",
    b"\x00",
    b"\xff",
    b"\xe9",
    b"pause",
    b"hard",
    b"complaint",
    b"+08:00",
    b"Z",
    b"@",
    b"exmail",
    b"nope",
    b"9999-12-31T23:59:59",
    b"0001-01-01T00:00:00+00:00",
    b"2099-01-01T00:00:00Z",
    b"custom",
    b"\x1b",
]


class Importer:
    """One ledger for every example (migrating a ledger per example would not fit the budget)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "fuzz-ledger.db"
        self.ledger = open_ledger(str(self.db))
        api.add_mailbox(self.ledger, "a@corp.example", "exmail")
        self.n = 0

    def check(self, raw: bytes) -> None:
        self.n += 1
        path = self.folder / f"in{self.n}.csv"
        path.write_bytes(raw)
        before = ledger_digest(self.db)
        with keep_on_failure("csv", raw):
            try:
                api.import_csv(self.ledger, path)
            except DataError as exc:
                text = str(exc)
                assert "\n" not in text and text.startswith(str(path)), text
                assert re.search(r": line \d+: |cannot read it|: no rows below its header", text), (
                    text
                )
                assert ledger_digest(self.db) == before  # nothing half-imported
            else:
                # What was imported cannot break a mailbox: every one still answers.
                for box in self.ledger.mailboxes():
                    assert api.quota(self.ledger, box.address).quota >= 0
                    api.plan(self.ledger, box.address, 3)
            assert sqlite3.connect(self.db).execute("PRAGMA quick_check").fetchone() == ("ok",)


@pytest.fixture(scope="module")
def importer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Importer]:
    imp = Importer(tmp_path_factory.mktemp("csvfuzz"))
    yield imp
    imp.ledger.close()


@pytest.mark.parametrize("path", corpus("csv"), ids=lambda p: p.name)
def test_csv_corpus_replays(path: Path, importer: Importer) -> None:
    importer.check(path.read_bytes())


@pytest.mark.slow
@FAST
@given(data=st.data())
def test_csv_import_on_mutated_files(data: st.DataObject, importer: Importer) -> None:
    importer.check(mutate(data, VALID_CSV, CSV_TOKENS))


FIELD = st.one_of(
    st.sampled_from(
        [
            "a@corp.example",
            "B@Corp.Example",
            "x@y",
            "",
            "pause",
            "resume",
            "hard",
            "soft",
            "complaint",
            "exmail",
            "gmail",
            "UTC",
            "Asia/Shanghai",
            "Nowhere/Land",
            "5.1.1",
            "2026-09-30T09:00:00+08:00",
            "2026-09-30T09:00:00",
            "2026-13-40T99:00:00+08:00",
            "<m@x>",
            "custom",
            "0001-01-01T00:00:00+00:00",
            "2099-01-01T00:00:00Z",
        ]
    ),
    st.text(max_size=12),
)
COLUMNS = [
    "mailbox",
    "recipient",
    "sent_at",
    "message_id",
    "bounce_kind",
    "bounce_status",
    "bounced_at",
    "provider",
    "timezone",
    "event",
    "reason",
]


@FAST
@given(
    header=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=11, unique=True),
    rows=st.lists(st.lists(FIELD, min_size=0, max_size=12), max_size=6),
)
@pytest.mark.slow
def test_csv_import_on_generated_rows(
    header: list[str], rows: list[list[str]], importer: Importer
) -> None:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    importer.check(buf.getvalue().encode("utf-8", "surrogatepass"))


# -- policy TOML ---------------------------------------------------------------------------------

PRESETS = [p for p in (Path(api.__file__).parent / "policy" / "presets").glob("*.toml")]
TOML_TOKENS = [
    b"=",
    b"[",
    b"]",
    b"[[stage]]\n",
    b'"',
    b"nan",
    b"inf",
    b"-1",
    b"0",
    b"99999999999999999999",
    b"true",
    b"\n",
    b"5m",
    b'"25:99"',
    b"[window]\n",
]


class PolicyChecker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ledger = open_ledger(str(folder / "policy-ledger.db"))
        api.add_mailbox(self.ledger, "p@corp.example", "exmail")
        # A recent send, so that pacing intervals and growth limits have something to act on.
        api.record_send(
            self.ledger, "p@corp.example", ["r@example.com"], NOW - dt.timedelta(hours=1)
        )
        self.n = 0

    def check(self, raw: bytes) -> None:
        self.n += 1
        path = self.folder / f"p{self.n}.toml"
        path.write_bytes(raw)
        with keep_on_failure("policy", raw):
            try:
                load_policy(str(path))
            except ConfigError as exc:
                assert str(exc).startswith(("policy ", "policy file ")), exc
                return
            # A spec that loads must be usable: today's quota and a plan, no exception.
            api.set_mailbox(self.ledger, "p@corp.example", policy=str(path))
            allowance = api.quota(self.ledger, "p@corp.example", NOW)
            assert allowance.quota >= 0 and allowance.remaining >= 0
            api.plan(self.ledger, "p@corp.example", 40, NOW)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyChecker]:
    checker = PolicyChecker(tmp_path_factory.mktemp("policyfuzz"))
    yield checker
    checker.ledger.close()


@pytest.mark.parametrize("path", corpus("policy"), ids=lambda p: p.name)
def test_policy_corpus_replays(path: Path, policies: PolicyChecker) -> None:
    policies.check(path.read_bytes())


@pytest.mark.slow
@FAST
@given(data=st.data())
def test_policy_on_mutated_presets(data: st.DataObject, policies: PolicyChecker) -> None:
    raw = data.draw(st.sampled_from(PRESETS)).read_bytes()
    policies.check(mutate(data, raw, TOML_TOKENS))


SCALAR = st.one_of(
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["5m", "1h30m", "0s", "08:00", "mon"]),
)
STAGE = st.fixed_dictionaries(
    {},
    optional={
        "name": SCALAR,
        "days": SCALAR,
        "daily": st.one_of(SCALAR, st.lists(SCALAR, max_size=3)),
        "interval": st.one_of(SCALAR, st.lists(SCALAR, max_size=3)),
    },
)


@FAST
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "name": SCALAR,
            "ceiling": SCALAR,
            "growth_factor": SCALAR,
            "stage": st.one_of(SCALAR, st.lists(st.one_of(STAGE, SCALAR), max_size=3)),
            "health": st.one_of(
                SCALAR,
                st.dictionaries(
                    st.sampled_from(
                        [
                            "window_days",
                            "min_sample",
                            "hold_above",
                            "step_back_above",
                            "pause_above",
                        ]
                    ),
                    SCALAR,
                ),
            ),
            "idle": st.one_of(
                SCALAR,
                st.dictionaries(
                    st.sampled_from(["step_back_after_days", "restart_after_days"]), SCALAR
                ),
            ),
            "window": st.one_of(
                SCALAR,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "hours": st.lists(SCALAR, max_size=3),
                        "weekdays": st.lists(SCALAR, max_size=3),
                    },
                ),
            ),
            "domain_cap": SCALAR,
        },
    )
)
def test_policy_on_generated_documents(doc: dict, policies: PolicyChecker) -> None:
    policies.check(_toml(doc).encode())


def _toml(doc: dict) -> str:
    """Just enough of a TOML writer for the generated documents."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return (
                "nan"
                if v != v
                else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
            )
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return '"' + str(v).encode("unicode_escape").decode().replace('"', '\\"') + '"'

    return "\n".join(f"{k} = {value(v)}" for k, v in doc.items()) + "\n"


# -- the relay's SMTP input ----------------------------------------------------------------------

RELAY_LIMIT = 64 * 1024  # bounded memory: the relay refuses bigger messages


class SmtpClient:
    """A raw SMTP client that checks every reply is well-formed and comes in time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""
        assert self.reply()[0] == 220

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (0, b"".join(lines))  # the server closed: allowed, not a hang
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            assert re.match(rb"^[2-5]\d\d([ -]|$)", line), line
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def send(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def auth_plain(user: str, password: str) -> bytes:
    return b"AUTH PLAIN " + b64encode(f"\0{user}\0{password}".encode()) + b"\r\n"


@pytest.fixture
def relay(migrated, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from warmup.gate import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    ledger = open_ledger()
    api.add_mailbox(
        ledger,
        BOX,
        "exmail",
        smtp_host="127.0.0.1",
        smtp_port=smtp_ssl.port,
        policy=str(policy_file(tmp_path / "p.toml", daily=100_000)),
    )
    gate = Gate(BOX, ledger=ledger)
    server = Relay(gate, wait=False, data_size_limit=RELAY_LIMIT).start()
    try:
        yield server
    finally:
        server.stop()
        gate.close()
        ledger.close()


SENDERS = st.sampled_from(
    [BOX, BOX.upper(), "other@evil.example", "", "<>", "a@b@c", "\xe9@corp.example", BOX + "\x00"]
)
RCPTS = st.sampled_from(
    [
        "lead@example.com",
        "x@y",
        "",
        "a" * 300 + "@example.com",
        "<lead@example.com>",
        "\xff@example.com",
    ]
)
LINE = st.binary(max_size=600).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def session(draw: st.DrawFn, user: str, password: str) -> list[tuple[str, bytes]]:
    ops = []
    if draw(st.booleans()):  # half the sessions get past AUTH and MAIL, to reach DATA
        ops += [
            ("cmd", b"EHLO fuzz.example\r\n"),
            ("cmd", auth_plain(user, password)),
            ("cmd", f"MAIL FROM:<{BOX}>\r\n".encode()),
            ("cmd", b"RCPT TO:<lead@example.com>\r\n"),
        ]
    elif draw(st.booleans()):
        ops.append(("cmd", b"EHLO fuzz.example\r\n"))
    if draw(st.integers(0, 3)):
        good = draw(st.booleans())
        ops.append(("cmd", auth_plain(user, password if good else "wrong")))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["mail", "rcpt", "data", "rset", "noop", "junk", "line"]))
        if kind == "mail":
            ops.append(("cmd", f"MAIL FROM:<{draw(SENDERS)}>\r\n".encode("utf-8", "surrogatepass")))
        elif kind == "rcpt":
            ops.append(("cmd", f"RCPT TO:<{draw(RCPTS)}>\r\n".encode()))
        elif kind == "data":
            body = draw(st.binary(max_size=3000))
            sender = draw(st.sampled_from([BOX, "evil@other.example", None]))
            head = f"From: {sender}\r\n".encode() if sender else b""
            ops.append(("data", head + b"Subject: fuzz\r\n\r\n" + body))
        elif kind == "rset":
            ops.append(("cmd", b"RSET\r\n"))
        elif kind == "noop":
            ops.append(("cmd", b"NOOP\r\n"))
        elif kind == "junk":
            ops.append(("cmd", draw(LINE) + b"\r\n"))
        else:
            ops.append(
                (
                    "cmd",
                    draw(
                        st.sampled_from(
                            [
                                b"VRFY root",
                                b"EXPN all",
                                b"HELP",
                                b"DATA",
                                b"AUTH LOGIN",
                                b"STARTTLS",
                                b"BDAT 10 LAST",
                                b"x" * 4000,
                            ]
                        )
                    )
                    + b"\r\n",
                )
            )
    return ops


def run_session(port: int, ops: list[tuple[str, bytes]]) -> None:
    client = SmtpClient(port)
    try:
        for kind, raw in ops:
            if kind == "cmd":
                code, _ = client.send(raw)
                if code == 354:  # a bare DATA: end the (empty) message, then go on
                    code, _ = client.send(b".\r\n")
            else:
                code, _ = client.send(b"DATA\r\n")
                if code == 354:
                    code, _ = client.send(dot_stuff(raw))
            if code == 0:
                return  # the server hung up on us (e.g. too many bad commands)
        client.send(b"QUIT\r\n")
    finally:
        client.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@pytest.mark.slow
@given(data=st.data())
def test_relay_survives_hostile_sessions(data: st.DataObject, relay, smtp_ssl) -> None:  # type: ignore[no-untyped-def]
    ops = data.draw(session(relay.user, relay.password))
    with keep_on_failure("smtp", b"\n".join(raw for _, raw in ops)):
        run_session(relay.port, ops)
        for got in smtp_ssl.messages:  # only ever as the mailbox, whatever the client said
            assert got.mail_from == BOX and got.auth_login == BOX
            assert got.message["From"].addresses[0].addr_spec.lower() == BOX
        assert not [e for e in relay.tally.errors if "internal error" in e], relay.tally.errors
        alive = SmtpClient(relay.port)  # the relay still answers
        assert alive.send(b"NOOP\r\n")[0] == 250
        alive.close()


@pytest.mark.parametrize("path", corpus("smtp"), ids=lambda p: p.name)
def test_relay_corpus_replays(path: Path, relay) -> None:  # type: ignore[no-untyped-def]
    client = SmtpClient(relay.port)
    try:
        for line in path.read_bytes().splitlines(keepends=True):
            if client.send(line.rstrip(b"\r\n") + b"\r\n")[0] == 0:
                break
    finally:
        client.close()
    again = SmtpClient(relay.port)
    assert again.send(b"NOOP\r\n")[0] == 250
    again.close()


def test_relay_refuses_an_oversized_message(relay, smtp_ssl) -> None:  # type: ignore[no-untyped-def]
    client = SmtpClient(relay.port)
    try:
        assert client.send(b"EHLO x\r\n")[0] == 250
        assert client.send(auth_plain(relay.user, relay.password))[0] == 235
        assert client.send(f"MAIL FROM:<{BOX}>\r\n".encode())[0] == 250
        assert client.send(b"RCPT TO:<lead@example.com>\r\n")[0] == 250
        assert client.send(b"DATA\r\n")[0] == 354
        code, text = client.send(dot_stuff(b"Subject: big\r\n\r\n" + (b"y" * 76 + b"\r\n") * 2000))
    finally:
        client.close()
    assert code == 552, text
    assert smtp_ssl.messages == []


# -- a foreign or broken ledger file -------------------------------------------------------------


def _warmup_quota(db: Path) -> tuple[int, str]:
    import subprocess

    res = subprocess.run(
        [*forkcli.command(), "quota"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "WARMUP_DB": str(db)},
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stdout + res.stderr


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    """Another program's SQLite file must not be adopted as a ledger (and altered)."""
    db = tmp_path / "places.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    con.execute("INSERT INTO moz_places (url) VALUES ('https://example.com/')")
    con.commit()
    con.close()
    raw = db.read_bytes()
    code, out = _warmup_quota(db)
    assert code == 78, out
    assert str(db) in out and out.startswith("Error: ledger "), out
    assert db.read_bytes() == raw


@pytest.mark.slow
def test_truncated_ledger_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    ledger = open_ledger(str(db))
    api.add_mailbox(ledger, BOX, "exmail")
    api.record_send(ledger, BOX, [f"r{i}@example.com" for i in range(300)], NOW)
    ledger.close()
    size = db.stat().st_size
    for keep in (size // 2, 1000, 100):
        os.truncate(db, keep)
        code, out = _warmup_quota(db)
        assert code == 78, (keep, out)
        assert out.count("\n") == 1 and str(db) in out and "corrupted" in out, (keep, out)
