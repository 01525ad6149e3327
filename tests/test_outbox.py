"""The outbox as a user meets it: pools, ``warmup queue``, ``warmup run`` against the loopback
SMTP sink (issue #13)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY, PASSWORD_ENV, cli, cli_to_full_disk
from tests.outboxkit import accounts, leads, midday_zone, pool_of, queue_csv, template
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from tests.zonekit import SHANGHAI
from warmup.ledger import local_day


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    """The sink, with logins for four mailboxes."""
    with SmtpSink(
        "ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts(4)
    ) as s:
        yield s


def states(campaign: str | None = None) -> dict[str, int]:
    got = json.loads(
        cli(
            "queue",
            "list",
            "--json",
            "--limit",
            "0",
            *(["--campaign", campaign] if campaign else []),
        ).stdout
    )
    out: dict[str, int] = {}
    for m in got:
        out[m["state"]] = out.get(m["state"], 0) + 1
    return out


def test_a_pool_of_two_sends_its_quota_from_both_and_says_when_it_will_be_done(
    sink, ssl_cert_env, tmp_path
):
    """Acceptance 1: 2 mailboxes at a flat 5 a day, 20 messages from a CSV and a template.
    The runs and 'queue status' read the real time: the members live where it is midday, so
    no midnight passes between them (in Shanghai, one from 15:59 UTC let a second run send
    the next day's quota, and 'tomorrow' was a day off)."""
    zone = midday_zone()
    boxes = pool_of(sink.port, tmp_path, zone=zone)
    res = queue_csv(
        leads(tmp_path / "leads.csv", 20), template(tmp_path / "t.toml"), "--campaign", "c1"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 20 messages to pool P (campaign c1).\n"

    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    got = sink.messages
    assert len(got) == 10
    senders = sorted(str(m.message["From"]) for m in got)
    assert senders == [boxes[0]] * 5 + [boxes[1]] * 5
    assert all(str(m.message["Reply-To"]) == str(m.message["From"]) for m in got)
    assert all(m.mail_from == str(m.message["From"]) for m in got)
    assert {m.rcpt_tos[0] for m in got} == {f"lead{i}@example.com" for i in range(10)}
    assert "Next message due at" in res.stdout

    status = json.loads(cli("queue", "status", "--json").stdout)
    tomorrow = local_day(dt.datetime.now(dt.UTC), zone) + dt.timedelta(days=1)
    (c1,) = status["campaigns"]
    assert (c1["campaign"], c1["sent"], c1["queued"], c1["failed"]) == ("c1", 10, 10, 0)
    assert c1["finish"] == tomorrow.isoformat()
    assert {m["mailbox"]: m["sent"] for m in status["mailboxes"]} == {boxes[0]: 5, boxes[1]: 5}

    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 10
    assert states("c1") == {"sent": 10, "queued": 10}


def test_a_pool_whose_members_have_their_own_passwords_sends_with_one_password_command(
    pki, ssl_cert_env, tmp_path
):
    """'warmup run --password-command CMD' runs CMD for every member of the pool, and CMD was
    not told which one: on a server without a keyring, members with passwords of their own
    could not be sent from (all but one refused at login, exit 77). The command gets the
    member's address in $WARMUP_MAILBOX, as 'pass show "mail/$WARMUP_MAILBOX"' needs. The
    members live where it is midday: a run that crossed Shanghai's midnight (16:00 UTC) gave
    a a new day's room, and it sent three of the four."""
    (tmp_path / "pw").mkdir()
    (tmp_path / "pw" / "a@corp.example").write_text(f"{SMTP_PASSWORD}\n")
    (tmp_path / "pw" / "b@corp.example").write_text("b-own-pass\n")
    with SmtpSink(
        "ssl",
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        pki=pki,
        accounts={"b@corp.example": "b-own-pass"},
    ) as sink:
        boxes = pool_of(sink.port, tmp_path, zone=midday_zone())
        res = queue_csv(leads(tmp_path / "leads.csv", 4), template(tmp_path / "t.toml"))
        assert res.returncode == 0, res.stderr
        command = f'cat "{tmp_path}/pw/$WARMUP_MAILBOX"'
        res = cli("run", "--once", "--password-command", command, env={})
        assert res.returncode == 0, res.stderr
        got = sink.messages
    assert sorted(str(m.message["From"]) for m in got) == [boxes[0]] * 2 + [boxes[1]] * 2
    assert sorted(m.auth_login for m in got) == [boxes[0]] * 2 + [boxes[1]] * 2
    assert states() == {"sent": 4}


def test_a_hard_bounce_ends_bounced_suppresses_and_is_skipped_at_queue_time(
    sink, ssl_cert_env, tmp_path
):
    """Acceptance 5."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"lead1@example.com": (550, "5.1.1 <lead1@example.com>: user unknown")}
    tpl = template(tmp_path / "t.toml")
    assert queue_csv(leads(tmp_path / "a.csv", 3), tpl).returncode == 0
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    rows = {m["recipients"][0]: m for m in json.loads(cli("queue", "list", "--json").stdout)}
    assert rows["lead1@example.com"]["state"] == "bounced"
    assert "5.1.1" in rows["lead1@example.com"]["last_reply"]
    assert {rows[f"lead{i}@example.com"]["state"] for i in (0, 2)} == {"sent"}
    assert "lead1@example.com" in cli("suppress", "list").stdout
    assert {r for m in sink.messages for r in m.rcpt_tos} == {
        "lead0@example.com",
        "lead2@example.com",
    }

    again = leads(tmp_path / "b.csv", 3, start=1)  # lead1, lead2, lead3
    res = queue_csv(again, tpl, "--campaign", "later")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 2 messages to pool P (campaign later).\n"
    assert "Skipped 1 suppressed recipient: lead1@example.com" in res.stderr
    later = json.loads(cli("queue", "list", "--campaign", "later", "--json").stdout)
    assert sorted(m["recipients"][0] for m in later) == ["lead2@example.com", "lead3@example.com"]


def test_a_missing_field_names_the_line_and_queues_nothing(sink, tmp_path, ledger_path):
    pool_of(sink.port, tmp_path)
    csv = tmp_path / "leads.csv"
    csv.write_text("email,name\na@example.com,A\nb@example.com,B\n", encoding="utf-8")
    before = ledger_digest(ledger_path)
    res = queue_csv(csv, template(tmp_path / "t.toml"))
    assert res.returncode == 65
    assert res.stderr.startswith(f"Error: {csv}: line 2: 'company' is undefined")
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert ledger_digest(ledger_path) == before


def test_a_bad_recipient_on_a_later_line_queues_nothing(sink, tmp_path, ledger_path):
    pool_of(sink.port, tmp_path)
    csv = leads(tmp_path / "leads.csv", 3)
    csv.write_text(csv.read_text() + "not-an-address,X,Y\n", encoding="utf-8")
    before = ledger_digest(ledger_path)
    res = queue_csv(csv, template(tmp_path / "t.toml"))
    assert res.returncode == 65
    assert f"{csv}: line 5: malformed recipient 'not-an-address'" in res.stderr
    assert ledger_digest(ledger_path) == before


def test_a_recipient_over_smtps_limits_is_refused_like_a_malformed_one(sink, tmp_path, ledger_path):
    """A recipient whose local part has 65 octets (RFC 5321 allows 64) was queued, to be
    refused by every server: it is refused naming its line, as a malformed one is."""
    pool_of(sink.port, tmp_path)
    csv = leads(tmp_path / "leads.csv", 3)
    long = "l" * 65 + "@example.com"
    csv.write_text(csv.read_text() + f"{long},X,Y\n", encoding="utf-8")
    before = ledger_digest(ledger_path)
    res = queue_csv(csv, template(tmp_path / "t.toml"))
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: {csv}: line 5: recipient {long!r} is too long: its part before the '@' has 65 "
        f"characters, and SMTP allows at most 64\n"
    )
    assert ledger_digest(ledger_path) == before


def test_html_is_autoescaped_and_text_is_not(sink, ssl_cert_env, tmp_path):
    pool_of(sink.port, tmp_path, n=1)
    csv = tmp_path / "leads.csv"
    csv.write_text('email,name,company\nx@example.com,<b>Bo</b>,"A & B"\n', encoding="utf-8")
    assert queue_csv(csv, template(tmp_path / "t.toml")).returncode == 0
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    (got,) = sink.messages
    msg = got.message
    assert str(msg["Subject"]) == "Hello <b>Bo</b>"
    assert "Dear <b>Bo</b>," in msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;Bo&lt;/b&gt;" in html and "A &amp; B" in html and "<b>" not in html


def test_eml_to_a_mailbox_keeps_its_message_id_and_refuses_another_from(
    sink, ssl_cert_env, tmp_path
):
    pool_of(sink.port, tmp_path, n=1)
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        b"To: x@example.com\r\nSubject: hi\r\nMessage-ID: <kept@corp.example>\r\n\r\nhello\r\n"
    )
    res = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    again = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert again.returncode == 65
    assert "<kept@corp.example> is in the outbox already (message 1, queued)" in again.stderr
    other = tmp_path / "o.eml"
    other.write_bytes(b"From: boss@corp.example\r\nTo: x@example.com\r\n\r\nhi\r\n")
    res = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", str(other))
    assert res.returncode == 65 and "From boss@corp.example is not the mailbox" in res.stderr
    assert cli("run", "--once", env=PASSWORD_ENV).returncode == 0
    (got,) = sink.messages
    assert str(got.message["Message-ID"]) == "<kept@corp.example>"
    assert str(got.message["From"]) == "a@corp.example" and "Reply-To" not in got.message
    # Sent now: said so, not "queued already" (which sent the user looking for it in the queue).
    again = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert again.returncode == 65
    assert "<kept@corp.example> is in the outbox already (message 1, sent)" in again.stderr


@pytest.mark.parametrize(
    "header",
    [b"Sender: boss@other.example", b"From: a@corp.example\r\nFrom: boss@other.example"],
)
def test_a_mailbox_eml_naming_another_sender_is_refused_when_queued(
    sink, tmp_path, ledger_path, header
):
    # Only the first From's address was checked when queued, and the worker sends the queued
    # bytes as they were prepared: a Sender or second From naming another address went out.
    pool_of(sink.port, tmp_path, n=1)
    eml = tmp_path / "m.eml"
    eml.write_bytes(header + b"\r\nTo: x@example.com\r\n\r\nhello\r\n")
    before = ledger_digest(ledger_path)
    res = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.returncode == 65 and "boss@other.example" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1
    assert ledger_digest(ledger_path) == before


def test_an_empty_eml_is_named_empty_by_queue_add_as_by_send(tmp_path, ledger_path):
    """An empty .eml (or /dev/null, or empty standard input) was refused by 'queue add' as
    "no recipient (no To, Cc or Bcc ...)", as if a message had been read, where 'send --eml'
    says the message is empty: the same words, exit 65, nothing queued."""
    assert cli("mailbox", "add", "a@corp.example", "--provider", "exmail").returncode == 0
    empty, blank = tmp_path / "empty.eml", tmp_path / "blank.eml"
    empty.write_bytes(b"")
    blank.write_bytes(b"\xef\xbb\xbf\r\n\r\n")  # a Windows editor's BOM and blank lines
    before = ledger_digest(ledger_path)
    said = "the message is empty; give a whole RFC 5322 message"
    for name, where in (
        (str(empty), str(empty)),
        (str(blank), str(blank)),
        ("/dev/null", "/dev/null"),
        ("-", "standard input"),
    ):
        res = cli("queue", "add", "--mailbox", "a@corp.example", "--eml", name, stdin="")
        assert (res.returncode, res.stderr) == (65, f"Error: {where}: {said}\n"), res.stderr
        res = cli("send", "a@corp.example", "--eml", name, "--dry-run", stdin="")
        assert (res.returncode, res.stderr) == (65, f"Error: --eml {where}: {said}\n")
    assert ledger_digest(ledger_path) == before


def test_an_empty_csv_is_named_empty_by_queue_add_as_by_import(tmp_path, ledger_path):
    """An empty --csv (blank lines, Excel's 'sep=,' alone, /dev/null, empty standard input)
    was "no 'email' column (found nothing); name the recipients' column email", sending the
    user after a typo in a header that is not there, where 'import' says the file is empty
    and what its first line must be: the same words, exit 65, nothing queued."""
    assert cli("mailbox", "add", "a@corp.example", "--provider", "exmail").returncode == 0
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "hi"\ntext = "hello"\n')
    blank, sep = tmp_path / "blank.csv", tmp_path / "sep.csv"
    blank.write_bytes(b"\xef\xbb\xbf\r\n\r\n")
    sep.write_bytes(b"sep=,\r\n")
    before = ledger_digest(ledger_path)
    for name, where in ((str(blank), str(blank)), (str(sep), str(sep)), ("/dev/null", "/dev/null"),
                        ("-", "standard input")):  # fmt: skip
        res = cli(
            "queue", "add", "--mailbox", "a@corp.example", "--csv", name, "--template", str(tpl),
            stdin="",
        )  # fmt: skip
        assert (res.returncode, res.stderr) == (
            65,
            f"Error: {where}: line 1: the file is empty; its first line must be the header "
            f"(email[,...]) and the rows follow it\n",
        ), res.stderr
    res = cli("import", "/dev/null")
    assert res.stderr.startswith("Error: /dev/null: line 1: the file is empty; its first line ")
    assert ledger_digest(ledger_path) == before


def test_a_pool_message_s_sender_fields_name_the_member_that_sends_it(sink, ssl_cert_env, tmp_path):
    """The worker writes the sending member in From and in any Sender, Resent-From or
    Resent-Sender: a pool's message names a member it may not be sent by, or anyone (From is the
    member's on the gated path; the overflow channel sends a message as it is)."""
    boxes = pool_of(sink.port, tmp_path, n=2)
    names = [*reversed(boxes), "boss@other.example"]  # the member that will not send it, a stranger
    for i, who in enumerate(names):
        eml = tmp_path / f"m{i}.eml"
        eml.write_bytes(
            f"From: {boxes[0]}\r\nSender: {who}\r\nResent-From: {who}\r\n"
            f"Resent-To: x{i}@example.com\r\n\r\nhi\r\n".encode()  # resent: its Resent-To
        )
        res = cli("queue", "add", "--pool", "P", "--eml", str(eml))
        assert res.returncode == 0, res.stderr
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert states() == {"sent": 3}
    for got in sink.messages:
        sender = str(got.message["From"])
        assert sender in boxes and got.mail_from == sender
        assert got.message.get_all("Sender") == [sender]
        assert got.message.get_all("Resent-From") == [sender]


def test_not_before_is_read_in_the_mailboxes_local_time(sink, tmp_path):
    pool_of(sink.port, tmp_path, n=1, zone=SHANGHAI)  # its days, not the kit's: no clock read
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    res = cli("queue", "add", "--pool", "P", "--eml", str(eml), "--not-before", "2030-01-02T09:00")
    assert res.returncode == 0, res.stderr
    (m,) = json.loads(cli("queue", "list", "--json").stdout)
    assert m["not_before"] == "2030-01-02T01:00:00+00:00"  # 09:00 in Asia/Shanghai
    assert m["next_attempt_at"] == m["not_before"]
    assert m["expires_at"] == "2030-01-05T01:00:00+00:00"  # 72 h later by default
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0 and sink.messages == []
    assert "Next message due at 2030-01-02T01:00:00Z." in res.stdout


def test_the_next_due_time_run_once_prints_is_not_before_the_message_is_due(
    sink, ssl_cert_env, tmp_path
):
    """A paced message is due mid-second (06:47:21.76): 'run --once' printed it truncated
    (06:47:21Z), so a cron job woken at the second it was told found nothing due. It is
    rounded up, as the pacing reason's time is."""
    pool_of(sink.port, tmp_path, n=1, interval="7m")
    queue_csv(leads(tmp_path / "leads.csv", 2), template(tmp_path / "t.toml"))
    res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 1
    [line] = [x for x in res.stdout.splitlines() if x.startswith("Next message due at ")]
    told = dt.datetime.strptime(line, "Next message due at %Y-%m-%dT%H:%M:%SZ.")
    queued = [
        m for m in json.loads(cli("queue", "list", "--json").stdout) if m["state"] == "queued"
    ]
    due = dt.datetime.fromisoformat(queued[0]["next_attempt_at"])
    assert due.microsecond  # the gap ends mid-second (else the test proves nothing)
    assert due <= told.replace(tzinfo=dt.UTC) < due + dt.timedelta(seconds=1), (line, due)


def test_a_not_before_so_far_back_that_the_message_would_be_born_expired_is_refused(
    sink, tmp_path, ledger_path
):
    """'--not-before 2020-01-01T09:00' (a year typed wrong, a script's stale date): its
    expiry, 72 h later, is long past. It was queued ('Queued 1 message', exit 0) and the
    worker's next pass expired it unsent; it is refused, one line, nothing written. A
    not-before in the past whose expiry is still ahead is queued, due at once."""
    pool_of(sink.port, tmp_path, n=1)
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    csv, tpl = leads(tmp_path / "l.csv", 2), template(tmp_path / "t.toml")
    before = ledger_digest(ledger_path)
    for how in (("--eml", str(eml)), ("--csv", str(csv), "--template", str(tpl))):
        for extra in ((), ("--expires", "30d")):
            add = ("queue", "add", "--pool", "P", *how, *extra)
            res = cli(*add, "--not-before", "2020-01-01T09:00")
            assert res.returncode == 65, res.stdout
            assert res.stderr.count("\n") == 1 and "--not-before" in res.stderr
            assert "already past" in res.stderr and "--expires" in res.stderr
    assert ledger_digest(ledger_path) == before
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    res = cli(
        "queue", "add", "--pool", "P", "--eml", str(eml), "--not-before", hour_ago.isoformat()
    )
    assert res.returncode == 0, res.stderr
    assert [m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)] == ["queued"]


def test_a_not_before_beyond_two_years_is_planned_from_its_day_and_beyond_ten_refused(
    sink, tmp_path, ledger_path
):
    """'--not-before' 2.5 years ahead: 'queue add' warned "at the plan's pace ... sends what is
    queued to it not within 2 years, after these messages expire: give a longer --expires", of
    a mailbox warmed up long before then, and 'queue status' said it "expires": the plan looked
    730 days from today, not from the messages' day. It now does; a day more than 10 years
    ahead (a year typed wrong) is refused, one line, nothing written."""
    pool_of(sink.port, tmp_path, n=1, zone=SHANGHAI)  # 04:00 UTC is its noon, any date
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    now = dt.datetime.now(dt.UTC)
    before = ledger_digest(ledger_path)
    far = (now + dt.timedelta(days=3660)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = cli("queue", "add", "--pool", "P", "--eml", str(eml), "--not-before", far)
    assert res.returncode == 65, (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and "more than 10 years ahead" in res.stderr
    assert ledger_digest(ledger_path) == before
    day = (now + dt.timedelta(days=900)).date()  # at noon in the members' zone (Shanghai)
    res = cli("queue", "add", "--pool", "P", "--eml", str(eml), "--not-before",
              f"{day}T04:00:00Z")  # fmt: skip
    assert res.returncode == 0 and res.stderr == "", res.stderr
    [row] = json.loads(cli("queue", "status", "--json").stdout)["campaigns"]
    assert row["queued"] == 1 and not row["expires_first"], row
    assert row["finish"] == day.isoformat(), row


def test_a_pool_with_queued_messages_is_removed_only_with_force(sink, tmp_path):
    pool_of(sink.port, tmp_path, n=1)
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    assert cli("queue", "add", "--pool", "P", "--eml", str(eml)).returncode == 0
    res = cli("pool", "remove", "P")
    assert res.returncode == 65
    assert (
        res.stderr
        == "Error: pool 'P' has 1 queued message; add --force to cancel it and remove the pool\n"
    )
    res = cli("pool", "remove", "P", "--force")
    assert res.returncode == 0 and "cancelled 1 queued message" in res.stdout
    assert states() == {"cancelled": 1}
    res = cli("pool", "show", "P")
    assert res.returncode == 64 and "pool 'P' not found" in res.stderr


@pytest.mark.parametrize("verb", ["cancel", "list"])
def test_a_campaign_name_that_is_not_utf8_is_none_not_a_traceback(sink, tmp_path, verb):
    """'queue cancel|list --campaign NAME' with argv bytes that are no UTF-8 put the surrogate
    escapes in the ledger's query: a UnicodeEncodeError traceback, exit 1. No campaign has
    such a name: both say so, exit 64."""
    pool_of(sink.port, tmp_path, n=1)
    res = cli("queue", verb, "--campaign", "c\udcff")
    assert res.returncode == 64, res.stderr
    assert res.stderr.startswith("Error: no campaign 'c\\xff' in the outbox"), res.stderr


@pytest.mark.parametrize(
    "verb", [("pool", "show"), ("pool", "remove"), ("run", "--once", "--pool")]
)
def test_a_pool_name_that_is_not_utf8_is_not_found_not_a_traceback(sink, tmp_path, verb):
    """A pool named with bytes of argv that are no UTF-8 (a GBK terminal's name) reached the
    ledger's query: a UnicodeEncodeError traceback, exit 1. No pool has such a name."""
    pool_of(sink.port, tmp_path, n=1)
    res = cli(*verb, "P\udcff")
    assert res.returncode == 64, res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("Error: pool 'P\\xff' not found; its name is not UTF-8 text"), line


def test_a_mailbox_with_queued_messages_is_removed_only_with_force(sink, tmp_path, ledger_path):
    """As a pool: removing a mailbox does not silently cancel the mail queued to it."""
    (box,) = pool_of(sink.port, tmp_path, n=1)
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    assert cli("queue", "add", "--mailbox", box, "--eml", str(eml)).returncode == 0
    before = ledger_digest(ledger_path)
    res = cli("mailbox", "remove", box)
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: mailbox {box} has 1 queued message; add --force to cancel it and "
        f"remove the mailbox\n"
    )
    assert ledger_digest(ledger_path) == before and states() == {"queued": 1}
    res = cli("mailbox", "remove", box, "--force")
    assert res.returncode == 0 and "cancelled 1 queued message" in res.stdout
    assert states() == {"cancelled": 1}


def test_the_last_member_of_a_pool_with_queued_messages_is_removed_only_with_force(
    sink, tmp_path, ledger_path
):
    """'mailbox remove' of a pool's only member went through without a word while the pool
    had queued messages: they were left with no one to send them, and expired unsent."""
    a, b = pool_of(sink.port, tmp_path, n=2)
    assert cli("pool", "add", "Q", a).returncode == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: x@example.com\r\n\r\nhello\r\n")
    assert cli("queue", "add", "--pool", "Q", "--eml", str(eml)).returncode == 0
    before = ledger_digest(ledger_path)
    res = cli("mailbox", "remove", a)
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: mailbox {a} is the only member of pool Q, which has 1 queued message; add "
        f"another member first ('warmup pool add Q ADDRESS'), or add --force to remove it "
        f"anyway (the pool's messages then wait for a member)\n"
    )
    assert ledger_digest(ledger_path) == before and states() == {"queued": 1}
    assert cli("mailbox", "remove", b).returncode == 0  # P keeps a: nothing is stranded
    res = cli("mailbox", "remove", a, "--force")
    assert res.returncode == 0, res.stderr
    assert states() == {"queued": 1}  # held for a member, not cancelled


def test_cancelling_a_campaign_the_outbox_never_had_is_an_error(sink, tmp_path, ledger_path):
    # "Cancelled 0 messages." and exit 0 hid a typo in the campaign's name.
    pool_of(sink.port, tmp_path)
    add = queue_csv(leads(tmp_path / "l.csv", 2), template(tmp_path / "t.toml"), "--campaign", "c1")
    assert add.returncode == 0, add.stderr
    before = ledger_digest(ledger_path)
    res = cli("queue", "cancel", "--campaign", "c2")
    assert res.returncode == 64
    assert res.stderr == "Error: no campaign 'c2' in the outbox; see 'warmup queue status'\n"
    assert ledger_digest(ledger_path) == before and states() == {"queued": 2}
    res = cli("queue", "cancel", "--campaign", "c1")
    assert res.returncode == 0 and "Cancelled 2 messages." in res.stdout
    res = cli("queue", "cancel", "--campaign", "c1")  # known, nothing left queued: not an error
    assert res.returncode == 0 and "Cancelled 0 messages." in res.stdout


def test_db_copy_carries_the_outbox_and_pools_to_postgresql(
    sink,
    tmp_path,
    ledger_path,
    pg_url,  # noqa: F811
):
    """A solo user's queue moves to the team's server whole: message bytes, pools, states."""
    pool_of(sink.port, tmp_path)
    assert (
        queue_csv(
            leads(tmp_path / "l.csv", 3), template(tmp_path / "t.toml"), "--campaign", "c1"
        ).returncode
        == 0
    )
    assert cli("queue", "cancel", "1").returncode == 0
    res = cli("db", "copy", "--to", pg_url)
    assert res.returncode == 0, res.stderr
    assert "verified: row counts and per-table checksums match" in res.stdout
    local = json.loads(cli("queue", "list", "--json").stdout)
    team = json.loads(cli("--db", pg_url, "queue", "list", "--json").stdout)
    assert team == local and [m["state"] for m in team] == ["cancelled", "queued", "queued"]
    shown = json.loads(cli("--db", pg_url, "queue", "show", "2", "--json").stdout)
    assert shown["headers"]["Subject"] == "Hello Lead 1"
    assert json.loads(cli("--db", pg_url, "pool", "list", "--json").stdout)[0]["members"] == [
        "a@corp.example",
        "b@corp.example",
    ]


def test_a_long_batch_goes_through_the_spool_all_or_nothing(
    sink, tmp_path, ledger_path, monkeypatch
):
    """Messages are checked and spooled a batch at a time (memory flat in their number: the
    CLI held every rendered message, 1.2 GB for 10,000 rows); the suppressions are checked per
    batch; a bad message after several batches still leaves the ledger untouched."""
    from email.message import EmailMessage

    import warmup.outbox as outbox_mod
    from warmup import Outbox, open_ledger
    from warmup.errors import DataError

    pool_of(sink.port, tmp_path)
    assert cli("suppress", "add", "lead13@example.com", "--reason", "asked").returncode == 0
    monkeypatch.setattr(outbox_mod, "SPOOL_BATCH", 10)

    def messages(n: int, bad_at: int | None = None):  # type: ignore[no-untyped-def]
        for i in range(n):
            msg = EmailMessage()
            msg["To"] = "not-an-address" if i == bad_at else f"lead{i}@example.com"
            msg["Subject"] = f"hello {i}"
            msg.set_content("hi")
            yield msg, None

    ledger = open_ledger(str(ledger_path))
    before = ledger_digest(ledger_path)
    with pytest.raises(DataError, match="message 45: malformed recipient"):
        Outbox(ledger).add_many(messages(45, bad_at=44), pool="P")
    assert ledger_digest(ledger_path) == before
    got = Outbox(ledger).add_many(messages(45), pool="P")
    assert (len(got.ids), got.dropped, list(got.suppressed)) == (44, 1, ["lead13@example.com"])
    assert states() == {"queued": 44}
    ledger.close()


def test_outbox_takes_the_messages_a_script_has(sink, tmp_path, ledger_path):
    """``Outbox(ledger).add_many([msg, msg])`` (README: 'add_many for a batch') was
    ``ValueError: too many values to unpack``: an EmailMessage iterates its header names. A
    ``MIMEText`` or the message as text was a bare ``AssertionError``. A message alone is its
    own envelope; anything that is no message is a one-line UsageError, nothing queued."""
    from email.message import EmailMessage
    from email.mime.text import MIMEText

    from warmup import Outbox, open_ledger
    from warmup.errors import UsageError

    pool_of(sink.port, tmp_path)

    def msg(to: str) -> EmailMessage:
        m = EmailMessage()
        m["To"], m["Subject"] = to, "hi"
        m.set_content("hi")
        return m

    old = MIMEText("hallo")
    old["To"] = "old@example.com"
    ledger = open_ledger(str(ledger_path))
    before = ledger_digest(ledger_path)
    with pytest.raises(UsageError, match="^message 2: expected an email.message.EmailMessage"):
        Outbox(ledger).add_many([msg("x@example.com"), 7], pool="P")  # type: ignore[list-item]
    assert ledger_digest(ledger_path) == before
    got = Outbox(ledger).add_many(
        [msg("a@example.com"), (msg("b@example.com"), ["c@example.com"]), old], pool="P"
    )
    assert got.count == 3
    Outbox(ledger).add("To: text@example.com\r\nSubject: t\r\n\r\nbody\r\n", pool="P")  # type: ignore[arg-type]
    ledger.close()
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert sorted(r for m in listed for r in m["recipients"]) == [
        "a@example.com",
        "c@example.com",
        "old@example.com",
        "text@example.com",
    ]


def test_recipients_given_as_one_string_are_named_as_the_fault_not_the_message(
    sink, tmp_path, ledger_path
):
    """``Outbox.add(msg, recipients="a@example.com")`` said 'expected an
    email.message.EmailMessage, bytes or text, not tuple' of a message that was one: the fault
    was the string, which would be its letters if read as a list. A set is a list of them."""
    from email.message import EmailMessage

    from warmup import Outbox, open_ledger
    from warmup.errors import UsageError

    pool_of(sink.port, tmp_path)
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "x@example.com", "hi"
    msg.set_content("hi")
    ledger = open_ledger(str(ledger_path))
    before = ledger_digest(ledger_path)
    with pytest.raises(UsageError) as err:
        Outbox(ledger).add(msg, pool="P", recipients="a@example.com")  # type: ignore[arg-type]
    assert str(err.value) == (
        "recipients 'a@example.com': give a list of addresses, e.g. ['a@example.com'], "
        "not one string"
    )
    assert ledger_digest(ledger_path) == before
    Outbox(ledger).add(msg, pool="P", recipients={"b@example.com"})  # type: ignore[arg-type]
    ledger.close()
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert [m["recipients"] for m in listed] == [["b@example.com"]]


@pytest.mark.slow
def test_queue_add_memory_does_not_grow_with_the_rows(sink, tmp_path, ledger_path):
    """The whole command's peak memory, 300 rows against 3,000 (it held every rendered
    message: ~120 KB a row, +300 MB here)."""
    import os
    import subprocess
    import sys

    pool_of(sink.port, tmp_path)
    tpl = str(template(tmp_path / "t.toml"))
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    peaks = []
    for n in (300, 3000):
        csv = leads(tmp_path / f"leads{n}.csv", n, start=n * 10)
        cmd = [sys.executable, "-m", "warmup", "queue", "add", "--pool", "P", "--csv", str(csv)]
        out = subprocess.run(
            [sys.executable, "-c", probe, *cmd, "--template", tpl],
            env=dict(os.environ, WARMUP_DB=str(ledger_path)),
            check=True,
            capture_output=True,
            text=True,
        )
        peaks.append(int(out.stdout) / 1024)  # MiB
    assert states() == {"queued": 3300}
    assert peaks[1] - peaks[0] < 40, peaks


def test_run_once_says_why_nothing_went_when_every_member_is_paused(sink, ssl_cert_env, tmp_path):
    """The messages wait (nothing lost, nothing sent) and run --once says why: each member's
    refusal, not only the first one's, and that nothing goes until a person acts (no time:
    the 15 minutes it gave were only when the worker looks again)."""
    a, b = pool_of(sink.port, tmp_path)
    for box, why in ((a, "complaint review"), (b, "new domain check")):
        assert cli("mailbox", "pause", box, "--reason", why).returncode == 0
    queue_csv(leads(tmp_path / "leads.csv", 3), template(tmp_path / "t.toml"))
    res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Done: 3 waiting."
    assert lines[1].startswith(f"Waiting (3): {a} is paused since ")
    assert "complaint review" in lines[1] and f"; {b} is paused since " in lines[1]
    assert "new domain check" in lines[1]
    assert lines[2] == "Next message due once a person lets one of its mailboxes send again."
    assert sink.messages == [] and states() == {"queued": 3}


def test_an_eml_saved_with_a_byte_order_mark_is_queued(run, tmp_path):
    """An .eml written by a Windows editor starts with a UTF-8 BOM: its first header line read
    as '\ufeffTo' and the file was refused as 'a header line is not Name: value' over headers
    that look right."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"\xef\xbb\xbfTo: x@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 0, res.output
    (queued,) = json.loads(run("queue", "list", "--json").output)
    assert queued["recipients"] == ["x@example.com"]


@pytest.mark.parametrize(
    "head",
    [
        b" Subject: hi\r\nTo: x@example.com\r\n",  # a first line that is a continuation
        b"\tSubject: hi\r\nTo: x@example.com\r\n",
        b"To: x@example.com\r\n: hi\r\nSubject: s\r\n",  # a field with no name
        b": hi\r\nTo: x@example.com\r\n",
    ],
)
def test_a_header_line_python_would_drop_is_refused_when_queued(run, tmp_path, ledger_path, head):
    """Python's parser drops a header line it cannot read (a first line that begins with
    white space, ': x') with only a defect: `queue add --eml` queued the message without it
    (its Subject gone) and the worker sent it so, where `send --eml` and the relays refuse
    the message (exit 65, 550)."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(head + b"\r\nhello\r\n")
    before = ledger_digest(ledger_path)
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.stderr.startswith(f"Error: {eml}: ") and res.stderr.count("\n") == 1, res.stderr
    assert "not a header" in res.stderr or "is not 'Name: value'" in res.stderr, res.stderr
    assert ledger_digest(ledger_path) == before


def test_a_message_to_more_recipients_than_its_mailbox_ever_sends_in_a_day_is_refused_when_queued(
    run, tmp_path, ledger_path
):
    """`send` exits 65 for it ("no later try would take them"); `queue add` queued it, and
    `run` answered "only 3 of today's quota left ... try tomorrow" every day until it expired.
    Refused when queued, to a mailbox or to a pool none of whose members could send it; as
    bulk (the pool's overflow channel may) it is queued."""
    policy = tmp_path / "flat3.toml"
    policy.write_text(
        'name = "flat3"\nceiling = 3\ngrowth_factor = 2.0\n\n'
        '[[stage]]\nname = "flat"\ndays = 0\ndaily = 3\ninterval = "0s"\n'
    )
    for box in ("a@corp.example", "b@corp.example"):
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy))
        assert res.exit_code == 0, res.output
    assert run("pool", "add", "P", "a@corp.example", "b@corp.example").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: a@example.com, b@example.com, c@example.com, d@example.com\r\n\r\nhi\r\n")
    before = ledger_digest(ledger_path)
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.stderr == (
        f"Error: {eml}: 4 recipients in one message; a@corp.example never sends to more than "
        "3 a day (its policy's ceiling): split it into messages of at most 3 recipients\n"
    )
    res = run("queue", "add", "--pool", "P", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert "no member of pool P sends to more than 3 a day" in res.stderr, res.stderr
    assert ledger_digest(ledger_path) == before
    three = tmp_path / "three.eml"
    three.write_bytes(b"To: a@example.com, b@example.com, c@example.com\r\n\r\nhi\r\n")
    assert run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(three)).exit_code == 0


