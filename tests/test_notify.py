"""Notifications as a user meets them (issue #13, acceptance 6): a webhook on loopback and a
command told of pauses, finished campaigns and stopped workers; a broken target never slows nor
fails sending, is retried, and its token never shows."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.gatekit import PASSWORD_ENV, assert_reaped, cli, spawning, warmup
from tests.outboxkit import leads, pool_of, template
from warmup import api, notify
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

THROTTLE = (421, "4.7.0 Too many messages, try again later")
TOKEN = "s3cret-token"


class Receiver:
    """A webhook receiver on loopback: keeps each JSON body; answers ``fail_first`` of
    ``status`` first."""

    def __init__(
        self, fail_first: int = 0, hold: threading.Event | None = None, status: int = 500
    ) -> None:
        self.bodies: list[dict[str, object]] = []
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        self.fail_first = fail_first
        self.tries = 0
        self.hold = hold  # the first request waits for it
        self.arrived = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                outer.tries += 1
                outer.arrived.set()
                if outer.hold is not None and outer.tries == 1:
                    outer.hold.wait(10)
                if outer.tries <= outer.fail_first:
                    self.send_response(status)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(data))
                outer.paths.append(self.path)
                outer.auth.append(self.headers.get("Authorization"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token={TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_env_targets(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("WARMUP_NOTIFY_WEBHOOK", raising=False)
    monkeypatch.delenv("WARMUP_NOTIFY_COMMAND", raising=False)


@pytest.fixture
def receiver(keyring_file: Path) -> Iterator[Receiver]:
    """A webhook receiver; its URL carries a token, so 'notify set' keeps it in the keyring."""
    r = Receiver()
    yield r
    r.close()


def set_webhook(url: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """``warmup notify set --webhook -`` with ``url`` on standard input."""
    return cli("notify", "set", "--webhook", "-", stdin=url + "\n", env=env)


def queue(tmp_path: Path, n: int, campaign: str = "c1") -> None:
    res = cli(
        "queue",
        "add",
        "--pool",
        "P",
        "--campaign",
        campaign,
        "--csv",
        str(leads(tmp_path / "leads.csv", n)),
        "--template",
        str(template(tmp_path / "t.toml")),
    )
    assert res.returncode == 0, res.stderr


def hook_script(tmp_path: Path) -> tuple[str, Path]:
    """A notify command that appends each event (its stdin) to a file, one per line."""
    out = tmp_path / "events.jsonl"
    script = tmp_path / "hook.py"
    script.write_text(
        "import sys\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(sys.stdin.read().strip() + '\\n')\n"
    )
    return f"{sys.executable} {script}", out


def test_a_webhook_gets_a_json_event_when_a_throttle_reply_pauses_a_mailbox_during_run(
    sink, ssl_cert_env, tmp_path, receiver
):
    """Acceptance 6."""
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    queue(tmp_path, 3)
    res = set_webhook(receiver.url)
    assert res.returncode == 0, res.stderr
    assert TOKEN not in res.stdout
    sink.fail_after_mail = THROTTLE

    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert TOKEN not in res.stdout + res.stderr
    (body,) = receiver.bodies  # one pause, not one per message left waiting
    assert receiver.paths == [f"/hook?token={TOKEN}"]
    assert body["event"] == "paused"
    assert body["mailbox"] == box
    assert body["cause"] == "throttle"
    assert "421" in str(body["reason"]) and "Too many" in str(body["reason"])
    at = dt.datetime.fromisoformat(str(body["at"]))
    assert at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=1)
    assert dt.datetime.fromisoformat(str(body["until"])) > at
    assert json.loads(cli("quota", box, "--json").stdout)[0]["status"] == "paused"


def test_a_command_hook_gets_the_event_on_stdin_when_a_mailbox_is_paused_by_hand(sink, tmp_path):
    (box,) = pool_of(sink.port, tmp_path, n=1)
    command, out = hook_script(tmp_path)
    assert cli("notify", "set", "--command", command).returncode == 0

    res = cli("mailbox", "pause", box, "--reason", "moved to spam at Gmail")
    assert res.returncode == 0, res.stderr
    (line,) = out.read_text().splitlines()
    body = json.loads(line)
    assert (body["event"], body["mailbox"], body["cause"]) == ("paused", box, "manual")
    assert body["reason"] == "moved to spam at Gmail"


def test_a_finished_campaign_and_a_worker_stopped_with_work_left_are_told(
    sink, ssl_cert_env, tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    pool_of(sink.port, tmp_path, n=1, daily=2)
    queue(tmp_path, 1, campaign="small")
    queue(tmp_path, 3, campaign="big")
    assert set_webhook(receiver.url).returncode == 0

    ledger = open_ledger()
    with Worker(ledger) as worker:
        worker._sleep = lambda _: worker.stop()  # one pass, then stopped (as by SIGTERM)
        worker.run()
    events = [b["event"] for b in receiver.bodies]
    assert events == ["campaign_finished", "worker_stopped"]
    finished, stopped = receiver.bodies
    assert finished["campaign"] == "small" and finished["counts"] == {"sent": 1}
    assert stopped["left"] == 2 and "2 messages queued" in str(stopped["reason"])


def test_a_hanging_webhook_neither_slows_nor_fails_the_send_and_is_retried(
    sink, ssl_cert_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    pool_of(sink.port, tmp_path, n=1, daily=50)
    queue(tmp_path, 3)
    sink.fail_after_mail, sink.fail_after_mail_count = THROTTLE, 1  # the 2nd message throttles
    hook = Receiver(fail_first=1, hold=threading.Event())  # hangs, then answers 500, then 204
    lines: list[str] = []
    notifier = notify.Notifier(hook.url, log=lines.append, tries=3, backoff=0.01)
    try:
        ledger = open_ledger()
        with Worker(ledger, notifier=notifier) as worker:
            done = worker.run_once()
            # The pass is over while the webhook still holds the event's first try.
            assert hook.arrived.wait(5)
            assert (hook.tries, hook.bodies) == (1, [])
            assert done.outcomes["sent"] == 1 and len(sink.messages) == 1
            assert done.outcomes == {"sent": 1, "deferred": 1, "waiting": 1}
            hook.hold.set()
        notifier.close()
    finally:
        hook.close()
    assert hook.tries == 2  # retried after the 500
    assert [(b["event"], b["cause"]) for b in hook.bodies] == [("paused", "throttle")]
    assert lines == []


def test_an_unreachable_webhook_is_given_up_after_its_tries_logged_once_with_its_token_masked():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: connection refused
    lines: list[str] = []
    url = f"http://user:pw@127.0.0.1:{port}/hook?token={TOKEN}"
    with notify.Notifier(url, log=lines.append, tries=2, backoff=0.01) as n:
        n.send(notify.event("paused", "a@corp.example", dt.datetime.now(dt.UTC), "x"))
    (line,) = lines
    assert line.startswith(
        f"notification paused for a@corp.example not delivered to webhook "
        f"http://127.0.0.1:{port}/... after 2 tries: "
    )
    assert "refused" in line.lower()
    assert TOKEN not in line and "pw" not in line


def test_a_failing_webhook_is_retried_with_back_off_until_it_answers(tmp_path):
    r = Receiver(fail_first=2)
    lines: list[str] = []
    try:
        with notify.Notifier(r.url, log=lines.append, tries=3, backoff=0.01) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "hello"))
    finally:
        r.close()
    assert r.tries == 3
    assert [b["reason"] for b in r.bodies] == ["hello"]
    assert lines == []


def test_userinfo_in_the_webhook_url_is_sent_as_basic_authentication(receiver):
    url = receiver.url.replace("http://", "http://hook%40user:pa%3Ass@")
    with notify.Notifier(url) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert receiver.auth == ["Basic " + base64.b64encode(b"hook@user:pa:ss").decode()]
    assert receiver.paths == [f"/hook?token={TOKEN}"]


def test_a_failing_command_is_logged_once_and_never_raised(tmp_path):
    lines: list[str] = []
    with notify.Notifier(
        command=f"{sys.executable} -c 'import sys; sys.exit(3)'",
        log=lines.append,
        tries=2,
        backoff=0.01,
    ) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 1 and "notify command after 2 tries: exit 3" in lines[0]


def test_a_command_hook_never_inherits_the_mailbox_password(tmp_path, monkeypatch):
    """``warmup run`` with WARMUP_PASSWORD set started the notify command with it in its
    environment (readable in /proc/PID/environ); the password command was already spared."""
    canary = "canary-N0tify-pw"
    monkeypatch.setenv("WARMUP_PASSWORD", canary)
    seen = tmp_path / "env.txt"
    script = f"import os; open({str(seen)!r}, 'w').write(repr(sorted(os.environ.items())))"
    with notify.Notifier(command=f"{sys.executable} -c {script!r}", log=print) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert seen.exists() and canary not in seen.read_text()


@pytest.mark.parametrize(
    "var", ["WARMUP_OVERFLOW_PASSWORD", "WARMUP_OAUTH_CLIENT_SECRET", "WARMUP_PASSWORD_COMMAND"]
)
def test_a_command_hook_inherits_none_of_warmups_secrets(var, tmp_path, monkeypatch):
    """The notify command (stored in a ledger others may share) was handed the overflow
    channel's password, the OAuth client secret and the password command that ``warmup run``
    held: every secret the relay keeps from a wrapped command, it keeps from a hook too."""
    canary = "canary-N0tify-" + var.lower()
    monkeypatch.setenv(var, canary)
    seen = tmp_path / "env.txt"
    script = f"import os; open({str(seen)!r}, 'w').write(repr(sorted(os.environ.items())))"
    with notify.Notifier(command=f"{sys.executable} -c {script!r}", log=print) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert seen.exists() and canary not in seen.read_text()


@pytest.mark.slow
def test_a_command_hook_cannot_read_warmup_run_s_secrets_in_its_parent(
    sink, ssl_cert_env, tmp_path
):
    """``warmup run`` kept WARMUP_PASSWORD and WARMUP_OVERFLOW_PASSWORD out of the notify
    command's environment, but not out of its own initial one, which the command (named in a
    ledger a team may share) read in /proc/PPID/environ. It now re-executes itself without
    them, as ``send -- CMD`` does, and still sends with the password handed over."""
    import os
    import subprocess

    pool_of(sink.port, tmp_path, n=1, daily=2)
    queue(tmp_path, 1, campaign="small")  # its end is an event: the hook runs
    seen = tmp_path / "parent.txt"
    script = (
        "import os; p = os.getppid(); "
        f"open({str(seen)!r}, 'wb').write(open(f'/proc/{{p}}/environ', 'rb').read() + "
        "open(f'/proc/{p}/cmdline', 'rb').read())"
    )
    assert cli("notify", "set", "--command", f"{sys.executable} -c {script!r}").returncode == 0
    overflow = "canary-Ovf-run-pw"
    res = subprocess.run(
        [sys.executable, "-m", "warmup", "run", "--once", "--no-sync", "--no-view"],
        env={**os.environ, **PASSWORD_ENV, "WARMUP_OVERFLOW_PASSWORD": overflow},
        capture_output=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 1  # the password did reach the gate
    parent = seen.read_bytes()
    assert b"-m\0warmup\0run" in parent and b"WARMUP_DB=" in parent  # warmup's, really
    for secret in (PASSWORD_ENV["WARMUP_PASSWORD"], overflow):
        assert secret.encode() not in parent + res.stdout + res.stderr


def test_notify_set_refuses_a_bad_url_and_show_masks_the_token(receiver, ledger_path):
    res = cli("notify", "set", "--webhook", "ftp://hooks.example.com/x")
    assert res.returncode == 64
    assert res.stderr == (
        "Error: --webhook 'ftp://hooks.example.com/...' is not an http:// or https:// URL with a "
        "host; give one like https://hooks.example.com/warmup\n"
    )
    assert not ledger_path.exists()  # nothing stored, not even a new ledger

    assert set_webhook(receiver.url).returncode == 0
    port = receiver.url.split(":")[2].split("/")[0]
    res = cli("notify", "show")
    assert res.stdout == f"Webhook: http://127.0.0.1:{port}/...\n"
    res = cli("notify", "test")
    assert (res.returncode, res.stdout) == (0, "Test event delivered.\n")
    assert receiver.bodies[0]["event"] == "test"
    res = cli("notify", "clear")
    assert res.stdout.startswith("Notifications: none")


def test_notify_test_without_a_target_says_how_to_set_one():
    open_ledger().close()
    res = cli("notify", "test")
    assert res.returncode == 78  # a configuration to make (DESIGN's sysexits), not a server down
    assert "warmup notify set --webhook URL" in res.stderr


def test_a_pause_by_bounce_rate_is_told_once_by_the_worker_that_finds_it(
    sink, ssl_cert_env, tmp_path, receiver
):
    (box,) = pool_of(sink.port, tmp_path, n=1)
    res = cli("policy", "add", "strict", str(strict_policy(tmp_path / "strict.toml")))
    assert res.returncode == 0, res.stderr
    assert cli("mailbox", "set", box, "--policy", "strict").returncode == 0
    ledger = open_ledger()
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    rcpts = [f"old{i}@example.com" for i in range(4)]
    api.record_send(ledger, box, rcpts, yesterday)
    api.record_bounce(ledger, box, rcpts[0], "hard", "5.1.1", yesterday + dt.timedelta(minutes=1))
    queue(tmp_path, 2)
    assert set_webhook(receiver.url).returncode == 0

    for _ in range(2):  # two cron runs: the pause is told by the first only
        res = cli("run", "--once", env=PASSWORD_ENV)
        assert res.returncode == 0, res.stderr
    assert sink.messages == []
    (body,) = receiver.bodies
    assert (body["event"], body["mailbox"], body["cause"]) == ("paused", box, "bounce_rate")
    assert "bounce rate above 10% pauses" in str(body["reason"])


def strict_policy(path: Path) -> Path:
    """A flat 50 a day whose rates are judged from 4 sends: 1 bounce in 4 pauses."""
    path.write_text(
        """name = "strict"
