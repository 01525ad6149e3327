"""A pool's overflow channel as a user meets it (issue #13): bulk messages go through an ESP relay
once the members' quota of the day is used, never counted as warm-up volume. Two real SMTP sinks
on loopback: the member's provider and the ESP. The tests run the worker at the real time, and
what goes through the ESP is what the day's quota left: the member lives where it is midday
(``midday_zone``), or a run that crossed Shanghai's midnight (16:00 UTC) sent the next day's
quota from it too."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import leads, midday_zone, pool_of, queue_csv, template
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import HOST, LEASE, Worker

ESP_USER = "esp-api"
ESP_SECRET = "esp-Canary-7f3a9c"


@pytest.fixture
def esp() -> Iterator[SmtpSink]:
    """The ESP relay: plain SMTP on loopback, its own login."""
    with SmtpSink("plain", user=ESP_USER, password=ESP_SECRET) as s:
        yield s


def _two_bulk(ledger) -> list[int]:  # type: ignore[no-untyped-def]
    """Two bulk messages to pool P (lead0, lead1@example.com); their ids."""
    outbox = Outbox(ledger)
    return [
        outbox.add(
            f"From: x@corp.example\nTo: lead{i}@example.com\nSubject: s\n\nhi\n".encode(),
            pool="P",
            bulk=True,
        )
        for i in range(2)
    ]


def overflow_to(esp: SmtpSink, *extra: str) -> list[str]:
    """``warmup pool overflow P`` pointing at the ESP sink, the password on standard input."""
    args = ["pool", "overflow", "P", "--host", "127.0.0.1", "--port", str(esp.port)]
    args += ["--security", "none", "--user", ESP_USER, *extra]
    res = cli(*args, stdin=ESP_SECRET + "\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(
        f"Pool P: overflow channel 127.0.0.1:{esp.port} (none, user {ESP_USER}); password "
        f"stored in the keyring"
    )
    return args


def sent_today(box: str) -> int:
    res = cli("quota", box, "--json")
    assert res.returncode == 0, res.stderr
    (got,) = json.loads(res.stdout)
    return int(got["sent"])


def listed() -> dict[str, dict[str, object]]:
    return {m["recipients"][0]: m for m in json.loads(cli("queue", "list", "--json").stdout)}


@pytest.mark.slow
def test_bulk_messages_past_the_quota_go_through_the_overflow_channel_and_never_count(
    sink, esp, ssl_cert_env, keyring_file, tmp_path, ledger_path
):
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=2, zone=midday_zone())
    args = overflow_to(esp)
    tpl = template(tmp_path / "t.toml")
    res = queue_csv(leads(tmp_path / "bulk.csv", 5), tpl, "--campaign", "news", "--bulk")
    assert res.returncode == 0, res.stderr
    one = leads(tmp_path / "one.csv", 2, start=5)
    assert queue_csv(one, tpl, "--campaign", "intro").returncode == 0

    run = cli("run", "--once", env=PASSWORD_ENV)
    assert run.returncode == 0, run.stderr
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == [
        "lead0@example.com",
        "lead1@example.com",
    ]
    via_esp = esp.messages
    assert sorted(r for m in via_esp for r in m.rcpt_tos) == [
        f"lead{i}@example.com" for i in (2, 3, 4)
    ]
    # No From in the template: the pool's first member, in the header and the envelope.
    assert {(m.auth_login, m.mail_from, str(m.message["From"])) for m in via_esp} == {
        (ESP_USER, box, box)
    }
    rows = listed()
    assert {r: (m["state"], m["via"]) for r, m in rows.items()} == {
        "lead0@example.com": ("sent", None),
        "lead1@example.com": ("sent", None),
        "lead2@example.com": ("sent", "overflow"),
        "lead3@example.com": ("sent", "overflow"),
        "lead4@example.com": ("sent", "overflow"),
        "lead5@example.com": ("queued", None),
        "lead6@example.com": ("queued", None),
    }
    assert rows["lead2@example.com"]["sent_by"] is None and rows["lead2@example.com"]["bulk"]
    assert "overflow of pool P" in cli("queue", "list").stdout
    shown = cli("queue", "show", str(rows["lead3@example.com"]["id"])).stdout
    assert "via: overflow" in shown and "bulk: True" in shown

    assert sent_today(box) == 2  # the warm-up counts the member's two sends, nothing else
    status = json.loads(cli("queue", "status", "--json").stdout)
    news = next(c for c in status["campaigns"] if c["campaign"] == "news")
    assert (news["sent"], news["sent_overflow"], news["queued"]) == (5, 3, 0)
    assert status["mailboxes"][0]["mailbox"] == box and status["mailboxes"][0]["sent"] == 2
    assert status["overflow"] == [
        {"pool": "P", "sent": 3, "bounced": 0, "unknown": 0, "expired": 0}
    ]
    text = cli("queue", "status").stdout
    assert "OVERFLOW OF POOL" in text

    shows = [cli("pool", "show", "P"), cli("pool", "show", "P", "--json"), cli("pool", "list")]
    assert f"127.0.0.1:{esp.port} (none, user {ESP_USER})" in shows[0].stdout
    assert json.loads(shows[1].stdout)["overflow"] == {
        "host": "127.0.0.1",
        "port": esp.port,
        "security": "none",
        "user": ESP_USER,
    }
    # The password went to the keyring only: never argv, output, logs or the ledger.
    assert ESP_SECRET in keyring_file.read_text()
    assert ESP_SECRET not in " ".join(args)
    for res in (run, *shows):
        assert ESP_SECRET not in res.stdout + res.stderr
    for path in ledger_path.parent.glob("ledger.db*"):
        assert ESP_SECRET.encode() not in path.read_bytes()

    again = cli("run", "--once", env=PASSWORD_ENV)  # quota used, nothing bulk left: no more
    assert again.returncode == 0, again.stderr
    assert (len(sink.messages), len(esp.messages)) == (2, 3)


@pytest.mark.slow
def test_without_an_overflow_channel_bulk_waits_as_before_until_one_is_given(
    sink, esp, ssl_cert_env, keyring_file, tmp_path
):
    pool_of(sink.port, tmp_path, n=1, daily=2, zone=midday_zone())
    tpl = template(tmp_path / "t.toml")
    assert queue_csv(leads(tmp_path / "a.csv", 4), tpl, "--bulk").returncode == 0
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    assert (len(sink.messages), esp.messages) == (2, [])  # as before: two sent, two wait
    assert [m["state"] for m in listed().values()].count("queued") == 2

    overflow_to(esp)  # the two waiting for tomorrow may go today now
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    assert sorted(r for m in esp.messages for r in m.rcpt_tos) == [
        "lead2@example.com",
        "lead3@example.com",
    ]

    res = cli("pool", "overflow", "P", "--off")
    assert (res.returncode, res.stdout) == (
        0,
        "Pool P: no overflow channel; its bulk messages wait for the members.\n",
    )
    assert ESP_SECRET not in keyring_file.read_text()
    assert json.loads(cli("pool", "show", "P", "--json").stdout)["overflow"] is None


@pytest.mark.slow
def test_a_paused_member_is_not_a_used_quota_its_bulk_messages_wait(
    sink, esp, ssl_cert_env, keyring_file, tmp_path
):
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=2, zone=midday_zone())
    overflow_to(esp)
    assert cli("mailbox", "pause", box, "--reason", "postmaster asked").returncode == 0
    res = queue_csv(leads(tmp_path / "a.csv", 3), template(tmp_path / "t.toml"), "--bulk")
    assert res.returncode == 0, res.stderr
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    assert (sink.messages, esp.messages) == ([], [])
    assert {m["state"] for m in listed().values()} == {"queued"}


def test_the_esp_s_replies_a_hard_bounce_suppresses_a_4xx_retries_later(
    sink,
    esp,
    ssl_cert_env,
    keyring_file,
    tmp_path,
    ledger_url,  # noqa: F811
):
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    overflow_to(esp)
    esp.reject_rcpt = {
        "lead1@example.com": (550, "5.1.1 <lead1@example.com>: user unknown"),
        "lead2@example.com": (451, "4.3.0 try again later"),
    }
    ledger = open_ledger(ledger_url)
    outbox = Outbox(ledger)
    ids = {}
    for i in range(3):
        msg = f"From: x@corp.example\nTo: lead{i}@example.com\nSubject: s\n\nhi\n".encode()
        ids[i] = outbox.add(msg, pool="P", bulk=True)
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    assert len(sink.messages) == 1  # lead0 took the quota of 1
    one, two = ledger.message(ids[1]), ledger.message(ids[2])
    assert (one.state, one.sent_via) == ("bounced", "overflow")
    assert "5.1.1" in (one.last_reply or "")
    assert ledger.suppressed(["lead1@example.com"])  # as the gate does for a hard bounce
    assert (two.state, two.attempts, two.sent_via) == ("queued", 1, None)
    assert two.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    assert esp.messages == []  # both refused at RCPT: nothing left
    ledger.close()  # on PostgreSQL, its pooled connections left open until collected


def test_an_esp_refusing_the_sender_backs_off_as_a_try_not_every_5_seconds(
    sink,
    esp,
    ssl_cert_env,
    keyring_file,
    tmp_path,
):
    """The ESP refuses MAIL FROM (550: the sender's domain not verified there): nothing
    reached anyone, every recipient is given back. That is a try of the channel, backed off
    as a 4xx is; it came back after 5 s, not a try, mailing the ESP every 5 s until it
    expired. A refusal for good, as a member's sender refused: 'run --once' exits 69 saying
    so (it exited 0: cron told no one until the bulk expired)."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    overflow_to(esp)
    esp.reject_mail = (550, "5.7.1 Sender domain corp.example is not verified")
    ledger = open_ledger()
    ids = _two_bulk(ledger)
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 69, res.stdout + res.stderr
    assert res.stderr == (
        "Error: 1 message could go from no mailbox, each refused for a fault to fix: the "
        "overflow channel of pool P refuses mail from x@corp.example (MAIL FROM: 550 5.7.1 "
        "Sender domain corp.example is not verified), and will refuse a retry alike: ask the "
        "channel's provider why (a sender or domain it has not verified?)\n"
    ), res.stderr
    assert len(sink.messages) == 1  # lead0 took the quota of 1
    late = ledger.message(ids[1])
    assert (late.state, late.attempts, late.sent_via) == ("queued", 1, None)
    assert late.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    assert "not verified" in (late.last_reply or "")
    assert ledger.suppressed(["lead1@example.com"]) == {}


def test_an_overflow_password_smtp_cannot_send_is_a_try_never_quoted(
    sink,
    esp,
    ssl_cert_env,
    keyring_file,
    tmp_path,
    monkeypatch,
):
    """``$WARMUP_OVERFLOW_PASSWORD`` with a character smtplib cannot send: the worker died with
    a UnicodeEncodeError traceback quoting that character of the password and its position,
    and the message it had not sent was left ``unknown`` for a person. Now 'warmup run'
    refuses it as it starts (exit 78, nothing sent: tests/test_outbox_attack.py), and a
    channel given to a pool once the worker runs fails as a refused login does: a try,
    retried later, one line that quotes none of it."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    overflow_to(esp)
    ledger = open_ledger()
    ids = _two_bulk(ledger)
    secret = "esp-Cänary-7f3a9c"
    res = cli("run", "--once", env={**PASSWORD_ENV, "WARMUP_OVERFLOW_PASSWORD": secret})
    assert res.returncode == 78, res.stderr  # a password to fix, as a member's
    assert len(sink.messages) == 0 and esp.connections == 0
    assert [ledger.message(i).attempts for i in ids] == [0, 0]
    for text in (res.stdout, res.stderr):
        assert "ä" not in text and "\\xe4" not in text and "Cänary" not in text
    assert cli("pool", "overflow", "P", "--off").returncode == 0
    for name, value in {**PASSWORD_ENV, "WARMUP_OVERFLOW_PASSWORD": secret}.items():
        monkeypatch.setenv(name, value)
    lines: list[str] = []
    with Worker(ledger, log=lines.append) as worker:  # no channel to check as it starts
        monkeypatch.delenv("WARMUP_OVERFLOW_PASSWORD")
        overflow_to(esp)
        monkeypatch.setenv("WARMUP_OVERFLOW_PASSWORD", secret)
        done = worker.run_once()
    assert done.fault_code == 78, lines
    assert len(sink.messages) == 1 and esp.connections == 0
    late = ledger.message(ids[1])
    assert (late.state, late.attempts, late.sent_via) == ("queued", 1, None)
    assert "ASCII" in (late.last_reply or "")
    for text in (*lines, done.fault_why, late.last_reply or ""):
        assert "ä" not in text and "\\xe4" not in text and "Cänary" not in text
    ledger.close()


def test_a_worker_killed_while_sending_through_the_channel_leaves_it_unknown(
    sink,
    esp,
    keyring_file,
    tmp_path,
    ledger_url,  # noqa: F811
):
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    overflow_to(esp)
    ledger = open_ledger(ledger_url)
    t0 = dt.datetime.now(dt.UTC)
    mid = Outbox(ledger).add(b"To: x@example.com\nSubject: s\n\nhi\n", pool="P", bulk=True, now=t0)
    dead = f"{HOST}-elsewhere:1:gone"
    claimed = ledger.claim(dead, t0)
    assert claimed is not None and claimed.id == mid and claimed.bulk
    assert ledger.via_overflow(mid, dead, t0)
    with Worker(ledger, clock=lambda: t0 + LEASE + dt.timedelta(minutes=1)) as worker:
        assert worker.recover(t0 + LEASE + dt.timedelta(minutes=1)) == ["unknown"]
    assert ledger.message(mid).state == "unknown"  # no gate slot, but it may have left
    ledger.close()


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            ["P", "--host", "127.0.0.1", "--port", "0"],
            64,
            "Error: --port 0: expected 1-65535\n",
        ),
        (
            ["P", "--host", "esp.example", "--security", "none"],
            64,
            "Error: --security none sends the password in clear text: allowed only with a "
            "loopback --host (127.0.0.1, localhost)\n",
        ),
        (["P"], 64, "Error: give --host HOST (or --off to remove the overflow channel)\n"),
        # A host no resolver takes, refused here as 'mailbox add --smtp-host' refuses it: it
        # was stored, and each bulk message then failed at the worker's connect.
        (
            ["P", "--host", "x$(id)"],
            64,
            "Error: --host 'x$(id)': expected one host name or IP address\n",
        ),
        (
            ["P", "--host", "[::1]", "--security", "none"],
            64,
            "Error: --host '[::1]': expected one host name or IP address\n",
        ),
        (
            ["nope", "--host", "esp.example"],
            64,
            "Error: pool 'nope' not found; create it with 'warmup pool add nope ADDRESS...'\n",
        ),
        (
            ["P", "--off"],
            65,
            "Error: pool 'P' has no overflow channel; give it one with 'warmup pool "
            "overflow P --host HOST'\n",
        ),
    ],
)
def test_bad_overflow_settings_are_one_line_and_leave_the_ledger_untouched(
    args, code, error, sink, tmp_path, ledger_path
):
    pool_of(sink.port, tmp_path, n=1, zone=midday_zone())
    before = ledger_digest(ledger_path)
    res = cli("pool", "overflow", *args)
    assert (res.returncode, res.stderr) == (code, error)
    assert ledger_digest(ledger_path) == before


def test_a_channel_without_a_user_sends_without_logging_in(sink, esp, ssl_cert_env, tmp_path):
    """No --user: no password is looked for and no AUTH is tried (a relay that authorizes by
    address); this sink wants a login, so it refuses MAIL and the message backs off."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    res = cli("pool", "overflow", "P", "--host", "127.0.0.1")
    assert res.stdout == "Pool P: overflow channel 127.0.0.1:465 (ssl, no login).\n"
    res = cli(
        "pool",
        "overflow",
        "P",
        "--host",
        "127.0.0.1",
        "--port",
        str(esp.port),
        "--security",
        "none",
    )
    assert res.stdout == f"Pool P: overflow channel 127.0.0.1:{esp.port} (none, no login).\n"
    ledger = open_ledger()
    outbox = Outbox(ledger)
    first = outbox.add(b"To: a@example.com\nSubject: s\n\nhi\n", pool="P", bulk=True)
    second = outbox.add(b"To: b@example.com\nSubject: s\n\nhi\n", pool="P", bulk=True)
    # the channel's missing login is a fault a person must fix (77), as a member's is
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 77
    assert ledger.message(first).state == "sent"
    row = ledger.message(second)
    # Refused before any recipient: nothing left, yet a try (it came back every 5 s, not one).
    assert (row.state, row.attempts) == ("queued", 1)
    # no AUTH tried, so none refused; the channel's missing user is what the reply names
    said = row.last_reply or ""
    assert "wants a login before MAIL FROM (530" in said and "refused the login" not in said
    # the channel's set-up is what to fix, and said how (not "give it a user": which?)
    assert said.endswith(
        "the overflow channel of pool P logs in as no one: give it a user with 'warmup pool "
        "overflow P --host 127.0.0.1 --user USER'"
    ), said
    assert esp.messages == []


@pytest.mark.slow
def test_a_chunked_message_a_530_cut_short_goes_again_only_to_whom_it_did_not_reach(
    sink, ssl_cert_env, keyring_file, tmp_path
):
    """A channel that takes some recipients without a login (its own domain's) and wants one
    for the others (530), with PIPELINING and CHUNKING: the data went with the envelope, so
    those it took have the message. The worker took the 530 for "nothing left" and queued the
    message again to every recipient: each retry mailed the ones it had reached once more.
    Queued again for the others alone; a 550 read before the 530 is suppressed."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    with SmtpSink(
        "plain", user=ESP_USER, password=ESP_SECRET, pipelining=True, chunking=True
    ) as esp:
        overflow_to(esp)
        esp.reject_rcpt = {
            "gone@corp.example": (550, "5.1.1 <gone@corp.example>: user unknown"),
            "out@example.net": (530, "5.7.0 Authentication required"),
        }
        ledger = open_ledger()
        outbox = Outbox(ledger)
        outbox.add(b"To: lead0@example.com\nSubject: s\n\nhi\n", pool="P", bulk=True)
        both = outbox.add(
            b"To: gone@corp.example, in@corp.example, out@example.net\nSubject: s\n\nhi\n",
            pool="P",
            bulk=True,
        )
        assert cli("run", "--once", env=PASSWORD_ENV).returncode == 77  # the channel's 530
        assert [m.rcpt_tos for m in esp.messages] == [("in@corp.example",)]
    row = ledger.message(both)
    assert row.state == "queued", row.last_reply
    assert tuple(row.recipients) == ("out@example.net",), row.recipients
    assert "wants a login before RCPT TO (530" in (row.last_reply or "")
    # The channel's login is at fault, not the member's, whose address the envelope names: it
    # said "check the mailbox's login with 'warmup doctor a@corp.example'", which finds nothing.
    assert "warmup doctor" not in (row.last_reply or "")
    assert (row.last_reply or "").endswith(
        "check the login of the overflow channel of pool P ('warmup pool show P'; its password: "
        "$WARMUP_OVERFLOW_PASSWORD or the one 'warmup pool overflow P --host 127.0.0.1 --user "
        "USER' stored), then send it again to the others alone"
    ), row.last_reply
    assert ledger.suppressed(["gone@corp.example"])
    assert not ledger.suppressed(["in@corp.example", "out@example.net"])


@pytest.mark.parametrize(
    ("secret", "says", "code"),
    [
        (None, "wants a login before MAIL FROM (530", 77),
        ("not-the-esp-password", "535", 77),
        ("", "no password for the overflow channel of pool P", 78),
    ],
    ids=["530-no-user", "535-refused", "no-password"],
)
def test_an_overflow_channel_refusing_its_login_makes_run_once_exit_77(
    sink, esp, ssl_cert_env, keyring_file, tmp_path, secret, says, code
):
    """The members' quota used, the channel answered 530 (no login given), refused the
    login, or had no password to give: 'run --once' exited 0, so cron told nobody and the
    bulk messages sat there, though a member's refused login exits 77 (its missing password
    78). Now the channel's do too, one line on stderr naming the channel; the message stays
    queued."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    env = {**PASSWORD_ENV, "WARMUP_OVERFLOW_PASSWORD": secret or ""}
    if secret is None:  # a channel without --user: no AUTH, the ESP wants one
        args = ["--host", "127.0.0.1", "--port", str(esp.port), "--security", "none"]
        assert cli("pool", "overflow", "P", *args).returncode == 0
    elif secret:
        overflow_to(esp)
    else:  # the password was in the environment when the channel was set, not stored
        args = ["--host", "127.0.0.1", "--port", str(esp.port), "--security", "none"]
        args += ["--user", ESP_USER]
        res = cli("pool", "overflow", "P", *args, env={"WARMUP_OVERFLOW_PASSWORD": ESP_SECRET})
        assert res.returncode == 0, res.stderr
    ledger = open_ledger()
    ids = _two_bulk(ledger)
    res = cli("run", "--once", env=env)
    assert res.returncode == code, (res.stdout, res.stderr)
    assert len(sink.messages) == 1 and esp.messages == []
    (line,) = res.stderr.splitlines()
    assert line.startswith(
        "Error: 1 message could go from no mailbox, each refused for a fault to fix: "
    ), line
    assert says in line and "overflow channel of pool P" in line, line
    assert ESP_SECRET not in res.stderr + res.stdout
    if secret:
        assert secret not in res.stderr + res.stdout
    late = ledger.message(ids[1])
    assert (late.state, late.sent_via) == ("queued", None)
    ledger.close()