def test_a_message_past_a_policys_top_volume_or_domain_caps_is_refused_when_queued(
    run, tmp_path, ledger_path
):
    """Only the ceiling and the cap were asked: a message past the policy's top volume, its
    domain cap or a recipient-domain cap was queued, and waited for "tomorrow" every day until
    it expired. A pool takes it when one member may send it."""
    flat = (
        'ceiling = 300\ngrowth_factor = 2.0\n\n[[stage]]\nname = "f"\ndays = 0\ninterval = "0s"\n'
    )
    low = tmp_path / "low.toml"
    low.write_text(f'name = "low"\n{flat}daily = 2\n')
    capped = tmp_path / "capped.toml"
    capped.write_text(f'domain_cap = 2\nname = "capped"\n{flat}daily = 300\n')
    per = tmp_path / "per.toml"
    per.write_text(f'name = "per"\n{flat}daily = 300\n\n[recipient_domains]\ndefault = 1\n')
    for box, policy in (("a@corp.example", low), ("b@corp.example", capped)):
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy))
        assert res.exit_code == 0, res.output
    res = run("mailbox", "add", "c@corp.example", "--provider", "aliyun", "--policy", str(per))
    assert res.exit_code == 0, res.output
    assert run("pool", "add", "P", "a@corp.example", "b@corp.example").exit_code == 0
    assert run("pool", "add", "Q", "a@corp.example", "c@corp.example").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: a@example.com, b@example.com, c@example.com\r\n\r\nhi\r\n")
    before = ledger_digest(ledger_path)
    for box, why in (
        ("a@corp.example", "never sends to more than 2 a day (its policy's top volume)"),
        ("b@corp.example", "never sends to more than 2 a day (its policy's domain cap"),
        ("c@corp.example", "3 recipients at example.com in one message; c@corp.example never"),
    ):
        res = run("queue", "add", "--mailbox", box, "--eml", str(eml))
        assert res.exit_code == 65, res.output
        assert why in res.stderr and res.stderr.count("\n") == 1, res.stderr
    res = run("queue", "add", "--pool", "P", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert "no member of pool P sends to more than 2 a day" in res.stderr, res.stderr
    res = run("queue", "add", "--pool", "Q", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.stderr.startswith(f"Error: {eml}: no member of pool Q may send it: "), res.stderr
    assert ledger_digest(ledger_path) == before
    # A message that fits one member is queued: to few enough, or spread over domains.
    spread = tmp_path / "spread.eml"
    spread.write_bytes(b"To: a@example.com, b@other.example, c@third.example\r\n\r\nhi\r\n")
    assert run("queue", "add", "--pool", "Q", "--eml", str(spread)).exit_code == 0
    two = tmp_path / "two.eml"
    two.write_bytes(b"To: a@example.com, b@example.com\r\n\r\nhi\r\n")
    assert run("queue", "add", "--pool", "P", "--eml", str(two)).exit_code == 0


def test_a_message_to_a_domain_its_policy_never_mails_is_refused_when_queued(
    run, tmp_path, ledger_path
):
    """A recipient-domain cap of 0 was asked of a message to two recipients or more only
    ("every day's quota is 1 at least"): one to a single lead at that domain, an .eml or a CSV
    row, was queued, and the worker bounced it, where 'send' refuses it (65)."""
    flat = 'ceiling = 300\ngrowth_factor = 2.0\n\n[[stage]]\nname = "f"\ndays = 0\n'
    never = tmp_path / "never.toml"
    never.write_text(
        f'name = "never"\n{flat}daily = 300\ninterval = "0s"\n\n'
        '[recipient_domains]\ndefault = 30\n"qq.com" = 0\n'
    )
    res = run("mailbox", "add", "a@corp.example", "--provider", "exmail", "--policy", str(never))
    assert res.exit_code == 0, res.output
    assert run("mailbox", "add", "b@corp.example", "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "P", "a@corp.example", "b@corp.example").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: lead@qq.com\r\nSubject: hi\r\n\r\nhi\r\n")
    tpl = str(template(tmp_path / "t.toml"))
    rows = tmp_path / "leads.csv"
    rows.write_text("email,name,company\nlead@example.com,A,X\nlead@QQ.com,B,Y\n")
    before = ledger_digest(ledger_path)
    why = (
        "a@corp.example never mails anyone at qq.com (its policy's recipient-domain cap there is 0)"
    )
    for source, where in (("--eml", f"{eml}: "), ("--csv", f"{rows}: line 3: ")):
        args = (source, str(eml)) if source == "--eml" else (source, str(rows), "--template", tpl)
        res = run("queue", "add", "--mailbox", "a@corp.example", *args)
        assert res.exit_code == 65, res.output
        assert res.stderr.startswith(f"Error: {where}{why}"), res.stderr
    assert ledger_digest(ledger_path) == before
    # a pool queues it: its other member mails qq.com
    res = run("queue", "add", "--pool", "P", "--eml", str(eml))
    assert res.exit_code == 0, res.output


def test_a_bulk_row_to_a_domain_no_member_mails_is_refused_without_an_overflow_channel(
    run, tmp_path, ledger_path
):
    """--bulk skipped the check (an overflow channel may take what the members cannot): a
    pool without one queued the CSV row to qq.com, which no member mails, and 'warmup run'
    bounced it. Refused as without --bulk (65, the row named, nothing queued); a pool with an
    overflow channel still queues it for the channel."""
    never = tmp_path / "never.toml"
    never.write_text(
        'name = "never"\nceiling = 300\ngrowth_factor = 2.0\n\n[[stage]]\nname = "f"\n'
        'days = 0\ndaily = 300\ninterval = "0s"\n\n'
        '[recipient_domains]\ndefault = 30\n"qq.com" = 0\n'
    )
    res = run("mailbox", "add", "a@corp.example", "--provider", "exmail", "--policy", str(never))
    assert res.exit_code == 0, res.output
    assert run("pool", "add", "P", "a@corp.example").exit_code == 0
    rows = tmp_path / "leads.csv"
    rows.write_text("email,name,company\nlead@example.com,A,X\nlead@qq.com,B,Y\n")
    csv = ("--csv", str(rows), "--template", str(template(tmp_path / "t.toml")))
    before = ledger_digest(ledger_path)
    res = run("queue", "add", "--pool", "P", "--bulk", *csv)
    assert res.exit_code == 65, res.output
    assert res.stderr == (
        f"Error: {rows}: line 3: no member of pool P may send it: a@corp.example never mails "
        f"anyone at qq.com (its policy's recipient-domain cap there is 0): leave 1 recipient "
        f"at qq.com out\n"
    )
    assert ledger_digest(ledger_path) == before
    assert run("pool", "overflow", "P", "--host", "smtp.esp.example").exit_code == 0
    res = run("queue", "add", "--pool", "P", "--bulk", *csv)
    assert (res.exit_code, res.stdout) == (0, "Queued 2 messages to pool P.\n"), res.output


def test_suppressed_recipients_do_not_count_against_a_day_when_queued(run, tmp_path):
    """Suppressed recipients are left out when queued: a message to 4 with 2 of them
    suppressed is a message to 2, which a mailbox sending 3 a day sends. It was refused
    ('4 recipients in one message ... split it'), counted with the recipients it never mails."""
    assert (
        run("mailbox", "add", "a@corp.example", "--provider", "exmail", "--cap", "3").exit_code == 0
    )
    for gone in ("c@example.com", "d@example.com"):
        assert run("suppress", "add", gone, "--reason", "asked").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"To: a@example.com, b@example.com, c@example.com, d@example.com\r\n\r\nhi\r\n")
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 0, res.output
    (queued,) = json.loads(run("queue", "list", "--json").output)
    assert queued["recipients"] == ["a@example.com", "b@example.com"]
    # one suppressed of six: five still more than the mailbox's three a day, refused
    assert run("suppress", "add", "b@example.com", "--reason", "asked").exit_code == 0
    six = tmp_path / "six.eml"
    six.write_bytes(
        b"To: a@example.com, b@example.com, e@example.com, f@example.com, g@example.com, "
        b"h@example.com\r\n\r\nhi\r\n"
    )
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(six))
    assert res.exit_code == 65, res.output
    said = "5 recipients in one message; a@corp.example never sends to more than 3 a day"
    assert said in res.output, res.output


