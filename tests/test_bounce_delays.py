"""Delay warnings and reports about forwarded mail, synced from a real Dovecot on loopback.

The reports are written the way RFC 3464 documents them (section 2.3: per-recipient fields,
``Action: delayed`` with ``Will-Retry-Until``; ``Original-Recipient`` as the sender gave the
address, ``Final-Recipient`` as the reporting MTA met it, e.g. after an alias).
"""

from __future__ import annotations

import email.utils
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests import test_bounces_sync as kit
from tests.gatekit import cli
from tests.test_bounces_sync import BOX, send_many
from warmup.bounces import parse_bounces

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL
# The sync tests' fixtures: the mailbox on the SMTP sink and Dovecot.
sink = kit.sink
box = kit.box


def rfc3464(
    original_id: str,
    final: str,
    action: str,
    status: str,
    diag: str,
    n: int,
    original: str | None = None,
) -> bytes:
    """A delivery status notification as RFC 3464 documents it (its section 2 and appendix)."""
    boundary = f"rfc3464-{n}"
    orig = f"Original-Recipient: rfc822;{original}\n" if original else ""
    retry = f"Will-Retry-Until: {email.utils.formatdate()}\n" if action == "delayed" else ""
    subject = "Delivery delayed" if action == "delayed" else "Returned mail: delivery failed"
    return f"""From: MAILER-DAEMON@relay.example.net (Mail Delivery Subsystem)
To: {BOX}
Subject: {subject}
Date: {email.utils.formatdate()}
Message-ID: <report-{n}@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain

This report concerns your message to {original or final}.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
Arrival-Date: {email.utils.formatdate()}

{orig}Final-Recipient: rfc822;{final}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; {diag}
Last-Attempt-Date: {email.utils.formatdate()}
{retry}
--{boundary}
Content-Type: text/rfc822-headers

From: {BOX}
To: {original or final}
Subject: Hello
Message-ID: {original_id}

--{boundary}--
""".replace("\n", "\r\n").encode()


def delayed(original_id: str, rcpt: str, n: int) -> bytes:
    return rfc3464(
        original_id, rcpt, "delayed", "4.4.7", "421 4.4.7 mx.example.org: connection timed out", n
    )


def listed() -> dict[tuple[str, str], dict]:
    rows = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    return {(r["recipient"], r["kind"]): r for r in rows}


def sync() -> dict:
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_a_delay_warning_counts_for_nothing_and_the_failure_after_it_counts_once(ledger_url, box):
    # Five "still trying" warnings about 40 sends were five soft bounces: 12.5%, the mailbox
    # paused although every message might yet arrive.
    ids = send_many(40)
    leads = list(ids)[:5]
    for n, rcpt in enumerate(leads, 1):
        box.append("INBOX", delayed(ids[rcpt], rcpt, n))
    first = sync()
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["status"] != "paused" and q["bounce_rate"] in (None, 0.0), q
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    assert (first["bounces"], first["matched"], first["delayed"]) == (5, 5, 5)
    rows = listed()
    assert sorted(rows) == sorted((r, "delayed") for r in leads)
    assert all(r["matched"] and not r["counted"] for r in rows.values())
    assert {r["reason"] for r in rows.values()} == {"expired"}
    only = json.loads(cli("bounces", "list", BOX, "--kind", "delayed", "--json").stdout)
    assert len(only) == 5
    by_reason = cli("report", BOX, "--by-reason")
    assert by_reason.returncode == 0, by_reason.stderr
    [line] = [ln for ln in by_reason.stdout.splitlines() if "expired" in ln]
    assert line.split()[2:] == ["delayed", "5", "no", "(delay", "warning)"], line

    # The MTA gives up on the first lead: that failure counts, once, and suppresses.
    box.append(
        "INBOX",
        rfc3464(ids[leads[0]], leads[0], "failed", "5.1.1", "550 5.1.1 user unknown", 6),
    )
    res = cli("bounces", "sync", BOX)
    assert res.returncode == 0, res.stderr
    assert "recorded 1 new bounce, matched to its send" in res.stdout, res.stdout
    assert "delay warning" not in res.stdout
    box.append("INBOX", delayed(ids[leads[1]], leads[1], 7))  # a second warning: said so
    res = cli("bounces", "sync", BOX)
    assert "Of these, 1 delay warning (the server still tries:" in res.stdout, res.stdout
    rows = listed()
    assert rows[(leads[0], "hard")]["counted"] is True
    assert rows[(leads[0], "delayed")]["counted"] is False
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["bounce_rate"] == 1 / 40, q
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [
        leads[0]
    ]


