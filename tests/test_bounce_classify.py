"""Unit tests for bounce classification, throttle detection and parser robustness."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmup.bounces import (
    Bounce,
    classify,
    classify_smtp_reply,
    is_throttle,
    parse_bounces,
    parse_report,
)
from warmup.bounces.classify import decide, extract_reply, extract_status
from warmup.bounces.stage import smtp_stage

CORPUS = Path(__file__).parent / "corpus" / "dsn" / "eml"

# (code, reply text as received live, expected kind, expected is_throttle)
LIVE_REPLIES = [
    # A recipient's full mailbox (X.2.2) in words that also fit a sending quota: that
    # mailbox's quota, not ours; a back-off would stop the whole mailbox for one recipient
    (452, "4.2.2 Quota exceeded", "soft", False),
    (552, "5.2.2 Quota exceeded", "soft", False),
    # ... unless the words say it is the sender's
    (452, "4.2.2 Daily quota exceeded for this sender", "soft", True),
    # Gmail
    (
        550,
        (
            "5.1.1 The email account that you tried to reach does not exist. Please try "
            "double-checking the recipient's email address for typos or unnecessary spaces. "
            "https://support.google.com/mail/?p=NoSuchUser"
        ),
        "hard",
        False,
    ),
    (
        421,
        (
            "4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your "
            "IP address. To protect our users from spam, mail sent from your IP address has been "
            "temporarily rate limited."
        ),
        "soft",
        True,
    ),
    (
        550,
        (
            "5.7.28 There is an unusual rate of unsolicited mail originating from your IP address. "
            "To protect our users from spam, mail sent from your IP address has been blocked."
        ),
        "block",
        True,
    ),
    (550, "5.4.5 Daily user sending quota exceeded.", "soft", True),
    (
        550,
        "5.4.5 Daily sending quota exceeded. https://support.google.com/a/answer/166852",
        "soft",
        True,
    ),
    (
        450,
        (
            "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
            "additional messages from being delivered."
        ),
        "soft",
        True,
    ),
    (552, "5.2.2 The email account that you tried to reach is over quota.", "soft", False),
    (550, "5.2.1 The email account that you tried to reach is disabled.", "soft", False),
    (
        550,
        (
            "5.7.26 This message fails to pass SPF checks for an SPF record with a hard fail "
            "policy (-all)."
        ),
        "block",
        False,
    ),
    (421, "4.7.0 Try again later, closing connection. (EHLO)", "soft", True),
    # Microsoft / Exchange Online
    (
        550,
        (
            "5.7.233 Your message can't be sent because your tenant exceeded its daily limit for "
            "sending email to external recipients (tenant external recipient rate limit)"
        ),
        "soft",
        True,
    ),
    (451, "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)", "soft", True),
    (
        451,
        (
            "4.7.650 The mail server [192.0.2.5] has been temporarily rate limited due to IP "
            "reputation."
        ),
        "soft",
        True,
    ),
    (
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "hard",
        False,
    ),
    (550, "5.7.606 Access denied, banned sending IP [192.0.2.1].", "block", False),
    (550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", "hard", False),
    # Tencent (QQ / Exmail)
    (
        550,
        (
            "Ip frequency limited [V2VkIEFw] Blocked IP 192.0.2.22. "
            "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000725"
        ),
        "soft",
        True,
    ),
    (
        550,
        (
            "Connection frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&"
            "id=20022&&no=1000722"
        ),
        "soft",
        True,
    ),
    (550, "Domain frequency limited", "soft", True),
    (421, "Too many connections", "soft", True),
    (
        550,
        (
            "Mailbox not found. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&"
            "no=1000728"
        ),
        "hard",
        False,
    ),
    (
        550,
        "Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022",
        "block",
        False,
    ),
    # Alibaba (Aliyun / Alimail)
    (554, "5.7.1 [ANTISPAM_BAT][01201311R95b] Too many mails sent in a short time", "soft", True),
    # NetEase (163 / 126)
    (550, "RP:QRC 发件方发送量超过配额", "soft", True),
    (421, "HL:ICC 该IP同时并发连接数过大", "soft", True),
    (
        554,
        "DT:SPM 163 smtp10,DsCowAA, please see http://mail.163.com/help/help_spam_16.htm",
        "block",
        False,
    ),
    # Yahoo
    (
        421,
        (
            "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
            "or user complaints"
        ),
        "soft",
        True,
    ),
    # Generic
    (451, "4.7.1 Greylisting in action, please come back later", "soft", False),
    (554, "5.7.1 <x@example.org>: Relay access denied", "block", False),
    (556, "5.1.10 Recipient address has null MX", "hard", False),
    (550, "5.1.2 Host unknown (Name server: example.invalid: host not found)", "hard", False),
    (452, "4.2.2 Mailbox full", "soft", False),
    (550, "Requested action not taken: mailbox unavailable", "hard", False),
    (550, "5.7.1 Requested action not taken: your IP has no PTR record", "block", False),
    (550, "5.7.1 Message rejected as spam by Content Filtering.", "block", False),
    (552, "5.2.2 <x@example.org>: Recipient address rejected: Mailbox full", "soft", False),
]


@pytest.mark.parametrize(("code", "text", "kind", "throttle"), LIVE_REPLIES)
def test_classify_smtp_reply(code: int, text: str, kind: str, throttle: bool) -> None:
    assert classify_smtp_reply(code, text) == kind
    assert is_throttle(code, text) is throttle


@pytest.mark.parametrize("code", [200, 220, 250, 251, 252])
def test_success_is_sent(code: int) -> None:
    assert classify_smtp_reply(code, "2.0.0 OK queued") == "sent"
    assert not is_throttle(code, "2.0.0 OK too many words")


def test_any_4xx_is_soft_even_for_unknown_user() -> None:
    assert (
        classify_smtp_reply(
            450,
            "4.1.1 <x@example.org>: Recipient address rejected: "
            "User unknown in local recipient table",
        )
        == "soft"
    )


@pytest.mark.parametrize(
    ("status", "reply", "diagnostic", "kind"),
    [
        ("5.1.1", "550", "", "hard"),
        ("5.1.2", "", "", "hard"),
        ("5.1.6", "550", "user has moved", "hard"),
        ("5.2.2", "552", "", "soft"),
        (
            "5.7.1",
            "554",
            "Service unavailable; Client host blocked using zen.spamhaus.org",
            "block",
        ),
        (
            "5.0.0",
            "550",
            "550 5.1.1 <x@y.example>: Recipient address rejected: User unknown",
            "hard",
        ),
        ("", "", "550 5.1.1 <x@y.example>: Recipient address rejected: User unknown", "hard"),
        ("", "", "Sorry, I couldn't find any host named nyaan.example. (#5.1.2)", "hard"),
        ("", "", "This user doesn't have a yahoo.com account", "hard"),
        ("", "", "mailbox is full: retry timeout exceeded", "soft"),
        ("4.4.7", "", "delivery time expired", "soft"),
        (
            "5.0.0",
            "550",
            "550 Unknown user x@docomo.example (in reply to end of DATA command)",
            "block",
        ),
        ("5.0.0", "", "", "soft"),
        (
            "5.7.26",
            "550",
            "Unauthenticated email is not accepted due to domain's DMARC policy",
            "block",
        ),
        ("5.0.0", "550", "该邮箱不存在", "hard"),
    ],
)
def test_classify(status: str, reply: str, diagnostic: str, kind: str) -> None:
    assert classify(status, reply, diagnostic) == kind


def _dsn(action: str, status: str, diag: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: sender@example.com\n"
        "Subject: Delivery Status Notification\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nReport.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; <Rcpt@Example.ORG>\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {diag}\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\nFrom: sender@example.com\n"
        "To: rcpt@example.org\nMessage-ID: <orig-1@example.com>\nSubject: hi\n\n--B--\n"
    ).encode()


def test_rfc3464_failed_record() -> None:
    raw = _dsn("failed", "5.1.1", "550 5.1.1 <rcpt@example.org>: User unknown")
    assert parse_bounces(raw) == [
        Bounce(
            "rcpt@example.org",
            "hard",
            "5.1.1",
            "550",
            "550 5.1.1 <rcpt@example.org>: User unknown",
            "<orig-1@example.com>",
            "userunknown",
            "words.user-unknown",
            original_from="sender@example.com",  # what the returned headers say of themselves
        )
    ]


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_success_reports_are_not_bounces(action: str) -> None:
    assert parse_bounces(_dsn(action, "2.0.0", "250 2.0.0 OK")) == []


def test_delayed_is_soft() -> None:
    [b] = parse_bounces(_dsn("delayed", "4.4.7", "451 4.4.1 Connection timed out"))
    assert (b.kind, b.status) == ("soft", "4.4.7")


def test_arf_complaint() -> None:
    raw = (
        "From: fbl@isp.example\nTo: fbl@sender.example\nSubject: complaint\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nAbuse report\n\n"
        "--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        "User-Agent: x/1.0\nVersion: 1\nOriginal-Rcpt-To: <Victim@Isp.example>\n\n"
        "--F\nContent-Type: message/rfc822\n\nFrom: news@sender.example\n"
        "To: victim@isp.example\nMessage-ID: <m1@sender.example>\nSubject: news\n\nhello\n--F--\n"
    )
    [b] = parse_bounces(raw)
    assert (b.recipient, b.kind, b.message_id) == (
        "victim@isp.example",
        "complaint",
        "<m1@sender.example>",
    )


def test_vacation_and_ordinary_mail_are_not_bounces() -> None:
    vacation = (
        "From: boss@example.org\nTo: me@example.com\nAuto-Submitted: auto-replied\n"
        "Subject: Out of Office: hello\n\nI am away until Monday.\n"
    )
    ordinary = "From: a@example.org\nTo: b@example.com\nSubject: lunch?\n\nNoon at the usual?\n"
    assert parse_bounces(vacation) == []
    assert parse_bounces(ordinary) == []


def test_qmail_text_bounce() -> None:
    raw = (
        "From: MAILER-DAEMON@mx.example.jp\nTo: me@example.jp\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mx.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        "<Gone@Example.NET>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "From: me@example.jp\nTo: gone@example.net\nMessage-ID: <q1@example.jp>\n\nhi\n"
    )
    [b] = parse_bounces(raw)
    assert (b.recipient, b.kind, b.status, b.message_id) == (
        "gone@example.net",
        "hard",
        "5.1.1",
        "<q1@example.jp>",
    )


def _qmail_refused(reply: str) -> str:
    """qmail-send's notice of a reply to RCPT TO (qmail-remote.c: "does not like recipient.")."""
    return (
        "From: MAILER-DAEMON@mx.corp.example\nTo: sales@corp.example\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mx.corp.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<ola@client.example>:\n192.0.2.7 does not like recipient.\nRemote host said: {reply}\n"
        "Giving up on 192.0.2.7.\n\n--- Below this line is a copy of the message.\n\n"
        "From: sales@corp.example\nTo: ola@client.example\nMessage-ID: <q2@corp.example>\n\nhi\n"
    )