def test_an_eml_saved_from_a_mailbox_goes_without_its_mbox_from_line_by_send_and_queue_add(
    run, tmp_path
):
    """A first mbox 'From sender date' line is dropped (README), as sendmail drops it: `queue
    add --eml` did, but `send --eml` refused the file (exit 65) as a malformed header."""
    exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))  # 'send' asks the plan now
    assert run("mailbox", "add", "a@corp.example", *exmail).exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        b"From a@corp.example Tue Dec  1 10:00:00 2026\nTo: x@example.com\nSubject: hi\n\nhello\n"
    )
    res = run("send", "a@corp.example", "--eml", str(eml), "--dry-run")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Would send to 1 recipient: allowed now"), res.stdout
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 0, res.output
    (queued,) = json.loads(run("queue", "list", "--json").output)
    assert queued["recipients"] == ["x@example.com"]


@pytest.mark.parametrize("field", ["Message-ID", "Date"])
def test_an_empty_date_or_message_id_is_refused_when_queued(run, tmp_path, field):
    """An empty Message-ID was queued under '' (the next such message then refused as 'queued
    already'), an empty Date went out as it was: refused as the gate and the relay refuse them,
    nothing queued."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(f"To: x@example.com\r\n{field}:\r\nSubject: hi\r\n\r\nhello\r\n".encode())
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert f"header {field} is empty" in res.output, res.output
    assert json.loads(run("queue", "list", "--json").output) == []


@pytest.mark.parametrize(
    "args", [["run", "--once", "--no-sync"], ["queue", "list"], ["quota"]], ids=" ".join
)
def test_output_to_a_full_disk_is_one_line_and_exit_74(args, sink, ssl_cert_env, tmp_path):
    """'warmup run > /dev/full': writing stdout fails with ENOSPC (not EPIPE, which click's
    reader going away gives). One line on stderr and EX_IOERR, not a traceback; the message
    the worker claimed is sent and settled, or left 'sending' for recovery to decide."""

    pool_of(sink.port, tmp_path, n=1, daily=50)
    assert queue_csv(leads(tmp_path / "a.csv", 1), template(tmp_path / "t.toml")).returncode == 0
    res = cli_to_full_disk(*args, timeout=60)
    assert res.returncode == 74, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert "No space left on device" in res.stderr
    (row,) = json.loads(cli("queue", "list", "--json").stdout)
    if args[0] == "run":
        # It went, and is settled: the line saying so failed, but never the settling of what
        # it says (it was left 'sending' for the next run to recover).
        assert (row["state"], len(sink.messages)) == ("sent", 1)
    else:
        assert row["state"] == "queued" and sink.messages == []


def test_queue_add_whose_output_is_lost_says_what_it_queued(sink, tmp_path):
    """'warmup queue add ... > /dev/full': the messages were queued, the line said only
    "cannot write the output" (exit 74), and the script that ran it again on that error queued
    every message a second time: each recipient mailed twice. The line says what is queued."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    csv, tpl = leads(tmp_path / "a.csv", 2), template(tmp_path / "t.toml")
    res = cli_to_full_disk("queue", "add", "--pool", "P", "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 74, res.stderr
    assert res.stderr == (
        "Error: cannot write the output: No space left on device; 2 messages were queued to "
        "pool P (#1-#2): do not queue them again\n"
    )
    rows = json.loads(cli("queue", "list", "--json").stdout)
    assert [(r["id"], r["state"]) for r in rows] == [(1, "queued"), (2, "queued")]


@pytest.mark.parametrize("output", ["gone reader", "full disk"])
@pytest.mark.parametrize("once", [True, False], ids=["once", "daemon"])
def test_a_worker_whose_output_is_lost_stops_after_the_message_in_flight(
    output, once, sink, ssl_cert_env, tmp_path
):
    """'warmup run | tee run.log' and tee dies (or the log's disk fills): the worker exited 0,
    a clean stop to systemd or cron, its campaign half sent, and the message whose line failed
    left 'sending' for a later run to recover. It finishes that message (settled), stops,
    and exits 74 with one line saying the rest stays queued; the next run sends the rest."""
    import os
    import subprocess

    from tests import forkcli

    pool_of(sink.port, tmp_path, n=1, daily=50)
    assert queue_csv(leads(tmp_path / "a.csv", 3), template(tmp_path / "t.toml")).returncode == 0
    if output == "gone reader":
        read, write = os.pipe()
        os.close(read)
        out = os.fdopen(write, "w")
    else:
        out = open("/dev/full", "w")  # noqa: SIM115  (closed below)
    try:
        res = subprocess.run(
            [*forkcli.command(), "run", "--no-sync", *(["--once"] if once else [])],
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **PASSWORD_ENV},
            timeout=60,
            check=False,
        )
    finally:
        out.close()
    assert res.returncode == 74, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert "stopped after the message in flight" in res.stderr, res.stderr
    states = [row["state"] for row in json.loads(cli("queue", "list", "--json").stdout)]
    assert "sending" not in states and states.count("sent") == len(sink.messages) <= 1, states
    assert cli("run", "--once", "--no-sync", env=PASSWORD_ENV).returncode == 0
    states = [row["state"] for row in json.loads(cli("queue", "list", "--json").stdout)]
    assert states == ["sent"] * 3 and len(sink.messages) == 3