def test_a_delay_warning_read_before_its_send_was_recorded_is_linked_not_counted(ledger_path, box):
    # The late link (a send recorded after the sync that read its report) counted it too.
    rcpt = "late@example.com"
    box.append("INBOX", delayed("<late-1@corp.example>", rcpt, 1))
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01", "--json")
    assert res.returncode == 0, res.stderr
    done = cli("record", "send", BOX, "--to", rcpt, "--message-id", "<late-1@corp.example>")
    assert done.returncode == 0, done.stderr
    sync()
    con = sqlite3.connect(ledger_path)  # the rollup the rates are read from
    try:
        assert con.execute("SELECT sum(sent), sum(soft) FROM day_stat").fetchone() == (1, 0)
    finally:
        con.close()
    row = listed()[(rcpt, "delayed")]
    assert (row["matched"], row["counted"]) == (True, False)


def test_a_report_about_a_forwarded_message_matches_the_address_mailed(ledger_url, box):
    # lead3 is an alias forwarding to an address the mailbox never mailed: the report names
    # that one as Final-Recipient and lead3 as Original-Recipient. It stayed unmatched: lead3
    # was mailed again and again, and the bounce never counted.
    ids = send_many(40)
    fwd = "lead3.private@forward.example"
    box.append(
        "INBOX",
        rfc3464(
            ids["lead3@example.com"],
            fwd,
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            1,
            original="lead3@example.com",
        ),
    )
    # Naming an address the mailbox mailed as the original proves nothing about another
    # message: matched as ever only by the original's Message-ID (or time, without one).
    box.append(
        "INBOX",
        rfc3464(
            "<someone-else@elsewhere.example>",
            "x@forward.example",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            2,
            original="lead5@example.com",
        ),
    )
    # Neither address ever mailed: kept unmatched, as before.
    box.append(
        "INBOX",
        rfc3464(
            "<stranger@elsewhere.example>",
            "y@forward.example",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            3,
            original="never-mailed@example.com",
        ),
    )
    got = sync()
    assert (got["bounces"], got["matched"]) == (3, 1)
    rows = listed()
    mine = rows[("lead3@example.com", "hard")]
    assert (mine["matched"], mine["counted"]) == (True, True)
    assert not rows[("lead5@example.com", "hard")]["matched"]
    assert not rows[("y@forward.example", "hard")]["matched"]
    sup = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in sup] == ["lead3@example.com"]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["bounce_rate"] == 1 / 40, q
    refused = cli("send", BOX, "--to", "lead3@example.com", "--subject", "x", "--body", "y")
    assert refused.returncode == 65 and "suppressed" in refused.stderr


def test_a_final_recipient_the_mailbox_mailed_wins_over_the_original(ledger_url, box):
    # Both named, both mailed: the report is about the Final-Recipient, as before.
    ids = send_many(3)
    box.append(
        "INBOX",
        rfc3464(
            ids["lead1@example.com"],
            "lead1@example.com",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            1,
            original="lead2@example.com",
        ),
    )
    assert sync()["matched"] == 1
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [
        "lead1@example.com"
    ]


