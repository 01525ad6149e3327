"""Table-driven corpus test: every message in tests/corpus/dsn against expected.jsonl.

The reference answers come from sisimai. Thresholds are asserted on the RAW figures (every
entry counts). The remaining misses are listed in KNOWN_DISAGREEMENTS with a one-line reason,
as documentation only. Figures are printed (run ``pytest -s``) and repeated in assertion
messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from bounce_scores import CORPUS, Figures, Summary, corpus_rows, score_file

from warmup.bounces import parse_bounces
from warmup.bounces.message import to_message
from warmup.bounces.parse import _parse

THRESHOLD = 0.95

# (file, expected recipient) -> why we still differ from the reference. Documentation only:
# every entry is counted as a miss in the asserted figures, and every miss must be listed here.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {
    (
        "eml/lhost-domino-03.eml",
        "kijitora@neko.example.com",
    ): "reference takes the human text (.com); Final-Recipient says .org and we trust it",
    (
        "eml/lhost-einsundeins-03.eml",
        "xxxx@xxxx.fr",
    ): "anonymised: the failed address equals the original sender, which we exclude",
    (
        "eml/lhost-opensmtpd-12.eml",
        "neko@nyaan.jp",
    ): "'No MX found' in a 'temporary failure report' (still queued): 4xx is never hard for us",
    (
        "eml/lhost-qmail-25.eml",
        "mailboxfull@libsisimai.net",
    ): "reference lists mailboxfull@ twice; the 5.1.1 entry belongs to userunknown@",
    (
        "eml/lhost-sendmail-27.eml",
        "this-local-part-does-not-exist-on-the-system@mineo.jp",
    ): "same transcript as sendmail-03/-25 (pipelined RCPT, '503 Need RCPT'), which it calls hard",
    (
        "eml/rhost-aol-06.eml",
        "neko@libsisimai.org",
    ): "5.4.4 'Name service error ... Malformed reply' is networkerror in lhost-postfix-17",
}


def _line(fig: Figures, name: str) -> str:
    known = len(fig.missed & set(KNOWN_DISAGREEMENTS))
    return (
        f"{name}: raw {fig.ok}/{fig.total} = {fig.rate:.1%} "
        f"(misses: {fig.total - fig.ok}, of which documented: {known})"
    )


@dataclass
class Results:
    files: int = 0
    errors: list[str] = field(default_factory=list)
    recipient: Figures = field(default_factory=Figures)
    hard: Figures = field(default_factory=Figures)
    reason: Figures = field(default_factory=Figures)
    special: Figures = field(default_factory=Figures)
    msgid_total: int = 0
    msgid_ok: int = 0


def _evaluate() -> Results:
    res = Results()
    entries = []
    for name, expected in corpus_rows():
        raw = (CORPUS / name).read_bytes()
        res.files += 1
        try:
            # The internal parser, without parse_bounces' safety net, must not raise either.
            _parse(to_message(raw))
        except Exception as exc:
            res.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        got = parse_bounces(raw)
        entries.extend(score_file(name, expected, got))
        by_rcpt = {b.recipient: b for b in got}
        for exp in expected:
            bounce = by_rcpt.get(exp["recipient"].lower())
            if exp["message_id"] and bounce is not None:
                res.msgid_total += 1
                res.msgid_ok += bounce.message_id.strip("<>") == exp["message_id"]
    summary = Summary.of(entries)
    res.recipient, res.hard, res.reason = summary.recipient, summary.hard, summary.reason
    res.special = summary.special
    return res


@pytest.fixture(scope="module")
def results() -> Results:
    if not (CORPUS / "expected.jsonl").is_file():
        pytest.fail(
            f"bounce corpus not found at {CORPUS} (eml/ and expected.jsonl, in the "
            "repository: see tests/corpus/dsn/README.md)"
        )
    res = _evaluate()
    print(f"\n[bounce corpus] {res.files} files, {len(res.errors)} exceptions")
    print("  " + _line(res.recipient, "recipient found"))
    print("  " + _line(res.hard, "hard/not-hard agreement"))
    print("  " + _line(res.special, "complaint / no-bounce files"))
    print(
        f"  reason agreement (informative, sisimai's vocabulary): {res.reason.ok}/"
        f"{res.reason.total} = {res.reason.rate:.1%}"
    )
    if res.msgid_total:
        print(
            f"  message-id match (informative): {res.msgid_ok}/{res.msgid_total} = "
            f"{res.msgid_ok / res.msgid_total:.1%}"
        )
    print(f"  known disagreements, counted as misses above ({len(KNOWN_DISAGREEMENTS)}):")
    for (name, rcpt), why in sorted(KNOWN_DISAGREEMENTS.items()):
        print(f"    - {name} {rcpt}: {why}")
    return res


def test_corpus_present() -> None:
    # A plain test (not only the fixture) so a missing corpus shows as FAILED, never skipped.
    assert (CORPUS / "expected.jsonl").is_file(), f"bounce corpus not found at {CORPUS}"


@pytest.mark.slow
def test_corpus_is_complete(results: Results) -> None:
    assert results.files >= 289, f"only {results.files} corpus files listed in expected.jsonl"


def test_no_exception_on_any_file(results: Results) -> None:
    assert not results.errors, f"{len(results.errors)} files raised: {results.errors}"


def test_recipient_found(results: Results) -> None:
    fig = results.recipient
    assert fig.rate >= THRESHOLD, _line(fig, "recipient found") + f"; misses: {fig.misses}"


def test_hard_decision_agrees(results: Results) -> None:
    fig = results.hard
    assert fig.rate >= THRESHOLD, _line(fig, "hard agreement") + f"; misses: {fig.misses}"


def test_complaints_and_non_failures(results: Results) -> None:
    fig = results.special
    assert fig.rate >= THRESHOLD, _line(fig, "complaint/no-bounce") + f"; misses: {fig.misses}"


def _missed(results: Results) -> set[tuple[str, str]]:
    return results.recipient.missed | results.hard.missed | results.special.missed


def test_known_disagreements_are_still_real(results: Results) -> None:
    # Keeps the list honest: an entry that now agrees with the reference must be removed.
    stale = sorted(set(KNOWN_DISAGREEMENTS) - _missed(results))
    assert not stale, f"known disagreements that now agree (or vanished), remove them: {stale}"


def test_every_miss_is_documented(results: Results) -> None:
    # A new miss needs a reason in KNOWN_DISAGREEMENTS (it still counts against the figures).
    undocumented = sorted(_missed(results) - set(KNOWN_DISAGREEMENTS))
    assert not undocumented, f"misses without a documented reason: {undocumented}"


_ORIGINAL = (
    "From: sales@corp.example\nTo: kim@client.example\nSubject: Proposal\n"
    "Date: Wed, 02 Dec 2026 09:00:00 +0000\nMessage-ID: <p1@corp.example>\n"
)


@pytest.mark.parametrize(
    "body",
    [
        # the returned original names the Message-ID the notice quotes
        "Your message <p1@corp.example> to kim@client.example could not be delivered:\n"
        f"550 5.1.1 User unknown\n\n--- Below this line is a copy of the message.\n\n{_ORIGINAL}",
        "The message (ID <p1@corp.example>) could not be delivered to:\n  kim@client.example\n"
        f"  Reason: 550 5.1.1 User unknown\n\n--- Original message follows.\n\n{_ORIGINAL}",
        # no original returned: the words before it say what it is
        "Delivery to kim@client.example failed.\nQueue-ID: 4ABC, msgid=<p1@corp.example>\n"
        "Reason: 550 5.1.1 User unknown\n",
    ],
)
def test_a_message_id_in_a_notice_is_no_recipient(body: str) -> None:
    """A text notice that quotes the original's Message-ID: read as an address, it was a
    second failed recipient, and where it stood between the recipient and the reason, the
    recipient lost its reason (soft) and the Message-ID took the hard bounce."""
    raw = (
        "From: MAILER-DAEMON@mail.corp.example\nTo: sales@corp.example\n"
        "Subject: Undelivered Mail Returned to Sender\nDate: Wed, 02 Dec 2026 10:00:00 +0000\n\n"
        + body
    ).encode()
    got = parse_bounces(raw)
    assert [(b.recipient, b.kind) for b in got] == [("kim@client.example", "hard")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "550 5.1.1 User unknown\nIf it persists, please contact helpdesk@corp.example.",
            "userunknown",
        ),
        ("551 User not local; please try <kim.new@newclient.example>", "hasmoved"),
    ],
)
def test_whom_to_ask_and_where_the_user_went_are_no_recipients(line: str, reason: str) -> None:
    """A help desk to contact was a second failed recipient; RFC 5321's 551 forward-path took
    the hard bounce, and the address mailed was left with no reason (soft)."""
    raw = (
        "From: MAILER-DAEMON@mail.corp.example\nTo: sales@corp.example\n"
        "Subject: Undelivered Mail Returned to Sender\nDate: Wed, 02 Dec 2026 10:00:00 +0000\n\n"
        f"Your message to kim@client.example could not be delivered.\n{line}\n\n"
        f"--- Below this line is a copy of the message.\n\n{_ORIGINAL}"
    ).encode()
    got = parse_bounces(raw)
    assert [(b.recipient, b.kind, b.reason) for b in got] == [
        ("kim@client.example", "hard", reason)
    ]


def _dsn(final: str, status: str, reply: str = "550 5.1.1 User unknown") -> bytes:
    """An RFC 3464 report of one failed recipient (``final``, its Final-Recipient field) with
    the reporter's ``status`` and the remote ``reply``."""
    return (
        "From: MAILER-DAEMON@mail.corp.example\nTo: sales@corp.example\n"
        "Subject: Delivery Status Notification (Failure)\nDate: Wed, 02 Dec 2026 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="b"\n\n--b\nContent-Type: text/plain\n\nDelivery failed.\n\n--b\n'
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mail.corp.example\n\n"
        f"Final-Recipient: {final}\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {reply}\n\n--b\n"
        f"Content-Type: text/rfc822-headers\n\n{_ORIGINAL}\n--b--\n"
    ).encode()