@pytest.mark.parametrize(
    ("reply", "kind", "reason", "rule"),
    [
        # a Polish server's full mailbox: words no rule reads, a status that says it
        (
            "552 5.2.2 <ola@client.example>: Skrzynka odbiorcy jest pelna",
            "soft",
            "mailboxfull",
            "status.2.2",
        ),
        ("550 5.2.1 <ola@client.example>: Konto zablokowane", "soft", "suspend", "status.2.1"),
        ("554 5.3.4 Wiadomosc jest za duza", "soft", "mesgtoobig", "status.3.4"),
        # X.6 (media) and X.7 (security or policy) name their class even as X.6.0 and X.7.1
        (
            "550 5.6.0 <ola@client.example>: Blad formatu wiadomosci",
            "soft",
            "contenterror",
            "status.content",
        ),
        ("550 5.7.1 <ola@client.example>: Odmowa dostepu", "block", "blocked", "status.policy"),
        # nothing but qmail's own words: its refusal at RCPT is read as an unknown address
        ("550 5.0.0 <ola@client.example>: Nieznany odbiorca", "hard", "userunknown", "mta.message"),
        ("550 Nieznany odbiorca", "hard", "userunknown", "mta.message"),
    ],
)
def test_qmails_refusal_at_rcpt_yields_to_a_status_that_says_why(
    reply: str, kind: str, reason: str, rule: str
) -> None:
    """qmail's "does not like recipient" says only that RCPT was refused: its reading as an
    unknown address is the fallback where nothing else speaks, and a status that names another
    reason (RFC 3463: X.2.2 mailbox full) is something else speaking."""
    [b] = parse_bounces(_qmail_refused(reply))
    assert (b.kind, b.reason, b.rule) == (kind, reason, rule), b.steps