def test_parse_json_says_delayed_and_names_the_original_recipient(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    late = tmp_path / "late.eml"
    late.write_bytes(delayed("<m1@corp.example>", "slow@example.org", 1))
    fwd = tmp_path / "fwd.eml"
    fwd.write_bytes(
        rfc3464(
            "<m2@corp.example>",
            "private@forward.example",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            2,
            original="alias@example.org",
        )
    )
    result = run("bounces", "parse", "--json", str(late), str(fwd))
    assert result.exit_code == 0, result.output
    [a], [b] = (item["bounces"] for item in json.loads(result.output))
    assert (a["recipient"], a["kind"], a["reason"], a["delayed"]) == (
        "slow@example.org",
        "soft",
        "expired",
        True,
    )
    assert a["original_recipient"] == ""
    # The failed recipient stays the Final-Recipient (what the corpus figures follow).
    assert (b["recipient"], b["original_recipient"], b["kind"], b["delayed"]) == (
        "private@forward.example",
        "alias@example.org",
        "hard",
        False,
    )
    text = run("bounces", "parse", str(late), str(fwd))
    assert text.exit_code == 0, text.output
    first, second = text.output.splitlines()
    assert first.split()[1] == "delayed" and "(sent to alias@example.org)" in second
    # The library says so too.
    [bounce] = parse_bounces(late.read_bytes())
    assert bounce.delayed and bounce.kind == "soft"


def test_a_forwarded_report_read_before_its_send_counts_once_the_send_is_recorded(ledger_url, box):
    # The report about a forwarded message was read by a sync before its send was recorded
    # (`record send` afterwards, or another host's gate): the late link tried only the
    # Final-Recipient, an address the mailbox never mailed, so it never counted.
    send_many(20)
    mailed = "late@example.com"
    report = rfc3464(
        "<fwd-late-1@corp.example>",
        "late.private@forward.example",
        "failed",
        "5.1.1",
        "550 5.1.1 user unknown",
        1,
        original=mailed,
    )
    box.append("INBOX", report)
    # A stranger's report naming as its original an address the mailbox never mails.
    box.append(
        "INBOX",
        rfc3464(
            "<fwd-late-2@corp.example>",
            "z@forward.example",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            2,
            original="never-mailed@example.com",
        ),
    )
    # One naming an address the mailbox mails later, but about another message.
    box.append(
        "INBOX",
        rfc3464(
            "<someone-else@elsewhere.example>",
            "w@forward.example",
            "failed",
            "5.1.1",
            "550 5.1.1 user unknown",
            3,
            original="late2@example.com",
        ),
    )
    first = sync()
    assert (first["bounces"], first["matched"]) == (3, 0)
    for rcpt, mid in ((mailed, "<fwd-late-1@corp.example>"), ("late2@example.com", "<l2@x>")):
        done = cli("record", "send", BOX, "--to", rcpt, "--message-id", mid)
        assert done.returncode == 0, done.stderr
    second = sync()
    assert second["linked"] == 1, second
    for _ in range(2):  # linked once: a later sync links nothing more and counts it once
        rows = listed()
        mine = rows[(mailed, "hard")]
        assert (mine["matched"], mine["counted"]) == (True, True)
        assert sum(r["counted"] for r in rows.values()) == 1
        assert not rows[("z@forward.example", "hard")]["matched"]
        assert not rows[("w@forward.example", "hard")]["matched"]
        q = json.loads(cli("quota", BOX, "--json").stdout)[0]
        assert q["bounce_rate"] == round(1 / 22, 6), q
        sup = json.loads(cli("suppress", "list", "--json").stdout)
        assert [s["address"] for s in sup] == [mailed]
        assert sync()["linked"] == 0


UNKNOWN_4XX = "450 4.1.1 <{0}>: Recipient address rejected: User unknown in local recipient table"

# A notice with no DSN part, in sendmail's words for a delay: the server still tries.
TEXT_DELAY = """From: MAILER-DAEMON@relay.example.net (Mail Delivery Subsystem)
To: {box}
Subject: Warning: could not send message for past 4 hours
Date: {date}
Message-ID: <text-delay-{n}@relay.example.net>

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Thu, 3 Dec 2026 06:00:00 GMT
from localhost [127.0.0.1]

   ----- Transcript of session follows -----
<{rcpt}>... Deferred: 450 4.1.1 <{rcpt}>: Recipient address rejected: User unknown
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old
"""


def test_a_delay_warning_with_a_4xx_user_unknown_is_no_verdict_on_the_address(
    ledger_url, box, tmp_path: Path
) -> None:
    """A 4xx "user unknown" is hard in a report of a delivery given up on (Action: failed):
    in a delay warning (Action: delayed, or a notice saying it still tries) the server has
    not given up, and the address may yet take the message. The parser called it hard (the
    library's Bounce.kind, 'bounces parse --json'); the ledger keeps it as a delay warning."""
    ids = send_many(3)
    lead, other, _ = ids
    warning = rfc3464(ids[lead], lead, "delayed", "4.1.1", UNKNOWN_4XX.format(lead), 1)
    text = TEXT_DELAY.format(box=BOX, date=email.utils.formatdate(), n=2, rcpt=other)
    text_raw = text.replace("\n", "\r\n").encode()
    for raw in (warning, text_raw):
        [bounce] = parse_bounces(raw)
        assert bounce.delayed and bounce.kind == "soft", bounce
        assert bounce.reason == "userunknown" and "retried, never hard" in bounce.steps[-2]
    eml = tmp_path / "delayed.eml"
    eml.write_bytes(warning)
    res = cli("bounces", "parse", "--json", str(eml))
    [b] = json.loads(res.stdout)[0]["bounces"]
    assert (b["kind"], b["delayed"]) == ("soft", True), b
    # Synced from Dovecot: a delay warning, matched, neither counted nor suppressing.
    box.append("INBOX", warning)
    box.append("INBOX", text_raw)
    got = sync()
    assert (got["bounces"], got["matched"], got["delayed"]) == (2, 2, 2), got
    rows = listed()
    assert sorted(rows) == [(lead, "delayed"), (other, "delayed")]
    assert not any(r["counted"] for r in rows.values())
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    # The server gives up on the lead: that report's 4.1.1 is the verdict, and counts.
    box.append("INBOX", rfc3464(ids[lead], lead, "failed", "4.1.1", UNKNOWN_4XX.format(lead), 3))
    sync()
    assert listed()[(lead, "hard")]["counted"] is True
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in suppressed] == [lead]


