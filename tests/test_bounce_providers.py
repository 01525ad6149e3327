"""Receiving providers' own codes and sentences (warmup/bounces/providers.py).

Each reply is written in the form the provider documents it, with its source; the reasons are
those of the provider's table as sisimai's lib/Sisimai/Rhost modules read it (BSD-2). Before the
tables, every one of these was read by generic words (a different reason, and for some a
different kind: an unknown Facebook or GoDaddy address left unsuppressed, Orange's archived
mailbox counted as a block)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from warmup.bounces import parse_bounces
from warmup.bounces.classify import decide
from warmup.bounces.stage import smtp_stage

REPORTER = "mx.corp.example mailer-daemon@corp.example"


def _said(host: str, reply: str) -> str:
    """A reply as Postfix quotes it, naming the host that answered."""
    return f"host {host}[192.0.2.1] said: {reply}"


CASES = [
    # Orange / La Poste: Rhost::FrancePTT (the replies as its comments quote them)
    pytest.param(
        "laposte.net",
        "550 5.5.0 Le compte du destinataire est bloque. The recipient account isblocked. "
        "LPN007_426 (in reply to RCPT TO command)",
        "suspend",
        "orange",
        id="laposte-426-account-blocked",
    ),
    pytest.param(
        "laposte.net",
        "550 5.5.0 Boite du destinataire archivee. Archived recipient. LPN007_420 "
        "(in reply to RCPT TO command)",
        "suspend",
        "orange",
        id="laposte-420-archived",
    ),
    pytest.param(
        "orange.fr",
        "421 4.2.0 Service refuse. Veuillez essayer plus tard. Service refused, please try "
        "later. OFR005_505 [505] (in reply to end of DATA command)",
        "systemerror",
        "orange",
        id="orange-505-service-refused",
    ),
    pytest.param(
        "wanadoo.fr",
        "550 5.7.0 Code d'authentification invalide OFR_305",
        "securityerror",
        "orange",
        id="wanadoo-305-authentication",
    ),
    pytest.param(
        "laposte.net",
        "550 5.5.3 Mail from not owned by user. LPN105_421.",
        "rejected",
        "orange",
        id="laposte-421-mail-from-not-owned",
    ),
    # GoDaddy: godaddy.com/help/what-does-my-email-bounceback-mean-3568 (Rhost::GoDaddy)
    pytest.param(
        "coolexample.com",
        _said(
            "smtp.secureserver.net",
            "550 coolexample.com From: Domain is invalid. Provide a valid From: IB506",
        ),
        "rejected",
        "godaddy",
        id="godaddy-ib506-from-domain",
    ),
    pytest.param(
        "coolexample.com",
        _said(
            "smtp.secureserver.net",
            "554 This IP has been temporarily blocked for attempting to send too many messages "
            "containing content judged to be spam by the Internet community. IB110",
        ),
        "blocked",
        "godaddy",
        id="godaddy-ib110-spam-block",
    ),
    pytest.param(
        "coolexample.com",
        _said("smtp.secureserver.net", "550 Recipient not found"),
        "userunknown",
        "godaddy",
        id="godaddy-recipient-not-found",
    ),
    # Cox: cox.com/residential/support/email-error-codes.html (Rhost::Cox)
    pytest.param(
        "cox.net",
        "554 cox.net rejected mail from 192.0.2.9. AUP#CXCNCT",
        "toomanyconn",
        "cox",
        id="cox-cxcnct-connections",
    ),
    pytest.param(
        "cox.net",
        "550 5.1.1 <kim@cox.net> recipient rejected",
        "userunknown",
        "cox",
        id="cox-recipient-rejected",
    ),
    # Spectrum: spectrumbusiness.net/support/internet/understanding-email-error-codes
    # (Rhost::Spectrum)
    pytest.param(
        "charter.net",
        "550 5.1.0 Refused by Spectrum, see AUP#I-1350",
        "speeding",
        "spectrum",
        id="spectrum-1350-volume",
    ),
    pytest.param(
        "charter.net",
        "550 5.1.0 Refused by Spectrum, see AUP#I-1530",
        "mesgtoobig",
        "spectrum",
        id="spectrum-1530-size",
    ),
    # Facebook: postmaster.facebook.com/response_codes (Rhost::Facebook)
    pytest.param(
        "facebook.com",
        "550 5.0.0 RCP-P1 http://postmaster.facebook.com/response_codes?ip=192.0.2.9#rcp-p1",
        "userunknown",
        "facebook",
        id="facebook-rcp-p1-no-such-address",
    ),
    pytest.param(
        "facebook.com",
        "450 4.0.0 POL-T1 http://postmaster.facebook.com/response_codes?ip=192.0.2.9#pol-t1",
        "blocked",
        "facebook",
        id="facebook-pol-t1-not-accepting",
    ),
    pytest.param(
        "facebook.com",
        "550 5.0.0 RCP-T4 http://postmaster.facebook.com/response_codes?ip=192.0.2.9#rcp-t4",
        "suspend",
        "facebook",
        id="facebook-rcp-t4-deactivated",
    ),
    # i.ua: mail.i.ua/err/N (Rhost::IUA)
    pytest.param(
        "i.ua",
        "550 User is not found. See http://mail.i.ua/err/2/",
        "userunknown",
        "iua",
        id="iua-2-not-found",
    ),
    pytest.param(
        "i.ua",
        "550 Not in the list Mail address management. See http://mail.i.ua/err/10/",
        "filtered",
        "iua",
        id="iua-10-not-in-list",
    ),
    # Mimecast: community.mimecast.com "Mimecast SMTP Error Codes" (Rhost::Mimecast)
    pytest.param(
        "client.example",
        _said("eu-smtp-inbound-1.mimecast.com", "550 Invalid Recipient - https://community."),
        "userunknown",
        "mimecast",
        id="mimecast-550-invalid-recipient",
    ),
    pytest.param(
        "client.example",
        _said("eu-smtp-inbound-1.mimecast.com", "554 Host network not allowed - https://x"),
        "policyviolation",
        "mimecast",
        id="mimecast-554-host-network",
    ),
    # Microsoft: learn.microsoft.com "Email non-delivery reports and SMTP errors in Exchange
    # Online" and Exchange Server's NDR table (Rhost::Microsoft): an EHLO refused, an address
    # that names several mailboxes; neither says the address does not exist
    pytest.param(
        "contoso.com",
        _said("contoso-com.mail.protection.outlook.com", "501 5.5.4 Invalid domain name"),
        "blocked",
        "microsoft",
        id="microsoft-554-invalid-helo-domain",
    ),
    pytest.param(
        "contoso.com",
        _said(
            "contoso-com.mail.protection.outlook.com",
            "550 5.1.4 Destination mailbox address ambiguous",
        ),
        "systemerror",
        "microsoft",
        id="microsoft-514-ambiguous",
    ),
    # Symantec Email Security.cloud: knowledge.broadcom.com article 175710 (Rhost::MessageLabs)
    pytest.param(
        "client.example",
        _said("cluster5.eu.messagelabs.com", "553 Recipient mailbox is not allowed"),
        "userunknown",
        "messagelabs",
        id="messagelabs-553-mailbox-not-allowed",
    ),
]


@pytest.mark.parametrize(("domain", "reply", "reason", "provider"), CASES)
def test_a_providers_code_decides(domain: str, reply: str, reason: str, provider: str) -> None:
    v = decide("", "", reply, smtp_stage(reply.lower()), f"{REPORTER} @{domain}")
    assert (v.reason, v.rule) == (reason, f"provider.{provider}"), v.steps


@pytest.mark.parametrize(
    ("domain", "reply", "rule", "table"),
    [
        (
            "orange.fr",
            "550 mwinf5c04 ME Adresse IP source bloquee pour incident de spam. Client host "
            "blocked for spamming issues. OFR006_102",
            "words.client-blocked",
            "Orange / La Poste's table: 102",
        ),
        (
            "facebook.com",
            "550 5.1.1 RCP-P2 http://postmaster.facebook.com/response_codes#rcp Refused due to "
            "recipient preferences",
            "words.content-filtered",
            "Facebook's table: RCP-P2",
        ),
    ],
    ids=["orange-client-blocked", "facebook-recipient-preferences"],
)
def test_general_evidence_that_agrees_with_a_table_is_the_rule(
    domain: str, reply: str, rule: str, table: str
) -> None:
    """Where the words (or the status, the stage) reach the provider's verdict without its table,
    they are the rule named, and the table is shown agreeing: the general evidence holds for
    every provider, the table for one. Where they reach another, the table still decides."""
    said = _said(f"mx.{domain}", reply)
    v = decide("", "", said, "", f"{REPORTER} @{domain}")
    assert v.rule == rule and v.kind == "block", v.steps
    assert v.steps[-1].startswith(table) and v.steps[-1].endswith("which agrees"), v.steps
    v = decide("", "", said, "", f"{REPORTER} @{domain}", tables=False)
    assert v.rule == rule, v.steps
    # the same code under words that say nothing specific: the table's own verdict
    code = reply.split()[-1] if domain == "orange.fr" else "RCP-P2"
    v = decide("", "", _said(f"mx.{domain}", f"550 5.7.1 Message refused {code}"), "", domain)
    assert v.rule.startswith("provider."), v.steps


def test_a_code_counts_only_from_its_provider() -> None:
    """Orange's and GoDaddy's numbers mean nothing from another host: "IB212" or "OFR_416" in a
    reply from elsewhere is read by its words."""
    for reply in ("550 5.7.1 Message refused IB212", "550 5.5.0 Service refuse OFR_416"):
        v = decide("", "", reply, "", f"{REPORTER} @client.example")
        assert not v.rule.startswith("provider."), v.steps
    v = decide("", "", "550 5.5.0 Service refuse OFR_416", "", f"{REPORTER} @orange.fr")
    assert (v.reason, v.kind, v.rule) == ("userunknown", "hard", "provider.orange"), v.steps


@pytest.mark.parametrize(
    "reply",
    [
        # GoDaddy's hosts' names, a queue id, an address: "ib501" inside another token
        _said(
            "ib501.prod.phx3.secureserver.net",
            "550 5.1.1 <kim@coolexample.com>: Recipient address rejected: User unknown",
        ),
        _said("p3plibsmtp01-ib501.prod.phx3.secureserver.net", "550 5.1.1 mailbox unavailable"),
        _said("smtp.secureserver.net", "550 5.1.1 mailbox unavailable, id=ib501"),
        _said("smtp.secureserver.net", "550 5.1.1 <ib501@coolexample.com> mailbox unavailable"),
    ],
    ids=["host", "host-part", "queue-id", "address"],
)
def test_godaddys_code_is_a_word_of_its_own(reply: str) -> None:
    """GoDaddy writes its code as the reply's last word ("... community. IB110"): "ib501" in a
    host's name or an id is no IB501 (a protocol violation, a block), and the address GoDaddy
    says it does not have is suppressed."""
    v = decide("", "", reply, smtp_stage(reply.lower()), f"{REPORTER} @coolexample.com")
    assert (v.reason, v.kind) == ("userunknown", "hard"), v.steps
    assert not v.rule.startswith("provider."), v.steps
    # the code itself, ending the reply or followed by Postfix's stage, still decides
    for said in (f"{reply} IB502", f"{reply} IB502. (in reply to end of DATA command)"):
        v = decide("", "", said, smtp_stage(said.lower()), f"{REPORTER} @coolexample.com")
        assert (v.reason, v.rule) == ("notcompliantrfc", "provider.godaddy"), v.steps


@pytest.mark.parametrize(
    ("domain", "reply", "code"),
    [
        # a host's name, its part, an address, a queue id: the code inside another token
        (
            "facebook.com",
            _said("msg-p1.mx-in.facebook.com", "550 5.1.1 <kim@facebook.com>: User unknown"),
            "MSG-P1",
        ),
        (
            "laposte.net",
            _said("lpn101-mx.laposte.net", "550 5.1.1 <kim@laposte.net>: User unknown"),
            "LPN101",
        ),
        (
            "orange.fr",
            _said("smtp-in.orange.fr", "550 5.1.1 <ofr_417@orange.fr> Recipient unknown"),
            "OFR_417",
        ),
        (
            "facebook.com",
            _said("mx.facebook.com", "550 5.1.1 User unknown, queue id=int-t1.a8f2c"),
            "INT-T1",
        ),
    ],
    ids=["host", "host-part", "address", "queue-id"],
)
def test_orange_and_facebook_codes_are_words_of_their_own(
    domain: str, reply: str, code: str
) -> None:
    """As GoDaddy's: "msg-p1" or "lpn101" in a host's name, an address or an id names no code by
    chance (a message too big, a block), and the unknown address is suppressed."""
    signature = f"{REPORTER} @{domain}"
    v = decide("", "", reply, smtp_stage(reply.lower()), signature)
    assert (v.reason, v.kind) == ("userunknown", "hard"), v.steps
    assert not v.rule.startswith("provider."), v.steps
    # the code as a word of its own still decides
    said = f"{reply} {code}"
    v = decide("", "", said, smtp_stage(said.lower()), signature)
    assert v.rule.startswith("provider.") and v.reason != "userunknown", v.steps


def test_a_host_merely_named_in_the_reply_is_no_provider() -> None:
    """The client's Exim names the sender's relay (a mailbox at Cox) in its block: "Recipient
    rejected" there is its spam-list refusal, not Cox's sentence for an unknown address. The host
    the report says answered is the provider."""
    block = "550 Recipient rejected: H=smtp.east.cox.net [68.1.2.3] is listed at zen.spamhaus.org"
    v = decide("", "", block, "", f"{REPORTER} @client.example")
    assert (v.kind, v.rule) == ("block", "words.spam"), v.steps
    for said in (
        _said("mx.east.cox.net", "554 Recipient rejected"),
        "host mx.east.cox.net [192.0.2.1]: 554 Recipient rejected",
        "... while talking to mx.east.cox.net.: >>> RCPT To:<a@b> <<< 554 Recipient rejected",
    ):
        v = decide("", "", said, "", f"{REPORTER} @client.example")
        assert (v.kind, v.rule) == ("hard", "provider.cox"), (said, v.steps)


def test_a_4xx_providers_verdict_is_retried() -> None:
    """A live 4xx with a provider's code is retried whatever the code says."""
    v = decide("", "", "450 4.0.0 RCP-P1 see postmaster.facebook.com", None, "@facebook.com")
    assert (v.reason, v.kind, v.rule) == ("userunknown", "soft", "provider.facebook"), v.steps