@pytest.mark.parametrize(
    "said",
    [
        # Postfix and Exim say which command the reply answered
        "host mx.client.example[192.0.2.7] said: 554 5.7.1 <ola@client.example>: Recipient "
        "address rejected: Nonexistent user (in reply to RCPT TO command)",
        # qmail-remote writes "does not like recipient." only for a refused RCPT TO
        "192.0.2.7 does not like recipient. Remote host said: 554 5.7.1 <ola@client.example>: "
        "Recipient address rejected: Nonexistent user Giving up on 192.0.2.7.",
        # Sendmail's transcript: the reply read right after the RCPT TO it sent
        "... while talking to mx.client.example.: >>> RCPT To:<ola@client.example> <<< 550 5.7.1 "
        "No such user c18si2365148hub 550 5.1.1 <ola@client.example>... User unknown",
    ],
    ids=["postfix", "qmail", "sendmail-transcript"],
)
def test_a_5_7_x_unknown_user_stated_at_rcpt_is_the_directorys(said: str) -> None:
    """ "User unknown" words under a 5.7.x are a filter's mask unless the reporting MTA states
    that the reply answered RCPT TO: each MTA's own way of stating it counts."""
    v = decide("", "", said, smtp_stage(said.lower()), "mx.corp.example")
    assert (v.kind, v.reason) == ("hard", "userunknown"), v.steps
    # Sendmail's ">>> DATA" before it (a pipelined RCPT's reply read later) states nothing
    piped = said.replace(">>> RCPT To:<ola@client.example>", ">>> DATA")
    if piped != said:
        v = decide("", "", piped, smtp_stage(piped.lower()), "mx.corp.example")
        assert (v.kind, v.reason) == ("block", "filtered"), v.steps