def test_a_bulk_message_past_every_members_day_waits_for_the_overflow_not_bounced(
    sink, esp, ssl_cert_env, keyring_file, tmp_path, ledger_path, monkeypatch
):
    """A bulk message to more recipients than any member sends in a day is what the overflow
    channel is for ('queue add' leaves it to it). The worker bounced it as one no day could
    take whenever a member's refusal was not its used quota: paced after the message before it
    (or paused, its window closed), the channel never got it."""
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=2, interval="10m", zone=midday_zone())
    overflow_to(esp)
    first = tmp_path / "first.eml"
    first.write_bytes(b"To: one@example.com\r\nSubject: s\r\n\r\nx\r\n")
    bulk = tmp_path / "bulk.eml"
    bulk.write_bytes(
        b"To: " + b", ".join(b"r%d@example.com" % i for i in range(5)) + b"\r\n\r\nx\r\n"
    )
    assert cli("queue", "add", "--pool", "P", "--eml", str(first)).returncode == 0
    res = cli("queue", "add", "--pool", "P", "--bulk", "--eml", str(bulk))
    assert res.returncode == 0, res.stderr
    run = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert run.returncode == 0, run.stderr
    assert "bounced" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert [list(m.rcpt_tos) for m in sink.messages] == [["one@example.com"]]
    rows = {len(m["recipients"]): m for m in json.loads(cli("queue", "list", "--json").stdout)}
    assert (rows[1]["state"], rows[5]["state"]) == ("sent", "queued"), rows
    assert esp.messages == []  # the member is paced, not out of quota: later, the channel
    for k, v in PASSWORD_ENV.items():
        monkeypatch.setenv(k, v)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    ledger = open_ledger(str(ledger_path))
    with Worker(ledger, clock=lambda: later) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    ledger.close()
    assert [sorted(m.rcpt_tos) for m in esp.messages] == [[f"r{i}@example.com" for i in range(5)]]
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    "reply", [(552, "5.3.4 Message size exceeds fixed limit"), (552, "Message too large")]
)
def test_a_message_too_big_for_the_channel_ends_bounced_not_retried(
    sink, esp, ssl_cert_env, keyring_file, tmp_path, reply
):
    """The channel refusing the message's size at the end of DATA: final, as for a member (a
    retry is refused alike, the whole message uploaded each time), nobody suppressed."""
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=midday_zone())
    overflow_to(esp)
    esp.data_reply = reply
    ledger = open_ledger()
    ids = _two_bulk(ledger)
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    assert len(sink.messages) == 1  # lead0 took the quota of 1
    big = ledger.message(ids[1])
    assert (big.state, big.sent_via) == ("bounced", "overflow"), big
    assert reply[1] in (big.last_reply or "") and "refuses the message's size" in big.last_reply
    assert not ledger.suppressed(["lead1@example.com"])
    ledger.close()