@pytest.mark.parametrize("status", ["5.0.0", "5.5.0", "5.1.0"])
def test_a_reporters_subject_only_status_yields_to_the_remote_replys_own(status: str) -> None:
    """The reporting MTA's Status of a subject alone (X.N.0) against the remote server's own
    enhanced code in the Diagnostic-Code: the remote's says more. Only X.0.0 gave way: with
    5.5.0 (what a relay writes for any 550) "550 5.1.1 User unknown" from an unknown MTA at no
    stated stage was read as a filter's mask, the dead address not suppressed."""
    raw = _dsn("rfc822; kim@client.example", status)
    [b] = parse_bounces(raw)
    assert (b.status, b.kind, b.reason) == ("5.1.1", "hard", "userunknown"), b.steps


@pytest.mark.parametrize(
    "final", ["rfc822; ", "LOCAL;kim", "x400; /C=US/ADMD= /PRMD=client/O=client/S=kim/"]
)
def test_a_final_recipient_of_no_internet_address_is_the_originals_only_one(final: str) -> None:
    """RFC 3464 allows a Final-Recipient of another address type (a local name, an X.400
    address) or an empty one: the failure named no recipient, listed and never counted,
    though the returned original went to one address."""
    raw = _dsn(final, "5.1.1")
    [b] = parse_bounces(raw)
    assert (b.recipient, b.kind) == ("kim@client.example", "hard"), b.steps


def test_a_reporters_address_status_keeps_its_subject_over_a_remote_without_one() -> None:
    """A relay's Status 5.1.0 (the address) against the remote's "550 5.0.0 User unknown": the
    remote's code has no subject, the reporter's says more. Taken as 5.0.0, the words of an
    unknown MTA at no stated stage were read as a filter's mask: a block, the dead address
    mailed on (hard userunknown before X.N.0 started yielding)."""
    [b] = parse_bounces(_dsn("rfc822; kim@client.example", "5.1.0", "550 5.0.0 User unknown"))
    assert (b.status, b.kind, b.reason) == ("5.1.0", "hard", "userunknown"), b.steps