_ECHOING_REPLY = (
    "554 5.7.1 The message from (<bounces+7f3a@corp.example>) with the subject of (Offer)"
    " matches a profile the Internet community may consider spam."
)


def _exim_notice(reply_lines: str) -> str:
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.corp.example>\nTo: sales@corp.example\n"
        "Subject: Mail delivery failed: returning message to sender\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  pia@client.example\n    host mx.client.example [192.0.2.7]\n"
        f"    SMTP error from remote mail server after end of data:\n{reply_lines}\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "From: sales@corp.example\nTo: pia@client.example\nMessage-ID: <e1@corp.example>\n\nhi\n"
    )


@pytest.mark.parametrize(
    "raw",
    [
        _exim_notice("    " + _ECHOING_REPLY),
        _exim_notice("    " + _ECHOING_REPLY.replace(" (<", "\n    (<").replace(">) ", ">)\n    ")),
        _qmail_refused(_ECHOING_REPLY).replace("ola@", "pia@"),
    ],
    ids=["exim-one-line", "exim-folded", "qmail"],
)
def test_an_address_in_the_remotes_reply_is_no_recipient(raw: str) -> None:
    """Exim and qmail quote the remote's reply under the failed address (Exim's "SMTP error from
    remote mail server after ...:", qmail's "Remote host said:"): an address in it is the
    remote's echo (here our own bounce address), no failed recipient, and the words are the
    listed recipient's."""
    got = parse_bounces(raw)
    assert [(b.recipient, b.kind, b.reason) for b in got] == [
        ("pia@client.example", "block", "spamdetected")
    ], [(b.recipient, b.steps) for b in got]


def test_remote_host_said_outside_a_qmail_block_quotes_no_echo() -> None:
    """ "Remote host said:" is qmail-remote's, read as the reply's echo to the end of a block of
    qmail-send's notice ("<addr>:" at column 0). SmarterMail's notice borrows the words in its
    own blocks ("Failed Recipient: addr" / "Reason: Remote host said: ...", the form its hosts'
    help pages and flufl.bounce's simple_36 show; two recipients one after the other, as we
    assume it lists them): read as a qmail reply up to the blank line, it swallowed the next
    failed recipient, who was lost, and its "Mailbox full" read as the first one's."""
    raw = (
        'From: "System Administrator" <postmaster@mail.corp.example>\nTo: <sales@corp.example>\n'
        "Subject: Delivery Failure\n\n"
        "Could not deliver message to the following recipient(s):\n\n"
        "Failed Recipient: uma@client.example\n"
        "Reason: Remote host said: 550 5.1.1 <uma@client.example>: Recipient address rejected: "
        "User unknown in local recipient table\n"
        "Failed Recipient: val@client.example\n"
        "Reason: Remote host said: 552 5.2.2 <val@client.example>: Recipient address rejected: "
        "Mailbox full\n\n"
        "   -- The header and top 20 lines of the message follows --\n\n"
        "From: sales@corp.example\nTo: uma@client.example, val@client.example\n"
        "Message-ID: <sm1@corp.example>\n\nhi\n"
    )
    got = parse_bounces(raw)
    assert [(b.recipient, b.kind, b.reason) for b in got] == [
        ("uma@client.example", "hard", "userunknown"),
        ("val@client.example", "soft", "mailboxfull"),
    ], [(b.recipient, b.steps) for b in got]


def test_parse_report(tmp_path: Path) -> None:
    bounce = tmp_path / "b.eml"
    bounce.write_bytes(_dsn("failed", "5.2.2", "552 5.2.2 Mailbox full"))
    other = tmp_path / "o.eml"
    other.write_text("From: a@example.org\nSubject: hi\n\nhello\n")
    report = parse_report([str(bounce), str(other), str(tmp_path / "missing.eml")])
    assert [r["file"] for r in report] == [str(bounce), str(other), str(tmp_path / "missing.eml")]
    assert report[0]["bounces"] == [
        {
            "recipient": "rcpt@example.org",
            "kind": "soft",
            "reason": "mailboxfull",
            "rule": "words.mailbox-full",
            "status": "5.2.2",
            "reply": "552",
            "message_id": "<orig-1@example.com>",
            "delayed": False,
            "original_recipient": "",
            "original_from": "sender@example.com",
            "original_date": "",
            "diagnostic": "552 5.2.2 Mailbox full",
        }
    ]
    assert report[1]["bounces"] == [] and report[2]["bounces"] == []


NOTICE = b"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n"