def test_a_message_larger_than_providers_accept_is_refused_when_queued(run, tmp_path):
    """A 1.2 GB .eml was read whole (10 GB of memory) and ended in a traceback, 'sqlite3.DataError:
    string or blob too big', exit 1; one of 30 MB was queued only to be refused by the provider
    at the end of DATA. Both are one line, exit 65, nothing queued."""
    from warmup.headers import MESSAGE_LIMIT

    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    eml = tmp_path / "big.eml"
    line = b"x" * 76 + b"\r\n"
    eml.write_bytes(b"To: x@example.com\r\nSubject: hi\r\n\r\n" + line * (MESSAGE_LIMIT // 78 + 1))
    res = run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output == (
        f"Error: {eml}: the message is over the 25 MiB providers accept; "
        f"link large files instead of attaching them\n"
    )
    assert json.loads(run("queue", "list", "--json").output) == []


def test_a_template_row_rendering_past_what_providers_accept_is_refused(run, tmp_path):
    """A template whose loop (or field) renders 30 MB a row was queued; a gigabyte ended in
    'sqlite3.DataError: string or blob too big' and a traceback."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "hi"\ntext = "{% for i in range(400000) %}{{ pad }}{% endfor %}"\n')
    rows = tmp_path / "leads.csv"
    rows.write_text("email,pad\nx@example.com,short\ny@example.com," + "p" * 80 + "\n")
    res = run(
        "queue", "add", "--mailbox", "a@corp.example", "--csv", str(rows), "--template", str(tpl)
    )
    assert res.exit_code == 65, res.output
    # refused as it streams past the limit: its whole size is never built
    assert res.output.startswith(
        f"Error: {rows}: line 3: template {tpl}: the message is over the 25 MiB providers accept"
    )
    assert res.output.endswith("(nothing of the file was queued)\n") and res.output.count("\n") == 1
    assert json.loads(run("queue", "list", "--json").output) == []


@pytest.mark.parametrize("verb", ["show", "cancel", "retry"])
@pytest.mark.parametrize("message", ["2147483648", "9223372036854775807"])
def test_an_id_past_what_the_id_column_holds_is_a_message_that_is_not_there(
    run,
    ledger_url,  # noqa: F811
    verb,
    message,
):
    """The outbox id column is an INTEGER: PostgreSQL's 4 bytes. 'queue show 2147483648' on a
    team ledger ended in 'NumericValueOutOfRange: integer out of range', a traceback, exit 1
    (ids were checked only against SQLite's 8-byte range)."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    res = run("queue", verb, message)
    assert res.exit_code == 64, res.output
    assert res.output == f"Error: no message {message} in the outbox; see 'warmup queue list'\n"


def test_a_campaign_held_back_by_not_before_is_not_said_to_be_done_before_it(tmp_path):
    """'queue status' gave a campaign queued '--not-before' a date months ahead the plan's
    finish from today: DONE BY a day on which nothing of it may go out yet."""
    from tests.gatekit import warmup

    box = "a@corp.example"
    now = dt.datetime.now(dt.UTC)
    # a zone where it is about 08:00 now: late in the mailbox's day (from ~23:25 in Shanghai)
    # what is left of today's window fits fewer than the 4 sends due, and the plan rightly
    # finishes 'now' tomorrow
    ahead = (8 - now.hour) % 24
    ahead = ahead - 24 if ahead > 14 else ahead
    zone = f"Etc/GMT{-ahead:+d}" if ahead else "Etc/GMT"
    # the plan from today, which may be a CN holiday, closed under the exmail preset
    exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))
    assert warmup("mailbox", "add", box, *exmail, "--timezone", zone).returncode == 0
    today = local_day(now, zone)
    later = today + dt.timedelta(days=100)
    tpl = template(tmp_path / "t.toml")
    for campaign, start, n in (("now", None, 3), ("later", later, 3), ("both", later, 1)):
        extra = ["--not-before", f"{start}T09:00", "--expires", "3d"] if start else []
        res = warmup(
            "queue", "add", "--mailbox", box, "--campaign", campaign, *extra,
            "--csv", str(leads(tmp_path / f"{campaign}.csv", n, start=10 * len(campaign))),
            "--template", str(tpl),
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    res = warmup(
        "queue", "add", "--mailbox", box, "--campaign", "both",
        "--csv", str(leads(tmp_path / "both-now.csv", 1, start=99)), "--template", str(tpl),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    status = json.loads(warmup("queue", "status", "--json").stdout)
    finish = {c["campaign"]: c["finish"] for c in status["campaigns"]}
    # 8 recipients at 50 a day: the plan alone says today; two campaigns cannot start before
    # 'later', and none of it is sent before then
    assert finish == {
        "both": later.isoformat(),
        "later": later.isoformat(),
        "now": today.isoformat(),
    }
    assert [(t["target"], t["finish"]) for t in status["targets"]] == [
        (f"mailbox {box}", later.isoformat())
    ]
    assert f"later     0     3       0        0       0        0          {later}" in (
        warmup("queue", "status").stdout
    )


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["--password-command", "exit 3"], {}, 78, "the password command"),
        (["--password-command", "true"], {}, 78, "printed nothing"),
        ([], {"WARMUP_PASSWORD": "not-the-password"}, 77, "535"),
    ],
    ids=["failing-password-command", "empty-password-command", "login-refused"],
)
def test_run_once_exits_with_the_fault_when_every_member_is_refused_for_one(
    sink, ssl_cert_env, tmp_path, args, env, code, says
):
    """Cron runs 'warmup run --once' and mails its owner only on a non-zero exit: it said 0
    while every member failed for a fault of its configuration (a broken password command) or
    its login (535), so the queue sat there and nobody was told. Such a pass exits with the
    fault's code (78 configuration, 77 authentication); nothing is lost."""
    from tests.gatekit import warmup

    pool_of(sink.port, tmp_path)  # two members, both broken alike
    queue_csv(leads(tmp_path / "leads.csv", 3), template(tmp_path / "t.toml"))
    res = warmup("run", "--once", "--no-sync", *args, env=env)  # a process, as cron runs it
    assert res.returncode == code, (res.stdout, res.stderr)
    assert says in res.stdout, res.stdout
    assert res.stderr.startswith("Error: 3 messages could go from no mailbox, each refused for ")
    assert res.stderr.count("\n") == 1 and says in res.stderr, res.stderr
    assert sink.messages == [] and states() == {"queued": 3}


