"""Hostile mail for the bounce intake: inputs shaped to cost the parser time, to reach the
terminal, or to make ``warmup bounces parse`` hang or read without end."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path

from click.testing import Result

from tests import forkcli
from warmup import api
from warmup.bounces import parse_bounces
from warmup.bounces.formats import (
    MAX_BOUNDARY,
    MAX_CONTAINERS,
    MAX_PARAMS,
    first_containers,
    reparse_inline_mime,
)
from warmup.bounces.identity import bounce_key, read_report
from warmup.bounces.imap import record_batch
from warmup.bounces.message import to_message
from warmup.ledger import BounceIn, open_ledger

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL

HEAD = (
    "From: MAILER-DAEMON@mx.example.com\nTo: sales@corp.example\n"
    "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <r1@mx.example.com>\n"
)


def _nested(depth: int, lines: int = 2000) -> str:
    """A message/rfc822 part nested ``depth`` multiparts deep around ``lines`` lines: the
    stdlib parser matches each line against every enclosing boundary (depth x lines)."""
    inner = "\n" + "hello\n" * lines
    for i in range(depth):
        inner = f'Content-Type: multipart/mixed; boundary="n{i}"\n\n--n{i}\n{inner}\n--n{i}--\n'
    return inner


def _report(original: str) -> str:
    return (
        HEAD + "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="R"\n\n--R\nContent-Type: text/plain\n\nYour message could not be delivered.\n'
        "\n--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--R\nContent-Type: message/rfc822\n\n"
        f"From: sales@corp.example\nTo: gone@example.net\nMessage-ID: <o1@corp.example>\n{original}"
        "\n--R--\n"
    )


def _multiparts(msg: Message) -> int:
    return sum(1 for part in msg.walk() if part.get_content_maintype() == "multipart")


def test_deep_nesting_is_cut_to_a_bounded_number_of_multiparts() -> None:
    raw = _report(_nested(500)).encode()
    msg = to_message(raw)
    assert msg is not None
    assert _multiparts(msg) <= MAX_CONTAINERS
    # What comes before the nesting is read as ever.
    [bounce] = parse_bounces(raw)
    assert (bounce.recipient, bounce.kind, bounce.status) == ("gone@example.net", "hard", "5.1.1")


def test_deep_nesting_in_an_inline_reparse_is_cut_too() -> None:
    body = (
        "--report1\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n\n--report1\n"
        + _nested(300)
    )
    msg = to_message((HEAD + "\n" + body).encode())
    assert msg is not None and not msg.is_multipart()
    reparsed = reparse_inline_mime(msg, body)
    assert reparsed is not None
    assert _multiparts(reparsed) <= MAX_CONTAINERS


# -- terminal escapes: a stranger's words are printed defused ------------------------------------

ESCAPES = ("\x1b", "\x07", "\x9b", "\u202e")


def _escaping_dsn(recipient: str, diagnostic: str, mailer: str = "") -> bytes:
    return (
        HEAD + f"X-Mailer: {mailer}\n" * bool(mailer) + "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        "--R\nContent-Type: text/plain\n\nfailed.\n\n--R\n"
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n\n--R--\n"
    ).encode()


def _clean(text: str) -> bool:
    return not any(e in text for e in ESCAPES)


def test_escapes_in_a_report_are_not_returned() -> None:
    raw = _escaping_dsn(
        "\x1b]0;pwned\x07@x\x1b[2J",
        "550 5.1.1 \x1b]0;pwned\x07\x1b[2J user \u202eunknown\x9b31m",
        mailer="\x1b[31mX",
    )
    [bounce] = parse_bounces(raw)
    # An "address" with control characters is no address a send can have had.
    assert bounce.recipient == ""
    assert _clean(bounce.diagnostic) and "user" in bounce.diagnostic
    assert bounce.steps and all(_clean(step) for step in bounce.steps)
    assert bounce.kind == "hard"


def test_an_address_with_an_escape_inside_is_no_recipient_not_its_tail() -> None:
    """``x\\x1b[31m@example.org`` was recorded as the bounce of ``31m@example.org``: the
    address pattern found the tail after the escape, an address the report never named (and
    a recipient the mailbox may well mail). An address with a control character in it, or a
    bidi override, is no send's recipient, whatever part of it looks like one."""
    for written in ("x\x1b[31m@example.org", "lead\u202e@example.org", "a\x07b@example.org"):
        [bounce] = parse_bounces(_escaping_dsn(written, "550 5.1.1 user unknown"))
        assert bounce.recipient == "", written
        assert bounce.kind == "hard"
    # A control character elsewhere in the field (not in the address) does not hide it.
    [bounce] = parse_bounces(_escaping_dsn("<gone@example.org> \x1b[0m", "550 5.1.1 no"))
    assert bounce.recipient == "gone@example.org"


def test_parse_prints_no_escape(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "r\x1b[2J.eml"
    path.write_bytes(_escaping_dsn("gone@example.net", "550 5.1.1 \x1b]0;pwned\x07 unknown"))
    result = run("bounces", "parse", "--explain", str(path))
    assert result.exit_code == 0, result.output
    assert "gone@example.net" in result.output and "hard" in result.output
    assert _clean(result.output), result.output


def test_list_prints_no_escape_recorded_before(run: Callable[..., Result]) -> None:
    """A recipient recorded before the parser refused escapes (or by hand) is listed defused."""
    ledger = open_ledger(create=True)
    try:
        box = api.add_mailbox(ledger, "sales@corp.example", "exmail")
        at = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
        stray = "pwned\x07@x\x1b[2j"
        ledger.record(box, bounces=[BounceIn(stray, "hard", at, "k1", trusted=False)])
    finally:
        ledger.close()
    result = run("bounces", "list")
    assert result.exit_code == 0, result.output
    assert "pwned" in result.output and _clean(result.output), result.output


# -- files that are no message: never waited on, never read without end --------------------------


def test_parse_refuses_a_named_pipe_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "inbox.eml"
    os.mkfifo(fifo)
    good = tmp_path / "r.eml"
    good.write_bytes(_escaping_dsn("gone@example.net", "550 5.1.1 user unknown"))
    # A real process: opening a pipe that no one writes to blocked for ever (the limit only
    # turns that hang into a failure; the answer takes milliseconds).
    res = subprocess.run(
        [*forkcli.command(), "bounces", "parse", str(good), str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 64, res.stderr
    assert "gone@example.net" in res.stdout  # the other file is still read
    assert (
        res.stderr == f"Error: not read: {fifo} (not a regular file); give message files (.eml)\n"
    )
    assert "Traceback" not in res.stderr


def test_parse_refuses_a_device_without_reading_it() -> None:
    """``/dev/zero`` was read whole (without end) before the parser cut it: under a 1 GiB
    address-space limit that was a MemoryError traceback."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    res = subprocess.run(
        [sys.executable, "-m", "warmup", "bounces", "parse", "--json", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit,
    )
    assert res.returncode == 64, res.stderr
    assert json.loads(res.stdout) == [
        {"file": "/dev/zero", "bounces": [], "error": "not a regular file"}
    ]
    assert res.stderr.count("\n") == 1 and "not a regular file" in res.stderr


# -- charsets and boundaries the stdlib would spend seconds on ------------------------------------

TEXT_NDR = b"The following address failed:\n\n  gone@example.net\n    550 5.1.1 user unknown\n"


def _text_ndr(charset: str) -> bytes:
    head = HEAD + f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n\n"
    return head.encode() + TEXT_NDR


def test_python_codecs_that_are_no_mail_charset_are_not_used() -> None:
    """punycode decodes in time quadratic in its input (240 KB: 18 s), "undefined" raised a
    UnicodeError that lost the whole report: both are read as what they are, ASCII."""
    for charset in ("punycode", "idna", "undefined", "unicode_escape"):
        [bounce] = parse_bounces(_text_ndr(charset))
        assert (bounce.recipient, bounce.kind) == ("gone@example.net", "hard"), charset
    assert [parse_bounces(_text_ndr(cs))[0].recipient for cs in ("utf-8", "latin-1")] == [
        "gone@example.net",
        "gone@example.net",
    ]


def test_rfc2231_boundary_in_a_python_codec_is_read_as_ascii() -> None:
    raw = _report("").replace('boundary="R"', "boundary*=punycode''R-x").replace("--R", "--R-x")
    msg = to_message(raw.encode())
    assert msg is not None and msg.get_boundary() == "R-x" and msg.is_multipart()
    [bounce] = parse_bounces(raw.encode())
    assert (bounce.recipient, bounce.status) == ("gone@example.net", "5.1.1")


def test_a_boundary_longer_than_any_mime_allows_is_none() -> None:
    """A boundary is compiled into a pattern (~10 us a character): one of 240 KB took 2.4 s.
    RFC 2046 allows 70 characters; one above MAX_BOUNDARY leaves the multipart as text."""
    long = "b" * (MAX_BOUNDARY + 1)
    raw = (
        HEAD + f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{long}"\n\n'
        f"--{long}\nContent-Type: text/plain\n\nhello\n--{long}--\n"
    ).encode()
    msg = to_message(raw)
    assert msg is not None and msg.get_boundary() is None and not msg.is_multipart()
    ok = "b" * 70
    msg = to_message(raw.replace(long.encode(), ok.encode()))
    assert msg is not None and msg.get_boundary() == ok and msg.is_multipart()


def test_a_header_of_thousands_of_parameters_is_read_in_its_first_ones() -> None:
    """The stdlib splits parameters in time quadratic in their number: a Content-Type of 50,000
    (0.8 MB, within what a sync reads) took 5 s each time the boundary was asked for, and the
    report's charset, boundary and file name each asked. Past MAX_PARAMS they are not read: a
    boundary after them is none (the multipart read as text, its report still found)."""
    junk = "; ".join(f"p{i}*{i}=x" for i in range(50_000))
    last = _report("").replace('boundary="R"', f'{junk}; boundary="R"')
    start = time.monotonic()
    msg = to_message(last.encode())
    [bounce] = parse_bounces(last.encode())
    took = time.monotonic() - start
    assert msg is not None and msg.get_boundary() is None and not msg.is_multipart()
    assert (bounce.recipient, bounce.status) == ("gone@example.net", "5.1.1")
    assert took < 2, f"{took:.1f} s"
    first = _report("").replace('boundary="R"', f'boundary="R"; {junk}')
    msg = to_message(first.encode())
    assert msg is not None and msg.get_boundary() == "R" and msg.is_multipart()
    few = "; ".join(f"p{i}=x" for i in range(MAX_PARAMS - 2))
    msg = to_message(_report("").replace('boundary="R"', f'{few}; boundary="R"').encode())
    assert msg is not None and msg.get_boundary() == "R"


# -- trust: a complaint counts only against the recipient it is about ----------------------------


def _arf(feedback: str, to: str) -> bytes:
    return (
        "From: fbl@isp.example\nTo: abuse@corp.example\nSubject: complaint\n"
        "Message-ID: <fbl-1@isp.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nA user complained.\n\n"
        f"--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n{feedback}\n"
        "--F\nContent-Type: text/rfc822-headers\n\n"
        f"From: sales@corp.example\nTo: {to}\nMessage-ID: <o1@corp.example>\n\n--F--\n"
    ).encode()


def test_a_complaint_about_a_message_to_several_names_no_one() -> None:
    """The original went to two people and the report does not say which complained: it was
    put on the alphabetically first, whose address was suppressed for the other's complaint."""
    [both] = parse_bounces(_arf("", "zoe@example.net, amy@example.net"))
    assert (both.kind, both.recipient, both.message_id) == ("complaint", "", "<o1@corp.example>")
    # The report's own field says who; an original to one person says it too.
    [named] = parse_bounces(
        _arf("Original-Rcpt-To: zoe@example.net\n", "zoe@example.net, amy@example.net")
    )
    assert named.recipient == "zoe@example.net"
    [one] = parse_bounces(_arf("", "Zoe <zoe@example.net>"))
    assert one.recipient == "zoe@example.net"


def test_a_complaint_about_a_message_copied_to_another_names_no_one() -> None:
    """An original to one person and copied (Cc) to another went to two: the complaint, which
    may be the copied one's, was put on the To address (suppressed for another's complaint)."""
    [both] = parse_bounces(_arf("", "zoe@example.net\nCc: amy@example.net"))
    assert (both.recipient, both.message_id) == ("", "<o1@corp.example>")
    [twice] = parse_bounces(_arf("", "zoe@example.net\nTo: amy@example.net"))
    assert twice.recipient == ""


def _vague_ndr(to: str) -> bytes:
    """A notice that names no failed address, with the original attached, whose To does."""
    return (
        HEAD + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"\n\n--M\n'
        "Content-Type: text/plain\n\nYour message could not be delivered. 550 5.1.1 mailbox "
        "unavailable\n\n--M\nContent-Type: message/rfc822\n\nFrom: sales@corp.example\n"
        f"To: {to}\nMessage-ID: <o2@corp.example>\nSubject: Hi\n\nHello\n\n--M--\n"
    ).encode()


def test_a_notice_naming_no_address_is_put_on_the_original_only_if_it_had_one() -> None:
    [one] = parse_bounces(_vague_ndr("zoe@example.net"))
    assert (one.recipient, one.message_id) == ("zoe@example.net", "<o2@corp.example>")
    [several] = parse_bounces(_vague_ndr("zoe@example.net, amy@example.net"))
    assert (several.recipient, several.message_id) == ("", "<o2@corp.example>")
    # Copied to another, or a second To line: sent to several as well.
    for to in ("zoe@example.net\nCc: amy@example.net", "zoe@example.net\nTo: amy@example.net"):
        [copied] = parse_bounces(_vague_ndr(to))
        assert copied.recipient == "", to


# -- what a report writes to the ledger: nothing PostgreSQL refuses -------------------------------


def test_a_report_with_nul_bytes_is_recorded(ledger_url: str) -> None:
    """PostgreSQL stores no NUL in text: a report with one in its own Message-ID, the
    original's or its diagnostic failed the sync's write at that message, on every sync."""
    raw = (
        _report("")
        .replace("<r1@mx.example.com>", "<r\x001@mx.example.com>")
        .replace("<o1@corp.example>", "<o\x001@corp.example>")
        .replace("user unknown", "user\x00unknown")
        .encode()
    )
    now = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    ledger = open_ledger(ledger_url, create=True)
    try:
        box = api.add_mailbox(ledger, "sales@corp.example", "exmail")
        facts = read_report(raw)
        found = parse_bounces(raw, mailbox=box.address)
        assert [b.recipient for b in found] == ["gone@example.net"]
        rows = [(bounce_key(facts, b, i), b, now) for i, b in enumerate(found)]
        assert record_batch(ledger, box, "INBOX", 1, 1, rows, now) == [
            ("gone@example.net", False, "hard")
        ]
        [listed] = ledger.bounces(box, None, None, None)
    finally:
        ledger.close()
    assert listed["kind"] == "hard" and "\x00" not in str(listed)


def _gbk_report(subject: str, content_type: str = "", preamble: str = "") -> bytes:
    """A NetEase-style report written in GBK with no MIME word for it: the Subject as raw 8-bit
    bytes, the body with no charset (older Coremail and Chinese gateways send them so)."""
    head = f"From: postmaster@163.com\r\nTo: sales@corp.example\r\nSubject: {subject}\r\n"
    body = (
        f"{preamble}您好，您发送的邮件无法投递。\r\n收件人：gone@example.net\r\n"
        "原因：收件人不存在\r\n"
    )
    return (head + content_type + "\r\n" + body).encode("gb18030")


def test_a_report_in_raw_gbk_is_read_as_chinese() -> None:
    """Its 8-bit Subject ("系统退信") marks it a report, and its undeclared GBK body is read as
    Chinese, not Latin-1 mojibake: the recipient and "收件人不存在" (a hard bounce) are found."""
    for raw in (
        _gbk_report("系统退信"),
        _gbk_report("系统退信", "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"),
        _gbk_report("系统退信", preamble="This is the mail system at host mx.163.com.\r\n" * 200),
    ):
        [bounce] = parse_bounces(raw)
        assert (bounce.recipient, bounce.kind, bounce.reason) == (
            "gone@example.net",
            "hard",
            "userunknown",
        )


def test_raw_latin1_and_utf8_subjects_are_still_read() -> None:
    for subject, encoding in (("Unzustellbar: Rückläufer", "latin-1"), ("退信", "utf-8")):
        raw = (
            f"From: postmaster@mx.example\r\nTo: sales@corp.example\r\nSubject: {subject}\r\n\r\n"
            "550 5.1.1 <gone@example.net>: user unknown\r\n"
        ).encode(encoding)
        [bounce] = parse_bounces(raw)
        assert (bounce.recipient, bounce.kind) == ("gone@example.net", "hard")


def _dsn_in(diagnostic: str, encoding: str, part: str = "message/delivery-status") -> bytes:
    return (
        HEAD + "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        f'boundary="R"\n\n--R\nContent-Type: text/plain\n\nfailed.\n\n--R\nContent-Type: {part}\n'
        "\nReporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; gone@example.net\n"
        f"Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 {diagnostic}\n\n--R--\n"
    ).encode(encoding)


def test_a_diagnostic_in_chinese_is_read_as_written() -> None:
    """A Diagnostic-Code in UTF-8 (RFC 6533's message/global-delivery-status, and Chinese MTAs
    in the plain one) or in raw GBK: its words decide as English ones do, where it was once
    U+FFFD and the report said nothing ("undefined", a soft bounce)."""
    [english] = parse_bounces(_dsn_in("User unknown", "ascii"))
    cases = [
        ("utf-8", "message/delivery-status"),
        ("utf-8", "message/global-delivery-status"),
        ("gb18030", "message/delivery-status"),
    ]
    for encoding, part in cases:
        [gone] = parse_bounces(_dsn_in("收件人不存在", encoding, part))
        assert gone.diagnostic == "550 收件人不存在", (encoding, part)
        assert (gone.kind, gone.reason, gone.rule) == (english.kind, english.reason, english.rule)
        [fast] = parse_bounces(_dsn_in("发信频率过快", encoding, part))
        assert fast.diagnostic == "550 发信频率过快" and fast.reason != "undefined", fast


def test_a_latin1_diagnostic_with_two_accents_in_a_row_is_not_read_as_gbk() -> None:
    """Portuguese 'ção' in raw Latin-1 is e7 e3, which also decodes as one GBK ideograph (玢):
    a diagnostic whose only accents came in such pairs was read as Chinese mojibake."""
    for diagnostic in ("Notificação de entrega", "Informações: caixa postal cheia"):
        [bounce] = parse_bounces(_dsn_in(diagnostic, "latin-1"))
        assert bounce.diagnostic == f"550 {diagnostic}"


def test_parse_refuses_an_mbox_of_several_messages(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    """An mbox (a mail client's export of a folder) was read as its first message: the other
    reports in it were silently left out, "not a bounce" if the first was none."""
    first = _escaping_dsn("gone@example.net", "550 5.1.1 user unknown")
    second = _escaping_dsn("also-gone@example.net", "550 5.1.1 user unknown")
    mbox = tmp_path / "Bounces.mbox"
    mbox.write_bytes(
        b"From MAILER-DAEMON Mon Nov 30 10:00:00 2026\n" + first + b"\n"
        b"From MAILER-DAEMON Mon Nov 30 11:00:00 2026\n" + second + b"\n"
    )
    one = tmp_path / "one.mbox"  # an mbox of one message is that message
    one.write_bytes(b"From MAILER-DAEMON Mon Nov 30 10:00:00 2026\n" + first)
    res = run("bounces", "parse", str(one), str(mbox))
    assert res.exit_code == 64
    assert "gone@example.net" in res.stdout and "also-gone" not in res.stdout
    assert res.stderr == (
        f"Error: not read: {mbox} (an mbox of several messages; save each as a message "
        "file); give message files (.eml)\n"
    )


def test_parse_says_the_same_of_every_empty_input(tmp_path: Path) -> None:
    """An input that holds nothing was answered three ways: ``/dev/null`` was refused as "not a
    regular file" (64), an empty file and empty standard input said "not a bounce" (0), where
    an empty 'send --eml' or 'import' is refused as empty (65). Each is named empty, in the
    same one line, exit 65; the JSON says it too."""
    empty = tmp_path / "returned.eml"
    empty.write_bytes(b"")
    for name, shown_as in (("/dev/null", "/dev/null"), (str(empty), str(empty)), ("-", None)):
        for json_ in ((), ("--json",)):
            res = subprocess.run(
                [*forkcli.command(), "bounces", "parse", *json_, name],
                capture_output=True,
                text=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
            )
            said = shown_as or "standard input"
            assert (res.returncode, res.stderr) == (
                65,
                f"Error: not read: {said} (empty); give message files (.eml)\n",
            ), res.stderr
            assert res.stdout == (
                json.dumps([{"file": name, "bounces": [], "error": "empty"}], indent=2) + "\n"
                if json_
                else ""
            )
    # With a file that cannot be read, the line names both; that one makes it a usage error.
    res = subprocess.run(
        [*forkcli.command(), "bounces", "parse", "/dev/null", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert (res.returncode, res.stderr) == (
        64,
        "Error: not read: /dev/null (empty), /dev/zero (not a regular file); give message "
        "files (.eml)\n",
    )


def test_an_address_in_utf8_is_not_cut_to_its_ascii_tail() -> None:
    """An internationalised recipient (RFC 6531) in a DSN's Final-Recipient: read through
    U+FFFD, "jörg@example.de" was "rg@example.de", another address, which a send to it would
    have matched (and a hard bounce suppressed)."""
    for address in ("jörg@example.de", "用户@example.cn"):
        raw = _dsn_in("user unknown", "utf-8").replace(b"gone@example.net", address.encode())
        [bounce] = parse_bounces(raw)
        assert bounce.recipient == address


def test_lines_ending_in_a_bare_cr_count_against_the_line_bound() -> None:
    """The stdlib parser ends a line at CR as at LF, and its cost grows with lines; the bound of
    20,000 lines counted LF alone. 1 MB of lines ending in a bare CR (300,000 of them) was
    parsed whole, five times what the bound allows (~1 s a message, 50 messages a batch), and
    the report behind them was read where the same report behind LF lines was not."""
    status = _report("").split("\n--R\nContent-Type: message/delivery-status", 1)[1]
    for end in ("\n", "\r", "\r\n"):
        notification = "x" + end
        raw = (
            HEAD + 'MIME-Version: 1.0\nContent-Type: multipart/report; boundary="R"\n\n--R\n'
            "Content-Type: text/plain\n\n"
            + notification * 25_000
            + "\n--R\nContent-Type: message/delivery-status"
            + status
        ).encode()
        msg = to_message(raw)
        assert msg is not None
        assert len(msg.as_bytes().splitlines()) <= 20_001, repr(end)
        # cut before the delivery status
        assert "gone@example.net" not in [b.recipient for b in parse_bounces(raw)], repr(end)


def test_lines_ending_in_a_bare_cr_are_cut_at_a_line_by_the_multipart_bound() -> None:
    """The bound on multiparts cuts a message before the line of its 17th "boundary", and
    found that line's start by LF alone: a report whose lines end in a bare CR (a line end to
    the parser, as LF and CRLF) and which says "boundary" more than 16 times was cut to
    nothing, and read as no report at all. It is read as the same report with LF or CRLF."""
    corpus = Path(__file__).parent / "corpus" / "dsn" / "eml" / "lhost-postfix-10.eml"
    raw = corpus.read_bytes().replace(b"\r\n", b"\n") + b"the boundary it crossed\n" * 20

    def read(end: bytes) -> list[tuple[str, str, str]]:
        return [(b.recipient, b.kind, b.status) for b in parse_bounces(raw.replace(b"\n", end))]

    assert read(b"\n") == [("kijitora@example.jp", "block", "5.1.8")]
    assert read(b"\r") == read(b"\r\n") == read(b"\n")
    # A text re-read as MIME (reparse_inline_mime) is cut at a bare CR too.
    text = "a boundary\r" * 20
    assert first_containers(text) == "a boundary\r" * MAX_CONTAINERS


def test_a_report_reads_the_same_whatever_ends_its_lines() -> None:
    """The parser ends a line at CR, LF or CRLF, but what reads its text looked for LF: of the
    289 DSN samples, 166 read otherwise with bare-CR line ends than with LF, 100 of them in more
    than the diagnostic (recipients lost or made up, a delay read as a failure, another
    recipient's status taken). Every one reads the same."""
    corpus = sorted((Path(__file__).parent / "corpus" / "dsn" / "eml").glob("*.eml"))
    assert len(corpus) > 250
    differ = []
    for path in corpus:
        raw = path.read_bytes().replace(b"\r\n", b"\n")
        read = {
            end: [
                (b.recipient, b.kind, b.reason, b.status, b.message_id, b.delayed, b.diagnostic)
                for b in parse_bounces(raw.replace(b"\n", end))
            ]
            for end in (b"\n", b"\r", b"\r\n")
        }
        if not read[b"\n"] == read[b"\r"] == read[b"\r\n"]:
            differ.append(path.name)
    assert differ == []