def _many_dsn_records(n: int) -> bytes:
    records = "".join(
        f"Final-Recipient: rfc822; u{i}@ex{i}.example\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <u{i}@ex{i}.example>: user unknown\n\n"
        for i in range(n)
    )
    return NOTICE + (
        b'MIME-Version: 1.0\nContent-Type: multipart/report; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nfailed\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        + records.encode()
        + b"--b--\n"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        b"Subject: " + b"A" * 2_000_000 + b"\n\nbody",
        b"Content-Type: multipart/report; boundary=x\n\n--x\n" * 5000,
        b"From: MAILER-DAEMON@x\nSubject: Undelivered\n\n"
        + b"Final-Recipient: rfc822; a@b.cc\n" * 50_000,
        b"From: MAILER-DAEMON@x\nSubject: failure notice\n\n" + b"<a@b.example>:\n" * 50_000,
        # Each of these took from seconds to hours (quadratic regexes, the stdlib parser's cost
        # per line), and `bounces sync` held the ledger's write lock meanwhile (issue #10).
        NOTICE + b"\n" + b"\n" * 2_000_000,
        NOTICE + b"\n" + b" \n" * 1_000_000,
        NOTICE + b"\n" + b"-" * 2_000_000,
        NOTICE + b"Content-Type: text/html\n\n" + b"<" * 3_000_000,
        NOTICE + b"\n" + b"Content-Type: message/delivery-status\n" * 50_000,
        _many_dsn_records(3000),
    ],
    ids=lambda raw: f"{len(raw)}B",
)
def test_hostile_inputs_are_bounded(raw: bytes) -> None:
    def hung(*_: object) -> None:
        raise TimeoutError("parse_bounces still running after 10 s")

    previous = signal.signal(signal.SIGALRM, hung)  # the regex engine checks for signals
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        # CPU time, not the wall clock: a loaded CI machine (four test workers on two cores)
        # took 4.2 s of wall clock over 0.25 s of CPU. The bound is for quadratic blow-ups,
        # which cost seconds to hours of CPU.
        start = time.process_time()
        result = parse_bounces(raw)
        elapsed = time.process_time() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(result, list)
    assert elapsed < 3


def test_non_message_input_returns_empty() -> None:
    assert parse_bounces(None) == []  # type: ignore[arg-type]
    assert parse_bounces(12345) == []  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(parse_bounces(raw), list)


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml")) if CORPUS.is_dir() else []


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_never_raises_on_mutated_corpus(data: st.DataObject) -> None:
    files = _corpus_files()
    if not files:
        pytest.fail(f"bounce corpus not found at {CORPUS}")
    raw = bytearray(data.draw(st.sampled_from(files)).read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos : pos + data.draw(st.integers(1, 4000))]
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(max_size=64))
        else:
            raw[pos:pos] = raw[pos : pos + data.draw(st.integers(1, 2000))]
    bounces = parse_bounces(bytes(raw))
    assert all(b.kind in {"hard", "soft", "block", "complaint", "notice"} for b in bounces)
    assert all(len(b.diagnostic) <= 500 for b in bounces)


# Bounces (stage given): "user unknown" words are a directory's verdict with an X.1.x status, at
# RCPT, in a local delivery or from a mail system that states its own directory's verdict; after
# DATA, behind a 5.7.x policy status, or relayed from an unknown MTA at an unknown stage, a
# filter's mask. (reason, kind, rule)
@pytest.mark.parametrize(
    ("status", "diagnostic", "stage", "mta", "reason", "kind", "rule"),
    [
        ("5.1.1", "550 5.1.1 User unknown", "", "", "userunknown", "hard", "words.user-unknown"),
        ("5.0.0", "550 No such user", "RCPT", "", "userunknown", "hard", "words.user-unknown"),
        ("5.0.0", "550 No such user", "", "", "filtered", "block", "stage.unknown"),
        (
            "5.0.0",
            "550 Unknown user x@example.jp",
            "DATA",
            "",
            "filtered",
            "block",
            "stage.after-data",
        ),
        ("5.7.1", "550 5.7.1 User unknown", "", "", "filtered", "block", "status.policy-mask"),
        (
            "5.0.0",
            "550 <x@example.org>: User unknown",
            "",
            "",
            "userunknown",
            "hard",
            "words.user-unknown",
        ),
        (
            "",
            "Invalid final delivery userid: x@example.org",
            "",
            "",
            "userunknown",
            "hard",
            "mta.directory",
        ),
        ("", "Domain does not exist", "", "", "hostunknown", "hard", "words.no-such-domain"),
        # The reporting MTA decides where the stage is unknown.
        (
            "5.0.0",
            "User not listed in Domino Directory",
            "",
            "lotus domino",
            "userunknown",
            "hard",
            "mta.directory",
        ),
        (
            "5.2.1",
            "550 5.2.1 User Unknown",
            "",
            "x <smtp32 v8.22>",
            "userunknown",
            "hard",
            "mta.directory",
        ),
        (
            "",
            "554 delivery error: dd This user doesn't have a yahoo.com account",
            "",
            "mta7.am0.yahoodns.net",
            "userunknown",
            "hard",
            "mta.directory",
        ),
        (
            "",
            "550 Unknown user",
            "",
            "mailer-daemon@x.example @docomo.ne.jp",
            "filtered",
            "block",
            "mta.masks-filters",
        ),
        # Refused at MAIL FROM: the sender was judged, not the address.
        (
            "5.1.8",
            "550 Sender address rejected: Domain not found",
            "MAIL",
            "",
            "rejected",
            "block",
            "words.sender-rejected",
        ),
        (
            "",
            "550 unknown user (after MAIL FROM)",
            "MAIL",
            "",
            "rejected",
            "block",
            "stage.mail-from",
        ),
        # A 4xx in a report of a failed delivery is the last reply after the retries: the
        # address is judged (the reference reads userunknown as hard whatever the code).
        (
            "4.1.1",
            "450 4.1.1 <x@example.org>: User unknown",
            "RCPT",
            "",
            "userunknown",
            "hard",
            "words.user-unknown",
        ),
    ],
)
def test_user_unknown_evidence(
    status: str, diagnostic: str, stage: str, mta: str, reason: str, kind: str, rule: str
) -> None:
    verdict = decide(status, "550", diagnostic, stage=stage, mta=mta)
    assert (verdict.reason, verdict.kind, verdict.rule) == (reason, kind, rule), verdict.steps


