"""Text that came from elsewhere (a bounce's recipient and diagnostic, a reason kept in the
ledger) reaches the terminal as text: its control characters shown as escapes, never acted on
(an OSC sequence retitles the window, a CR overwrites the line, U+202E reverses what follows)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from warmup import api
from warmup.ledger import BounceIn, open_ledger
from warmup.words import shown

BOX = "sales@corp.example"
HOSTILE = "\x1b]0;PWNED\x07\x1b[2Jgone\rOVER\u202etxt.exe"
# What a terminal would act on: ESC, BEL, CR and the right-to-left override.
ACTED_ON = ("\x1b", "\x07", "\r", "\u202e")


def dsn(recipient: str, diagnostic: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example\r\n"
        f"To: {BOX}\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "Message-ID: <dsn1@mx.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 user unknown {diagnostic}\r\n"
        "\r\n--B--\r\n"
    ).encode()


def test_shown_escapes_only_what_a_terminal_acts_on():
    assert shown(HOSTILE) == "\\x1b]0;PWNED\\x07\\x1b[2Jgone\\x0dOVER\\u202etxt.exe"
    assert shown("用户@例子.中国 café\u200d") == "用户@例子.中国 café\u200d"


def test_bounces_parse_shows_a_hostile_diagnostic_as_text(run, tmp_path: Path):
    eml = tmp_path / "hostile.eml"
    eml.write_bytes(dsn("gone@example.com", "\x1b]0;PWNED\x07\x1b[2J"))
    res = run("bounces", "parse", str(eml))
    assert res.exit_code == 0, res.output
    assert not [c for c in ACTED_ON if c in res.output]
    assert "gone@example.com" in res.output and "]0;PWNED" in res.output
    # The parser keeps no control character of a stranger's words (U+FFFD instead), so the
    # JSON for programs, and the ledger, hold none either
    [item] = json.loads(run("bounces", "parse", "--json", str(eml)).output)
    diagnostic = item["bounces"][0]["diagnostic"]
    assert "]0;PWNED" in diagnostic and not [c for c in ACTED_ON if c in diagnostic]


def test_bounces_list_and_suppress_list_show_ledger_text_as_text(run, ledger_path: Path):
    """Rows a ledger may hold from before recipients and reasons were checked (or written by
    any client of the ledger): the listings show them, escaped."""
    ledger = open_ledger(str(ledger_path))
    box = api.add_mailbox(ledger, BOX, "exmail")
    when = dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC)
    ledger.record_synced(box, "INBOX", 1, 1, [BounceIn(HOSTILE, "hard", when, "k1", trusted=False)])
    ledger.suppress(["x@example.com"], "manual", HOSTILE)
    ledger.close()
    for args in (("bounces", "list"), ("suppress", "list")):
        res = run(*args)
        assert res.exit_code == 0, res.output
        assert not [c for c in ACTED_ON if c in res.output], args
        assert shown(HOSTILE) in res.output
        # the header and one row (and, for the bounce, why it is not counted): no CR inside
        assert len(res.output.splitlines()) == (3 if args[0] == "bounces" else 2), res.output
    [row] = json.loads(run("bounces", "list", "--json").output)
    assert row["recipient"] == HOSTILE


def test_suppress_add_refuses_a_reason_a_listing_could_not_show(run, migrated: Path):
    """A manual suppression's reason is one line of text, as a pause's is (exit 65 for control
    characters or more than 500 characters, 64 for none), and nothing is kept; it was stored
    as given and printed raw by 'suppress list'."""
    from tests.conftest import ledger_digest

    before = ledger_digest(migrated)
    for reason, code in (
        ("asked\x1b]0;PWNED\x07", 65),
        ("asked\rOVER", 65),
        ("x" * 501, 65),
        ("  ", 64),
    ):
        res = run("suppress", "add", "a@example.com", "b@example.com", "--reason", reason)
        assert res.exit_code == code, (reason, res.output)
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
        assert "--reason" in res.output
        assert ledger_digest(migrated) == before
    res = run("suppress", "add", "A@Example.com", "b@example.com", "--reason", " asked ")
    assert (res.exit_code, res.output) == (0, "Suppressed 2 addresses.\n")
    assert [
        (s["address"], s["reason"]) for s in json.loads(run("suppress", "list", "--json").output)
    ] == [
        ("a@example.com", "asked"),
        ("b@example.com", "asked"),
    ]
    res = run("suppress", "add", "not-an-address", "--reason", "asked")
    assert res.exit_code == 65 and "malformed address" in res.output


def test_a_recipient_with_control_characters_is_no_recipient(tmp_path: Path):
    """A Final-Recipient the address pattern does not match is kept as written when it could be
    an address (one without a dot in its domain); one with control characters or blanks is no recipient (kept,
    listed, tied to no send) rather than text for the ledger and every listing."""
    from warmup.bounces import parse_report

    cases = {
        "\x1b]0;PWN@x\x07": "",
        "a b@example": "",
        "gone@localhost": "gone@localhost",
        "gone@example.com": "gone@example.com",
    }
    for n, (written, expected) in enumerate(cases.items()):
        eml = tmp_path / f"{n}.eml"
        eml.write_bytes(
            dsn("", "").replace(
                b"Final-Recipient: rfc822; ", b"Final-Recipient: rfc822; " + written.encode()
            )
        )
        [item] = parse_report([str(eml)])
        assert [b["recipient"] for b in item["bounces"]] == [expected], written


def test_empty_listings_say_so_and_name_the_filter(run, migrated: Path):
    """'bounces list' and 'suppress list' printed a bare header when there was nothing, unlike
    'mailbox list', 'pool list' and 'queue list'; a filtered list did not say the filter left
    nothing."""
    ledger = open_ledger(str(migrated))
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()
    assert run("bounces", "list").output == "No bounces.\n"
    res = run("bounces", "list", BOX, "--kind", "hard", "--since", "2026-11-01")
    assert (res.exit_code, res.output) == (
        0,
        f"No bounces of {BOX} --kind hard --since 2026-11-01.\n",
    )
    assert run("suppress", "list").output == "No suppressed addresses.\n"
    assert json.loads(run("bounces", "list", "--json").output) == []
    assert json.loads(run("suppress", "list", "--json").output) == []


def test_bounces_list_of_a_ledger_with_no_mailbox_says_so_as_report_does(run, migrated: Path):
    """With no mailbox in the ledger (none added yet, or all removed) 'bounces list' said "No
    bounces." where 'report', 'report --by-reason', 'quota' and 'plan' say there is no mailbox
    and how to add one: the same line, exit 0; the JSON stays []."""
    none = "No mailboxes yet: add one with 'warmup mailbox add ADDRESS --provider exmail'.\n"
    for args in (("bounces", "list"), ("bounces", "list", "--kind", "hard"), ("report",)):
        res = run(*args)
        assert (res.exit_code, res.output) == (0, none), args
    assert json.loads(run("bounces", "list", "--json").output) == []


def test_bounces_list_shows_which_bounces_count(run, migrated: Path):
    """The README says 'bounces list' shows `matched` and `counted`: the table showed only
    MATCHED, so a second report about a send (matched, yet not counted in the bounce rate)
    looked like one that counts; only --json told them apart."""
    ledger = open_ledger(str(migrated))
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()
    # the bounces the next day: recorded at the real time, from 30 December 2026 on they came
    # more than 30 days (MATCH_WINDOW) after the send, matched none, and the lines differed
    for args in (
        ("record", "send", BOX, "--to", "a@example.com", "--at", "2026-11-30T10:00"),
        ("record", "bounce", BOX, "--to", "a@example.com", "--kind", "soft", "--at", "2026-12-01T10:00"),
        ("record", "bounce", BOX, "--to", "a@example.com", "--kind", "hard", "--at", "2026-12-01T10:01"),
        ("record", "bounce", BOX, "--to", "b@example.com", "--kind", "hard", "--at", "2026-12-01T10:02"),
    ):  # fmt: skip
        res = run(*args)
        assert res.exit_code == 0, res.output
    res = run("bounces", "list")
    assert res.exit_code == 0, res.output
    header, *rows, stranger, second = res.output.splitlines()
    assert header.split()[-2:] == ["MATCHED", "COUNTED"], header
    assert (stranger, second) == (
        f"Not counted: b@example.com: {BOX} never mailed b@example.com",
        "Not counted: a@example.com: a second report of a send whose failure is already counted",
    )
    shown_rows = {(r.split()[4], r.split()[5]): r.split()[-2:] for r in rows}
    assert shown_rows == {
        ("b@example.com", "hard"): ["no", "no"],
        ("a@example.com", "hard"): ["yes", "no"],
        ("a@example.com", "soft"): ["yes", "yes"],
    }, res.output
    by_json = {
        (r["recipient"], r["kind"]): r for r in json.loads(run("bounces", "list", "--json").output)
    }
    for key, (matched, counted) in shown_rows.items():
        assert (by_json[key]["matched"], by_json[key]["counted"]) == (
            matched == "yes",
            counted == "yes",
        )


def test_suppress_add_refuses_a_pattern_it_would_keep_as_one_literal_address(run, migrated: Path):
    """'*@example.org' is a valid address to the RFC ('*' is an atext character), so it was kept
    as that one address: the user believed example.org suppressed while every address there
    went on being mailed. warmup suppresses exact addresses; a pattern is refused (exit 65),
    nothing kept, and an address with no wildcard in the same call is not kept either."""
    from tests.conftest import ledger_digest

    before = ledger_digest(migrated)
    for pattern in ("*@example.org", "*@*.example.org", "sales%@example.org", "a?b@example.org"):
        res = run("suppress", "add", "ok@example.com", pattern, "--reason", "whole domain")
        assert res.exit_code == 65, (pattern, res.output)
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
        assert pattern in res.output and "exact addresses" in res.output
        assert ledger_digest(migrated) == before
    # A plus address is an exact address, however it looks.
    res = run("suppress", "add", "a+news@example.com", "--reason", "asked")
    assert (res.exit_code, res.output) == (0, "Suppressed 1 address.\n")


def test_import_shows_a_hostile_header_and_file_name_as_text(run, tmp_path: Path, ledger_path):
    """A log from elsewhere names its own columns, and a file saved from a mail or a share its
    own name: the summary line printed both as they were, an OSC retitling the terminal."""
    log = tmp_path / "log\x1b]0;PWNED\x07.csv"
    column = HOSTILE.replace("\r", "")  # a CR would end the header's line
    log.write_text(
        f"mailbox,recipient,sent_at,provider,{column}\n"
        f"{BOX},lead@example.com,2026-11-30T09:00:00+08:00,exmail,x\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert not [c for c in ACTED_ON if c in res.output], res.output
    assert res.output.startswith(f"Imported 1 new send and 0 new bounces from {shown(str(log))}.")
    assert f"Ignored 1 column warmup does not read: {shown(column)}." in res.output
    assert json.loads(run("import", "--json", str(log)).output)["ignored_columns"] == [column]


def test_quota_shows_a_hostile_mailbox_and_pause_reason_as_text(run, ledger_path: Path):
    """Rows any client of a (team) ledger may have written: the table escaped the mailbox,
    while the reasons under it, headed by the mailbox, printed it and a pause's reason as
    they were."""
    import sqlite3

    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()
    assert run("mailbox", "pause", BOX, "--reason", "list review").exit_code == 0
    hostile = HOSTILE.replace("\r", "")
    con = sqlite3.connect(ledger_path)
    with con:
        con.execute("UPDATE mailbox SET address = ?", (f"{hostile}@corp.example",))
        con.execute("UPDATE event SET reason = ?", (hostile,))
    con.close()
    res = run("quota")
    assert res.exit_code == 0, res.output
    assert not [c for c in ACTED_ON if c in res.output], res.output
    assert f"\n{shown(hostile)}@corp.example:\n" in res.output
    assert f": {shown(hostile)}; run 'warmup mailbox resume'" in res.output
