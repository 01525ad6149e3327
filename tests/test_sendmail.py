"""``warmup sendmail``: direct through the gate, and through the relay of a wrapped run."""

from __future__ import annotations

import functools
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import forkcli
from tests.gatekit import policy_file, rows
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.zonekit import kit_zone

BOX = SMTP_USER
MESSAGE = "Subject: hi\n\nhello\n"


@pytest.fixture
def box(run, smtp_ssl, ssl_cert_env, tmp_path, monkeypatch):
    """Returns add(daily): registers the mailbox on the sink with a flat policy, in the test's
    :func:`~tests.zonekit.kit_zone`."""
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)

    def add(daily: int = 5) -> None:
        policy = policy_file(tmp_path / "policy.toml", daily)
        res = run(
            "mailbox",
            "add",
            BOX,
            "--provider",
            "exmail",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(smtp_ssl.port),
            "--policy",
            str(policy),
            "--timezone",
            kit_zone(),  # not Shanghai's: a retry across its midnight (16:00 UTC) is a new day's
        )
        assert res.exit_code == 0, res.output

    return add


def outcomes(ledger_path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(ledger_path)
    try:
        return con.execute("SELECT recipient, outcome FROM send ORDER BY id").fetchall()
    finally:
        con.close()


def wrapped(script: str) -> subprocess.CompletedProcess[str]:
    """``sh -c SCRIPT`` run by ``warmup send BOX --``: its ``sendmail`` goes through the relay."""
    return subprocess.run(
        [*forkcli.command(), "send", BOX, "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# -- direct mode: no relay in the environment, the command opens the gate itself ----------------


def test_direct_with_f_reaches_the_sink(box, run, smtp_ssl, ledger_path):
    box()
    res = run("sendmail", "-f", BOX, "-oi", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 0, res.output
    assert res.output == ""  # silent on success, as sendmail (cron mails any output)
    [msg] = smtp_ssl.messages
    assert (msg.mail_from, msg.rcpt_tos) == (BOX, ("lead@example.com",))
    assert msg.message["From"] == BOX and msg.message["Message-ID"]
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


def test_direct_mailbox_from_env_and_recipients_from_headers(box, run, smtp_ssl, monkeypatch):
    box()
    monkeypatch.setenv("WARMUP_MAILBOX", BOX)
    text = "To: lead@example.com\nBcc: hidden@example.com\nSubject: hi\n\nhello\n"
    res = run("sendmail", "-t", "-i", input=text)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert set(msg.rcpt_tos) == {"lead@example.com", "hidden@example.com"}
    assert "Bcc" not in msg.message


def test_direct_exits_75_when_the_quota_is_used(box, run, smtp_ssl):
    box(daily=1)
    assert run("sendmail", "-f", BOX, "a1@example.com", input=MESSAGE).exit_code == 0
    res = run("sendmail", "-f", BOX, "a2@example.com", input=MESSAGE)
    assert res.exit_code == 75
    assert "quota is used" in res.output
    assert len(smtp_ssl.messages) == 1


def test_direct_exits_65_for_a_suppressed_recipient(box, run, smtp_ssl, ledger_path):
    box()
    assert run("record", "bounce", BOX, "--to", "gone@example.com").exit_code == 0
    res = run("sendmail", "-f", BOX, "gone@example.com", input=MESSAGE)
    assert res.exit_code == 65
    assert "suppressed" in res.output
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_lone_dot_ends_the_message_unless_i(box, run, smtp_ssl):
    box()
    text = "Subject: dots\n\nbefore\n.\nafter\n"
    assert run("sendmail", "-f", BOX, "lead@example.com", input=text).exit_code == 0
    assert run("sendmail", "-f", BOX, "-i", "lead@example.com", input=text).exit_code == 0
    cut, whole = (m.message.get_content() for m in smtp_ssl.messages)
    assert "after" not in cut and "before" in cut
    assert "after" in whole


# -- relay mode: inside `warmup send ADDRESS -- COMMAND`, the shim submits to the relay ---------


@pytest.mark.slow
def test_relay_mode_maps_replies_to_sysexits(box, run, smtp_ssl, tmp_path, ledger_path):
    box(daily=1)
    assert run("record", "bounce", BOX, "--to", "gone@example.com").exit_code == 0
    send = f"printf '{MESSAGE}' | sendmail"
    script = "; ".join(
        [
            f"{send} gone@example.com; echo $?",  # suppressed: 550 -> 65
            f"{send} lead@example.com gone@example.com; echo $?",  # all or nothing -> 65
            f"{send} -f boss@corp.example lead@example.com; echo $?",  # not the mailbox: 553 -> 65
            f"{send} lead@example.com; echo $?",  # sent -> 0
            f"{send} next@example.com; echo $?",  # quota used: 451 -> 75
        ]
    )
    res = subprocess.run(
        [*forkcli.command(), "send", BOX, "--refuse", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["65", "65", "65", "0", "75"], res.stderr
    assert "550 5.1.1" in res.stderr and "451 4.7.1" in res.stderr
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com",)
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]
    # The three refusals answered before DATA count too (it said "0 refused" before issue #12).
    assert (
        "warmup: 1 sent, 1 deferred (4xx), 3 refused (5xx), 0 recipients rejected upstream; "
        "1 refusal at MAIL FROM, 2 refusals at RCPT TO (2 suppressed)\n"
    ) in res.stderr


def test_relay_mode_with_a_dead_relay_exits_69(run, monkeypatch, tmp_path):
    from tests.peers.smtp import free_port

    for name, value in {
        "WARMUP_SMTP_HOST": "127.0.0.1",
        "WARMUP_SMTP_PORT": str(free_port()),
        "WARMUP_SMTP_USER": BOX,
        "WARMUP_SMTP_PASSWORD": "x",
    }.items():
        monkeypatch.setenv(name, value)
    res = run("sendmail", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 69 and "unreachable" in res.output


def test_direct_refuses_a_header_line_python_would_take_for_the_body(
    box, run, smtp_ssl, ledger_path
):
    # Python's parser ends the headers at "Bcc : ..." and would send it as body text: every
    # recipient would read the hidden address.
    box()
    text = "To: lead@example.com\nBcc : hidden@example.com\nSubject: hi\n\nhello\n"
    res = run("sendmail", "-f", BOX, "-t", "-i", input=text)
    assert res.exit_code == 65, res.output
    # in relay mode's words, naming the line and the fix
    assert res.output == (
        "Error: header line 2 has white space before its colon ('Bcc : hidden@example.com'); "
        "write 'Bcc:'\n"
    )
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (" Subject: hi\nTo: lead@example.com\n", "the message's first line begins with white"),
        ("To: lead@example.com\n: hi\nSubject: s\n", "header line 2 is not 'Name: value'"),
    ],
)
def test_direct_refuses_a_header_line_python_would_drop(
    box, run, smtp_ssl, ledger_path, head, said
):
    # Python's parser drops such a line with only a defect: direct mode sent the message
    # without it (its Subject gone), where relay mode and the relay refuse it.
    box()
    res = run("sendmail", "-f", BOX, "-t", "-i", input=head + "\nhello\n")
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {said}") and res.output.count("\n") == 1, res.output
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_a_byte_order_mark_first_is_dropped_as_send_eml_drops_it(box, run, smtp_ssl, ledger_path):
    # A message saved by a Windows editor (`sendmail -t < saved.eml`): its BOM made the first
    # header 'not Name: value' (exit 65), where `send --eml` and `queue add --eml` drop it.
    box()
    res = run("sendmail", "-t", "-i", input=f"\ufeffFrom: {BOX}\nTo: lead@example.com\n" + MESSAGE)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.com",) and got.message["Subject"] == "hi"
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


@pytest.mark.parametrize(
    "head",
    [
        "From: a@corp.example\nFrom: ceo@corp.example\n",
        'From: "ceo@corp.example" <a@corp.example>\n',
        "From: a@corp.example\nSender: ceo@corp.example\n",
        "From:\n",
    ],
)
def test_direct_refuses_a_sender_field_naming_anyone_but_the_mailbox(
    head, box, run, smtp_ssl, ledger_path
):
    # Only the first From's first address was checked: the rest went out as written.
    box()
    res = run("sendmail", "-f", BOX, "-t", "-i", input=head + "To: lead@example.com\n\nhi\n")
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: header ") and res.output.count("\n") == 1, res.output
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_direct_takes_r_as_f_and_no_flag_value_as_a_recipient(box, run, smtp_ssl, ledger_path):
    # `-r ADDR` was ignored and ADDR read as a recipient ("no mailbox", or, with
    # $WARMUP_MAILBOX set, a copy to the mailbox itself); "-N never" made "never" one.
    box()
    res = run("sendmail", "-r", BOX, "-N", "never", "-V", "e1", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert (msg.mail_from, msg.rcpt_tos) == (BOX, ("lead@example.com",))
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


def test_direct_a_line_break_in_f_is_one_line_and_65(box, run, smtp_ssl, ledger_path):
    # The ledger's "mailbox ... not found; add it with 'warmup mailbox add ...'" quoted it
    # raw: an error broken over two lines, exit 78.
    box()
    res = run("sendmail", "-f", f"{BOX}\nX: y", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: malformed sender") and res.output.count("\n") == 1
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_a_list_in_f_is_told_f_takes_one_mailbox(box, run, smtp_ssl, ledger_path):
    """-f 'a@x, b@y' was refused with "is 2 addresses in one: give each on its own": no
    sender can be given one address at a time. -f names the one mailbox to send as."""
    box()
    listed = f"{BOX}, bd@corp.example"
    said = f"Error: sender {listed!r} is 2 addresses in one; it takes one: the mailbox to send as\n"
    res = run("sendmail", "-f", listed, "lead@example.com", input=MESSAGE)
    assert (res.exit_code, res.output) == (65, said)
    through = wrapped(f"printf '{MESSAGE}' | sendmail -f '{listed}' lead@example.com; echo $?")
    assert through.stdout.split() == ["65"], through.stderr
    assert said in through.stderr
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


# -- -F: the sender's full name, in the From header added when the message has none ------------


def test_direct_f_full_name_goes_in_the_from_it_adds_encoded(box, run, smtp_ssl):
    # -F was taken and ignored: the message went out From the bare address.
    box()
    res = run("sendmail", "-f", BOX, "-F", "Zoë 销售", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.raw.partition(b"\r\n\r\n")[0].isascii()
    [sender] = got.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Zoë 销售", BOX)


def test_direct_f_full_name_that_is_an_address_is_said_as_f_not_as_a_header(
    box, run, smtp_ssl, ledger_path
):
    """'-F a@b.c': an address in the full name would show in the From warmup adds, and was
    refused as "header From names a@b.c", a header the user never wrote (exit 65). The error
    names -F, 64; nothing sent or reserved. One naming the mailbox itself is still taken."""
    box()
    given = "To: lead@example.com\nSubject: hi\n\nhello\n"
    res = run("sendmail", "-f", BOX, "-F", "a@b.c", "-t", input=given)
    assert res.exit_code == 64, res.output
    assert res.output == (
        f"Error: -F 'a@b.c' (the sender's full name, in the From warmup adds) names a@b.c, "
        f"not the mailbox {BOX}; give -F a name ('-F \"Sales Team\"'), and the mailbox to "
        "send as with -f\n"
    )
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []
    res = run("sendmail", "-f", BOX, "-F", BOX.upper(), "-t", input=given)
    assert res.exit_code == 0, res.output
    assert len(smtp_ssl.messages) == 1


def test_direct_f_full_name_leaves_a_from_the_message_has(box, run, smtp_ssl):
    box()
    given = f"From: Sales <{BOX}>\nSubject: hi\n\nhello\n"
    res = run("sendmail", "-F", "Somebody Else", "lead@example.com", input=given)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert [str(v) for v in got.message.get_all("From")] == [f"Sales <{BOX}>"]


def test_direct_a_gbk_header_is_refused_in_one_line_and_nothing_reserved(
    box, run, smtp_ssl, ledger_path
):
    box()
    given = "Subject: 季度报告\n\nhello\n".encode("gbk").decode("latin-1")
    from click.testing import CliRunner

    from warmup.cli import cli

    res = CliRunner().invoke(
        cli, ["sendmail", "-f", BOX, "lead@example.com"], input=given.encode("latin-1")
    )
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: header Subject is not UTF-8"), res.output
    assert len(res.output.splitlines()) == 1
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def _over_the_size_limit(eol: bytes) -> bytes:
    """A message one line past the 25 MiB the relay and 'queue add' refuse."""
    from warmup.headers import MESSAGE_LIMIT

    head = b"To: lead@example.com" + eol + b"Subject: big" + eol + eol
    line = b"z" * 76 + eol
    return head + line * ((MESSAGE_LIMIT - len(head)) // len(line) + 1)


def test_direct_a_message_over_25_mib_is_refused_before_anything_is_reserved(
    box, run, smtp_ssl, ledger_path, tmp_path
):
    # The relay answers 552 and 'queue add' refuses such a message; sendmail and
    # 'send --eml' reserved a slot and sent it upstream, where a provider refuses it at the end
    # of DATA (a soft bounce on the mailbox's record, and its quota spent).
    box(daily=20)
    from click.testing import CliRunner

    from warmup.cli import cli

    res = CliRunner().invoke(cli, ["sendmail", "-f", BOX, "-t"], input=_over_the_size_limit(b"\n"))
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: the message is "), res.output
    assert "25 MiB" in res.output and len(res.output.splitlines()) == 1
    eml = tmp_path / "big.eml"
    eml.write_bytes(_over_the_size_limit(b"\r\n"))
    res = run("send", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert "25 MiB" in res.output and len(res.output.splitlines()) == 1
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0
    assert outcomes(ledger_path) == []


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_direct_a_message_of_body_text_only_goes_out_with_that_body(
    box, run, smtp_ssl, ledger_path, eol
):
    # `echo "backup done" | sendmail admin@...`, as cron jobs write it: no header at all, as
    # sendmail and Postfix read it, is all body. It exited 65 "a header line that is not
    # 'Name: value' (white space before the colon?)".
    box()
    text = eol.join(["backup done", "all 3 volumes fine", "", "-- cron", ""])
    res = run("sendmail", "-f", BOX, "lead@example.com", input=text)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert msg.message["From"] == BOX and msg.message["Message-ID"]
    assert msg.message.get_content().splitlines() == [
        "backup done",
        "all 3 volumes fine",
        "",
        "-- cron",
    ]
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


@pytest.mark.parametrize(
    "given",
    ["", "\n", "\n\n", ".\n", "\ufeff\r\n", "From x Sat Dec  5 08:00:00 2026\n\n"],
    ids=["nothing", "lf", "lfs", "dot", "bom", "mbox-line"],
)
def test_empty_standard_input_sends_nothing_directly_or_through_the_relay(
    given, box, run, smtp_ssl, ledger_path
):
    # `generate_offer | sendmail -f BOX lead@...` whose generator died before printing: an empty
    # message (no Subject, no body) went to the lead, a slot of the day's quota spent on it and
    # the lead left wondering; so did a lone "." ending the message at once. `send --eml` refuses
    # an empty message; sendmail now does too, in both modes, exit 65, nothing reserved.
    box()
    res = run("sendmail", "-f", BOX, "lead@example.com", input=given)
    assert res.exit_code == 65, res.output
    assert res.output == (
        "Error: standard input held no message (nothing, or blank lines before a lone '.'): "
        "nothing sent; pipe the whole message in\n"
    )
    shell = "printf '" + given.replace("\n", "\\n") + "' | sendmail other@example.com; echo $?"
    through = wrapped(shell)
    assert through.returncode == 0, through.stderr
    assert through.stdout == "65\n"
    assert "standard input held no message" in through.stderr
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_direct_body_text_with_a_header_like_line_before_the_empty_line_is_still_refused(
    box, run, smtp_ssl, ledger_path
):
    # Headers written after a stray first line: sent as body, every recipient would read Bcc.
    box()
    text = "Hello team\nBcc: hidden@example.com\n\nhello\n"
    res = run("sendmail", "-f", BOX, "lead@example.com", input=text)
    assert res.exit_code == 65, res.output
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_direct_a_nul_byte_is_refused_before_anything_is_reserved(
    box, run, smtp_ssl, ledger_path, tmp_path
):
    # '--body' refused a NUL ("no mail may carry one"); sendmail and '--eml' sent it.
    box()
    res = run("sendmail", "-f", BOX, "lead@example.com", input="Subject: a\n\nx\x00y\n")
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: the message holds a NUL byte"), res.output
    assert len(res.output.splitlines()) == 1
    eml = tmp_path / "nul.eml"
    eml.write_bytes(b"To: lead@example.com\r\nSubject: a\r\n\r\nx\x00y\r\n")
    res = run("send", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: the message holds a NUL byte"), res.output
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []


def test_a_nul_byte_is_named_by_the_text_around_it_not_an_octet_the_file_lacks(
    box, run, smtp_ssl, ledger_path, tmp_path
):
    """The NUL was named by its octet in the message as warmup had made it, From, Date and
    Message-ID added first: 'octet 148' of a 20-byte input, 161 of send --eml's file and 123
    of queue add's, whose NUL is its 54th. It is named by the text it sits in, which the file
    holds."""
    box()
    eml = tmp_path / "nul.eml"
    eml.write_bytes(f"From: {BOX}\nTo: lead@example.com\nSubject: s\n\nli\x00ne\n".encode())
    said = "the message holds a NUL byte (in 'li\\x00ne'), which no mail may carry"
    for args, given in (
        (("sendmail", "-f", BOX, "lead@example.com"), "Subject: a\n\nli\x00ne\n"),
        (("send", BOX, "--eml", str(eml)), None),
        (("queue", "add", "--mailbox", BOX, "--eml", str(eml)), None),
    ):
        res = run(*args, input=given)
        assert res.exit_code == 65, res.output
        assert res.output.count("\n") == 1 and said in res.output, res.output
        assert "octet" not in res.output, res.output
    long = "z" * 60  # far into a long line: the 20 octets before it, marked as cut
    res = run("sendmail", "-f", BOX, "lead@example.com", input=f"Subject: a\n\n{long}\x00x\r\n")
    assert f"(in '...{'z' * 20}\\x00x')" in res.output, res.output
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []
    assert rows(ledger_path, "SELECT count(*) FROM outbox") == [(0,)]


def _within_2_gib(args: list[str], stdin: Any) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` with at most 2 GiB of address space: one reading without end
    fails here instead of taking the machine's memory."""
    import resource
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
        check=False,
    )


def test_endless_input_is_refused_at_the_size_limit_not_read_to_exhaustion(
    box, smtp_ssl, ledger_path
):
    # `yes | sendmail ...` (a script's runaway pipe): the whole of standard input was read into
    # memory before any limit applied, until the machine ran out of it. Here, in 2 GiB.
    box()
    with subprocess.Popen(["yes", "all work and no play"], stdout=subprocess.PIPE) as endless:
        res = _within_2_gib(["sendmail", "-f", BOX, "-i", "lead@example.com"], endless.stdout)
        endless.kill()
    assert res.returncode == 65, res.stderr
    assert res.stderr.startswith("Error: the message is over the 25 MiB providers accept"), (
        res.stderr
    )
    assert len(res.stderr.splitlines()) == 1
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []


@pytest.mark.parametrize("flag", ["--eml", "--body-file"])
def test_send_reads_no_file_past_the_size_limit(box, smtp_ssl, ledger_path, flag):
    # `warmup send ADDR --eml /dev/zero` (or a file of gigabytes) was read whole into memory:
    # a MemoryError traceback, or the machine out of it. 'queue add --eml' reads 25 MiB + 1.
    box()
    extra = () if flag == "--eml" else ("--to", "lead@example.com", "--subject", "s")
    res = _within_2_gib(["send", BOX, flag, "/dev/zero", *extra], subprocess.DEVNULL)
    assert res.returncode == 65, res.stderr
    assert res.stderr.startswith(f"Error: {flag} /dev/zero: the message is over"), res.stderr
    assert len(res.stderr.splitlines()) == 1
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("-bv", "lead@example.com"), "sendmail -bv verifies addresses"),
        (("-bs",), "sendmail -bs speaks SMTP on standard input"),
        (("-bp",), "sendmail -bp lists the mail queue"),
        (("-bi",), "sendmail -bi rebuilds the aliases"),
        (("-q",), "sendmail -q runs the mail queue"),
        (("-q1h",), "sendmail -q runs the mail queue"),
        (("-I",), "sendmail -I rebuilds the aliases"),
        (("-bx", "lead@example.com"), "sendmail -bx is a mode warmup does not know"),
    ],
)
def test_modes_that_send_nothing_are_refused_not_read_as_a_message(
    args, said, box, run, smtp_ssl, ledger_path, monkeypatch
):
    # `sendmail -bv ADDRESS` (verify it, send nothing) sent standard input to ADDRESS, as did
    # a cron job's `sendmail -q`; -bp and -q1h said "Option '-p' requires an argument".
    box()
    monkeypatch.setenv("WARMUP_MAILBOX", BOX)
    res = run("sendmail", *args, input=f"To: x@example.com\n{MESSAGE}")
    assert res.exit_code == 64, res.output
    assert res.output.startswith(f"Error: {said}; warmup's sendmail only sends"), res.output
    # The fix read "give the recipients (or -t) and no such option": say what to leave out.
    assert res.output.rstrip().endswith(
        "(-bm): leave that option out and give the recipients (or -t)"
    ), res.output
    assert len(res.output.strip().splitlines()) == 1
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []


def test_bm_is_the_delivery_mode_it_has_always_been(box, run, smtp_ssl, ledger_path):
    box()
    res = run("sendmail", "-bm", "-f", BOX, "-oi", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 0, res.output
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


def test_direct_a_recipient_argument_may_be_an_address_list(box, run, smtp_ssl, ledger_path):
    """sendmail(8) and Postfix read each recipient argument as an address list: a script
    passing "a@x, b@y" as one argument was refused (65), its message never sent."""
    box()
    res = run(
        "sendmail",
        "-f",
        BOX,
        "-oi",
        'lead@example.com, "Smith, J" <j@example.com>',
        "k@example.com",
        input=MESSAGE,
    )
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com", "j@example.com", "k@example.com")
    assert sorted(outcomes(ledger_path)) == [
        ("j@example.com", "sent"),
        ("k@example.com", "sent"),
        ("lead@example.com", "sent"),
    ]
    bad = run("sendmail", "-f", BOX, "-oi", "lead@example.com,,", input=MESSAGE)
    assert bad.exit_code == 65 and "lead@example.com,," in bad.output, bad.output
    assert len(smtp_ssl.messages) == 1


@pytest.mark.slow
def test_an_mbox_from_line_first_is_dropped_in_relay_mode_as_in_direct_mode(
    box, run, smtp_ssl, tmp_path, ledger_path
):
    # sendmail and Postfix drop a first "From sender date" line (a message saved from a mailbox);
    # direct mode's parser set it aside, but through the relay it was a malformed header: 550
    # and exit 65, the message never sent.
    box()
    path = tmp_path / "saved.eml"
    path.write_text(f"From {BOX} Tue Dec  1 10:00:00 2026\nSubject: saved\n\nhello\n")
    assert run("sendmail", "-f", BOX, "a@example.com", input=path.read_text()).exit_code == 0
    res = wrapped(f"sendmail b@example.com < {path}")
    assert res.returncode == 0, res.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("a@example.com",), ("b@example.com",)]
    for got in smtp_ssl.messages:
        assert got.message["Subject"] == "saved" and got.message.get_content().rstrip() == "hello"
        assert not got.raw.startswith(b"From ")
    assert outcomes(ledger_path) == [("a@example.com", "sent"), ("b@example.com", "sent")]


def test_a_first_line_from_that_is_not_mbox_is_kept():
    from warmup.headers import without_from_line as _without_from_line

    assert _without_from_line(b"From now on: daily\n\nx\n") == b"From now on: daily\n\nx\n"
    saved = b"From a@x.example  Mon Jan  5 09:07:01 2026\r\nSubject: s\r\n\r\nb\r\n"
    assert _without_from_line(saved) == b"Subject: s\r\n\r\nb\r\n"


@pytest.mark.slow
def test_relay_mode_refuses_a_bcc_with_white_space_before_its_colon_as_direct_mode_does(
    box, run, smtp_ssl, tmp_path, ledger_path
):
    # Python's parser ends the headers at "Bcc : ...", so -t never saw that recipient; the
    # shim's Bcc removal then took the line out before the relay could refuse it: exit 0, the
    # message sent to the To alone, the Bcc recipient silently never mailed.
    box()
    path = tmp_path / "bcc.eml"
    path.write_text("To: lead@example.com\nBcc : hidden@example.com\nSubject: hi\n\nhello\n")
    script = f"sendmail -t -i < {path}; echo $?"
    res = wrapped(script)
    assert res.stdout.split() == ["65"], res.stderr
    [error] = [line for line in res.stderr.splitlines() if line.startswith("Error")]
    assert "white space before its colon" in error and "'Bcc:'" in error
    assert smtp_ssl.messages == [] and outcomes(ledger_path) == []
    assert run("sendmail", "-t", "-i", "-f", BOX, input=path.read_text()).exit_code == 65


def test_t_reads_the_resent_fields_of_a_resent_message_as_sendmail_does(
    box, run, smtp_ssl, ledger_path
):
    # -t read To/Cc/Bcc only, and the Resent-Bcc line is removed like a Bcc: its recipient was
    # silently never mailed (exit 0), and the To of the original got the message again.
    box()
    text = (
        "To: original@example.com\nResent-To: colleague@example.com\n"
        "Resent-Bcc: hidden@example.com\nSubject: fwd\n\nhello\n"
    )
    res = run("sendmail", "-f", BOX, "-t", "-i", input=text)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert set(msg.rcpt_tos) == {"colleague@example.com", "hidden@example.com"}
    assert b"hidden@example.com" not in msg.raw
    assert sorted(outcomes(ledger_path)) == [
        ("colleague@example.com", "sent"),
        ("hidden@example.com", "sent"),
    ]


def test_t_reads_only_resent_fields_once_any_resent_field_says_the_message_is_resent(
    box, run, smtp_ssl, ledger_path
):
    # sendmail(8) (EF_RESENT) and Postfix's cleanup take any Resent-* field (Resent-From,
    # Resent-Date...) as the mark of a resent message and read only Resent-To/-Cc/-Bcc then:
    # a message resent to the arguments does not go to its original To again.
    box()
    text = (
        f"From: {BOX}\nTo: original@example.com\nResent-From: {BOX}\n"
        "Resent-Date: Tue, 1 Dec 2026 10:00:00 +0000\nSubject: fwd\n\nhello\n"
    )
    res = run("sendmail", "-f", BOX, "-t", "-i", "colleague@example.com", input=text)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert list(msg.rcpt_tos) == ["colleague@example.com"]
    assert outcomes(ledger_path) == [("colleague@example.com", "sent")]


# -- a retry of a partly deferred message (exit 75) -------------------------------------------

PARTLY = "To: ok@example.com, grey@example.com\nSubject: partly\n\nhello\n"  # no Message-ID
GREY = {"grey@example.com": (450, "4.2.0 greylisted, try again later")}


def sendmail_direct(run: Any) -> int:
    res = run("sendmail", "-t", "-f", BOX, input=PARTLY)
    return int(res.exit_code)


@pytest.mark.parametrize("mode", ["direct", "relay"])
def test_a_retry_after_exit_75_reaches_only_those_not_reached_and_a_later_copy_is_new(
    mode, box, run, smtp_ssl, ledger_path
):
    # sendmail exits 75 when the server deferred some recipients: "try again later". A message
    # without a Message-ID got a new random one on each try, so the retry mailed ok@ a second
    # time. Its Message-ID is now derived from the message, so the retry is known as such.
    box()
    smtp_ssl.reject_rcpt = dict(GREY)

    def send() -> int:
        if mode == "direct":
            return sendmail_direct(run)
        res = wrapped(f"printf '{PARTLY}' | sendmail -t; echo $?")
        assert res.returncode == 0, res.stderr
        return int(res.stdout.split()[-1])

    assert send() == 75
    smtp_ssl.reject_rcpt = {}
    assert send() == 0  # the retry
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    # Sent to everyone before: the same text again is a new message, with a new Message-ID.
    assert send() == 0
    again = smtp_ssl.messages[2]
    assert again.rcpt_tos == ("ok@example.com", "grey@example.com")
    assert again.message["Message-ID"] != first.message["Message-ID"]
    assert sorted(outcomes(ledger_path)) == [
        ("grey@example.com", "sent"),
        ("grey@example.com", "sent"),
        ("grey@example.com", "soft"),
        ("ok@example.com", "sent"),
        ("ok@example.com", "sent"),
    ]


def test_no_recipients_anywhere_says_where_they_were_looked_for(box, run, smtp_ssl, ledger_path):
    # "give them as arguments or use -t" told a user who gave -t to give -t; the headers were
    # read (with -t, or without arguments) and named no one.
    box()
    for args in (["-t"], ["-t", "-i"], []):
        res = run("sendmail", "-f", BOX, *args, input="Subject: hi\n\nhello\n")
        assert res.exit_code == 64, (args, res.output)
        assert res.output == (
            "Error: no recipients: the message names none in To, Cc or Bcc; add one there, or "
            "give them as arguments\n"
        ), args
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []


def test_a_retry_after_exit_75_leaves_out_a_recipient_refused_the_first_time(
    box, run, smtp_ssl, ledger_path
):
    # One recipient deferred (4xx), another refused (5xx, now suppressed): exit 75, "try again
    # later". The retry named the suppressed one again, so the whole retry was refused (65)
    # and the deferred one was never mailed. It goes to the deferred one; the refused one is
    # named (65: the script must know it never got the message), not silently dropped (0).
    box()
    three = "To: ok@example.com, grey@example.com, gone@example.com\nSubject: partly\n\nhello\n"
    smtp_ssl.reject_rcpt = {**GREY, "gone@example.com": (550, "5.1.1 no such user")}
    assert run("sendmail", "-t", "-f", BOX, input=three).exit_code == 75
    smtp_ssl.reject_rcpt = {}
    res = run("sendmail", "-t", "-f", BOX, input=three)
    assert res.exit_code == 65, res.output
    assert res.output == (
        "gone@example.com: refused for good by the first attempt; not sent again\n"
    ), res.output
    first, retry = smtp_ssl.messages
    assert retry.rcpt_tos == ("grey@example.com",)
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    assert sorted(outcomes(ledger_path)) == [
        ("gone@example.com", "hard"),
        ("grey@example.com", "sent"),
        ("grey@example.com", "soft"),
        ("ok@example.com", "sent"),
    ]


def test_a_retry_that_another_retry_finished_first_is_not_sent_again_as_a_new_message(
    box, run, smtp_ssl, ledger_path, monkeypatch
):
    # Two retries of the same deferred message at once (a cron job and a wrapper's): both find
    # ok@ reached and go to grey@ alone; the one that comes second finds grey@ reached too.
    # That read as "the same text again, a new message", and grey@ got it a second time.
    from warmup.gate import Gate

    box()
    smtp_ssl.reject_rcpt = dict(GREY)
    assert sendmail_direct(run) == 75
    smtp_ssl.reject_rcpt = {}
    send = Gate.send

    def raced(self: Gate, message: Any, recipients: list[str], *args: Any, **kw: Any) -> Any:
        if list(recipients) == ["grey@example.com"] and len(smtp_ssl.messages) == 1:
            send(self, message, recipients, *args, **kw)  # the other retry, done first
        return send(self, message, recipients, *args, **kw)

    monkeypatch.setattr(Gate, "send", raced)
    assert sendmail_direct(run) == 65
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [
        ("ok@example.com",),
        ("grey@example.com",),
    ]


def test_a_retry_through_the_relay_leaves_out_a_recipient_whose_server_blocked_it(
    box, smtp_ssl, ledger_path
):
    # Deferred for one (4xx), blocked for another (5.7.1: not suppressed, so its RCPT is taken
    # again): the retry after 75 was refused whole at the end of DATA ("refused (block)"), 65,
    # and the deferred recipient was never mailed.
    box(10)
    three = "To: ok@example.com, grey@example.com, blk@example.com\\nSubject: p\\n\\nhello\\n"
    smtp_ssl.reject_rcpt = {**GREY, "blk@example.com": (550, "5.7.1 rejected by policy")}

    def send() -> int:
        res = wrapped(f"printf '{three}' | sendmail -t; echo $?")
        assert res.returncode == 0, res.stderr
        return int(res.stdout.split()[-1])

    assert send() == 75
    smtp_ssl.reject_rcpt = {}
    res = wrapped(f"printf '{three}' | sendmail -t; echo $?")
    assert res.stdout.split()[-1] == "65", res.stderr  # blk@ never got it: named, not dropped
    assert (
        "sendmail: blk@example.com: refused for good by the first attempt; not sent again\n"
        in res.stderr
    ), res.stderr
    first, retry = smtp_ssl.messages
    assert retry.rcpt_tos == ("grey@example.com",)
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    assert ("blk@example.com", "block") in outcomes(ledger_path)


def test_a_retry_after_exit_75_needs_quota_only_for_those_not_reached(
    box, run, smtp_ssl, ledger_path
):
    # 3 a day: the first attempt took 2 slots (one sent, one deferred), 1 is left, and the retry
    # mails 1. The gate counted both recipients ("2 wanted"), refused it with 75 until the next
    # day, when the Message-ID derived is another: a new message, ok@ mailed twice.
    box(3)
    smtp_ssl.reject_rcpt = dict(GREY)
    assert sendmail_direct(run) == 75
    smtp_ssl.reject_rcpt = {}
    assert sendmail_direct(run) == 0
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [
        ("ok@example.com",),
        ("grey@example.com",),
    ]


@pytest.mark.parametrize("own_id", [False, True])
def test_a_retry_through_the_relay_reaches_the_deferred_past_one_hard_bounced_and_suppressed(
    own_id, box, smtp_ssl, ledger_path
):
    """Deferred for grey@ (4xx), hard-bounced for gone@ (5xx: suppressed since): exit 75. The
    retry was refused at RCPT TO for gone@, and the shim, all or nothing, sent nothing (65):
    grey@ was never mailed. It goes to grey@ alone now, and gone@ is named (65)."""
    box(10)
    mid = "Message-ID: <own.1@corp.example>\\n" if own_id else ""
    three = (
        f"{mid}To: ok@example.com, grey@example.com, gone@example.com\\nSubject: p\\n\\nhello\\n"
    )
    smtp_ssl.reject_rcpt = {**GREY, "gone@example.com": (550, "5.1.1 no such user")}
    res = wrapped(f"printf '{three}' | sendmail -t; echo $?")
    assert res.stdout.split()[-1] == "75", res.stderr
    smtp_ssl.reject_rcpt = {}
    res = wrapped(f"printf '{three}' | sendmail -t; echo $?")
    assert res.stdout.split()[-1] == "65", res.stderr
    said = [line for line in res.stderr.splitlines() if line.startswith("sendmail:")]
    assert len(said) == 1 and said[0].startswith(
        "sendmail: gone@example.com: 550 5.1.1 <gone@example.com> is suppressed ("
    ), res.stderr
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    assert sorted(outcomes(ledger_path)) == [
        ("gone@example.com", "hard"),
        ("grey@example.com", "sent"),
        ("grey@example.com", "soft"),
        ("ok@example.com", "sent"),
    ]
    # A first attempt naming a suppressed recipient is still all or nothing: nothing sent, 65.
    other = "To: new@example.com, gone@example.com\\nSubject: other\\n\\nhello\\n"
    res = wrapped(f"printf '{other}' | sendmail -t; echo $?")
    assert res.stdout.split()[-1] == "65", res.stderr
    said = [line for line in res.stderr.splitlines() if line.startswith("sendmail:")]
    assert len(said) == 1 and "<gone@example.com> is suppressed (" in said[0], res.stderr
    assert "warmup: 0 sent, 0 deferred (4xx), 1 refused (5xx)" in res.stderr, res.stderr
    assert len(smtp_ssl.messages) == 2


@pytest.mark.parametrize("mode", ["direct", "relay"])
def test_a_retry_of_a_message_with_its_own_message_id_reaches_only_those_not_reached(
    mode, box, run, smtp_ssl, ledger_path
):
    """A message with its own Message-ID, deferred for one recipient: the retry (the same
    message to the same people) exited 65, "send it to them alone". It goes to those not
    reached, as a retry of a derived Message-ID does; naming someone it never went to, it is
    still refused (what reached the others may be another text under a reused Message-ID)."""
    box(10)
    own = "Message-ID: <own.2@corp.example>\n" + PARTLY
    smtp_ssl.reject_rcpt = dict(GREY)

    send = functools.partial(_shim_send, mode, run)
    assert send(own)[0] == 75
    smtp_ssl.reject_rcpt = {}
    code, said = send(own)
    assert code == 0, said
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))
    assert retry.message["Message-ID"] == "<own.2@corp.example>"
    stranger = own.replace("grey@example.com", "new@example.com")
    code, said = send(stranger)
    assert code == 65 and "new@example.com" in said, said
    assert len(smtp_ssl.messages) == 2


def _shim_send(mode: str, run, text: str) -> tuple[int, str]:
    """``text`` through ``sendmail -t`` in ``mode`` (direct, or a script behind the relay):
    its exit code and what it said."""
    if mode == "direct":
        res = run("sendmail", "-t", "-f", BOX, input=text)
        return int(res.exit_code), res.output
    done = wrapped(f"printf '{text}' | sendmail -t; echo $?".replace("\n", "\\n"))
    return int(done.stdout.split()[-1]), done.stderr


def test_the_shim_s_ehlo_name_is_the_one_the_relay_answers_all_or_nothing():
    from warmup.cli import sendmail as shim
    from warmup.relay import SHIM_HELO

    assert shim.SHIM_HELO == SHIM_HELO


@pytest.mark.parametrize("mode", ["direct", "relay"])
def test_a_retry_past_one_it_reached_and_suppressed_since_exits_as_in_direct_mode(
    mode, box, run, smtp_ssl, ledger_path
):
    """ok@ got the message, grey@ was deferred; ok@ was suppressed since (a complaint, or by
    hand). The retry goes to grey@ alone in both modes, but through the relay the shim read
    the 550 'suppressed' to RCPT TO for ok@ as a refusal of its own: exit 65 and "ok@: ...
    suppressed" for someone who has the message, where direct mode exits 0."""
    box(10)
    smtp_ssl.reject_rcpt = dict(GREY)

    send = functools.partial(_shim_send, mode, run)
    assert send(PARTLY)[0] == 75
    smtp_ssl.reject_rcpt = {}
    assert run("suppress", "add", "ok@example.com", "--reason", "asked").exit_code == 0
    code, said = send(PARTLY)
    assert code == 0, said
    assert "ok@example.com" not in "".join(
        line for line in said.splitlines() if line.startswith("sendmail:")
    ), said
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))


@pytest.mark.parametrize(
    ("args", "flag"),
    [(("-Z",), "-Z"), (("-Q", "x"), "-Q"), (("-vx",), "-x"), (("--verbose",), "--verbose")],
)
def test_an_option_sendmail_lacks_is_refused_not_skipped(
    args, flag, box, run, smtp_ssl, ledger_path
):
    """An unknown option was skipped and its value read as a recipient (-Q x: 'malformed
    recipient x', 65), or skipped and the message sent regardless of what it asked: both
    sendmails refuse one, EX_USAGE."""
    box()
    res = run("sendmail", *args, "-f", BOX, "lead@example.com", input=MESSAGE)
    assert (res.exit_code, res.output) == (
        64,
        f"Error: sendmail option {flag} is unknown; leave it out and give the recipients (or "
        "-t): 'warmup sendmail --help' lists the options that count\n",
    )
    assert smtp_ssl.connections == 0 and outcomes(ledger_path) == []


@pytest.mark.parametrize("mode", ["direct", "relay"])
def test_double_dash_ends_the_options_as_getopt_ends_them_in_both_sendmails(
    mode, box, run, smtp_ssl, ledger_path
):
    """'sendmail -- -x@example.com': sendmail(8) and Postfix's sendmail(1) read their options
    with getopt(3), which ends them at '--': every word after it is a recipient, one starting
    with '-' too. It was refused as an unknown option (64), unsent. A word before '--' that
    starts with '-' is still an option, an unknown one refused; a '--' that is an option's
    value (-F --) ends nothing; a second '--' is a word after the first: a recipient."""
    box()
    if mode == "direct":
        res = run("sendmail", "-f", BOX, "--", "-x@example.com", "lead@example.com", input=MESSAGE)
        assert (res.exit_code, res.output) == (0, "")
    else:
        done = wrapped(
            f"printf '{MESSAGE}' | sendmail -- -x@example.com lead@example.com; echo $?".replace(
                "\n", "\\n"
            )
        )
        assert done.stdout.split()[-1] == "0", done.stderr
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("-x@example.com", "lead@example.com")
    assert outcomes(ledger_path) == [("-x@example.com", "sent"), ("lead@example.com", "sent")]
    if mode == "relay":
        return
    res = run("sendmail", "-f", BOX, "-y@example.com", "--", "lead@example.com", input=MESSAGE)
    assert res.exit_code == 64 and "sendmail option -y@ is unknown" in res.output, res.output
    res = run("sendmail", "-f", BOX, "-F", "--", "--", "-z@example.com", input=MESSAGE)
    assert (res.exit_code, res.output) == (0, "")
    assert smtp_ssl.messages[-1].rcpt_tos == ("-z@example.com",)
    assert smtp_ssl.messages[-1].message["From"] == f"-- <{BOX}>"  # -F's value
    res = run("sendmail", "-f", BOX, "--", "lead@example.com", "--", input=MESSAGE)
    assert (res.exit_code, res.output) == (
        65,
        "Error: malformed recipient '--': expected name@domain.tld\n",
    )
    assert len(smtp_ssl.messages) == 2


def test_sendmails_options_that_change_nothing_here_are_taken_with_their_values(
    box, run, smtp_ssl, ledger_path
):
    """'-M x' (sendmail's macro) made x a recipient: 'malformed recipient', exit 65, unsent;
    -v, -U, -G, -n, -m (verbose, kinds of submission, aliasing) were fine only by chance."""
    box()
    args = ("-M", "x", "-Mrsmtp", "-d0.1", "-e", "m", "-D", "/dev/null", "-vUGnm")
    res = run("sendmail", *args, "-f", BOX, "lead@example.com", input=MESSAGE)
    assert (res.exit_code, res.output) == (0, "")
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com",)
    assert outcomes(ledger_path) == [("lead@example.com", "sent")]


def test_a_message_of_unknown_fate_exits_69_directly_and_through_the_relay(
    box, run, smtp_ssl, ledger_path
):
    """The connection broke after the data went: directly, exit 69; through the relay the
    shim read its 554 as bad data, 65. One fate, one code: 69, final (no retry sends it
    twice), as the server went away (EX_UNAVAILABLE), nothing wrong with the message."""
    box()
    smtp_ssl.drop_mid_data = True
    res = run("sendmail", "-f", BOX, "a@example.com", input="Subject: one\n\nhi\n")
    assert res.exit_code == 69, res.output
    assert "the message may have reached a@example.com" in res.output
    relayed = wrapped("printf 'Subject: two\\n\\nhi\\n' | sendmail b@example.com; echo $?")
    assert relayed.stdout == "69\n", relayed.stderr
    assert "554 5.4.2 upstream connection lost during DATA" in relayed.stderr
    assert outcomes(ledger_path) == [("a@example.com", "unknown"), ("b@example.com", "unknown")]


def test_direct_t_reads_cr_cr_lf_lines_as_lines_and_hides_the_bcc(box, run, smtp_ssl, ledger_path):
    # A CRLF file written again in text mode ends its lines CR CR LF. Each CR was a line break
    # of its own: the header ended after its first field, so -t found no recipient (exit 64).
    box()
    message = (
        f"From: {BOX}\r\r\nTo: lead@example.com\r\r\nBcc: hidden@example.com\r\r\n"
        "Subject: crcr\r\r\n\r\r\nbody\r\r\n"
    )
    res = run("sendmail", "-t", "-i", input=message)
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert set(msg.rcpt_tos) == {"lead@example.com", "hidden@example.com"}
    assert b"hidden" not in msg.raw
    assert msg.message["Subject"] == "crcr" and msg.raw.endswith(b"\r\n\r\nbody\r\n")
    assert sorted(outcomes(ledger_path)) == [
        ("hidden@example.com", "sent"),
        ("lead@example.com", "sent"),
    ]


def _unkeyed_ids(received: Any, to: str, day_of: set[Any]) -> set[str]:
    """The Message-IDs the recipient of ``received`` could compute for the same message to
    ``to``, were a derived ID an unkeyed hash of the message: the relay's (or the gate's) added
    headers taken off its copy, its own address swapped for ``to``, in either line ending."""
    from warmup.outgoing import derived_message_id

    lines = received.raw.split(b"\r\n")
    while lines and lines[0].split(b":", 1)[0].lower() in (b"from", b"date", b"message-id"):
        del lines[0]
    own = received.rcpt_tos[0].encode()
    crlf = b"\r\n".join(lines).replace(own, to.encode())
    bodies = {crlf, crlf.replace(b"\r\n", b"\n")}
    return {derived_message_id(BOX, [to], raw, day) for raw in bodies for day in day_of}


@pytest.mark.parametrize("mode", ["direct", "relay"])
def test_a_derived_message_id_is_no_recipients_guess_of_anothers(
    mode, box, run, smtp_ssl, ledger_path
):
    # A report naming a send's own Message-ID is believed whatever its Date. The ID derived for
    # a message without one was sha256 of the mailbox, recipients, day and bytes: a lead who got
    # the template could take the added headers off their copy, put in another lead's address,
    # compute that lead's ID and forge a complaint the ledger counted (and suppressed the lead
    # by). It is keyed now by the ledger's own random key.
    import datetime as dt

    from warmup.ledger import local_day

    box()
    days = {local_day(dt.datetime.now(dt.UTC), kit_zone())}
    for to in ("ok@example.com", "other@example.com"):
        text = f"To: {to}\nSubject: offer\n\nhello\n"
        if mode == "direct":
            assert run("sendmail", "-t", "-f", BOX, input=text).exit_code == 0
        else:
            res = wrapped(f"printf '{text}' | sendmail -t")
            assert res.returncode == 0, res.stderr
    days.add(local_day(dt.datetime.now(dt.UTC), kit_zone()))
    mine, theirs = smtp_ssl.messages
    assert theirs.rcpt_tos == ("other@example.com",)
    assert theirs.message["Message-ID"].startswith("<warmup.")  # derived, not random
    assert theirs.message["Message-ID"] not in _unkeyed_ids(mine, "other@example.com", days)
    con = sqlite3.connect(ledger_path)
    try:
        (value,) = con.execute(
            "SELECT value FROM setting WHERE key = 'derive.message_id_key'"
        ).fetchone()
    finally:
        con.close()
    assert len(value.split()[0]) == 64  # 32 random bytes, the ledger's own


def test_a_retry_of_a_message_first_tried_before_the_ledger_had_a_key_keeps_its_id(
    box, run, smtp_ssl, ledger_path
):
    # Upgraded between a message's first try (exit 75) and its retry the same day: the retry
    # derives the keyed ID, which the ledger does not hold, and would mail ok@ again. On the
    # day the key was made the unkeyed form is looked for too.
    import datetime as dt

    from warmup.ledger import local_day
    from warmup.outgoing import derived_message_id

    box()
    smtp_ssl.reject_rcpt = dict(GREY)
    assert sendmail_direct(run) == 75
    keyed = smtp_ssl.messages[0].message["Message-ID"]
    day = local_day(dt.datetime.now(dt.UTC), kit_zone())
    rcpts = ["ok@example.com", "grey@example.com"]
    unkeyed = derived_message_id(BOX, rcpts, PARTLY.encode(), day)
    con = sqlite3.connect(ledger_path)
    with con:  # as the version before the key wrote the first try
        con.execute(
            "UPDATE send SET message_id = ?, key = replace(key, ?, ?)", (unkeyed, keyed, unkeyed)
        )
        # and the key made by the upgrade, now (a ledger made with its key dates it 2000)
        now = dt.datetime.now(dt.UTC).isoformat()
        con.execute(
            "UPDATE setting SET value = substr(value, 1, 64) || ' ' || ? "
            "WHERE key = 'derive.message_id_key'",
            (now,),
        )
    con.close()
    smtp_ssl.reject_rcpt = {}
    assert sendmail_direct(run) == 0
    retry = smtp_ssl.messages[1]
    assert retry.rcpt_tos == ("grey@example.com",)
    assert retry.message["Message-ID"] == unkeyed


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGHUP", 129)], ids=str)
def test_sendmail_stopped_while_connecting_is_sent_by_its_retry(
    sig, code, run, smtp_ssl, ssl_cert_env, ledger_path, tmp_path, monkeypatch
):
    """A script's sendmail killed by 'timeout' or a hang-up while its server was slow to
    answer: its slot stayed 'reserved', then 'unknown', and since the Message-ID of a message
    without one is derived from its text, the script's retry was refused as a message that may
    have gone (65), all day, though nothing had left. Now the slot is given back."""
    import signal

    from tests.gatekit import mute_server

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    policy = str(policy_file(tmp_path / "policy.toml"))
    with mute_server() as (port, connected):
        add = ("mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1")
        assert run(*add, "--smtp-port", str(port), "--policy", policy).exit_code == 0
        proc = subprocess.Popen(
            [*forkcli.command(), "sendmail", "-f", BOX, "x@example.com"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(MESSAGE)
        proc.stdin.close()
        try:
            assert connected.wait(60)
            proc.send_signal(getattr(signal, sig))
            assert proc.wait(60) == code
        finally:
            if proc.poll() is None:
                proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    assert "Traceback" not in err
    with sqlite3.connect(ledger_path) as con:
        assert con.execute("SELECT outcome FROM send").fetchall() == [("released",)]
    con.close()
    assert run("mailbox", "set", BOX, "--smtp-port", str(smtp_ssl.port)).exit_code == 0
    res = run("sendmail", "-f", BOX, "x@example.com", input=MESSAGE)
    assert res.exit_code == 0, res.output
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("x@example.com",)]