@pytest.mark.parametrize(
    ("diagnostic", "stage", "reason", "kind"),
    [
        # live: the server asks for a retry, the message is retried
        (
            "450 4.1.1 <x@example.org>: Recipient address rejected: User unknown",
            None,
            "userunknown",
            "soft",
        ),
        # in a report (Action: failed): the server gave up after the retries; the address is bad
        (
            "450 4.1.1 <x@example.org>: Recipient address rejected: User unknown",
            "",
            "userunknown",
            "hard",
        ),
        (
            "450 4.1.1 <x@example.org>: Recipient address rejected: User unknown",
            "RCPT",
            "userunknown",
            "hard",
        ),
        ("451 4.1.6 Recipient has moved; forward to y@example.net", "", "hasmoved", "hard"),
        # a host not accepting mail may come back: soft under a 4xx, reported or live
        ("450 4.1.2 example.org: No MX found for domain", "", "notaccept", "soft"),
        ("450 4.1.2 example.org: No MX found for domain", None, "notaccept", "soft"),
    ],
)
def test_a_4xx_is_hard_only_as_the_last_reply_of_a_failed_delivery(
    diagnostic: str, stage: str | None, reason: str, kind: str
) -> None:
    """A 4xx user-unknown in a report of a failed delivery (not a delay warning) was read as
    soft, "retried": the reporting server had already retried it for days and given up, and the
    address stayed unsuppressed for the next campaign. The reference (sisimai) reads userunknown,
    hostunknown and hasmoved as hard whatever the code; the issue named 4.1.1 among the
    held-out misses. A live 4xx is still retried, never hard."""
    verdict = decide("", "", diagnostic, stage=stage)
    assert (verdict.reason, verdict.kind) == (reason, kind), verdict.steps


# The second family: a 5.1.x status under clearer words about something else is not hard.
@pytest.mark.parametrize(
    ("diagnostic", "reason", "kind"),
    [
        ("550 5.1.1 Mailbox full", "mailboxfull", "soft"),
        ("550 5.1.1 Your IP is blocked (listed on a blacklist)", "blocked", "block"),
        ("550 5.1.1 Rate limited: too many messages from your IP", "toomanyconn", "soft"),
        ("550 5.1.1 Message refused by security policy", "securityerror", "block"),
        ("550 5.1.0 Rejected", "blocked", "block"),
        (
            "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown",
            "userunknown",
            "hard",
        ),
    ],
)
def test_clear_words_outweigh_an_address_status(diagnostic: str, reason: str, kind: str) -> None:
    verdict = decide("", "", diagnostic, stage="")
    assert (verdict.reason, verdict.kind) == (reason, kind), verdict.steps


def test_a_mailbox_closed_for_inactivity_is_suspended_not_a_block() -> None:
    """ "Blocked due to inactivity" is the mailbox's state (closed, may come back), not the
    sender blocked: read as a block, it counted against the sender's reputation."""
    for text in (
        "550 This mailbox has been blocked due to inactivity",
        "550 5.2.1 Account closed because of inactivity",
    ):
        verdict = decide("", "", text, stage="RCPT")
        assert (verdict.reason, verdict.kind) == ("suspend", "soft"), verdict.steps


