"""Written fixtures (tests/corpus/written): Chinese providers' NDRs, out-of-office and
challenge-response auto-replies in several languages, through the parser and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from warmup.bounces import parse_bounces

WRITTEN = Path(__file__).parent / "corpus" / "written"
DSN = Path(__file__).parent / "corpus" / "dsn" / "eml"

# file -> (recipient, kind, reason)
NDRS = {
    "qq-userunknown.eml": ("nobody-here@qq.com", "hard", "userunknown"),
    "exmail-full.eml": ("li.lei@client.example", "soft", "mailboxfull"),
    "exmail-frequency.eml": ("han.mei@client.example", "soft", "toomanyconn"),
    "netease-163-userunknown.eml": ("wang.fang@163.com", "hard", "userunknown"),
    "netease-qiye-spam.eml": ("zhao.lei@client-qiye.example", "block", "spamdetected"),
    "aliyun-userunknown.eml": ("chen.jing@client-ali.example", "hard", "userunknown"),
    "aliyun-antispam.eml": ("sun.yu@client-ali.example", "soft", "toomanyconn"),
    # Chinese wording only (README: sources). A rate limit is never a block nor hard; a
    # refusal of the sender is a block, never an unknown reason left soft.
    "aliyun-frequency-zh.eml": ("zhou.min@client-ali.example", "soft", "toomanyconn"),
    "exmail-frequency-zh.eml": ("liu.yang@client.example", "soft", "toomanyconn"),
    "qq-refused-zh.eml": ("ma.li@qq.com", "block", "blocked"),
    "netease-126-hl-ipb.eml": ("xu.ping@126.com", "block", "blocked"),
    "netease-163-imf.eml": ("he.jun@163.com", "block", "rejected"),
    # Postfix gave up after days of "450 4.1.1 ... User unknown": the address is bad (hard),
    # though each reply was a 4xx (a live one would be retried, never hard)
    "postfix-4xx-gave-up.eml": ("gone.lead@client.example", "hard", "userunknown"),
    # A Final-Recipient masked by the forwarding service ("****@****"): no address, so the
    # Original-Recipient (the address mailed) is the bounce's recipient, never the mask
    "postfix-masked-final-recipient.eml": ("dana.reyes@client.example", "soft", "mailboxfull"),
    # "X-LOCAL; 500 (err.nosuchuser)": the reporting host's own local delivery, its directory's
    # verdict (no remote reply a filter could mask), and its 500 no SMTP syntax error
    "x-local-nosuchuser.eml": ("old.member@lists-client.example", "hard", "userunknown"),
    # No Diagnostic-Code and no Remote-MTA (RFC 3464: both are the remote MTA's part), and a
    # notice that quotes no server's reply: "Unknown user" is the reporting host's own verdict
    # (Exim's router), not a relayed reply a filter could mask
    "exim-own-verdict-no-diagnostic.eml": (
        "j.moreau@webhost-client.example",
        "hard",
        "userunknown",
    ),
    # "no such user" under 5.7.1, and the notice states the reply answered RCPT TO: the
    # directory's verdict, not a filter's mask behind a policy status
    "postfix-rcpt-stated-policy-status.eml": ("m.okafor@client.example", "hard", "userunknown"),
    # Lotus Domino's German release: "nicht im Domino-Verzeichnis aufgeführt" is its directory's
    # verdict as "not listed in Domino Directory" is in English, under the 5.0.0 it gives all
    "domino-de-not-in-directory.eml": ("k.brandt@handelshaus.example", "hard", "userunknown"),
    # "X-Postfix; unknown user: ..." under 5.0.0, no Remote-MTA: Postfix's own local delivery
    # found no such user (its directory's verdict), not a relayed reply a filter could mask
    "postfix-own-note-unknown-user.eml": ("t.lindqvist@hostingco.example", "hard", "userunknown"),
    # Postfix's SMTP client transcript: "User unknown" under 5.0.0 on the line after RCPT TO,
    # which it answers: the directory's verdict at RCPT, not a relayed reply of no known stage
    "postfix-client-transcript-rcpt.eml": (
        "d.okonkwo@lawfirm-client.example",
        "hard",
        "userunknown",
    ),
    # the same with no enhanced code on the failing reply: the "2.0.0" of QUIT's reply after it
    # is no status of the failure (it was read as delivered)
    "postfix-client-transcript-no-status.eml": (
        "r.ishikawa@partner-firm.example",
        "hard",
        "userunknown",
    ),
    # a multi-line reply whose later line opens with the bare code ("no such 550 user here"):
    # the code split the words, read as nothing (soft, mailed again)
    "postfix-multiline-reply-bare-codes.eml": (
        "ana.ruiz@clinic-client.example",
        "hard",
        "userunknown",
    ),
}
# Written fixtures whose volume wording is Chinese only: the decision is the throttle rule.
THROTTLED = ("aliyun-frequency-zh.eml", "exmail-frequency-zh.eml")
# delay warnings in plain words (no DSN part): file -> (recipient, kind)
DELAYS = {"exim-delay.eml": ("lead@client.example", "soft")}
AUTO_REPLIES = sorted(p.name for p in WRITTEN.glob("*.eml") if p.name.startswith(("ooo-", "chal")))
# feedback reports: file -> (recipient, kind, reason)
COMPLAINTS = {"arf-optout-unfolded-boundary.eml": ("erin.h@isp.example", "complaint", "feedback")}


@pytest.mark.parametrize("name", sorted(NDRS))
def test_chinese_provider_ndr(name: str) -> None:
    (bounce,) = parse_bounces((WRITTEN / name).read_bytes())
    assert (bounce.recipient, bounce.kind, bounce.reason) == NDRS[name], bounce.steps
    assert bounce.rule and bounce.steps


def test_every_written_file_is_expected() -> None:
    assert sorted(p.name for p in WRITTEN.glob("*.eml")) == sorted(
        [*NDRS, *DELAYS, *AUTO_REPLIES, *COMPLAINTS]
    )
    assert len(AUTO_REPLIES) >= 9


def test_a_feedback_report_whose_boundary_was_not_folded_keeps_its_fields() -> None:
    """An ARF report whose Content-Type continues on an unindented line ("boundary=..." read as
    no header at all) is re-read by the boundary its body shows, as a delivery status one is:
    its Feedback-Type (opt-out) and the Removal-Recipient it names are the report's, not lost
    with the MIME structure (form observed in PHP-Bounce-Handler's public test messages)."""
    name = "arf-optout-unfolded-boundary.eml"
    got = parse_bounces((WRITTEN / name).read_bytes())
    assert [(b.recipient, b.kind, b.reason) for b in got] == [COMPLAINTS[name]], [
        b.steps for b in got
    ]
    assert got[0].diagnostic.startswith("opt-out"), got[0].diagnostic


@pytest.mark.parametrize("name", THROTTLED)
def test_chinese_volume_words_are_a_throttle(name: str) -> None:
    """ "发信频率过快" / "发送频率过高" (sending too fast: Alibaba Mail and Tencent Exmail's
    documented wording) with no English: read as the speeding of one recipient, and Alibaba's
    "[ANTISPAM_BAT]" (the name of its rate rule) as a spam block that counted against the
    sender; both are our sending volume."""
    (bounce,) = parse_bounces((WRITTEN / name).read_bytes())
    assert bounce.rule == "throttle", bounce.steps


@pytest.mark.parametrize("name", sorted(NDRS))
def test_an_ndr_is_no_delay(name: str) -> None:
    assert not any(b.delayed for b in parse_bounces((WRITTEN / name).read_bytes()))


def test_a_delay_warning_in_words_is_a_delay() -> None:
    """Exim's delay warning has no DSN part: its words say the message is still queued, so
    it is marked delayed (recorded, never counted); it was counted as a soft bounce."""
    (bounce,) = parse_bounces((WRITTEN / "exim-delay.eml").read_bytes())
    assert (bounce.recipient, bounce.kind) == DELAYS["exim-delay.eml"]
    assert bounce.delayed and "delay warning" in bounce.steps[-1]


def test_a_delay_warning_taken_from_words_is_never_a_hard_failure_of_the_reference() -> None:
    """Of the shared samples, those marked delayed without an ``Action: delayed`` field are
    ones the reference does not call hard: a failure read as a delay would leave a dead
    address unsuppressed. Gmail's text-only warning (lhost-gmail-08) is one of them."""
    expected = {
        json.loads(line)["file"]: json.loads(line)["expected"]
        for line in (DSN.parent / "expected.jsonl").read_text().splitlines()
    }
    from_words = []
    for name, cases in expected.items():
        raw = (DSN.parent / name).read_bytes()
        if b"Action: delayed" in raw or b"action: delayed" in raw.lower():
            continue
        for b in parse_bounces(raw):
            if b.delayed:
                from_words.append(name)
                assert not any(c["hard"] for c in cases if c["recipient"] == b.recipient), name
    assert "eml/lhost-gmail-08.eml" in from_words


@pytest.mark.parametrize("name", AUTO_REPLIES)
def test_auto_replies_are_not_bounces(name: str) -> None:
    assert parse_bounces((WRITTEN / name).read_bytes()) == []


def test_parse_json_has_reason_and_rule(run: Callable[..., Result]) -> None:
    files = [str(WRITTEN / n) for n in sorted(NDRS)] + [str(DSN / "arf-01.eml")]
    result = run("bounces", "parse", "--json", *files)
    assert result.exit_code == 0, result.output
    bounces = [b for item in json.loads(result.output) for b in item["bounces"]]
    assert len(bounces) == len(files)
    assert all(b["reason"] and b["rule"] for b in bounces)
    assert "steps" not in bounces[0]
    assert bounces[-1]["reason"] == "feedback" and bounces[-1]["rule"] == "arf"


def test_parse_explain_prints_the_decision_path(run: Callable[..., Result]) -> None:
    result = run("bounces", "parse", "--explain", str(WRITTEN / "qq-userunknown.eml"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "hard" in lines[0] and "userunknown" in lines[0] and "nobody-here@qq.com" in lines[0]
    assert lines[1:] == [
        "    status none, reply 550; SMTP stage unknown; reported by mailer-daemon@qq.com; "
        "recipient's domain qq.com",
        "    words: strong rule 'user-unknown' says userunknown",
        "    qq.com states its own directory's verdict -> userunknown -> hard",
        "    the returned original says From sales@corp.example, Message-ID <qq-1@corp.example>: "
        "a sync counts it only against a send from that mailbox, with that Message-ID",
        "    rule: mta.directory",
    ]


def test_a_masked_final_recipient_falls_back_to_the_notice() -> None:
    """No Original-Recipient either: the one address the notice names is the recipient."""
    raw = (WRITTEN / "postfix-masked-final-recipient.eml").read_bytes()
    raw = raw.replace(b"<*****************@*********>:", b"<dana.reyes@client.example>:")
    raw = raw.replace(b"Original-Recipient: rfc822;dana.reyes@client.example\n", b"")
    (bounce,) = parse_bounces(raw)
    assert (bounce.recipient, bounce.kind, bounce.reason) == (
        "dana.reyes@client.example",
        "soft",
        "mailboxfull",
    )


@pytest.mark.parametrize(
    ("dtype", "words", "kind"),
    [
        ("X-LOCAL", "err.nosuchuser", "hard"),
        ("X-Unix", "no_such_user", "hard"),
        ("x-local", "NoSuchMailbox", "hard"),
        # the same words relayed from a remote SMTP reply, no stage stated: unconfirmed (a block)
        ("smtp", "err.nosuchuser", "block"),
    ],
)
def test_a_local_diagnostic_is_the_reporting_hosts_own_verdict(
    dtype: str, words: str, kind: str
) -> None:
    raw = (WRITTEN / "x-local-nosuchuser.eml").read_bytes()
    raw = raw.replace(b"X-LOCAL; 500 (err.nosuchuser)", f"{dtype}; 500 ({words})".encode())
    raw = raw.replace(b"error: err.nosuchuser: ", f"error: {words}: ".encode())
    (bounce,) = parse_bounces(raw)
    assert (bounce.recipient, bounce.kind) == ("old.member@lists-client.example", kind), (
        bounce.steps
    )
    assert bounce.reason == ("userunknown" if kind == "hard" else "filtered")


@pytest.mark.parametrize(
    "change",
    [
        # the notice quotes another server: its words may be a filter's mask, as before
        ("    Unknown user", "    host mx.webhost-client.example [192.0.2.44]: Unknown user"),
        ("    Unknown user", "    550 Unknown user"),
        # the DSN names the remote MTA or its diagnostic: a relayed reply
        ("Status: 5.0.0", "Status: 5.0.0\nRemote-MTA: dns; mx.webhost-client.example"),
        ("Status: 5.0.0", "Status: 5.0.0\nDiagnostic-Code: smtp; 550 Unknown user"),
    ],
)
def test_unknown_user_with_a_remote_party_named_is_not_the_hosts_own_verdict(
    change: tuple[str, str],
) -> None:
    raw = (WRITTEN / "exim-own-verdict-no-diagnostic.eml").read_text()
    assert change[0] in raw
    (bounce,) = parse_bounces(raw.replace(change[0], change[1], 1).encode())
    assert bounce.recipient == "j.moreau@webhost-client.example"
    assert (bounce.kind, bounce.reason) == ("block", "filtered"), bounce.steps


@pytest.mark.parametrize(
    "change",
    [
        # no stage stated: "Recipient address rejected:" alone is also a policy map's or a
        # filter's wording, and the 5.7.1 beside it reads as a filter's mask, as before
        (" (in reply to RCPT TO command)", ""),
        # refused after DATA: a filter's answer to the message, whatever its words
        ("(in reply to RCPT TO command)", "(in reply to end of DATA command)"),
    ],
)
def test_unknown_user_under_a_policy_status_needs_the_rcpt_stage_stated(
    change: tuple[str, str],
) -> None:
    """The written Postfix report's "no such user" under 5.7.1 is hard only because its notice
    states the RCPT stage (form observed in Chatwoot's and Crisp's public test messages)."""
    raw = (WRITTEN / "postfix-rcpt-stated-policy-status.eml").read_text()
    assert change[0] in raw
    (bounce,) = parse_bounces(raw.replace(change[0], change[1], 1).encode())
    assert bounce.recipient == "m.okafor@client.example"
    assert (bounce.kind, bounce.reason) == ("block", "filtered"), bounce.steps


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        (None, "hard"),
        # the same words relayed from a remote SMTP reply, no stage stated: unconfirmed
        (
            ('X-Postfix; unknown user: "t.lindqvist"', 'smtp; 550 unknown user: "t.lindqvist"'),
            "block",
        ),
        # an older Postfix's X-Postfix note quoting the remote server's reply: relayed
        (
            (
                'X-Postfix; unknown user: "t.lindqvist"',
                "X-Postfix; host mx.hostingco.example[192.0.2.61] said: 550 unknown user:"
                '\n    "t.lindqvist"',
            ),
            "block",
        ),
        # the record names the remote MTA: its words are that MTA's, relayed
        (("Status: 5.0.0", "Status: 5.0.0\nRemote-MTA: dns; mx.hostingco.example"), "block"),
    ],
)
def test_a_postfix_note_is_its_own_verdict_only_when_it_quotes_no_remote_party(
    change: tuple[str, str] | None, kind: str
) -> None:
    """Form observed in MailBounceDetector's public test messages (rgl/MailBounceDetector, MIT)
    and BounceParser's t/corpus/warning-3.msg: Postfix's local delivery found no such user."""
    raw = (WRITTEN / "postfix-own-note-unknown-user.eml").read_text()
    if change is not None:
        assert change[0] in raw
        raw = raw.replace(change[0], change[1], 1)
    (bounce,) = parse_bounces(raw.encode())
    assert bounce.recipient == "t.lindqvist@hostingco.example"
    assert (bounce.kind, bounce.reason) == (
        (kind, "userunknown") if kind == "hard" else ("block", "filtered")
    ), bounce.steps
