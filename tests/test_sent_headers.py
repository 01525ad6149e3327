"""The headers a recipient's client shows, as the message's author wrote them.

Header fields a script writes in raw UTF-8 (``Subject: 中文`` piped to sendmail, an .eml saved
by a Chinese mail tool) reach the recipient as the script wrote them, not as charset
``unknown-8bit``.

Python's parser keeps the bytes as surrogates; the gate (and the outbox) write the message with
the SMTP policy, which refolds a field over 78 characters (a subject of 24 Chinese characters),
and wrote those as ``=?unknown-8bit?b?...?=``: a charset no mail client knows. A From display
name in raw UTF-8 was refused as "not a plain address", quoting surrogates.

A queued message's From display name is kept when it goes out (the worker compared the whole
field with the mailbox's address and replaced ``Sales <a@corp.example>`` with the bare address).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import json

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import free_port
from warmup.errors import DataError

SUBJECT = "关于贵公司外联业务合作的一个问题想请教一下您的看法"  # 24 characters, 72 octets
NAME = "销售部"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
MESSAGE = f"From: {NAME} <{BOX}>\nTo: 王先生 <lead@example.cn>\nSubject: {SUBJECT}\n\n正文\n"


def check_received(raw: bytes) -> None:
    """What a recipient's client shows: the subject and names as written, in RFC 2047 UTF-8."""
    head = raw.split(b"\r\n\r\n")[0]
    assert head.isascii(), head
    assert b"unknown-8bit" not in head
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]) == SUBJECT
    assert msg["From"].addresses[0].display_name == NAME
    assert msg["From"].addresses[0].addr_spec == BOX
    assert msg["To"].addresses[0].display_name == "王先生"
    assert b"=?utf-8?" in head
    shown = [k for k, _ in msg.items() if k in ("From", "To", "Subject")]
    assert shown == ["From", "To", "Subject"]  # the order kept


@pytest.fixture
def box(smtp_ssl, ssl_cert_env, monkeypatch):
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(smtp_ssl.port, imap_port=free_port())


def test_sendmail_direct(box, run, smtp_ssl):
    res = run("sendmail", "-t", "-i", input=MESSAGE)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.cn",)
    check_received(got.raw)


def test_send_eml(box, run, smtp_ssl, tmp_path):
    eml = tmp_path / "offer.eml"
    eml.write_bytes(MESSAGE.encode())
    res = run("send", BOX, "--eml", str(eml))
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    check_received(got.raw)


def test_queue_add_eml_then_run(box, smtp_ssl, tmp_path):
    eml = tmp_path / "offer.eml"
    eml.write_bytes(MESSAGE.encode())
    res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    check_received(got.raw)


def test_a_field_that_is_not_utf8_is_refused_not_guessed(box, run, smtp_ssl):
    # It was left as it came: neither UTF-8 nor RFC 2047, so recipients read mojibake.
    gbk = "Subject: 你好\n".encode("gbk")
    data = b"To: lead@example.cn\n" + gbk + b"\nbody\n"
    from warmup.errors import DataError
    from warmup.outgoing import prepare

    with pytest.raises(DataError, match=r"^header Subject is not UTF-8 .*RFC 2047"):
        prepare(data, BOX)


def test_a_queued_from_keeps_its_display_name(box, smtp_ssl, tmp_path):
    eml = tmp_path / "offer.eml"
    eml.write_bytes(
        f'From: "Sales, Corp" <{BOX}>\nTo: lead@example.com\nSubject: hi\n\nx\n'.encode()
    )
    res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    assert f'From: "Sales, Corp" <{BOX}>\r\n'.encode() in got.raw
    assert got.message["From"].addresses[0].display_name == "Sales, Corp"