@pytest.mark.parametrize(
    ("diagnostic", "reason", "kind"),
    [
        # a relay refused in 551's words: the sender's route, not the recipient moved
        ("551 User not local; relaying denied", "norelaying", "block"),
        ("551 5.7.1 User not local; relaying denied", "norelaying", "block"),
        # RFC 5321's own 551, the user moved: still hard
        ("551 User not local; please try <ruth@new.example>", "hasmoved", "hard"),
        # the sender's address that does not exist: the sender refused, not the recipient
        ("550 Sender address not exist", "rejected", "block"),
        ("553 Mail from address not exists", "rejected", "block"),
        ("550 From address not exist", "rejected", "block"),
        ("550 5.1.0 Sender account not exists", "rejected", "block"),
        ("550 Invalid sender: mailbox not exist", "rejected", "block"),
        # ... nor its mailbox address "invalid", which outweighed the sender's own X.1.7
        ("553 5.1.7 Sender mailbox address is invalid", "rejected", "block"),
        # a domain named "not found" under the sender's own status or words is the sender's
        ("553 5.1.8 Domain corp.example not found", "rejected", "block"),
        ("550 5.7.1 Your sender's domain corp.example does not exist", "rejected", "block"),
        ("550 Envelope from domain corp.example not found", "rejected", "block"),
        ("550 5.1.2 domain client.example does not exist", "hostunknown", "hard"),
        (
            "550 5.1.1 <kim@client.example>: Recipient address rejected: User unknown "
            "(envelope from <sales@corp.example>)",
            "userunknown",
            "hard",
        ),
        # a session closed for inactivity is the connection's, not a mailbox closed
        ("421 4.4.2 Connection closed due to inactivity", "networkerror", "soft"),
        ("451 Timeout: closing connection for inactivity", "expired", "soft"),
        # ... a mailbox closed for it still is
        ("550 This mailbox has been blocked due to inactivity", "suspend", "soft"),
    ],
)
def test_new_wordings_do_not_reach_past_their_subject(
    diagnostic: str, reason: str, kind: str
) -> None:
    """The wordings added for a moved user (551 "User not local"), an address or a named domain
    that does "not exist" and a mailbox closed "due to inactivity" each judged another
    subject's failure too: a relay refusal as a moved recipient (hard), the sender's own
    address or domain as an unknown recipient or host (hard), a connection's idle timeout as a
    suspended mailbox."""
    verdict = decide("", "", diagnostic, stage="RCPT")
    assert (verdict.reason, verdict.kind) == (reason, kind), verdict.steps


def test_live_reply_trusts_user_unknown_wording() -> None:
    # In a live session the reply is the answer to our own RCPT: no stage masking to suspect.
    assert classify_smtp_reply(550, "No such user") == "hard"
    assert classify("", "550", "550 No such user") == "hard"


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("550 5.1.1 ... User Unknown (in reply to RCPT TO command)", "RCPT"),
        ("SMTP error from remote mail server after RCPT TO:<x@y.example>: 550", "RCPT"),
        ("192.0.2.1 does not like recipient. Remote host said: 550", "RCPT"),
        (">>> DATA\n<<< 550 5.1.1 <x@y.example>... User unknown\n<<< 503 Need RCPT", "RCPT"),
        ("550 : User unknown (in reply to end of DATA command)", "DATA"),
        ("550 User unknown", ""),
        # Exim names a pipelined command so; Sendmail writes RCPT's RFC 3461 parameters
        ("SMTP error from remote mail server after pipelined RCPT TO:<x@y.example>: 550", "RCPT"),
        ("SMTP error from remote mail server after pipelined end of data: 550", "DATA"),
        ("SMTP error from remote mail server after pipelined MAIL FROM:<a@b.example>: 550", "MAIL"),
        (">>> RCPT To:<x@y.example> NOTIFY=FAILURE ORCPT=rfc822;x@y.example\n<<< 550", "RCPT"),
        # qmail-remote's own sentences (qmail-remote.c)
        ("192.0.2.1 failed on DATA command.\nRemote host said: 554 Unknown user", "DATA"),
        ("192.0.2.1 failed after I sent the message.\nRemote host said: 554 Unknown user", "DATA"),
        # Postfix's session transcripts: the reply on the line after RCPT TO answers it (the
        # client's "Out:" command and "In:" reply, the server's the other way round)
        ("Out: RCPT TO:<x@y.example> ORCPT=rfc822;x@y.example\nIn: 550 No such user", "RCPT"),
        ("In:  RCPT TO:<x@y.example>\nOut: 550 5.0.0 No such user here", "RCPT"),
        # pipelined: RCPT's reply is read after DATA is sent, and it went through
        ("Out: RCPT TO:<x@y.example>\nOut: DATA\nIn: 250 2.1.5 Ok\nIn: 554 Unknown user", ""),
        ("Out: RCPT TO:<x@y.example>\nIn: 250 2.1.5 Ok\nOut: DATA\nIn: 550 No such user", ""),
        # Sendmail pipelines MAIL FROM with the RCPTs and prints the reply it reads first (MAIL
        # FROM's) after the last RCPT To: a reply about another address than that RCPT's
        # answered MAIL FROM; about the RCPT's own local part (rewritten, or bare), the RCPT
        (">>> RCPT To:<x@y.example>\n<<< 550 5.7.1 <a@b.example>... Access denied", "MAIL"),
        (">>> RCPT To:<x@y.example>\n<<< 554 5.7.1 <a@b.example>: Sender address rejected", "MAIL"),
        (">>> RCPT To:<x@y.example>\n<<< 550 5.7.1 <xy@y.example>... Access denied", "MAIL"),
        (">>> RCPT To:<x@y.example>\n<<< 550 5.1.1 <x@y.example>... User unknown", "RCPT"),
        (">>> RCPT To:<x@y.example>\n<<< 550 5.1.1 <x@mx.y.example>... User unknown", "RCPT"),
        (">>> RCPT To:<postmaster>\n<<< 550 5.1.1 <postmaster>... User unknown", "RCPT"),
        (">>> RCPT To:<>\n<<< 550 5.1.1 <a@b.example>... User unknown", "RCPT"),  # stripped
        (">>> MAIL From:<a@b.example> SIZE=2048\n<<< 550 5.7.1 Access denied", "MAIL"),
    ],
)
def test_smtp_stage(text: str, stage: str) -> None:
    assert smtp_stage(text) == stage


