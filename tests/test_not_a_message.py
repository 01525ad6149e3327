"""What is clearly no mail message is refused, on every path that reads one, before anything
is reserved.

``generate | warmup send BOX --eml - --to lead@...`` with a generator that printed a JSON
object sent ``{"to"`` as a header (RFC 5322 allows the name) and an empty body to the lead:
a slot of the day spent on garbage, from a mailbox warming up. A header section that names
none of the fields a message has is refused now; a message of headers only, or of body text
only (``echo done | sendmail admin@...``), still goes.
"""

from __future__ import annotations

import pytest

from tests.gatekit import BOX, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import free_port
from tests.test_relay import ledger_sends, relay, submit  # noqa: F401 (fixture)
from tests.test_sendmail import wrapped
from warmup.errors import DataError
from warmup.headers import header_section

JSON = '{"to": "lead@example.com", "subject": "Offer", "body": "Hello"}\n'
SAID = (
    "Error: this is not a mail message: its headers name none of the fields a message has "
    "(From, To, Subject, Date, Message-ID, MIME-Version, Content-Type, ...); it begins "
    '\'{"to": "lead@example.com", "subject": "O\'. Give headers, an empty line, then the '
    "body (begin with an empty line to send the text as body alone)\n"
)


@pytest.fixture
def box(smtp_ssl, ssl_cert_env, monkeypatch):
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(smtp_ssl.port, imap_port=free_port())


def test_send_eml_refuses_a_json_object_on_standard_input(box, run, smtp_ssl, ledger_path):
    res = run("send", BOX, "--eml", "-", "--to", "lead@example.com", input=JSON)
    assert res.exit_code == 65, res.output
    assert res.output == SAID
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


def test_every_reader_refuses_it_alike(box, run, smtp_ssl, tmp_path, ledger_path):
    path = tmp_path / "offer.eml"
    path.write_text(JSON)
    for res in (
        run("send", BOX, "--eml", str(path), "--to", "lead@example.com"),
        run("sendmail", "-f", BOX, "lead@example.com", input=JSON),
        run("queue", "add", "--mailbox", BOX, "--eml", str(path)),
    ):
        assert res.exit_code == 65, res.output
        assert res.output.endswith(SAID[len("Error: ") :]), res.output
        assert len(res.output.splitlines()) == 1
    assert cli("queue", "list", "--json").stdout.strip() == "[]"
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


def test_the_relay_and_its_shim_refuse_it(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    ledger_path,
):
    code, text = submit(relay(), JSON.encode())
    assert code == 550, text
    assert text.startswith("5.6.0 this is not a mail message"), text
    # the shim reads it first, as sendmail does directly (exit 65, one line)
    shell = f"printf '%s' '{JSON}' | sendmail lead@example.com; echo $?"
    through = wrapped(shell)
    assert through.returncode == 0, through.stderr
    assert through.stdout == "65\n"
    assert "this is not a mail message" in through.stderr
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


@pytest.mark.parametrize(
    "text",
    [
        JSON,
        "{'to': 'lead@example.com'}\n",  # a Python dict's repr
        "Error: disk full on /var\n",  # a cron job's one line: no field a message has
        "status: ok\ncount: 3\n\nrest\n",  # YAML-ish keys, none a message field
    ],
    ids=["json", "dict", "one-line", "keys"],
)
def test_a_header_section_naming_no_message_field_is_refused(text):
    with pytest.raises(DataError, match=r"^this is not a mail message: "):
        header_section(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "Subject: done\n",  # headers only
        "Subject: done\n\n",
        "done\n",  # body text only, as sendmail reads it
        "backup done\nno errors\n",
        '{\n  "to": "lead@example.com"\n}\n',  # pretty-printed JSON: body text, as sendmail reads it
        "\nError: disk full on /var\n",  # an empty first line: all body
        "X-Job: backup\n\nfine\n",
        "Content-Type: text/plain\n\nfine\n",
        "Resent-To: a@example.com\n\nfine\n",
        "From sales@corp.example Tue Dec  1 10:00:00 2026\nTo: a@example.com\n\nhi\n",
        "DKIM-Signature: v=1\nX-Other: 1\n\nhi\n",
    ],
)
def test_a_message_of_headers_or_of_body_alone_still_goes(text):
    assert header_section(text.encode())


@pytest.mark.parametrize(
    "text",
    ["Subject: done\n", "done\n", "\nError: disk full on /var\n"],
    ids=["headers-only", "body-only", "empty-first-line"],
)
def test_they_reach_the_lead(box, run, smtp_ssl, text):
    res = run("sendmail", "-f", BOX, "lead@example.com", input=text)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.com",)
    if text.startswith("\n"):
        assert got.message.get_content().replace("\r\n", "\n") == text[1:]