ceiling = 50
growth_factor = 2.0

[[stage]]
name = "flat"
days = 0
daily = 50
interval = "0s"

[health]
window_days = 7
min_sample = 4
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10
"""
    )
    return path


# URLs that $WARMUP_NOTIFY_WEBHOOK or the config file may hold, which 'notify set' would refuse:
# urlsplit cannot read the first two, and http.client refuses the others while quoting their
# path and query, token and all.
UNSENDABLE = [
    f"http://user:pw@hooks.example.com:99999/hook?token={TOKEN}",  # port out of range
    f"http://[hooks.example.com/hook?token={TOKEN}",  # a broken [IPv6] host
    f"http://user:pw@hooks.example.com/hook?token={TOKEN} x",  # white space
    f"http://hooks.example.com/hook?token={TOKEN}\rx",  # a control character
]


@pytest.mark.parametrize("url", UNSENDABLE)
def test_an_unsendable_webhook_is_logged_as_a_failure_without_its_token(url):
    lines: list[str] = []
    with notify.Notifier(url, log=lines.append, tries=2, backoff=0.01) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert n.failed == 1  # not "delivered" because the thread died
    (line,) = lines
    assert line.startswith("notification test for the outbox not delivered to webhook ")
    assert TOKEN not in line and "pw" not in line


@pytest.mark.parametrize("url", UNSENDABLE)
def test_an_unsendable_webhook_from_the_environment_is_refused_masked(url, ledger_path):
    """Refused as the config file's webhook is, at load (tests/test_config.py): one line
    naming the variable, exit 78, the token never shown."""
    open_ledger().close()
    env = {"WARMUP_NOTIFY_WEBHOOK": url}
    for args in (("notify", "show"), ("config", "show")):
        res = cli(*args, env=env)  # in-process: a traceback fails the test
        assert res.returncode == 78, res.stderr
        assert res.stderr.startswith("Error: $WARMUP_NOTIFY_WEBHOOK: ")
        assert res.stderr.count("\n") == 1 and res.stdout == ""
        assert TOKEN not in res.stdout + res.stderr
    res = cli("notify", "set", "--webhook", url)
    assert res.returncode == 64
    assert res.stderr.startswith("Error: --webhook ") and res.stderr.count("\n") == 1
    assert TOKEN not in res.stderr


class Redirecting:
    """A webhook answering ``code`` with a Location on another loopback host (127.0.0.2),
    which records every request it gets."""

    def __init__(self, code: int) -> None:
        self.elsewhere: list[tuple[str, str | None]] = []
        outer = self

        class Elsewhere(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.elsewhere.append(("GET", self.headers.get("Authorization")))
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(code)
                self.send_header("Location", f"{outer.other_url}/collect")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.servers = [
            http.server.ThreadingHTTPServer(("127.0.0.2", 0), Elsewhere),
            http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook),
        ]
        self.other_url = f"http://127.0.0.2:{self.servers[0].server_address[1]}"
        self.url = f"http://u:pw@127.0.0.1:{self.servers[1].server_address[1]}/h?token={TOKEN}"
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307])
def test_a_redirecting_webhook_is_a_failure_and_its_credentials_stay_with_its_host(code):
    """urllib followed a 301/302/303 to any host with the Authorization header, as a GET
    without the event, and the delivery counted as done ('notify test' said delivered)."""
    hook = Redirecting(code)
    lines: list[str] = []
    try:
        with notify.Notifier(hook.url, log=lines.append, tries=1) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        hook.close()
    assert hook.elsewhere == []
    assert n.failed == 1
    (line,) = lines
    assert f" after 1 try: HTTP {code} " in line
    assert line.endswith(": a redirect, not followed; set the webhook to the URL it points to")
    assert TOKEN not in line and "pw" not in line


def test_a_webhook_answering_an_endless_body_is_delivered_without_reading_it():
    """The status is the answer; reading the body to its end took all memory (a huge body)
    or for ever (one that never ends, each read within the timeout), and the events queued
    behind it waited."""
    stop = threading.Event()

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            try:
                while not stop.wait(0.01):
                    self.wfile.write(b"x" * 65536)
            except OSError:  # the client hung up
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines: list[str] = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        with notify.Notifier(url, log=lines.append, tries=1, drain=3) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    assert lines == [] and n.failed == 0


def test_close_waits_at_most_drain_seconds_in_all_even_with_the_queue_full():
    """close() waited ``drain`` to queue its stop mark into a full queue, then ``drain`` again
    for the thread: twice what it promised (and logged)."""
    hook = Receiver(hold=threading.Event())  # holds the first event's try
    lines: list[str] = []
    # 2 s, not 1: the bound below (twice the drain is the bug) leaves a loaded machine a second
    n = notify.Notifier(hook.url, log=lines.append, tries=1, drain=2)
    try:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "first"))
        assert hook.arrived.wait(60)  # the thread is busy with it: the queue fills up
        for _ in range(notify.QUEUE_SIZE):
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "more"))
        start = time.monotonic()
        n.close()
        elapsed = time.monotonic() - start
        # what close() said; the thread it gave up on goes on with the queue once the hook
        # lets go below, and logs those tries' failures after it
        said = list(lines)
    finally:
        assert hook.hold is not None
        hook.hold.set()
        hook.close()
    assert elapsed < 3, elapsed
    assert said == [
        f"notifications not delivered within 2 s; given up while trying webhook "
        f"{notify.mask(hook.url)} (try 1 of 1)"
    ]


def test_the_thread_close_gave_up_on_ends_once_it_has_tried_what_was_queued():
    """close() gives up on a full queue without its stop mark in it: the thread went on with
    the queue, then waited on it for ever (one idle thread more per such close, in a process
    that goes on: a script's workers, the test suite)."""
    hook = Receiver(hold=threading.Event())  # holds the first event's try
    before = set(threading.enumerate())
    n = notify.Notifier(hook.url, log=lambda line: None, tries=1, drain=0.5)
    try:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "first"))
        assert hook.arrived.wait(60)  # the thread is busy with it: the queue fills up
        for _ in range(notify.QUEUE_SIZE):
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "more"))
        (thread,) = [
            t for t in threading.enumerate() if t not in before and t.name == "warmup-notify"
        ]
        n.close()
        assert n.given_up
    finally:
        assert hook.hold is not None
        hook.hold.set()
        hook.close()
    # 101 tries, each refused at once (the hook is closed): a bound for a thread that never
    # ends, not a timing
    thread.join(60)
    assert not thread.is_alive()