def test_run_once_exits_0_when_the_members_it_could_use_only_wait_for_quota(
    sink, ssl_cert_env, tmp_path, ledger_path
):
    """One member's configuration is at fault (its provider preset unknown here), the other's
    quota is used today: the message waits for tomorrow's quota, nothing needs a person, exit 0.
    And a pass that sent what was due exits 0 too."""
    import sqlite3

    a, b = pool_of(sink.port, tmp_path, daily=1)
    queue_csv(leads(tmp_path / "leads.csv", 3), template(tmp_path / "t.toml"))
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE mailbox SET provider = 'newer' WHERE address = ?", (a,))
    conn.close()
    res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert [str(m.message["From"]) for m in sink.messages] == [b]
    again = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)  # b's quota used: it waits
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "today's quota is used" in again.stdout and len(sink.messages) == 1


def test_run_once_exits_78_when_the_only_mailbox_names_a_preset_unknown_here(
    sink, ssl_cert_env, tmp_path, ledger_path
):
    """A mailbox configuration this warmup cannot use (a provider preset a newer one added)."""
    import sqlite3

    (a,) = pool_of(sink.port, tmp_path, n=1)
    queue_csv(leads(tmp_path / "leads.csv", 1), template(tmp_path / "t.toml"))
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE mailbox SET provider = 'newer' WHERE address = ?", (a,))
    conn.close()
    res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 78, (res.stdout, res.stderr)
    assert f"{a}: mailbox '{a}' is stored with provider 'newer'" in res.stderr, res.stderr
    assert sink.messages == [] and states() == {"queued": 1}