def _orange_dsn() -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.corp.example\nTo: sales@corp.example\n"
        b"Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.corp.example\n\n"
        b"Final-Recipient: rfc822; lea@laposte.net\nAction: failed\nStatus: 5.5.0\n"
        b"Remote-MTA: dns; smtpz4.laposte.net\n"
        b"Diagnostic-Code: smtp; 550 5.5.0 Boite du destinataire archivee. Archived\n"
        b" recipient. LPN007_420\n\n"
        b"--B\nContent-Type: text/rfc822-headers\n\nFrom: sales@corp.example\n"
        b"To: lea@laposte.net\nMessage-ID: <m1@corp.example>\nSubject: hi\n\n--B--\n"
    )


def test_parse_and_explain_name_the_providers_rule(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    (bounce,) = parse_bounces(_orange_dsn())
    assert (bounce.kind, bounce.reason, bounce.rule) == ("soft", "suspend", "provider.orange")
    path = tmp_path / "orange.eml"
    path.write_bytes(_orange_dsn())
    result = run("bounces", "parse", "--explain", str(path))
    assert result.exit_code == 0, result.output
    assert "Orange / La Poste's table: 420 -> suspend -> soft" in result.output
    assert "rule: provider.orange" in result.output


def _dsn_of(recipient: bytes, remote: bytes, reply: bytes) -> bytes:
    """The Orange DSN above for another recipient, Remote-MTA and reply (status 5.0.0)."""
    return (
        _orange_dsn()
        .replace(b"lea@laposte.net", recipient)
        .replace(b"smtpz4.laposte.net", remote)
        .replace(
            b"550 5.5.0 Boite du destinataire archivee. Archived\n recipient. LPN007_420", reply
        )
        .replace(b"Status: 5.5.0", b"Status: 5.0.0")
    )


def test_the_remote_mta_names_the_provider() -> None:
    """A domain hosted at GoDaddy is no GoDaddy domain, and Postfix's Diagnostic-Code names no
    host: the DSN's Remote-MTA says who answered (shown by --explain as "answered by")."""
    raw = _dsn_of(b"kim@coolexample.com", b"mx1.secureserver.net", b"550 Recipient not found")
    (bounce,) = parse_bounces(raw)
    assert (bounce.kind, bounce.reason, bounce.rule) == ("hard", "userunknown", "provider.godaddy")
    assert "answered by mx1.secureserver.net" in bounce.steps[0]


def test_the_senders_own_provider_is_no_receiving_provider() -> None:
    """A mailbox at Cox has every bounce reported by Cox's outbound relay (Reporting-MTA, From):
    another host's "Recipient rejected: spam content" is that host's spam verdict, not Cox's
    sentence for an unknown address, and suppressing the address would cost a good lead."""
    raw = (
        _dsn_of(
            b"kim@client.example", b"mx.client.example", b"554 Recipient rejected: spam content"
        )
        .replace(b"mx.corp.example", b"smtp.east.cox.net")
        .replace(b"MAILER-DAEMON@smtp.east.cox.net", b"MAILER-DAEMON@cox.net")
        .replace(b"sales@corp.example", b"sales@cox.net")
    )
    (bounce,) = parse_bounces(raw)
    assert (bounce.kind, bounce.reason, bounce.rule) == ("block", "spamdetected", "words.spam")
    # The same sentence from Cox's own inbound host (its Remote-MTA) is Cox's table's.
    (bounce,) = parse_bounces(raw.replace(b"mx.client.example", b"mx.east.cox.net"))
    assert (bounce.kind, bounce.rule) == ("hard", "provider.cox")