def test_an_event_still_in_flight_at_close_is_not_counted_as_delivered():
    """A webhook that never answers outlasts close()'s drain: nothing had failed *yet*, so
    'warmup notify test' printed 'not delivered within 10 s; given up' and then 'Test event
    delivered.', exit 0."""
    hook = Receiver(hold=threading.Event())  # holds the event's first try past the drain
    lines: list[str] = []
    try:
        with notify.Notifier(hook.url, log=lines.append, tries=1, drain=0.5) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
            assert hook.arrived.wait(5)
        # what close() said (the try it gave up on may fail once let go)
        said, failed = list(lines), n.failed
    finally:
        assert hook.hold is not None
        hook.hold.set()
        hook.close()
    assert said == [
        f"notifications not delivered within 0.5 s; given up while trying webhook "
        f"{notify.mask(hook.url)} (try 1 of 1)"
    ]
    assert n.given_up and failed == 0


def test_notify_set_refuses_a_command_with_an_unbalanced_quote_in_one_line(ledger_path):
    """shlex's ValueError ("No closing quotation") escaped 'notify set' as a traceback, exit 1."""
    open_ledger().close()
    res = cli("notify", "set", "--command", "notify-send 'warmup")
    assert res.returncode == 64, res.stderr
    assert res.stderr == (
        'Error: --command "notify-send \'warmup" cannot be split into words (No closing '
        "quotation); quote it as a shell would\n"
    )
    assert notify.targets(open_ledger()) == {}