def test_the_library_takes_the_expiries_the_cli_takes_and_no_others(sink, tmp_path, ledger_path):
    """``outbox.retry(ledger, id, timedelta(0))`` queued a message expired as it was queued
    (the CLI's --expires is 1 minute to 365 days); ``Outbox.add(..., expires=3)`` was a
    TypeError and ``timedelta(days=10**6)`` an OverflowError. Each is one line, nothing
    written."""
    from email.message import EmailMessage

    from warmup import Outbox, open_ledger
    from warmup.errors import InvalidFieldData
    from warmup.outbox import retry
    from warmup.outbox.worker import Worker

    pool_of(sink.port, tmp_path)
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "x@example.com", "hi"
    msg.set_content("hi")
    ledger = open_ledger(str(ledger_path))
    now = dt.datetime.now(dt.UTC)
    old = Outbox(ledger).add(msg, pool="P", now=now - dt.timedelta(days=5))
    assert old is not None
    with Worker(ledger) as worker:  # a pass expires it
        assert worker.run_once().outcomes == {"expired": 1}
    before = ledger_digest(ledger_path)
    for expires in (dt.timedelta(0), dt.timedelta(seconds=-60), dt.timedelta(days=10**6)):
        with pytest.raises(InvalidFieldData) as err:
            retry(ledger, old, expires)
        assert str(err.value) == f"expires: {expires}: expected between 1 minute and 365 days"
        with pytest.raises(InvalidFieldData):
            Outbox(ledger).add(msg, pool="P", expires=expires)
    with pytest.raises(TypeError) as bad:  # as every other parameter of the wrong type
        Outbox(ledger).add(msg, pool="P", expires=3)  # type: ignore[arg-type]
    assert str(bad.value) == "expires: expected a datetime.timedelta, got int 3"
    assert ledger_digest(ledger_path) == before
    retry(ledger, old, dt.timedelta(minutes=1))
    assert ledger.message(old).state == "queued"
    ledger.close()