def test_version_string_is_not_a_status() -> None:
    assert extract_status("by 0.mxlogic.net (mxl_mta-5.5.0-3) 550 unknown user") == ""
    assert extract_status("550-5.1.1 The email account does not exist") == "5.1.1"


@pytest.mark.parametrize(
    ("text", "status", "reply"),
    [
        # the failing reply carries no enhanced code; the replies around it that went through
        # do: theirs are no status of the failure (it was read "2.0.0": delivered)
        (
            "In: 250 2.1.0 Sender ok Out: RCPT TO:<x@y> In: 550 No such user In: 221 2.0.0 Bye",
            "",
            "550",
        ),
        ("<<< 250 2.1.5 Ok <<< 550 No such user", "", "550"),
        # a failure's own code after a success is still found, with or without its reply code
        ("250 2.1.5 Ok 550 5.1.1 No such user 221 2.0.0 Bye", "5.1.1", "550"),
        ("250 2.1.5 Ok; then: 5.1.1 No such user", "5.1.1", "250"),
        # successes alone stay successes (a delivery report)
        ("250 2.0.0 Ok: queued as 4Qx", "2.0.0", "250"),
    ],
)
def test_a_transcript_status_is_the_failures(text: str, status: str, reply: str) -> None:
    assert (extract_status(text), extract_reply(text)) == (status, reply)


def test_apple_mail_unsubscribe_is_a_complaint() -> None:
    raw = (
        b"From: someone@icloud.example\nTo: opt-out-1@lists.example.org\n"
        b"Subject: unsubscribe\nAuto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\n\n"
        b"Apple Mail sent this email to unsubscribe from the message.\n"
    )
    (bounce,) = parse_bounces(raw)
    assert (bounce.recipient, bounce.kind) == ("someone@icloud.example", "complaint")


@pytest.mark.parametrize(
    ("diagnostic", "reason"),
    [
        # the message failed the sender's authentication (SPF, DKIM, DMARC): check the DNS
        ("550 5.7.1 Email rejected: message failed authentication", "authfailure"),
        ("550 5.7.1 Sender failed authentication checks", "authfailure"),
        # no SMTP login (NetEase's '553 authentication is required'): the connection's security
        ("553 authentication is required", "securityerror"),
    ],
)
def test_failed_authentication_is_the_senders_not_a_security_policy(
    diagnostic: str, reason: str
) -> None:
    """'failed authentication' was read as a security policy (a login or TLS the server
    requires), pointing the user away from the SPF/DKIM records it is about."""
    verdict = decide("", "", diagnostic, stage="RCPT")
    assert (verdict.reason, verdict.kind) == (reason, "block"), verdict.steps


def test_a_name_that_did_not_resolve_on_a_retried_attempt_is_a_network_error() -> None:
    """Gmail's "DNS Error: ... NXDOMAIN Domain name not found" under a 4.x status is a lookup
    that failed this time (the attempt is retried): networkerror, soft. Under a 5.x status the
    domain does not exist: hostunknown, hard."""
    text = "DNS Error: 1234 DNS type 'mx' lookup of gone.example responded with code NXDOMAIN"
    v = decide("4.0.0", "", text + " Domain name not found: gone.example")
    assert (v.kind, v.reason) == ("soft", "networkerror"), v.steps
    v = decide("5.1.2", "", "Domain gone.example not found")
    assert (v.kind, v.reason) == ("hard", "hostunknown"), v.steps