def test_notify_set_warns_of_a_program_not_found_here_and_stores_it(ledger_path):
    """'notify set --command /nonexistent/page' was stored without a word: the first event's
    failure went to a log nobody watched. It is stored still (another host of a team ledger
    may have the program), with a warning."""
    open_ledger().close()
    for command, missing in (
        ("/nonexistent/page-oncall --urgent", "'/nonexistent/page-oncall' is not found here:"),
        ("no-such-pager-xyz --urgent", "'no-such-pager-xyz' is not found here (PATH):"),
        (f"{sys.executable} -c pass", None),
        ("exec cat", "'exec' is not found here (PATH):"),  # no shell: exec is no program
        # there, but no program: it was "is not found here"
        (f"{ledger_path.parent} --urgent", f"'{ledger_path.parent}' is a folder, not a program:"),
        (
            f"{ledger_path} --urgent",
            f"'{ledger_path}' is not a program this user may run (chmod +x it):",
        ),
    ):
        res = cli("notify", "set", "--command", command)
        assert res.returncode == 0, res.stderr
        assert notify.targets(open_ledger())["command"] == command
        if missing is None:
            assert res.stderr == "", command
        else:
            assert res.stderr == (
                f"warning: {missing} stored, but each event would fail on this host; "
                "'warmup notify test' runs it once\n"
            )


def test_notify_set_warns_of_shell_syntax_that_no_shell_will_read(ledger_path):
    """No shell runs the command (README): 'cat > /tmp/event.json' ran cat with the arguments
    '>' and '/tmp/event.json'. Stored as given, with a warning saying how to ask for a shell."""
    open_ledger().close()
    res = cli("notify", "set", "--command", "cat > /tmp/event.json")
    assert res.returncode == 0, res.stderr
    assert res.stderr == (
        "warning: '>' reaches cat as a word, not as the shell's: no shell runs the command; "
        "wrap it in sh -c '...' if a shell is meant\n"
    )
    quiet = cli("notify", "set", "--command", "sh -c 'cat > /tmp/event.json'")
    assert (quiet.returncode, quiet.stderr) == (0, "")


def test_notify_set_warns_of_shell_syntax_written_against_its_word(ledger_path, tmp_path):
    """A redirection is mostly typed against its target ('cat >/tmp/event.json', '2>/dev/null'),
    a list's ';' against the word before it, a variable inside a word ('$HOME/event.json'):
    the warning saw only a '>' standing alone, so 'notify set' said nothing and every event
    then failed, or went nowhere, as the program got those words (seen here: 'notify test'
    runs the command, and cat, handed '>FILE' as a file to read, fails; FILE never made)."""
    open_ledger().close()
    out = tmp_path / "event.json"
    for command, word in (
        (f"cat >{out}", f">{out}"),
        (f"cat >>{out}", f">>{out}"),
        (f"cat 2>/dev/null >{out}", "2>/dev/null"),
        (f"cat <{out}", f"<{out}"),
        (f"cat -u; touch {out}", "-u;"),
        (f"cat -u && touch {out}", "&&"),
        ("cat $HOME/event.json", "$HOME/event.json"),
        ("cat ${HOME}/event.json", "${HOME}/event.json"),
        ("cat $(pwd)/event.json", "$(pwd)/event.json"),
        ("cat ~/event.json", "~/event.json"),
        (f"cat -u| tee {out}", "-u|"),
        (f"cat -u |tee {out}", "|tee"),
    ):
        res = cli("notify", "set", "--command", command)
        assert res.returncode == 0, res.stderr
        assert res.stderr == (
            f"warning: {word!r} reaches cat as a word, not as the shell's: no shell runs "
            "the command; wrap it in sh -c '...' if a shell is meant\n"
        ), command
    # What the warning is about: run, the command fails on each event, which goes nowhere.
    lines: list[str] = []
    with notify.Notifier(command=f"cat >{out}", log=lines.append, tries=1) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert n.failed == 1 and len(lines) == 1, lines
    assert f"cat: '>{out}': No such file or directory" in lines[0]
    assert not out.exists()
    # Words a shell reads as its own, handed to a shell, or only looking alike: no warning.
    for command in (
        f"sh -c 'cat >{out}'",
        "bash -c 'cat > $HOME/x; echo done'",
        "cat --level=2>1",
        "curl -s -d @- https://hooks.example.com/x?a=1&b=2",
        "cat 'price: $5'",
    ):
        quiet = cli("notify", "set", "--command", command)
        assert (quiet.returncode, quiet.stderr) == (0, ""), command