def test_two_eml_files_with_one_message_id_are_named_by_their_files(sink, tmp_path, ledger_path):
    """'queue add --eml a.eml --eml b.eml', both with one Message-ID, said 'b.eml: Message-ID
    <same@x> is also message 1's': the CLI numbers no messages, so which file was meant?"""
    pool_of(sink.port, tmp_path)
    one, two = tmp_path / "one.eml", tmp_path / "two.eml"
    for path, to in ((one, "x@example.com"), (two, "y@example.com")):
        path.write_text(f"To: {to}\nMessage-ID: <same@x>\nSubject: s\n\nbody\n", encoding="utf-8")
    before = ledger_digest(ledger_path)
    res = cli("queue", "add", "--pool", "P", "--eml", str(one), "--eml", str(two))
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: {two}: Message-ID <same@x> is also {one}'s; give each message its own Message-ID\n"
    )
    res = cli("queue", "add", "--pool", "P", "--eml", str(one), "--eml", str(one))
    assert res.returncode == 65
    assert res.stderr == f"Error: {one}: given twice; queue it once\n"  # the file itself
    assert ledger_digest(ledger_path) == before


def test_a_python_caller_s_wrong_type_is_one_type_error_naming_the_parameter(ledger_path, tmp_path):
    """The README's Python API (Outbox(ledger).add, Gate, open_ledger, api.quota) given a str
    where a datetime is wanted, or an int for a mailbox, failed deep inside: "'str' object has
    no attribute 'tzinfo'", "'int' object has no attribute 'strip'". Now a TypeError (also a
    warmup UsageError) whose one line names the parameter and what to give; nothing written."""
    from email.message import EmailMessage
    from pathlib import Path

    from warmup import Gate, Outbox, api, open_ledger
    from warmup.errors import UsageError

    ledger = open_ledger(Path(ledger_path))  # a pathlib.Path is a path ("not iterable")
    api.add_mailbox(ledger, "a@corp.example", "exmail")
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "x@example.com", "hi"
    msg.set_content("hi")
    before = ledger_digest(ledger_path)
    box = {"mailbox": "a@corp.example"}
    cases = [
        (
            lambda: Outbox(ledger).add(msg, **box, not_before="2026-01-01"),
            "not_before: expected a datetime.datetime, got str '2026-01-01' (give an aware one, "
            "e.g. datetime.datetime.fromisoformat('2026-01-01T09:00:00+08:00'))",
        ),
        (lambda: Outbox(ledger).add(msg, mailbox=5), "mailbox: expected a str, got int 5"),
        (lambda: Outbox(ledger).add(msg, pool=["P"]), "pool: expected a str, got list ['P']"),
        (
            lambda: Outbox(ledger).add(msg, **box, campaign=2026),
            "campaign: expected a str, got int 2026",
        ),
        (
            lambda: Outbox(ledger).add(msg, **box, now=dt.date(2026, 1, 1)),
            "now: expected a datetime.datetime, got date datetime.date(2026, 1, 1)",
        ),
        (lambda: Outbox(ledger).add(msg, **box, bulk="no"), "bulk: expected a bool, got str 'no'"),
        (
            lambda: Outbox(str(ledger_path)),
            f"ledger: expected an open ledger, got str {str(ledger_path)!r}; give "
            f"Outbox(warmup.open_ledger({str(ledger_path)!r}))",
        ),
        (lambda: Gate(5, ledger=ledger), "address: expected a str, got int 5"),
        (lambda: open_ledger(5), "url: expected a str, got int 5"),
        (
            lambda: api.quota(ledger, "a@corp.example", "2026-01-01T09:00:00+08:00"),
            "at: expected a datetime.datetime, got str '2026-01-01T09:00:00+08:00'",
        ),
    ]
    for call, said in cases:
        with pytest.raises(TypeError) as err:
            call()
        assert isinstance(err.value, UsageError)
        assert str(err.value).startswith(said), str(err.value)
        assert "\n" not in str(err.value)
    assert ledger_digest(ledger_path) == before
    ledger.close()