def test_a_forged_4xx_user_unknown_for_an_address_never_mailed_counts_for_nothing(
    ledger_url, box
) -> None:
    """A report of a delivery given up on, with 450 4.1.1, about an address this mailbox never
    sent to (anyone may write one into its inbox): kept and listed, never counted, never
    suppressing (DESIGN invariant 8), now that such a 4xx is hard."""
    ids = send_many(2)
    stranger = "ceo@example.com"
    box.append(
        "INBOX",
        rfc3464(
            next(iter(ids.values())), stranger, "failed", "4.1.1", UNKNOWN_4XX.format(stranger), 1
        ),
    )
    got = sync()
    assert (got["bounces"], got["matched"]) == (1, 0), got
    row = listed()[(stranger, "hard")]
    assert (row["matched"], row["counted"]) == (False, False)
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["bounce_rate"] in (None, 0.0), q


# Postfix's delay notice (its delay_template) with no DSN part, as a gateway that keeps only a
# report's text passes it on: "could not be delivered for 4.0 hours" so far, and retried on.
POSTFIX_TEXT_DELAY = """From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: {box}
Subject: Delayed Mail (still being retried)
Date: {date}
Message-ID: <postfix-delay-{n}@relay.example.net>

This is the mail system at host relay.example.net.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for 4.0 hours.
It will be retried until it is 5.0 days old.

                   The mail system

<{rcpt}>: host mx.example.org[192.0.2.1] said: 450 4.1.1 <{rcpt}>: Recipient
    address rejected: User unknown in local recipient table (in reply to RCPT TO
    command)
"""


def test_postfix_delay_words_without_a_dsn_part_are_a_delay_warning(ledger_url, box) -> None:
    """'could not be delivered for 4.0 hours' read as a failure given up on, though the notice
    says 'THIS IS A WARNING ONLY' and 'It will be retried until it is 5.0 days old': counted as
    a bounce, and since a report's 4xx 'user unknown' is hard, the address was suppressed while
    Postfix still tried it."""
    ids = send_many(2)
    lead = next(iter(ids))
    text = POSTFIX_TEXT_DELAY.format(box=BOX, date=email.utils.formatdate(), n=1, rcpt=lead)
    raw = text.replace("\n", "\r\n").encode()
    [bounce] = parse_bounces(raw)
    assert (bounce.delayed, bounce.kind, bounce.reason) == (True, "soft", "userunknown"), bounce
    box.append("INBOX", raw)
    got = sync()
    assert (got["bounces"], got["matched"], got["delayed"]) == (1, 1, 1), got
    assert listed()[(lead, "delayed")]["counted"] is False
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