def test_a_webhook_status_reason_is_logged_without_a_terminals_escapes():
    """The reason phrase of a webhook's status line is the server's text: its escape sequences
    reached the terminal through the log line ('notify test' prints it)."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 500 \x1b]0;PWNED\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    lines: list[str] = []
    try:
        with notify.Notifier(f"http://127.0.0.1:{port}/h", log=lines.append, tries=1) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        sock.close()
    (line,) = lines
    assert line.endswith(" after 1 try: HTTP 500 \\x1b]0;PWNED\\x07\\x1b[2J"), line


def test_a_webhook_trickling_its_answer_is_given_up_at_the_timeout():
    """The timeout bounded each read, not the answer: a webhook sending its status line and
    headers a byte at a time, each within the timeout, held the notify thread for as long as
    it liked (the queue behind it filling up), then counted as delivered."""
    answer = b"HTTP/1.1 204 No Content\r\n" + b"X-Pad: " + b"p" * 300 + b"\r\n\r\n"
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            try:
                conn.recv(65536)
                for i in range(len(answer)):  # ~34 s in all, each byte well within 0.5 s
                    conn.sendall(answer[i : i + 1])
                    time.sleep(0.1)  # the peer's pace, not the test's clock
            except OSError:  # the client gave up first
                pass

    threading.Thread(target=serve, daemon=True).start()
    lines: list[str] = []
    start = time.monotonic()
    try:
        with notify.Notifier(
            f"http://127.0.0.1:{port}/h", log=lines.append, tries=1, timeout=0.5, drain=20
        ) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        sock.close()
    assert time.monotonic() - start < 8  # 0.5 s, not 34 s: the rest is a loaded machine's
    assert n.failed == 1
    (line,) = lines
    assert line.endswith(" after 1 try: no complete answer within 0.5 s"), line


def test_a_notify_command_printing_without_end_is_killed_at_a_bound():
    """Its output was kept whole (capture_output) until it exited or its timeout ran out: a
    command printing without end filled the memory. Now at most 64 KiB is read, then it is
    killed, as a password command is."""
    script = "import sys, time; sys.stderr.write('x' * 300_000); sys.stderr.flush(); time.sleep(60)"
    lines: list[str] = []
    began = time.monotonic()
    with notify.Notifier(
        command=f"{sys.executable} -c {script!r}", log=lines.append, tries=1, timeout=40
    ) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    # killed at the bound, not at the timeout (far above what a loaded machine's start takes)
    assert time.monotonic() - began < 20
    assert len(lines) == 1 and lines[0].endswith(
        "not delivered to notify command after 1 try: printed more than 65,536 bytes"
    ), lines


def test_a_notify_command_killed_by_a_signal_names_the_signal():
    lines: list[str] = []
    with notify.Notifier(
        command="sh -c 'kill -9 $$'", log=lines.append, tries=1, backoff=0.01
    ) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 1 and lines[0].endswith(
        "notify command after 1 try: killed by signal 9 (SIGKILL)"
    ), lines


@pytest.mark.parametrize(
    "secret",
    [
        "--token=tok-5e1f0a9b27c4",
        "-u ops:pw-5e1f0a9b27c4",
        "https://hooks.example/robot/tok-5e1f0a9b27c4",
        "https://bot:pw-5e1f0a9b27c4@hooks.example/send",
    ],
    ids=["option", "login", "url-path", "url-password"],
)
def test_a_failing_notify_command_quoting_its_argv_never_logs_its_secret(secret):
    """The last line of a failing notify command's standard error is the log's reason (and
    the journal's, under 'warmup run'), and a program that quotes its own argv in an error
    ("unknown option --token=X", a usage line) put the command's secret there, though every
    other place shows that command masked. The values that look like secrets are masked in it,
    as they are and percent-encoded."""
    import shlex

    lines: list[str] = []
    for script in (
        'echo "usage: $0 $*" >&2; exit 2',
        # the same, its arguments percent-encoded (as a URL a program was asked to fetch)
        f"printf 'usage: %s ' \"$0\" >&2; {shlex.quote(sys.executable)} -c "
        '\'import sys, urllib.parse as u; print(u.quote(" ".join(sys.argv[1:]), safe=""), '
        'file=sys.stderr)\' "$@"; exit 2',
    ):
        command = f"sh -c {shlex.quote(script)} page {secret} --team mail"
        with notify.Notifier(command=command, log=lines.append, tries=1) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 2, lines
    for line in lines:
        assert "after 1 try: exit 2: usage: page " in line, lines
        assert "5e1f0a9b27c4" not in line and "***" in line, lines
    assert lines[0].endswith(" --team mail") and lines[1].endswith("team%20mail"), lines


@pytest.mark.parametrize(
    ("says", "kept"),
    [
        ('page: token "$PAGE_TOKEN" refused', 'page: token "***" refused'),
        ("page: PGPASSWORD $PGPASSWORD rejected", "page: PGPASSWORD *** rejected"),
        ("> Authorization: Bearer ab5e1f0a9b27c4cd", "> Authorization: ***"),
        ("page: 401 for Bearer ab5e1f0a9b27c4cd", "page: 401 for Bearer ***"),
        (
            "curl: (7) cannot reach https://ops:pw-5e1f0a9b27c4@hooks.example/send",
            "curl: (7) cannot reach https://hooks.example/...",
        ),
        ("POST /send?token=tk5e1f0a9b27c4&x=1 failed", "POST /send?token=***&x=1 failed"),
        (
            'answer: {"ok": false, "api_key": "k-5e1f0a9b27c4"}',
            'answer: {"ok": false, "api_key": "***"}',
        ),
        ("page: password=5e1f0a9b27c4 refused", "page: password=*** refused"),
        # what names no secret stays as it was: the reason a person needs
        ("curl: (6) Could not resolve host: hooks.example", None),
        ("page: password: wrong, Basic authentication required", None),
    ],
)
def test_a_failing_notify_command_printing_a_secret_warmup_does_not_know_never_logs_it(
    says, kept, monkeypatch, tmp_path
):
    """The last line of a failing notify command's standard error was logged masked only of
    the secrets its command line holds: one printing its own token from its environment, an
    Authorization header, a URL with user:password@ or a token=X pair put it in warmup's log
    (a service's journal). Each is masked now, the rest of the line kept."""
    import shlex

    monkeypatch.setenv("PAGE_TOKEN", "tk-5e1f0a9b27c4")
    monkeypatch.setenv("PGPASSWORD", "pg-5e1f0a9b27c4")
    # a script of its own: the notify command's line names none of it
    script = tmp_path / "page.sh"
    said = says.replace('"', '\\"') if "$" in says else says
    script.write_text(
        (f'echo "{said}"' if "$" in says else f"echo {shlex.quote(says)}") + " >&2; exit 2\n"
    )
    lines: list[str] = []
    with notify.Notifier(command=f"sh {script}", log=lines.append, tries=1) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 1, lines
    assert lines[0].endswith(f" after 1 try: exit 2: {kept or says}"), lines
    assert "5e1f0a9b27c4" not in lines[0], lines


def test_a_failing_notify_commands_line_is_logged_cut_short():
    """A 64 KiB last line (a program dumping a response body on one line) was logged whole."""
    lines: list[str] = []
    with notify.Notifier(
        command="sh -c 'printf \"%02000d\\n\" 0 >&2; exit 1'", log=lines.append, tries=1
    ) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 1 and lines[0].endswith(": exit 1: " + "0" * 297 + "..."), lines


def test_a_notify_command_killed_at_its_timeout_leaves_no_child_running(tmp_path):
    """Only the command itself was killed at its timeout: a 'sh -c \"helper & sleep 100\"' left
    the helper running, orphaned, after every event. Its whole process group goes now."""
    import shlex

    pidfile = tmp_path / "grandchild.pid"
    lines: list[str] = []
    command = "sh -c " + shlex.quote(spawning(pidfile, "exec sleep 300"))
    with notify.Notifier(command=command, log=lines.append, tries=1, timeout=2) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert len(lines) == 1 and lines[0].endswith("did not finish within 2 s"), lines
    pid = int(pidfile.read_text())
    assert_reaped(pid)


def test_a_notify_command_still_running_when_close_gives_up_is_stopped_with_its_children(
    tmp_path,
):
    """close() gave up on a command that outlasted its drain and returned; the process then
    exited, ending the thread that would have killed the command at its timeout, and the
    command ran on in its own session: a hung pager left one more process behind after every
    'warmup notify test', cron 'run --once' or 'bounces sync'. Its whole group goes now."""
    import shlex

    pidfile = tmp_path / "grandchild.pid"
    lines: list[str] = []
    command = "sh -c " + shlex.quote(spawning(pidfile, "exec sleep 300"))
    n = notify.Notifier(command=command, log=lines.append, tries=1, timeout=300, drain=0.5)
    try:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:  # the event reached it
            time.sleep(0.01)
        pid = int(pidfile.read_text())
    finally:
        n.close()
    assert n.given_up and lines[0].startswith("notifications not delivered within 0.5 s"), lines
    assert_reaped(pid)


@pytest.mark.parametrize("source", ["environment", "config file"])
def test_notify_test_names_a_webhook_that_can_never_work_and_where_it_is_set(
    source, ledger_path, tmp_path
):
    """A webhook from $WARMUP_NOTIFY_WEBHOOK or the config file that 'notify set' would refuse
    was tried 4 times with back-off (8 s), then reported in two lines as 'not delivered'
    (exit 69, as if the server were down) without saying where the URL came from."""
    from tests.gatekit import warmup

    open_ledger().close()
    url = f"ftp://hooks.example.com/hook?token={TOKEN}"
    config = tmp_path / "config.toml"
    config.write_text(f'[notify]\nwebhook = "{url}"\n', encoding="utf-8")
    config.chmod(0o600)  # it holds a token: private, or warmup warns
    env = (
        {"WARMUP_NOTIFY_WEBHOOK": url}
        if source == "environment"
        else {"WARMUP_CONFIG": str(config)}
    )
    proc = warmup("notify", "test", env=env)
    assert (proc.returncode, proc.stdout) == (78, "")
    if source == "environment":  # refused as the file's is: at load, any command
        assert proc.stderr == (
            "Error: $WARMUP_NOTIFY_WEBHOOK: ftp://hooks.example.com/... is not "
            "an http:// or https:// URL with a host; give one like "
            "https://hooks.example.com/warmup\n"
        )
    else:  # refused as the file is read (tests/test_config.py), 'notify test' or any command
        assert proc.stderr == (
            f"Error: config file {config}: notify.webhook: ftp://hooks.example.com/... is not "
            "an http:// or https:// URL with a host; give one like "
            "https://hooks.example.com/warmup\n"
        )


def test_an_unsendable_webhook_is_not_retried():
    lines: list[str] = []
    # A back-off longer than close's drain: a retry would leave the event undelivered at close.
    with notify.Notifier("ftp://hooks.example.com/x", log=lines.append, backoff=30, drain=5) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert (n.failed, n.given_up) == (1, False)
    assert lines == [
        "notification test for the outbox not delivered to webhook ftp://hooks.example.com/...: "
        "the webhook URL is not an http:// or https:// URL with a host"
    ]


def test_a_webhook_url_with_non_ascii_in_its_path_or_query_is_posted_percent_encoded(receiver):
    """'notify set' took https://host/通知?channel=é, and every event then failed four
    tries ("the webhook URL cannot be posted to": http.client sends the request line as ASCII),
    where a browser or curl sends the same URL percent-encoded."""
    url = receiver.url.replace("/hook?", "/通知?channel=é&")
    assert notify.webhook_fault(url) is None
    logged: list[str] = []
    with notify.Notifier(url, log=logged.append, backoff=0) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert logged == [] and n.failed == 0
    assert receiver.paths == [f"/%E9%80%9A%E7%9F%A5?channel=%C3%A9&token={TOKEN}"]


@pytest.mark.parametrize(
    ("status", "tries"), [(401, 1), (403, 1), (404, 1), (410, 1), (408, 3), (429, 3), (503, 3)]
)
def test_a_webhook_refusal_the_same_request_would_get_again_is_not_retried(status, tries):
    """A wrong token (401/403) or a removed hook (404/410) was posted to four times, with back-off
    between (``notify test`` took ~7 s to say so); a 4xx that asks to try later still is."""
    r = Receiver(fail_first=5, status=status)
    lines: list[str] = []
    try:
        with notify.Notifier(r.url, log=lines.append, tries=3, backoff=0.01) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        r.close()
    assert r.tries == tries and n.failed == 1
    (line,) = lines
    assert f" after {tries} {'try' if tries == 1 else 'tries'}: HTTP {status} " in line, line
    assert TOKEN not in line


def _ledger_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_a_webhook_with_a_token_goes_to_the_keyring_never_argv_nor_the_ledger(
    receiver, keyring_file, ledger_path
):
    """A WeCom or Slack robot's URL carries its key: 'notify set --webhook URL' put it on the
    command line (every user's 'ps' shows it) and in the ledger (every reader of a shared ledger
    has it), against invariant 6."""
    res = cli("notify", "set", "--webhook", receiver.url)
    assert res.returncode == 64 and res.stderr.count("\n") == 1, res.stderr
    assert "--webhook - < robot.url" in res.stderr and TOKEN not in res.stderr
    assert not ledger_path.exists()

    res = set_webhook(receiver.url)
    assert res.returncode == 0, res.stderr
    port = receiver.url.split(":")[2].split("/")[0]
    assert res.stdout == f"Webhook: http://127.0.0.1:{port}/...\n"
    assert "warning" not in res.stderr and TOKEN not in res.stderr
    assert TOKEN.encode() not in _ledger_bytes(ledger_path)
    assert TOKEN in keyring_file.read_text()
    res = cli("notify", "test")
    assert res.returncode == 0, res.stderr
    assert receiver.paths == [f"/hook?token={TOKEN}"]
    shown = {r["key"]: r for r in json.loads(cli("config", "show", "--json").stdout)["settings"]}
    assert shown["notify.webhook"]["value"] == f"http://127.0.0.1:{port}/..."
    assert shown["notify.webhook"]["source"] == "this host's keyring"

    res = cli("notify", "set", "--webhook", "")  # forgotten here and in the keyring
    assert res.returncode == 0, res.stderr
    assert TOKEN not in keyring_file.read_text()
    assert cli("notify", "show").stdout.startswith("Notifications: none")


def test_another_host_of_the_ledger_is_told_where_the_webhook_was_set(
    receiver, keyring_file, ledger_path, tmp_path, monkeypatch
):
    assert set_webhook(receiver.url).returncode == 0
    monkeypatch.setenv("WARMUP_TEST_KEYRING", str(tmp_path / "other-host.json"))  # its keyring
    res = cli("notify", "show")
    assert res.stdout.startswith("Notifications: none")
    assert "was set on another host" in res.stderr and TOKEN not in res.stderr
    assert cli("notify", "test").returncode == 78
    assert receiver.bodies == []


def test_a_token_a_former_warmup_stored_in_the_ledger_still_works_and_is_warned_of(
    receiver, ledger_path
):
    ledger = open_ledger()
    ledger.set_settings({"notify.webhook": receiver.url})
    ledger.close()
    res = cli("notify", "show")
    assert "the ledger holds the webhook's token" in res.stderr and TOKEN not in res.stderr
    assert cli("notify", "test").returncode == 0
    assert len(receiver.bodies) == 1
    assert set_webhook(receiver.url).returncode == 0  # moved: out of the ledger
    assert TOKEN.encode() not in _ledger_bytes(ledger_path)


def test_a_webhook_with_a_token_from_the_config_files_command_table_is_not_refused(
    receiver, keyring_file, ledger_path, tmp_path, monkeypatch
):
    conf = tmp_path / "config.toml"
    conf.write_text(f'[commands."notify set"]\nwebhook = "{receiver.url}"\n')
    conf.chmod(0o600)
    res = cli("notify", "set", env={"WARMUP_CONFIG": str(conf)})
    assert res.returncode == 0, res.stderr
    assert TOKEN in keyring_file.read_text()


def test_without_a_keyring_a_webhook_with_a_token_is_refused_saying_where_else(
    receiver, ledger_path
):
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        res = set_webhook(receiver.url)
    finally:
        keyring.set_keyring(before)
    assert res.returncode == 78, res.stderr
    assert res.stderr.startswith("Error: cannot keep the webhook's token in this host's keyring")
    assert "WARMUP_NOTIFY_WEBHOOK" in res.stderr and TOKEN not in res.stderr
    assert not ledger_path.exists() or TOKEN.encode() not in _ledger_bytes(ledger_path)


def test_a_host_that_cannot_post_to_the_ledgers_webhook_says_so_when_it_has_an_event(
    receiver, keyring_file, ledger_path
):
    """On a host of a shared ledger without the webhook's token (set on another host, or a
    keyring it cannot read), a pause, a stopped worker, a throttle told nobody and said
    nothing: the events were dropped without a line, as if no webhook were set."""
    assert set_webhook(receiver.url).returncode == 0
    assert cli("mailbox", "add", "ops@corp.example", "--provider", "exmail").returncode == 0
    # Another host: a process of its own, whose keyring does not hold (or cannot give) the token.
    other = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    res = warmup("mailbox", "pause", "ops@corp.example", "--reason", "by hand", env=other)
    assert res.returncode == 0, res.stderr
    assert "the webhook http://127.0.0.1:" in res.stderr and TOKEN not in res.stderr
    assert "not in this host's keyring" in res.stderr
    assert "warmup notify set --webhook -" in res.stderr
    assert receiver.bodies == []


class Robot:
    """A group robot on loopback, as WeCom's (``/cgi-bin/webhook/send?key=``) and Slack's
    (``/services/...``) answer: WeCom always HTTP 200, its verdict in ``errcode`` (40008: not a
    message it knows; 93000: a wrong key); Slack 400 ``no_text`` unless ``text`` is given."""

    def __init__(self, key: str = TOKEN) -> None:
        self.shown: list[str] = []
        self.tries = 0
        self.feishu_codes: list[int] = []  # Feishu's answers to the next tries, then its own
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.tries += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.startswith("/services/"):
                    if not isinstance(body.get("text"), str):
                        return self._answer(400, "text/plain", b"no_text")
                    outer.shown.append(body["text"])
                    return self._answer(200, "text/plain", b"ok")
                if self.path.startswith("/open-apis/bot/v2/hook/"):
                    return self._feishu(body)
                if not self.path.endswith(f"key={key}"):
                    verdict = {"errcode": 93000, "errmsg": "invalid webhook url, hint: [x]"}
                elif body.get("msgtype") != "text" or "content" not in body.get("text", {}):
                    verdict = {"errcode": 40008, "errmsg": "invalid message type, hint: [y]"}
                else:
                    outer.shown.append(body["text"]["content"])
                    verdict = {"errcode": 0, "errmsg": "ok"}
                self._answer(200, "application/json; charset=UTF-8", json.dumps(verdict).encode())

            def _feishu(self, body: dict[str, object]) -> None:
                # Feishu/Lark: HTTP 200, the verdict in "code" (19001 a wrong token, 9499 a
                # message without msg_type, 19024 no keyword, 11232 too many a minute).
                content = body.get("content")
                if outer.feishu_codes:
                    verdict = {"code": outer.feishu_codes.pop(0), "msg": "refused", "data": {}}
                elif not self.path.endswith(key):
                    verdict = {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}  # fmt: skip
                elif body.get("msg_type") != "text" or not isinstance(content, dict):
                    verdict = {"code": 9499, "msg": "Bad Request", "data": {}}
                else:
                    outer.shown.append(content["text"])
                    verdict = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}  # fmt: skip
                self._answer(200, "application/json; charset=utf-8", json.dumps(verdict).encode())

            def _answer(self, status: int, kind: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _paused() -> dict[str, object]:
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    return notify.event("paused", "sales@corp.example", at, "421 4.7.0 Too many", cause="throttle")


@pytest.mark.parametrize(
    "path",
    [
        f"/cgi-bin/webhook/send?key={TOKEN}",
        "/services/T0001/B0001/" + TOKEN,
        "/open-apis/bot/v2/hook/" + TOKEN,  # Feishu's and Lark's
    ],
)
def test_a_wecom_feishu_or_slack_robot_gets_a_message_it_shows(path):
    """The README's own example, a WeCom group robot, answers HTTP 200 to every POST and says
    in its body's errcode whether it showed anything: warmup's event JSON (no msgtype) was
    refused with 40008 and counted delivered, so 'notify test' said 'Test event delivered.'
    while the group saw nothing, and every pause was lost the same way; a Slack hook refused
    it (400 no_text). A robot's URL now gets the text message it shows."""
    robot = Robot()
    lines: list[str] = []
    try:
        with notify.Notifier(robot.base + path, log=lines.append, tries=1) as n:
            n.send(_paused())
    finally:
        robot.close()
    assert lines == [] and n.failed == 0
    (text,) = robot.shown
    assert "paused" in text and "sales@corp.example" in text and "421 4.7.0 Too many" in text
    assert "throttle" in text


def test_a_robot_refusing_the_message_in_its_errcode_is_a_failed_delivery():
    """A wrong key (errcode 93000, HTTP 200) was counted delivered: 'notify test' said so and
    nothing was ever shown. It is a failure naming the robot's errmsg, not tried again (the
    same request gets the same answer), the token never in the line."""
    robot = Robot(key="the-right-key")
    lines: list[str] = []
    try:
        url = f"{robot.base}/cgi-bin/webhook/send?key={TOKEN}"
        with notify.Notifier(url, log=lines.append, tries=3, backoff=0.01) as n:
            n.send(_paused())
    finally:
        robot.close()
    assert n.failed == 1 and robot.tries == 1
    (line,) = lines
    assert "errcode 93000: invalid webhook url" in line, line
    assert TOKEN not in line


@pytest.mark.parametrize(
    ("codes", "tries", "said"),
    [
        ([], 1, "code 19001: param invalid"),  # a wrong token: the same request, the same answer
        ([19024], 1, "add the keyword 'warmup'"),
        ([19021], 1, "turn the robot's signature check off"),
        ([11232, 11232, 11232], 3, "code 11232"),  # too many a minute: tried again
    ],
)
def test_a_feishu_robot_refusing_the_message_in_its_code_is_a_failed_delivery(codes, tries, said):
    """Feishu's and Lark's robots answer HTTP 200 with their verdict in "code": a wrong token,
    a robot that shows only messages with its keywords or that wants them signed were counted
    delivered ('notify test' said so) and nothing was shown. Each is a failed delivery with
    the fix, tried again only when the robot says too many a minute."""
    robot = Robot(key="the-right-key")
    robot.feishu_codes = codes
    lines: list[str] = []
    try:
        url = f"{robot.base}/open-apis/bot/v2/hook/{TOKEN}"
        with notify.Notifier(url, log=lines.append, tries=3, backoff=0.01) as n:
            n.send(_paused())
    finally:
        robot.close()
    assert n.failed == 1 and robot.tries == tries and robot.shown == []
    (line,) = lines
    assert said in line, line
    assert TOKEN not in line


def test_a_json_webhook_answering_a_code_of_its_own_is_delivered():
    """A webhook of one's own may answer {"code": 500, ...} for what it did with the event:
    only a Feishu robot's "code" is read as its verdict."""
    got: list[bytes] = []

    class Own(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps({"code": 500, "msg": "queued for the on-call"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Own)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines: list[str] = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/open-apis/bot/v2/hooks"
        with notify.Notifier(url, log=lines.append, tries=1) as n:
            n.send(_paused())
    finally:
        server.shutdown()
        server.server_close()
    assert lines == [] and n.failed == 0
    assert json.loads(got[0])["event"] == "paused"  # the event's JSON, no robot's message


def test_a_webhook_url_file_saved_with_a_byte_order_mark_is_read_as_its_url(receiver, ledger_path):
    """A robot.url saved by Notepad starts with U+FEFF: the URL read from it had the scheme
    '\\ufeffhttp', refused as 'not an http:// or https:// URL' (exit 64) with the mark invisible
    in the message."""
    res = set_webhook("\ufeff" + receiver.url)
    assert res.returncode == 0, res.stderr
    assert cli("notify", "test").returncode == 0
    assert receiver.paths == [f"/hook?token={TOKEN}"]


@pytest.mark.parametrize("how", [("notify", "clear"), ("notify", "set", "--webhook", "")])
def test_a_host_without_a_keyring_can_clear_a_webhook_set_on_another_host(
    receiver, keyring_file, ledger_path, how
):
    """Forgetting the ledger's webhook first deleted the token from this host's keyring: on a
    server without one (the token is on the host that set it) 'notify clear' failed (exit 78,
    'the system keyring...') and left the webhook in the ledger, for good."""
    assert set_webhook(receiver.url).returncode == 0
    other = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    res = warmup(*how, env=other)
    assert res.returncode == 0, res.stderr
    shown = warmup("notify", "show", env=other)
    assert shown.stdout.startswith("Notifications: none") and shown.stderr == ""


@pytest.mark.parametrize("path", ["/services/warmup", "/robot/send", "/cgi-bin/webhook/send"])
def test_a_webhook_only_shaped_like_a_robots_still_gets_the_event_json(path):
    """A robot is told by its whole URL (WeCom's key=, DingTalk's access_token=, Slack's
    /services/T.../B.../...), never by a path any webhook of one's own may have."""
    got: list[dict[str, object]] = []

    class Plain(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        with notify.Notifier(url, log=print, tries=1) as n:
            n.send(_paused())
    finally:
        server.shutdown()
        server.server_close()
    assert [b["event"] for b in got] == ["paused"] and n.failed == 0


def test_a_command_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    """A hook command with argv bytes that are no UTF-8 (a GBK terminal's path) went to the
    ledger's write: a UnicodeEncodeError traceback, exit 1. Now exit 64 (as a blank one), nothing stored."""
    cli("mailbox", "add", "s@corp.example", "--provider", "exmail")
    res = cli("notify", "set", "--command", "/opt/\udcff/page")
    assert res.returncode == 64, res.stderr
    assert res.stderr == (
        "Error: --command '/opt/\\xff/page' is not UTF-8 text; the ledger keeps text: name "
        "the program by a path in UTF-8 (or a script that runs it)\n"
    )
    assert "none" in cli("notify", "show").stdout


def _quoting_server(answer) -> tuple[socket.socket, int]:  # type: ignore[no-untyped-def]
    """A webhook on loopback answering one request with ``answer(request line, its
    Authorization header)``: a server that quotes back what it was sent."""
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            head = conn.recv(65536).split(b"\r\n\r\n")[0].decode().split("\r\n")
            auth = next((h.split(": ", 1)[1] for h in head if h.startswith("Authorization")), "")
            conn.sendall(answer(head[0].split()[1], auth).encode())

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


def _json_answer(body: dict[str, object]) -> str:
    data = json.dumps(body)
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}"
        f"\r\n\r\n{data}"
    )


SECRET = "s3cret+token"  # '+': percent-encoded in the URL, itself once decoded
QUOTED_BACK = {
    # a robot's errmsg naming the key it was given
    "errmsg": (
        "/cgi-bin/webhook/send?key=" + SECRET,
        lambda path, auth: _json_answer(
            {"errcode": 93000, "errmsg": f"invalid webhook url: {path}"}
        ),
    ),
    # a reason phrase quoting the path, as it came and percent-decoded
    "reason": (
        "/hook?token=s3cret%2Btoken",
        lambda path, auth: f"HTTP/1.1 500 no hook {path} ({SECRET})\r\nContent-Length: 0\r\n\r\n",
    ),
    # a reason phrase quoting the Authorization header (base64 of user:password)
    "basic": (
        "/h",
        lambda path, auth: f"HTTP/1.1 401 refused {auth}\r\nContent-Length: 0\r\n\r\n",
    ),
}


@pytest.mark.parametrize("how", sorted(QUOTED_BACK))
def test_a_webhook_quoting_its_token_back_is_logged_with_the_token_masked(how):
    """Only the URL as a whole was masked in the log line: a robot's errmsg or a reason phrase
    quoting the key, the path (percent-encoded or not) or the basic-authentication header put
    the token, or its base64 anyone can decode, in the worker's log and 'notify test's output."""
    path, answer = QUOTED_BACK[how]
    sock, port = _quoting_server(answer)
    userinfo = "warmup:" + SECRET.replace("+", "%2B") + "@" if how == "basic" else ""
    lines: list[str] = []
    try:
        with notify.Notifier(
            f"http://{userinfo}127.0.0.1:{port}{path}", log=lines.append, tries=1
        ) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    finally:
        sock.close()
    assert n.failed == 1
    (line,) = lines
    encoded = base64.b64encode(f"warmup:{SECRET}".encode()).decode()
    for form in (SECRET, "s3cret%2Btoken", encoded, "s3cret"):
        assert form not in line, line
    assert "***" in line and f"webhook http://127.0.0.1:{port}/..." in line, line


def test_a_webhook_too_slow_to_answer_is_named_with_its_tries_when_given_up():
    """'warmup notify test' against a webhook that takes longer than the timeout to answer said
    only 'notifications not delivered within 10 s; given up': not which target, nor that each
    try went unanswered within 5 s, what there is to fix. The line now says both."""
    sock = socket.create_server(("127.0.0.1", 0))  # takes the request, never answers
    port = sock.getsockname()[1]
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}/hook?token={TOKEN}"
    try:
        with notify.Notifier(url, log=lines.append, timeout=0.4, backoff=0.01, drain=1.5) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
        said = list(lines)
    finally:
        sock.close()
        for conn in held:
            conn.close()
    assert n.given_up
    (line,) = said
    head = "notifications not delivered within 1.5 s; given up while trying webhook "
    assert line.startswith(f"{head}http://127.0.0.1:{port}/... (try "), line
    assert " of 4; try " in line and line.endswith(": no complete answer within 0.4 s)"), line
    assert TOKEN not in line


@pytest.fixture
def proxied(monkeypatch) -> Iterator[list[tuple[str, str | None]]]:  # type: ignore[no-untyped-def]
    """An HTTP proxy on loopback set as ``http_proxy``, which sees a webhook's request as the
    name's server would: each POST's request target and Host header, answered 204.

    Only requests for hosts other than 127.0.0.1 are kept: ``http_proxy`` is the process's, and
    an earlier test's notifier, given up at its close, goes on trying its receiver on 127.0.0.1
    (each try builds urllib's opener, proxies and all, anew). Under load such a try landed in
    these tests' window, through this proxy, and failed them (an extra request seen)."""
    seen: list[tuple[str, str | None]] = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            if urlsplit(self.path).hostname != "127.0.0.1":
                seen.append((self.path, self.headers.get("Host")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_on_an_international_domain_name_is_posted_to_its_xn_form(proxied):
    """http.client sends the Host header as ASCII: a webhook at a Chinese domain name failed
    every try with 'the webhook URL cannot be posted to' (4 tries, no word of why), though the
    name is a good one. It is posted to the name's xn-- form, here through a proxy on loopback
    (which sees the request as the name's server would); a name IDNA cannot encode is refused
    at once, saying so."""
    lines: list[str] = []
    with notify.Notifier(f"http://例子.测试:8080/hook?key={TOKEN}", log=lines.append) as n:
        n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
    assert lines == [] and n.failed == 0
    assert proxied == [
        (f"http://xn--fsqu00a.xn--0zwm56d:8080/hook?key={TOKEN}", "xn--fsqu00a.xn--0zwm56d:8080")
    ]
    bad = "http://" + "例" * 70 + ".cn/hook"
    assert notify.webhook_fault(bad) == "has a host that is not a valid international domain name"
    assert notify.mask("http://[::1]:8080/hook") == "http://[::1]:8080/..."


def test_a_webhook_whose_name_idna_2003_maps_to_another_domain_is_never_posted(proxied):
    """Python's "idna" codec is IDNA 2003, which maps ß to ss, ς to σ and drops the zero-width
    joiners: a webhook at straße.example was posted, token and all, to strasse.example, another
    domain (browsers and DNS registries, IDNA 2008, name it xn--strae-oqa.example). Such a host
    is refused, saying to write its xn-- form; nothing is posted anywhere."""
    lines: list[str] = []
    for host in ("straße.example", "ὀδυσσεύς.example", "a\u200db.example"):
        with notify.Notifier(f"http://{host}:8080/hook?key={TOKEN}", log=lines.append) as n:
            n.send(notify.event("test", None, dt.datetime.now(dt.UTC), "x"))
        assert n.failed == 1, host
    assert proxied == []
    assert len(lines) == 3 and all("write the host in its xn-- form" in line for line in lines)
    assert all(TOKEN not in line for line in lines)
    fault = notify.webhook_fault("https://straße.example/hook")
    assert fault is not None and "xn--" in fault
    assert notify.webhook_fault("https://xn--strae-oqa.example/hook") is None
    assert notify.webhook_fault("https://例子.测试/hook") is None