def test_quiet_run_prints_a_sent_message_no_more_but_still_a_bounced_one(
    sink, ssl_cert_env, tmp_path
):
    """'warmup -q run --once' in cron printed each sent message's line ("... sent #1 ... from
    ... to ..."): cron mailed the log of every pass that sent. Quiet, a sent message is a
    confirmation; one the server refused is still said."""
    pool_of(sink.port, tmp_path)
    res = queue_csv(leads(tmp_path / "leads.csv", 2), template(tmp_path / "t.toml"))
    assert res.returncode == 0, res.stderr
    sink.reject_rcpt["lead1@example.com"] = (550, "5.1.1 no such user")
    res = cli("-q", "run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 1
    assert "sent #" not in res.stdout, res.stdout
    assert "bounced #" in res.stdout and "lead1@example.com" in res.stdout, res.stdout
    loud = cli("run", "--once", env=PASSWORD_ENV)
    assert loud.returncode == 0 and "Done: nothing was due." in loud.stdout, loud.stdout


def test_quiet_run_still_says_a_sent_message_one_of_whose_recipients_refused_it(
    sink, ssl_cert_env, tmp_path
):
    """A message one recipient took and another refused for good is 'sent': its line, the
    only one naming the refusal, went through the confirmations 'run -q' drops, and cron never
    said that a lead was gone (and suppressed)."""
    boxes = pool_of(sink.port, tmp_path)
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        f"From: {boxes[0]}\r\nTo: lead1@example.com, lead2@example.com\r\n\r\nhi\r\n".encode()
    )
    res = cli("queue", "add", "--pool", "P", "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    sink.reject_rcpt["lead1@example.com"] = (550, "5.1.1 no such user")
    res = cli("-q", "run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert states() == {"sent": 1} and len(sink.messages) == 1
    assert "sent #1" in res.stdout and "no such user" in res.stdout, res.stdout


def test_quiet_run_says_a_missing_password_but_not_that_it_was_found(
    sink, ssl_cert_env, tmp_path, empty_keyring
):
    """'warmup -q run --once' in cron printed "found a password for ...: its held messages are
    due" once things were well again: cron mailed a notice that asked nothing of anyone.
    Quiet, a fault that cleared is a confirmation; one that stays (no password) is said."""
    from tests.outboxkit import queue_plain

    pool_of(sink.port, tmp_path, n=1)
    queue_plain(1)
    held = cli("-q", "run", "--once", "--no-sync")  # no password anywhere
    assert held.returncode == 78 and "no password for " in held.stdout + held.stderr, held
    res = cli("-q", "run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert states() == {"sent": 1} and len(sink.messages) == 1
    assert (res.stdout, res.stderr) == ("", ""), res
    loud = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert "Done: nothing was due." in loud.stdout, loud.stdout


def test_quiet_run_does_not_say_a_dead_workers_claim_queued_again(sink, ssl_cert_env, tmp_path):
    """A claim left by a worker gone before it reserved anything is queued again and sent:
    'run -q' printed "queued #N: its worker ... is gone", a fault that had cleared (one left
    'unknown', which may have gone out, waits for a person and is still said)."""
    import subprocess

    from tests.outboxkit import queue_plain
    from warmup import open_ledger
    from warmup.outbox.worker import HOST, PLACE

    pool_of(sink.port, tmp_path, n=1)
    (mid,) = queue_plain(1)
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: a pid no process has now
    ledger = open_ledger()
    got = ledger.claim(f"{HOST}:{dead.pid}:{PLACE}:gone", dt.datetime.now(dt.UTC))
    assert got is not None and got.id == mid
    ledger.close()
    res = cli("-q", "run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert states() == {"sent": 1} and len(sink.messages) == 1, states()
    assert (res.stdout, res.stderr) == ("", ""), res
