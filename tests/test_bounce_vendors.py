"""Vendor formats the shared samples lack (tests/corpus/vendors, sources in its README):
"user unknown" wording without an X.1.x status in the notices of mail systems that judge their
own directory (issue #14, family a), and a 5.1.x status carried with clearer words that say the
address is fine (family b)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from warmup.bounces import parse_bounces
from warmup.bounces.classify import decide

VENDORS = Path(__file__).parent / "corpus" / "vendors"


def _unknown(recipient: str) -> tuple[str, str, str]:
    return (recipient, "hard", "userunknown")


# file -> (recipient, kind, reason)
EXPECTED = {
    "domino-not-listed.eml": _unknown("john.doe@client.example"),
    "notes-nab.eml": _unknown("mary.roe@client.example"),
    "imail-unknown-user.eml": _unknown("anna.k@client.example"),
    "interscan-unknown-user.eml": _unknown("bob.lee@client.example"),
    "mailru-user-not-found.eml": _unknown("ivan.petrov@mail.ru"),
    "mailru-ru.eml": _unknown("olga.s@bk.ru"),
    "yahoo-no-account.eml": _unknown("kevin.r@yahoo.com"),
    "exchange-de.eml": _unknown("klaus.meier@client.example"),
    "exchange-fr.eml": _unknown("marie.dupont@client.example"),
    "exchange-es.eml": _unknown("jose.garcia@client.example"),
    "exchange-it.eml": _unknown("luca.rossi@client.example"),
    "exchange-pt.eml": _unknown("joao.silva@client.example"),
    "o365-dbeb.eml": _unknown("sara.k@client.example"),
    "gmx-mailbox-unavailable.eml": _unknown("lisa.m@gmx.de"),
    "webde-mailbox-unavailable.eml": _unknown("tom.b@web.de"),
    "yandex-no-such-user.eml": _unknown("anton.v@yandex.ru"),
    "rambler-unknown-user.eml": _unknown("pavel.d@rambler.ru"),
    "outlookcom-mailbox-unavailable.eml": _unknown("amy.w@hotmail.com"),
    "sohu-user-unknown.eml": _unknown("zhang.wei@sohu.com"),
    "sina-user-not-found.eml": _unknown("li.na@sina.com"),
    "naver-ko.eml": _unknown("minsu.kim@naver.com"),
    "daum-ko.eml": _unknown("jiyoung.park@hanmail.net"),
    "zimbra-no-such-user.eml": _unknown("nina.p@client.example"),
    "kerio-mailbox-not-exist.eml": _unknown("oscar.n@client.example"),
    "mdaemon-unknown.eml": _unknown("paula.q@client.example"),
    "smartermail-no-such-user.eml": _unknown("quinn.r@client.example"),
    "qmail-no-mailbox.eml": _unknown("ruth.s@client.example"),
    "courier-unknown-user.eml": _unknown("sam.t@client.example"),
    "exim-unrouteable.eml": _unknown("tina.u@client.example"),
    "postfix-local-unknown.eml": _unknown("uma.v@client.example"),
    "sendmail-local-unknown.eml": _unknown("victor.w@client.example"),
    "b-mailbox-full-511.eml": ("wendy.x@client.example", "soft", "mailboxfull"),
    "b-blocked-511.eml": ("xavier.y@client.example", "block", "blocked"),
    "b-rate-limited-511.eml": ("yara.z@client.example", "soft", "toomanyconn"),
    "b-security-policy-511.eml": ("zack.a@client.example", "block", "securityerror"),
    "b-rejected-510.eml": ("amir.b@client.example", "block", "blocked"),
    "b-mailbox-unavailable-blocked-511.eml": ("bea.c@client.example", "block", "blocked"),
    "b-sender-callout-511.eml": ("dana.f@client.example", "block", "rejected"),
    # RFC 5321's stock "mailbox unavailable", given by Yahoo after DATA: no directory verdict
    "yahoo-mailbox-unavailable-after-data.eml": ("greta.vance@yahoo.com", "block", "filtered"),
}


def test_every_vendor_file_is_expected() -> None:
    assert sorted(p.name for p in VENDORS.glob("*.eml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_ndr(name: str) -> None:
    got = parse_bounces((VENDORS / name).read_bytes())
    assert [(b.recipient, b.kind, b.reason) for b in got] == [EXPECTED[name]], [
        b.steps for b in got
    ]


def test_a_directory_verdict_outweighs_a_policy_status() -> None:
    """Yandex answers a nonexistent account with "550 5.7.1 No such user!": a 5.7.x with
    "user unknown" words reads as a filter's mask elsewhere, but a provider that answers RCPT
    from its own directory means its words."""
    (bounce,) = parse_bounces((VENDORS / "yandex-no-such-user.eml").read_bytes())
    assert bounce.rule == "mta.directory", bounce.steps


def test_a_clear_reason_outweighs_weak_unknown_wording() -> None:
    """ "Mailbox unavailable: sender blocked" with a 5.1.1: the mailbox is unavailable to us
    because we are blocked, the address is fine."""
    (bounce,) = parse_bounces((VENDORS / "b-mailbox-unavailable-blocked-511.eml").read_bytes())
    assert bounce.rule == "words.blacklisted", bounce.steps


def test_a_failed_sender_callout_is_the_sender_s_under_a_relay_s_511() -> None:
    """Exim refuses the message because our sender failed its callout ("550-Verification
    failed for <sender>" ... "550 Sender verify failed"); the Sendmail relay that reports it
    quotes the first line only, under its own 5.1.1. The address mailed is fine: a block, and
    never suppressed (form observed in PHP-Bounce-Handler's public test messages)."""
    (bounce,) = parse_bounces((VENDORS / "b-sender-callout-511.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("block", "words.sender-rejected"), bounce.steps


def test_stock_mailbox_unavailable_after_data_is_no_directory_verdict() -> None:
    """Yahoo answers from its own directory ("dd This user doesn't have a yahoo.com account",
    "mailbox not found"), so its "user unknown" words were its verdict at any stage; but after
    DATA it also refuses a message whose recipient it took at RCPT with "550 Request failed;
    Mailbox unavailable", RFC 5321's stock text for any 550 (a reply quoted in a public issue
    thread, PHPMailer/PHPMailer#2685). Read as the directory's, the good address was suppressed;
    it is a filter's refusal after DATA, as anyone else's would be."""
    (bounce,) = parse_bounces((VENDORS / "yahoo-mailbox-unavailable-after-data.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("block", "stage.after-data"), bounce.steps


# (reply text, stage, reporting signature) -> (kind, rule): the stock text alone after DATA from
# another directory-answering provider; a directory's own words beside it, after DATA too; the
# stock text with no stage stated (GMX's, web.de's documented reply for an address they lack).
STOCK_550 = {
    ("550 Requested action not taken: mailbox unavailable", "DATA", "mx00.emig.gmx.net"): (
        "block",
        "stage.after-data",
    ),
    ("550 mailbox unavailable, user not found", "DATA", "mta5.am0.yahoodns.net"): (
        "hard",
        "mta.directory",
    ),
    ("550 Requested action not taken: mailbox unavailable", "", "mx00.emig.gmx.net"): (
        "hard",
        "mta.directory",
    ),
}


@pytest.mark.parametrize("case", sorted(STOCK_550))
def test_stock_mailbox_unavailable_is_the_directory_s_only_before_data(
    case: tuple[str, str, str],
) -> None:
    text, stage, mta = case
    v = decide("5.0.0", "550", text, stage, mta)
    assert (v.kind, v.rule) == STOCK_550[case], v.steps


def test_parse_json_agrees_on_every_vendor_file(run: Callable[..., Result]) -> None:
    names = sorted(EXPECTED)
    result = run("bounces", "parse", "--json", *(str(VENDORS / n) for n in names))
    assert result.exit_code == 0, result.output
    got = {
        Path(item["file"]).name: [(b["recipient"], b["kind"], b["reason"]) for b in item["bounces"]]
        for item in json.loads(result.output)
    }
    agree = sum(got[n] == [EXPECTED[n]] for n in names)
    print(f"\n[vendor fixtures] kind and reason agree on {agree}/{len(names)}")
    assert agree == len(names), {n: got[n] for n in names if got[n] != [EXPECTED[n]]}
