"""Metamorphic tests: a bounce rewritten in ways that keep its meaning parses the same.

The held-out half of the sample set holds *other* bounces of the same MTAs as ours: other
addresses (so other line breaks), other wrap widths, transfer encodings, line ends, header case
and folding, host names, IPs, dates and Message-IDs, other domains (a neutral one no table knows,
or a provider's kept with other local parts and servers). Each transformation below imitates one of
those differences on every message of the corpora; the parse of the result must equal the parse
of the original (recipients and Message-ID mapped through the transformation; kind, reason,
status the same). The original's parse is the reference, right or wrong: this measures
robustness, not accuracy (tests/test_bounce_parse.py measures that).

The transformations are in tests/bounce_transforms.py. ``pytest -s`` prints, per
transformation, how many messages it applied to and how many parses it changed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from bounce_transforms import (
    CHARSETS,
    ROOT,
    TRANSFORMS,
    Result,
    corpus_files,
    diagnostic_charset,
    encoded_word_headers,
    reencoded,
    transcoded,
    verdicts,
)

from warmup.bounces import parse_bounces
from warmup.bounces.classify import decide, is_throttle
from warmup.bounces.wording import fold, read_words


def changed(name: str, transform: Callable[[bytes], Result]) -> tuple[int, list[str]]:
    """(messages the transformation applies to, one line per message whose parse it changed)."""
    applied, diffs = 0, []
    for path in corpus_files():
        raw = path.read_bytes()
        done = transform(raw)
        if done is None or done[0] == raw:
            continue
        applied += 1
        new, mapping = done
        before = verdicts(parse_bounces(raw), mapping)
        after = verdicts(parse_bounces(new))
        if before != after:
            diffs.append(f"{path.relative_to(ROOT)}: {before} -> {after}")
    return applied, diffs


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformation_keeps_the_verdicts(name: str) -> None:
    """Every message the transformation applies to parses as before. A change is a fragility
    of the parser, to fix there; or a transformation that changes the meaning, to narrow (and
    say why, in tests/bounce_transforms.py)."""
    applied, diffs = changed(name, TRANSFORMS[name])
    print(f"\n[metamorphic] {name}: applied to {applied} messages, changed {len(diffs)}")
    assert applied > 0, f"{name} applied to no message: the transformation is broken"
    assert not diffs, f"{name} changed {len(diffs)} of {applied} parses:\n" + "\n".join(diffs[:20])


# --------------------------------------------------------------------------- what it found

_REPORT = b"""From: MAILER-DAEMON@mx.example.net
To: sender@example.org
Subject: Delivery Status Notification
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; a-rather-long-local-part-of-a-recipient-of-the-report@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <a-rather-long-local-part-of-a-recipient-of-the-report@example.com>: Recipient address rejected: User unknown in virtual mailbox table