def test_a_pool_member_sending_keeps_the_display_name_given_for_another():
    from warmup.outbox.sentas import as_sent

    data = b"From: =?utf-8?b?6ZSA5ZSu6YOo?= <a@corp.example>\r\nTo: x@example.com\r\n\r\nx\r\n"
    msg = email.message_from_bytes(
        as_sent(data, "b@corp.example", False, NOW), policy=email.policy.default
    )
    assert str(msg["From"]) == "销售部 <b@corp.example>"
    dated = b"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n" + data
    assert as_sent(data, "a@corp.example", False, NOW) == dated  # only dated: bytes as they are
    assert as_sent(dated, "a@corp.example", False, NOW) == dated


def test_sendmail_a_long_raw_utf8_subject_alone(box, run, smtp_ssl):
    res = run("sendmail", "-f", BOX, "lead@example.cn", input=f"Subject: {SUBJECT}\n\nx\n")
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert b"unknown-8bit" not in got.raw
    assert str(got.message["Subject"]) == SUBJECT
    assert got.raw.split(b"\r\n\r\n")[0].isascii()


LONG = "To: lead@example.cn\nSubject: s\n\nshort\n" + "y" * 1500 + "\n"


def test_sendmail_a_body_line_over_998_octets_is_refused_before_anything_is_reserved(
    box, run, smtp_ssl, ledger_path
):
    # It went out; the server answered '500 Line too long', read as a soft bounce: exit 75,
    # "try later", for a message that can never go.
    before = ledger_digest(ledger_path)
    res = run("sendmail", "-t", "-i", "-f", BOX, input=LONG)
    assert res.exit_code == 65, res.output
    assert res.output == (
        "Error: a line of the message is 1500 octets long ('yyyyyyyyyyyyyyyyyyyy...'); mail allows at most 998 (RFC 5321): "
        "encode the body quoted-printable or base64 (as EmailMessage.set_content does) or "
        "break the line\n"
    )
    assert smtp_ssl.messages == [] and smtp_ssl.mail_commands == 0
    assert ledger_digest(ledger_path) == before


def test_queue_add_of_an_eml_with_a_line_over_998_octets_names_the_file(box, run, tmp_path):
    eml = tmp_path / "long.eml"
    eml.write_bytes(LONG.encode())
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {eml}: a line of the message is 1500 octets long")


def test_a_line_of_998_octets_goes():
    from warmup.headers import check_line_length

    check_line_length(b"a: b\r\n\r\n" + b"x" * 998 + b"\r\n")
    with pytest.raises(DataError, match="^a line of the message is 999 octets long \\('xxxx"):
        check_line_length(b"a: b\r\n\r\n" + b"x" * 999)
    with pytest.raises(DataError, match="^a line of the message is 1000 octets"):
        check_line_length(b"a: b\r" + b"x" * 1000 + b"\n")


def test_a_pool_message_queued_raw_by_a_script_is_rewritten_without_unknown_8bit():
    # The queue relay stores a script's bytes as they came; the worker rewrites From for the
    # sending member and refolded the raw UTF-8 subject as '=?unknown-8bit?...'.
    from warmup.outbox.sentas import as_sent

    data = f"From: a@corp.example\r\nSubject: {SUBJECT}\r\n\r\nx\r\n".encode()
    out = as_sent(data, "b@corp.example", True, NOW)
    assert b"unknown-8bit" not in out and out.split(b"\r\n\r\n")[0].isascii()
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert (str(msg["Subject"]), str(msg["From"])) == (SUBJECT, "b@corp.example")


FILE_NAME = "关于贵公司外联业务合作的报价单.pdf"


