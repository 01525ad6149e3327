"""What the outbox shows of text from elsewhere: a server's reply, a message's headers, a
CSV's fields. A terminal acts on control characters instead of showing them (an escape
sequence retitles the window, clears the screen, hides the rest of the line), so they are
shown as escapes, as `queue list`'s table already did, and a Subject never carries one, not
even spelled as an RFC 2047 encoded word."""

from __future__ import annotations

import json

from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import TEMPLATE, pool_of

# An OSC sequence (retitles the terminal window; ends with BEL): click strips only CSI
# colour codes from output that is not a terminal, so this one reaches it as written.
OSC = "\x1b]0;owned\x07"


def test_a_server_reply_with_escapes_is_shown_escaped_by_run_and_queue_show(
    sink, ssl_cert_env, tmp_path
):
    pool_of(sink.port, tmp_path, n=1, daily=50)
    tpl = tmp_path / "t.toml"
    tpl.write_text(TEMPLATE, encoding="utf-8")
    leads = tmp_path / "l.csv"
    leads.write_text("email,name,company\na1@example.com,Al,Acme\n", encoding="utf-8")
    res = cli("queue", "add", "--pool", "P", "--csv", str(leads), "--template", str(tpl))
    assert res.returncode == 0, res.stderr
    sink.data_reply = (450, f"4.7.1 try later {OSC}")
    res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert "try later" in res.stdout
    assert "\x1b" not in res.stdout + res.stderr and "\x07" not in res.stdout + res.stderr
    assert "try later \\x1b]0;owned\\x07" in res.stdout
    shown = cli("queue", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "last_reply: a1@example.com: soft 450 4.7.1 try later \\x1b]0;owned\\x07" in shown.stdout
    # the ledger and --json keep what the server said
    (row,) = json.loads(cli("queue", "list", "--json").stdout)
    assert row["last_reply"].endswith(f"try later {OSC}")


def test_queue_show_escapes_an_eml_header_s_control_characters(run, tmp_path):
    """A script's message (an .eml, the relay, the API) may carry anything in an encoded word."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        b"From: a@corp.example\r\nTo: r@example.com\r\n"
        b"Subject: =?utf-8?q?hi_=1B]0;owned=07?=\r\n\r\nbody\r\n"
    )
    assert run("queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml)).exit_code == 0
    res = run("queue", "show", "1")
    assert res.exit_code == 0, res.output
    assert "Subject: hi \\x1b]0;owned\\x07\n" in res.output
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert json.loads(run("queue", "show", "1", "--json").output)["headers"]["Subject"] == (
        f"hi {OSC}"
    )


def test_a_field_spelling_a_control_character_as_an_encoded_word_is_refused(run, tmp_path):
    """'=?utf-8?q?=1B...?=' in a field is plain ASCII, so the Subject's control check let it
    through and the header was written as is: every recipient's mail client decoded it to
    ESC (or NUL) in the Subject."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    tpl = tmp_path / "t.toml"
    tpl.write_text(TEMPLATE, encoding="utf-8")
    leads = tmp_path / "l.csv"
    leads.write_text(
        "email,name,company\nok@example.com,Al,Acme\nx@example.com,=?utf-8?q?=00=1B[2J?=,Acme\n",
        encoding="utf-8",
    )
    args = ("--mailbox", "a@corp.example", "--csv", str(leads), "--template", str(tpl))
    res = run("queue", "add", *args)
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {leads}: line 3: the subject holds the control ")
    assert res.output.count("\n") == 1
    assert json.loads(run("queue", "list", "--json").output) == []


def test_an_encoded_word_of_plain_text_in_a_field_is_still_queued(run, tmp_path):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    tpl = tmp_path / "t.toml"
    tpl.write_text(TEMPLATE, encoding="utf-8")
    leads = tmp_path / "l.csv"
    leads.write_text("email,name,company\nx@example.com,=?utf-8?q?Zo=C3=AB?=,Acme\n")
    args = ("--mailbox", "a@corp.example", "--csv", str(leads), "--template", str(tpl))
    res = run("queue", "add", *args)
    assert res.exit_code == 0, res.output