--b1--
"""


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_a_delivery_status_part_sent_encoded_is_read_decoded(encoding: str) -> None:
    """The stdlib reads a delivery-status part as header blocks whatever its transfer encoding:
    in base64 no field was found (the recipient came from the text, with no status), in
    quoted-printable a soft line break cut the address ("...@exa=")."""
    plain = parse_bounces(_REPORT)
    assert [(b.recipient, b.kind, b.status) for b in plain] == [
        ("a-rather-long-local-part-of-a-recipient-of-the-report@example.com", "hard", "5.1.1")
    ]
    done = reencoded(_REPORT, ("message/delivery-status",), encoding)
    assert done is not None
    assert verdicts(parse_bounces(done[0])) == verdicts(plain)


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable", "7bit"])
def test_a_delivery_status_part_claiming_an_encoding_it_lacks_is_read_as_written(
    encoding: str,
) -> None:
    """A part labelled base64 but written plain (an MTA that copies the header of another part)
    was decoded as base64: every colon, blank and "@" dropped, no record left, and the dead
    address read from the text as undefined, soft, and mailed again."""
    label = b"Content-Type: message/delivery-status\n"
    mislabelled = _REPORT.replace(
        label, label + f"Content-Transfer-Encoding: {encoding}\n".encode()
    )
    assert mislabelled != _REPORT
    assert verdicts(parse_bounces(mislabelled)) == verdicts(parse_bounces(_REPORT))


def test_only_a_field_line_says_a_base64_delivery_status_part_is_written_plain() -> None:
    """What the check of a part labelled base64 is for: a line that begins as a header field
    does ("Final-Recipient: ...") is a part written plain, read as written (above); real base64
    has none and is decoded, even with a line of something else that holds a colon (a
    gateway's stamp). Any colon at all was taken for a field: the report was read as garbage,
    the dead address lost."""
    encoded = reencoded(_REPORT, ("message/delivery-status",), "base64")
    assert encoded is not None
    end = encoded[0].index(b"--b1--")
    stamped = encoded[0][:end] + b"Scanned by mx.example.net at 10:42 UTC, 0 viruses\n"
    assert verdicts(parse_bounces(stamped + encoded[0][end:])) == verdicts(parse_bounces(_REPORT))


def test_a_notice_whose_words_are_wrapped_or_folded_is_still_a_bounce() -> None:
    """A notice without a delivery-status part is known by its words, in its Subject and its
    text: folded or wrapped across a line break, they say what they say on one line."""
    notice = b"""From: postmaster@mail.example.net
To: sender@example.org
Subject: Mail could not be delivered

The message you sent to nobody@example.com could not be delivered
to the recipient: the address does not exist.
"""
    folded = notice.replace(b"Mail could not be", b"Mail could not\n\tbe")
    wrapped = notice.replace(b"Subject: Mail could not be delivered", b"Subject: Notice").replace(
        b"could not be delivered\nto", b"could not be\ndelivered to"
    )
    plain = parse_bounces(
        notice.replace(b"Subject: Mail could not be delivered", b"Subject: Notice")
    )
    assert [b.recipient for b in parse_bounces(notice)] == ["nobody@example.com"]
    assert [b.recipient for b in plain] == ["nobody@example.com"]
    assert verdicts(parse_bounces(folded)) == verdicts(parse_bounces(notice))
    assert verdicts(parse_bounces(wrapped)) == verdicts(plain)


def test_a_delay_warning_whose_words_are_wrapped_is_still_a_delay() -> None:
    """A notice without a delivery-status part says it is a delay warning in its words: wrapped
    one word earlier, they still do (else a warning counts as a failure, and suppresses)."""
    notice = b"""From: MAILER-DAEMON@mail.example.net
To: sender@example.org
Subject: Delayed Mail (still being retried)

This is a warning message only. Your message to <late@example.com> has
been delayed: 451 4.4.1 host mx.example.com not reachable.
"""
    wrapped = notice.replace(b"warning message only", b"warning\nmessage only")
    assert [(b.recipient, b.delayed) for b in parse_bounces(notice)] == [("late@example.com", True)]
    assert [(b.recipient, b.delayed) for b in parse_bounces(wrapped)] == [
        ("late@example.com", True)
    ]


@pytest.mark.parametrize("name", ["dsn/eml/lhost-x2-01.eml", "flufl/data/simple_05.txt"])
def test_a_longer_domain_in_the_words_keeps_them(name: str) -> None:
    """ "This user doesn't have a example.co.jp account" (sbcglobal's and its clones' notice)
    was read only for a domain of at most 20 characters: moved to a longer one
    (n0.neutral-mail.example), the words said nothing and the verdict changed."""
    words = read_words(fold("This user doesn't have a mail.students.university.example account"))
    assert words is not None and words.reason == "userunknown"
    raw = (ROOT / name).read_bytes()
    domain = parse_bounces(raw)[0].recipient.rpartition("@")[2]
    longer = "mail.students.university.example"
    moved = raw.replace(domain.encode(), longer.encode())
    assert [
        (b.recipient.replace(longer, domain), b.kind, b.reason) for b in parse_bounces(moved)
    ] == [(b.recipient, b.kind, b.reason) for b in parse_bounces(raw)]


def test_a_full_account_over_its_quota_is_no_throttle() -> None:
    """CommuniGate Pro's "account is full (quota exceeded)" is the recipient's mailbox, not our
    volume: it was read as a throttle (toomanyconn), which backs the whole mailbox off for one
    full recipient. Found when an anonymised domain no parser reads ("a.b.c") was moved to a
    real one, and the notice's text was read at last."""
    said = "LOCAL module(account f.b) reports: account is full (quota exceeded)"
    assert not is_throttle(552, said)
    assert decide("5.0.0", "", said, "").reason == "mailboxfull"
    raw = (ROOT / "bounceparser" / "data" / "quota-5.msg").read_bytes()
    (bounce,) = parse_bounces(raw.replace(b"a.b.c", b"corp-b.example"))
    assert (bounce.recipient, bounce.kind, bounce.reason) == (
        "f.b@corp-b.example",
        "soft",
        "mailboxfull",
    )


_WITHHELD = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: sales@corp.example
Subject: Undeliverable: offer
Message-ID: <report-1@mx.example.net>
{replied}MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="w1"

--w1
Content-Type: text/plain

{notice}

--w1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@client.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown
{original}
--w1--
"""
_ORIGINAL = b"""
--w1
Content-Type: text/rfc822-headers

From: sales@corp.example
To: gone@client.example
Message-ID: <returned@corp.example>
"""


def _withheld(
    replied: bytes = b"", notice: bytes = b"Delivery failed.", original: bytes = b""
) -> list[tuple[str, str, str]]:
    raw = _WITHHELD.replace(b"{replied}", replied).replace(b"{notice}", notice)
    return [
        (b.recipient, b.kind, b.message_id)
        for b in parse_bounces(raw.replace(b"{original}", original))
    ]


def test_a_report_that_withholds_the_original_names_it_where_it_can() -> None:
    """A report returning no copy of the original (RFC 3464 lets it) still names the message:
    in its In-Reply-To or References (Exchange's and Gmail's reports), or among the original's
    fields its notice quotes (Oracle's Messaging Server: "This report relates to a message you
    sent with the following header fields: Message-id: <...>"). It was read with no Message-ID,
    so a sync matched it by recipient and time alone, to whichever send was nearest."""
    gone = ("gone@client.example", "hard")
    assert _withheld(b"In-Reply-To: <offer-7@corp.example>\n") == [
        (*gone, "<offer-7@corp.example>")
    ]
    assert _withheld(b"References: <a@corp.example>\n <offer-8@corp.example>\n") == [
        (*gone, "<offer-8@corp.example>")
    ]
    quoted = b"This report relates to a message you sent with the following header fields:\n\n"
    quoted += b"  Message-id: <offer-9@corp.example>\n  To: gone@client.example"
    assert _withheld(notice=quoted) == [(*gone, "<offer-9@corp.example>")]
    # no Message-ID named: none invented (the report's own is no original's)
    assert _withheld() == [(*gone, "")]
    assert _withheld(b"In-Reply-To: <report-1@mx.example.net>\n") == [(*gone, "")]
    own = b"This report relates to a message you sent with the following header fields:\n\n"
    own += b"  Message-id: <report-1@mx.example.net>"
    assert _withheld(notice=own) == [(*gone, "")]
    # a returned original decides, whatever the report replies to
    assert _withheld(b"In-Reply-To: <offer-7@corp.example>\n", original=_ORIGINAL) == [
        (*gone, "<returned@corp.example>")
    ]


def test_a_record_naming_its_recipient_by_original_recipient_alone_reads_the_notice() -> None:
    """A record whose recipient is named by Original-Recipient alone (a gateway that writes only
    the address given at RCPT; RFC 3464 2.3.2) found its recipient, but the notice's words about
    it were looked up only for Final-Recipient addresses: OpenSMTPD's "Domain does not exist",
    said in the notice alone, was lost (hard hostunknown read as soft undefined)."""
    raw = (ROOT / "dsn" / "eml" / "lhost-opensmtpd-10.eml").read_bytes()
    field = b"Final-Recipient: rfc822; postmaster@cx.libsisimai.org"
    assert field in raw
    renamed = raw.replace(field, field.replace(b"Final-", b"Original-"))
    want = [("postmaster@cx.libsisimai.org", "hard", "hostunknown")]
    assert [(b.recipient, b.kind, b.reason) for b in parse_bounces(raw)] == want
    assert [(b.recipient, b.kind, b.reason) for b in parse_bounces(renamed)] == want


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        # the codes of a multi-line reply's later lines, with or without an enhanced status
        ("550-Mailbox not 550 found", "userunknown"),
        ("550-5.1.1 Mailbox not 550 5.1.1 found", "userunknown"),
        ("452-<a@b.example> Mailbox 452 size limit exceeded", "mailboxfull"),
    ],
)
def test_a_multi_line_reply_is_read_as_its_words_run(said: str, reason: str) -> None:
    """RFC 5321 4.2.1: each line of a multi-line reply opens with the code ("550-No such" /
    "550 user here"); folded into one Diagnostic-Code, a bare code (no enhanced status after
    it) split the words: "no such 550 user" was read as nothing, "Mailbox 452 size limit" as
    a message too big."""
    assert decide("", "", said, "RCPT").reason == reason


def _non_ascii() -> list[Path]:
    """The messages of the corpora, and the written bounces of attack/ in Chinese, Japanese,
    Korean, Russian and German charsets, whose text, subject or diagnostic is not ASCII."""
    files = [*corpus_files(), *sorted((ROOT / "attack").glob("*.eml"))]
    return [p for p in files if not p.read_bytes().replace(b"\x1b", b"\x80").isascii()]


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_report_in_another_charset_parses_the_same(charset: str) -> None:
    """Each message with non-ASCII words, its text parts put in ``charset`` (8-bit, and base64),
    its Subject and From name as RFC 2047 words in it, its non-ASCII Diagnostic-Code too: the
    held-out half's Chinese, Japanese and Russian reports come in any of these. Every charset
    that writes the words is tried (the metamorphic rewrites above try one at random)."""
    files = _non_ascii()
    assert len(files) > 80
    tried, diffs = 0, []
    for path in files:
        raw = path.read_bytes().replace(b"\r\n", b"\n")
        rewrites = (
            transcoded(raw, random.Random(0), None, (charset,)),
            transcoded(raw, random.Random(0), "base64", (charset,)),
            encoded_word_headers(raw, random.Random(0), (charset,)),
            diagnostic_charset(raw, random.Random(0), (charset,)),
        )
        for done in rewrites:
            if done is None or done[0] == raw:
                continue
            tried += 1
            before, after = verdicts(parse_bounces(raw)), verdicts(parse_bounces(done[0]))
            if before != after:
                diffs.append(f"{path.relative_to(ROOT)}: {before} -> {after}")
    assert tried > 50, tried
    assert not diffs, "\n".join(diffs[:20])