def test_an_attachments_raw_utf8_file_name_goes_out_as_rfc2231_utf8(box, run, smtp_ssl, tmp_path):
    # A part's fields were left raw: one refolded on the way out (over 78 characters) went as
    # "filename*0*=unknown-8bit''%E5...", a charset no client decodes.
    eml = tmp_path / "offer.eml"
    eml.write_bytes(
        (
            "To: lead@example.cn\r\nSubject: offer\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            '--b\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n见附件\r\n'
            f'--b\r\nContent-Type: application/pdf; name="{FILE_NAME}"\r\n'
            f'Content-Disposition: attachment; filename="{FILE_NAME}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
        ).encode()
    )
    res = run("send", BOX, "--eml", str(eml))
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert b"unknown-8bit" not in got.raw
    [part] = got.message.iter_attachments()
    assert part.get_filename() == FILE_NAME
    assert part.get_content() == b"%PDF-1.4"
    assert b"filename*0*=utf-8''" in got.raw


@pytest.mark.parametrize("how", ["template", "eml"])
def test_a_queued_message_is_dated_when_it_is_sent_not_when_it_was_queued(
    how, sink, ssl_cert_env, tmp_path, monkeypatch
):
    # A warm-up spreads a campaign over days or weeks, and the Date was stamped at queue time:
    # the message sent 5 days later showed 5 days back in the recipient's inbox (clients sort by
    # Date), and spam filters score an old Date. A Date the author gave is theirs: kept.
    from tests.outboxkit import pool_of, queue_csv, template
    from warmup.ledger import open_ledger
    from warmup.outbox.worker import Worker

    pool_of(sink.port, tmp_path, n=1)
    if how == "template":
        leads = tmp_path / "leads.csv"
        leads.write_text("email\nlead@example.cn\nlead2@example.cn\n", encoding="utf-8")
        tpl = template(tmp_path / "t.toml", 'subject = "s"\ntext = "t"\n')
        assert queue_csv(leads, tpl, "--expires", "30d").returncode == 0
    else:
        for i, date in enumerate(["", "Date: Mon, 30 Nov 2026 09:00:00 +0800\n"]):
            eml = tmp_path / f"{i}.eml"
            eml.write_text(f"To: lead{i}@example.cn\n{date}Subject: s\n\nx\n", encoding="utf-8")
            res = cli("queue", "add", "--pool", "P", "--expires", "30d", "--eml", str(eml))
            assert res.returncode == 0, res.stderr
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=5)
    with Worker(open_ledger(), clock=lambda: later) as worker:
        worker.run_once()
    dates = sorted(str(m.message["Date"]) for m in sink.messages)
    # +0000, not formatdate's -0000: RFC 5322 3.3 says -0000 is a zone unknown, and the worker
    # knows the instant in UTC
    stamped = email.utils.format_datetime(later)
    assert stamped.endswith(" +0000")
    if how == "template":
        assert dates == [stamped, stamped]
    else:
        assert dates == sorted(["Mon, 30 Nov 2026 09:00:00 +0800", stamped])
    assert all(len(m.message.get_all("Date")) == 1 for m in sink.messages)


@pytest.mark.parametrize(("body", "declared"), [("王先生您好", True), ("Hello", False)])
def test_an_8bit_body_is_declared_body_8bitmime(box, run, smtp_ssl, body, declared):
    # set_content writes Chinese text under 'Content-Transfer-Encoding: 8bit'; RFC 6152 asks
    # the client to say so in MAIL FROM when the server offers 8BITMIME. It never did.
    res = run("send", BOX, "--to", "lead@example.cn", "--subject", "s", "--body", body)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert (b"8bit" in got.raw) == declared
    [mail] = [line for r in smtp_ssl.reads for line in r.split(b"\r\n") if line.startswith(b"mail")]
    assert (b"BODY=8BITMIME" in mail.split()) == declared  # SIZE= may follow it
    assert got.message.get_content() == body + "\r\n"


def test_a_body_files_byte_order_mark_is_not_sent(box, run, smtp_ssl, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes(b"\xef\xbb\xbfHello,\r\nsee you.\r\n")  # Notepad's "UTF-8"
    res = run("send", BOX, "--to", "lead@example.cn", "--subject", "s", "--body-file", str(body))
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.message.get_content() == "Hello,\r\nsee you.\r\n"
    assert got.message["Content-Transfer-Encoding"] == "7bit" and got.raw.isascii()


def test_send_writes_each_to_and_cc_as_one_address(box, run, smtp_ssl):
    # Outlook shows (and users paste) 'Li, Wei <li@example.cn>'. The envelope was right, but the
    # values were joined as text into To: the header read as two recipients, "Li" (no domain)
    # and "Wei <li@example.cn>": a client showed a bogus recipient, and reply-all failed on it.
    res = run(
        "send",
        BOX,
        "--to",
        "Li, Wei <li@example.cn>",
        "--to",
        "lead@example.cn",
        "--cc",
        '"王, \\"老\\" 先生" <wang@example.cn>',
        "--subject",
        "s",
        "--body",
        "x",
    )
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("li@example.cn", "lead@example.cn", "wang@example.cn")
    to, cc = got.message["To"], got.message["Cc"]
    assert not to.defects and not cc.defects
    assert [(a.display_name, a.addr_spec) for a in to.addresses] == [
        ("Li, Wei", "li@example.cn"),
        ("", "lead@example.cn"),
    ]
    assert [(a.display_name, a.addr_spec) for a in cc.addresses] == [
        ('王, "老" 先生', "wang@example.cn")
    ]


def test_the_overflow_channel_dates_a_message_and_leaves_its_own_sender_fields():
    from types import SimpleNamespace

    from warmup.outbox.sentas import overflow_sender

    data = b"From: Sales <news@corp.example>\r\nSender: ops@corp.example\r\nTo: x@example.com\r\n\r\nx\r\n"
    pool = SimpleNamespace(members=[])
    out, sender = overflow_sender(data, pool, NOW)  # type: ignore[arg-type]
    assert (out, sender) == (
        b"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n" + data,
        "news@corp.example",
    )
    dated = b"Date: Mon, 30 Nov 2026 09:00:00 +0800\r\n" + data
    assert overflow_sender(dated, pool, NOW) == (dated, "news@corp.example")  # type: ignore[arg-type]


def test_queue_add_refuses_an_eml_whose_header_is_not_utf8_and_queues_nothing(
    box, smtp_ssl, tmp_path
):
    eml = tmp_path / "offer.eml"
    eml.write_bytes("To: lead@example.com\nSubject: 你好\n\nbody\n".encode("gbk"))
    res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.returncode == 65, res.stderr
    assert res.stderr.startswith(f"Error: {eml}: header Subject is not UTF-8"), res.stderr
    assert len(res.stderr.splitlines()) == 1
    assert json.loads(cli("queue", "list", "--json").stdout) == []


# The worker tells a message that already names only its sender from the raw fields; the
# full parse must agree on every message, plain or not.
FIELDS = [
    "a@corp.example",
    "A@Corp.Example",
    "<a@corp.example>",
    "Sales <a@corp.example>",
    "Sales Team<a@corp.example>",
    "  O'Brien   &  Co  <a@corp.example>  ",
    '"Sales, Corp" <a@corp.example>',
    "Sales, Corp <a@corp.example>",
    "a@corp.example, b@corp.example",
    "b@corp.example",
    "Sales <b@corp.example>",
    "a@corp.example (Sales)",
    "Mr. Sales <a@corp.example>",
    "=?utf-8?b?6ZSA5ZSu6YOo?= <a@corp.example>",
    "=?utf-8?q?a@corp.example?= <b@corp.example>",
    "<a@corp.example> <b@corp.example>",
    "Sales <a@corp.example",
    "Sales a@corp.example>",
    "Group: a@corp.example;",
    "a@corp.example.",
    "a@corp.example\r\n extra",
    "Sales\r\n <a@corp.example>",
    "",
    "<>",
    "a@corp.example@corp.example",
    "销售部 <a@corp.example>",
]


def _variants():
    for field in FIELDS:
        yield f"From: {field}\r\nTo: x@example.com\r\n\r\nx\r\n"
        yield f"To: x@example.com\r\nFrom: {field}\r\nSender: {field}\r\n\r\nx\r\n"
        yield f"From: a@corp.example\r\nResent-From: {field}\r\n\r\nx\r\n"
        yield f"From: a@corp.example\r\nFrom: {field}\r\nDate: Mon, 30 Nov 2026\r\n\r\nx\r\n"
    yield "To: x@example.com\r\n\r\nx\r\n"
    yield "From: a@corp.example\r\nDate: Mon, 30 Nov 2026 09:00:00 -0000\r\n\r\nx\r\n"
    yield "From: a@corp.example\r\nResent-Sender: a@corp.example\r\n\r\nx\r\n"


@pytest.mark.parametrize("text", list(_variants()))
@pytest.mark.parametrize("reply_to", [False, True])
def test_the_worker_reads_the_raw_fields_as_the_full_parse_does(text, reply_to):
    from warmup.outbox.sentas import as_sent, as_sent_parsed

    data = text.encode()
    assert as_sent(data, "a@corp.example", reply_to, NOW) == as_sent_parsed(
        data, "a@corp.example", reply_to, NOW
    )


def _pool_variants():
    head = "From: Sales <a@corp.example>\r\nTo: x@example.com\r\nSubject: hi\r\n"
    for extra in (
        "",
        "Reply-To: c@else.example\r\n",
        "reply-to: c@else.example\r\nReply-To: d@else.example\r\n",
        "Reply-To: c@else.example,\r\n d@else.example\r\n",
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        "Content-Type: multipart/alternative; boundary=b1\r\n",
        "Content-Type: message/rfc822\r\n",
        "Subject:x\r\n",
        "X-Empty:\r\n",
        "X-Long: " + "x" * 70 + "\r\n",
        "Date: Mon, 30 Nov 2026 09:00:00 -0000\r\n",
        f"Subject: {SUBJECT}\r\n",
    ):
        for body in ("x\r\n", "正文\r\n", "--b1\r\n\r\nhi\r\n--b1--\r\n", "", "a\rb\r\n"):
            yield head + extra + "\r\n" + body
            yield (head + extra + "\r\n" + body).replace("\r\n", "\n")
            yield (head + extra).replace("From: Sales <a@corp.example>\r\n", "") + "\r\n" + body


@pytest.mark.parametrize("text", list(_pool_variants()))
@pytest.mark.parametrize("reply_to", [False, True])
def test_a_pool_members_fields_written_into_the_raw_bytes_are_the_full_parses(text, reply_to):
    # A pool's message (Reply-To by default, From often another member's) was parsed and
    # written back whole for each member that sent it: its fields are now written into the
    # raw bytes where that gives the same bytes, else it goes the full parse's way.
    from warmup.outbox.sentas import as_sent, as_sent_parsed

    for sender in ("a@corp.example", "b@corp.example"):
        data = text.encode()
        assert as_sent(data, sender, reply_to, NOW) == as_sent_parsed(data, sender, reply_to, NOW)


@pytest.mark.parametrize("end", [b"\r\n", b"\n"])
def test_a_multipart_without_parts_and_an_8bit_body_is_rewritten_with_its_body_as_it_came(end):
    # The email package writes such a body as get_payload() decodes it, which it cannot
    # encode: as_sent_parsed raised UnicodeEncodeError (a traceback in the worker).
    from warmup.outbox.sentas import as_sent

    head = (
        b"To: x@example.com\r\nSubject: hi\r\nContent-Type: multipart/alternative; boundary=b1\r\n"
    )
    body = "正文".encode() + end + b"--b2\r\n"
    for sender, reply_to in (("a@corp.example", True), ("b@corp.example", False)):
        out = as_sent(head + b"\r\n" + body, sender, reply_to, NOW)
        got = email.message_from_bytes(out, policy=email.policy.default)
        assert out.endswith(b"\r\n\r\n" + body)
        assert (got["From"], got["Reply-To"]) == (sender, sender if reply_to else None)
    inner = head.replace(b"To: x@example.com\r\nSubject: hi\r\n", b"")
    nested = (
        b"To: x@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n--b0\r\n"
        + inner
        + b"\r\n"
        + body
        + b"--b0--\r\n"
    )
    out = as_sent(nested, "a@corp.example", True, NOW)
    assert body + b"\r\n--b0--\r\n" in out  # a line end added before it, as for ASCII


def test_a_pool_message_as_queued_is_rewritten_without_the_full_parse():
    from email.message import EmailMessage

    from warmup.outbox import sentas

    msg = EmailMessage()
    msg["To"], msg["Subject"] = "lead@example.com", "A question for Co 1"
    msg.set_content("Hello Lead 1,\n\na short note.\n")
    data = msg.as_bytes(policy=email.policy.SMTP)
    head = sentas._RAW_HEADERS.parsebytes(data, headersonly=True)
    out = sentas._rewritten(data, head, "b@corp.example", True, NOW)
    assert out == sentas.as_sent_parsed(data, "b@corp.example", True, NOW)
    got = email.message_from_bytes(out or b"", policy=email.policy.default)
    assert (str(got["From"]), str(got["Reply-To"])) == ("b@corp.example",) * 2


def test_the_raw_fields_tell_the_plain_sender_fields():
    # What keeps the worker as fast as the gate: a message naming only its sender is told from
    # its raw fields, without the header registry's parse (a fifth of the worker's rate).
    from warmup.outbox.sentas import _plainly_names

    for plain in ("a@corp.example", "Sales Team <A@corp.example>", " <a@corp.example> "):
        assert _plainly_names([plain], "a@corp.example"), plain
    for other in ('"Sales" <a@corp.example>', "a@corp.example (Sales)", "b@corp.example"):
        assert not _plainly_names([other], "a@corp.example"), other
    assert not _plainly_names(["a@corp.example", "a@corp.example"], "a@corp.example")


@pytest.mark.parametrize(
    "argv",
    [
        ("send", BOX, "--to", "lead@example.cn", "--subject", "s", "--body", "x"),
        ("sendmail", "-t", "-i"),
    ],
    ids=["send", "sendmail"],
)
def test_a_date_warmup_adds_says_utc_not_a_zone_unknown(box, run, smtp_ssl, argv):
    # The gate and the raw path dated a message formatdate(localtime=False): '-0000', which
    # RFC 5322 3.3 reserves for a time whose zone is unknown; the instant is known in UTC.
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    res = run(*argv, input="From: " + BOX + "\nTo: lead@example.cn\nSubject: s\n\nx\n")
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    [date] = got.message.get_all("Date")
    assert str(date).endswith(" +0000"), date
    assert before <= email.utils.parsedate_to_datetime(str(date)) <= dt.datetime.now(dt.UTC)


def test_a_queued_message_being_resent_goes_to_its_resent_recipients(box, smtp_ssl, tmp_path):
    # `warmup send --eml` and the gate read Resent-To/-Cc/-Bcc of a message being resent (as
    # sendmail -t does); the outbox still read To/Cc/Bcc: the first recipients got it again,
    # the Resent-Bcc one never did.
    eml = tmp_path / "again.eml"
    eml.write_text(
        f"From: {BOX}\nTo: first@example.cn\nResent-From: {BOX}\n"
        "Resent-To: second@example.cn\nResent-Bcc: hidden@example.cn\nSubject: s\n\nx\n"
    )
    res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    res = cli("run", "--once", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    assert sorted(got.rcpt_tos) == ["hidden@example.cn", "second@example.cn"]
    assert b"hidden@example.cn" not in got.raw  # a Resent-Bcc is blind, as a Bcc
