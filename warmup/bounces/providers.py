"""Receiving providers' own reply codes and sentences: which provider wrote a reply, and what
its code says.

Some big receiving providers number their refusals and publish what each number means: Orange
and La Poste end a reply with "OFR_416" or "LPN007_420", GoDaddy with "IB212", Cox and Spectrum
with "AUP#CXBL" or "AUP#I-1350", Facebook with "RCP-P1", i.ua with a link to
"mail.i.ua/err/2/". The words around such a code are often generic ("Service refuse", "rejected
mail from ..."): the code is what says why. A few providers also answer in sentences of their
own that generic words misread (GoDaddy's "550 Recipient not found", Mimecast's "550 Invalid
Recipient"): those are kept here too, with the provider, rather than as words every MTA would be
read by.

A provider is recognised on the receiving side of the report's *signature* (the Remote-MTA,
the recipient's domain: :func:`warmup.bounces.parse` builds it; not the reporter, which may be
the sending mailbox's own provider's outbound relay) or in the reply's text (the host the
report says answered, "host smtp-in.orange.fr[...] said:", or the provider's own marks, its
servers' banner or its link); a host merely named in the text is none. :func:`provider_reason`
is consulted once, by :func:`warmup.bounces.classify.decide`, before the generic words; its
rule is ``provider.<name>``, unless the general evidence (specific words, the status, the stage)
reaches the same verdict without it: that evidence is then the rule named.

The code-to-reason tables follow what each provider publishes (named per provider below) as
sisimai's ``lib/Sisimai/Rhost`` modules (BSD-2) read them, in sisimai's reason vocabulary; a code
those leave undecided (Orange's "Veuillez essayer plus tard" family) is left to the words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .reasons import labelled as _table
from .screen import Screened

__all__ = ["PROVIDERS", "REMOTE_MARK", "Provider", "provider_reason"]

# What the parser writes before the host that answered (a DSN's Remote-MTA) in a signature.
REMOTE_MARK = "remote-mta:"


@dataclass(frozen=True, slots=True)
class Provider:
    """A receiving provider: the hosts and domains it is known by, the form of its codes in a
    folded (lower-case) reply, the code -> reason table, and its own sentences."""

    name: str
    label: str
    hosts: re.Pattern[str]
    code: re.Pattern[str] | None = None
    codes: dict[str, str] | None = None
    # (reply code or "" for any, sentence in lower case, reason): the provider's own sentences
    sentences: tuple[tuple[str, str, str], ...] = ()
    # its own words in a reply, which name it wherever the reply is quoted (Orange's servers'
    # banner, i.ua's link to its error page)
    mark: re.Pattern[str] | None = None

    # the code is a word of its own, not part of a link's path (i.ua's code is, and says so)
    linked: bool = False

    def code_of(self, text: str) -> str:
        """The table's key for the code in ``text`` (folded), or ""."""
        if self.code is None or self.codes is None:
            return ""
        return next(
            (
                m[1]
                for m in self.code.finditer(text)
                if m[1] in self.codes and (self.linked or _own_word(text, *m.span()))
            ),
            "",
        )


# What a code in another token stands beside: a host's name ("rcp-p1.mx.example", "mx-ofr416"),
# a queue id ("id=ofr_416"), an address ("<pol-p1@example>"), a path ("/err/int-t1").
_JOINED_BEFORE = frozenset(".-_@=/+")
_JOINED_AFTER = re.compile(r"[.@_-][a-z0-9]")


def _own_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (a provider's code) is a word of its own in the reply: not
    part of a host's name, an id, an address or a path, which name a code by chance."""
    return (start == 0 or text[start - 1] not in _JOINED_BEFORE) and not _JOINED_AFTER.match(
        text, end
    )


def _hosts(domains: str) -> re.Pattern[str]:
    """A pattern for the domains (and their hosts) in a signature or a reply's text."""
    names = "|".join(re.escape(d) for d in domains.split())
    return re.compile(rf"(?<![a-z0-9-])(?:{names})(?![a-z0-9-])")


def _sentences(text: str) -> tuple[tuple[str, str, str], ...]:
    """``reason: [reply] sentence`` lines (a leading 3-digit reply code restricts the sentence
    to replies with that code)."""
    out = []
    for line in text.strip().splitlines():
        reason, _, said = line.partition(":")
        said = said.strip()
        reply = said[:3] if re.match(r"[245]\d\d ", said) else ""
        out.append((reply, said[4:] if reply else said, reason.strip()))
    return tuple(out)


PROVIDERS: tuple[Provider, ...] = (
    # Orange (orange.fr, wanadoo.fr; its servers "mwinfNNN ME") and La Poste (laposte.net):
    # "OFR_416", "OFR004_405", "LPN007_420", "LPNAAA_101", "OUK_513"; the last three digits
    # are the code (sisimai's Rhost::FrancePTT).
    Provider(
        "orange",
        "Orange / La Poste",
        _hosts("orange.fr wanadoo.fr laposte.net"),
        re.compile(r"\b(?:lpnaaa|lpn|ofr|ouk)(?:_|\d{3}[-_])?(\d{3})\b"),
        _table("""
            blocked: 101 102 103 401 510 999
            toomanyconn: 104
            securityerror: 305 402
            rejected: 403 405 415 421
            userunknown: 416 418
            mailboxfull: 417
            suspend: 420 426
            systemerror: 505
            spamdetected: 506
            mesgtoobig: 514
            policyviolation: 517 630
        """),
        mark=re.compile(r"\bmwinf\w+ me\b"),
    ),
    # GoDaddy (secureserver.net): "IB212" at the end of the reply, a word of its own after a
    # space ("... judged to be spam by the Internet community. IB212", at most a full stop or
    # Postfix's "(in reply to ...)" after it), and its bounceback help page's own sentences
    # (godaddy.com/help/what-does-my-email-bounceback-mean-3568; sisimai's Rhost::GoDaddy).
    # Not "ib501" inside another token: its hosts' names ("ib501.prod.secureserver.net",
    # "p3plibsmtp01-ib501"), a queue id ("id=ib501"), an address ("<ib501@...>").
    Provider(
        "godaddy",
        "GoDaddy",
        _hosts("secureserver.net"),
        re.compile(r"(ib(?<!\Sib)\d{3})(?=[.,;]?(?:\s|$))"),
        _table("""
            securityerror: ib401
            notcompliantrfc: ib501 ib502
            rejected: ib506
            authfailure: ib508
            requireptr: ib108
            spamdetected: ib212
            virusdetected: ib705
            toomanyconn: ib605 ib007
            speeding: ib101 ib504 ib510 ib607
            blocked: ib110 ib111 ib112 ib113 ib104 ib105 ib106
            badreputation: ib103
        """),
        _sentences("""
            blocked: rbl reject
            blocked: www.spamhaus.org/query/bl?ip=
            mailboxfull: account storage limit
            spamdetected: message rejected for spam or virus content
            suspend: account disabled
            systemerror: message is looping
            userunknown: recipient not found
            userunknown: account does not exist
        """),
    ),
    # Cox (cox.net): "AUP#CXBL" (cox.com/residential/support/email-error-codes.html; sisimai's
    # Rhost::Cox), and its own sentences.
    Provider(
        "cox",
        "Cox",
        _hosts("cox.net cox.com"),
        re.compile(r"aup#([0-9a-z]+)"),
        _table("""
            blocked: cxbl cdrbl ipbl0001 ipbl0010 ipbl0100 ipbl0011 ipbl0101 ipbl0110 ipbl0111
            blocked: ipbl1000 ipbl1001 ipbl1010 ipbl1011 ipbl1100 ipbl1101 ipbl1110 ipbl1111
            blocked: ipbl00001
            requireptr: cxdns
            authfailure: cxsndr
            rejected: cxsmtp
            toomanyconn: cxcnct cxmxrt
            securityerror: cxthrt cxmj
            spamdetected: urlbl011 urlbl101 urlbl110 urlbl1001
        """),
        _sentences("""
            blocked: cox too many bad commands from
            blocked: too many invalid recipients
            requireptr: dns check failure - try again later
            requireptr: rejected - no rdns
            policyviolation: esmtp no data before greeting
            policyviolation: attachment extension is forbidden
            systemerror: esmtp server temporarily not available
            toomanyconn: too many sessions from
            toomanyconn: requested action aborted: try again later
            toomanyconn: message threshold exceeded
            userunknown: recipient rejected
        """),
    ),
    # Spectrum (charter.net and the other Charter / Time Warner Cable domains): "AUP#I-1350"
    # for mail coming in, "AUP#O-..." going out; the four digits fall in documented ranges
    # (spectrumbusiness.net/support/internet/understanding-email-error-codes; sisimai's
    # Rhost::Spectrum).
    Provider(
        "spectrum",
        "Spectrum",
        _hosts("charter.net spectrum.net rr.com twc.com"),
        re.compile(r"aup#[a-z]*-?(\d{4})\b"),
        {
            str(n): reason
            for first, last, reason in (
                (1000, 1000, "blocked"),
                (1010, 1080, "rejected"),
                (1090, 1090, "systemerror"),
                (1100, 1150, "requireptr"),
                (1160, 1190, "policyviolation"),
                (1200, 1250, "blocked"),
                (1260, 1260, "networkerror"),
                (1300, 1340, "toomanyconn"),
                (1350, 1490, "speeding"),
                (1500, 1520, "rejected"),
                (1530, 1530, "mesgtoobig"),
                (1540, 1550, "speeding"),
                (1560, 1560, "policyviolation"),
                (1580, 1580, "speeding"),
            )
            for n in range(first, last + 1)
        },
    ),
    # Facebook (facebook.com): "RCP-P1", "POL-T2" (postmaster.facebook.com/response_codes;
    # sisimai's Rhost::Facebook). Any INT-T code is a temporary problem inside Facebook.
    Provider(
        "facebook",
        "Facebook",
        _hosts("facebook.com facebookmail.com"),
        re.compile(r"\b((?:pol|msg|int|rcp|con|dns)-[pt]\d)\b"),
        _table("""
            authfailure: pol-p7
            blocked: pol-p1 pol-p2 pol-p3 pol-p4 pol-t1 pol-t2 pol-t3
            contenterror: msg-p2
            mesgtoobig: msg-p1 int-p2
            filtered: rcp-p2 rcp-p3
            mailboxfull: int-p7
            policyviolation: pol-p8
            notcompliantrfc: msg-p3
            ratelimited: con-t1 con-t2 con-t3 con-t4 msg-t1
            rejected: dns-p1 dns-p2 dns-t1
            requireptr: dns-p3 dns-t2
            spamdetected: pol-p6
            suspend: rcp-t4
            systemerror: rcp-t1 int-t1 int-t2 int-t3 int-t4 int-t5 int-t6 int-t7 int-t8 int-t9
            userunknown: rcp-p1 int-p1 int-p3 int-p4
            virusdetected: pol-p5
        """),
    ),
    # i.ua (i.ua, email.ua, ...): the reply links "http://mail.i.ua/err/N/" (sisimai's Rhost::IUA).
    Provider(
        "iua",
        "i.ua",
        _hosts("i.ua email.ua"),
        re.compile(r"\.i\.ua/err/(\d{1,2})\b"),
        _table("""
            norelaying: 1 6
            userunknown: 2
            suspend: 3
            mailboxfull: 4
            toomanyconn: 5
            blocked: 7 9
            rejected: 8
            filtered: 10
        """),
        mark=re.compile(r"\bmail\.i\.ua/err/\d"),
        linked=True,
    ),
    # Mimecast (mimecast.com): its SMTP error code page's sentences, each with its reply code
    # (community.mimecast.com "Mimecast SMTP Error Codes"; sisimai's Rhost::Mimecast).
    Provider(
        "mimecast",
        "Mimecast",
        _hosts("mimecast.com mimecast-offshore.com"),
        sentences=_sentences("""
            authfailure: 550 spf sender invalid - envelope rejected
            authfailure: 550 dkim sender invalid - envelope rejected
            authfailure: 550 dmarc sender invalid - envelope rejected
            badreputation: 451 internal resources are temporarily unavailable
            badreputation: 550 local ct ip reputation - (reject)
            blocked: 421 sender address blocked
            blocked: 451 recipient temporarily unavailable
            blocked: 451 ip temporarily blacklisted
            mesgtoobig: 554 maximum email size exceeded
            networkerror: 451 the incorrect hostname used for inbounds
            networkerror: 550 the incorrect hostname used for inbounds
            networkerror: 554 mail loop detected
            norelaying: 451 open relay not allowed
            norelaying: 451 open relay is not allowed
            notaccept: 451 account inbounds disabled
            onhold: 451 account outbounds disabled
            onhold: 451 hostname is not authorized
            onhold: 550 journal message past expiration
            expired: 550 journal messages past the expiration
            policyviolation: 550 anti-spoofing policy - inbound not allowed
            policyviolation: 550 rejected by header-based anti-spoofing policy
            policyviolation: 550 message bounced due to content examination policy
            policyviolation: 554 host network not allowed
            policyviolation: 554 host network, not allowed
            rejected: 550 administrative prohibition envelope blocked
            rejected: 550 envelope blocked - user entry
            rejected: 550 envelope blocked - user domain entry
            rejected: 550 rejected by header-based manually blocked senders
            rejected: 550 rejected by header-based blocked senders
            rejected: 550 envelope rejected - block policy for envelope from address
            securityerror: 535 incorrect authentication data
            securityerror: 550 submitter failed to authenticate
            securityerror: 553 this route requires encryption (tls)
            securityerror: 553 this route requires tls version 1.2 or greater
            securityerror: 553 this route requires high-strength ciphers
            securityerror: 554 configuration is invalid for this certificate
            systemerror: 451 unable to process connection at this time
            systemerror: 451 message ended early
            systemerror: 451 unable to process command
            systemerror: 451 unable to process an email at this time
            toomanyconn: 451 account service is temporarily unavailable
            toomanyconn: 452 too many recipients
            toomanyconn: 550 exceeding outbound thread limit
            userunknown: 501 invalid address
            userunknown: 503 user unknown
            userunknown: 550 invalid recipient
            virusdetected: 554 email rejected due to security policies
        """),
    ),
    # Microsoft (Exchange Online, Outlook.com): its NDR reference's enhanced status codes with
    # their text (learn.microsoft.com "Email non-delivery reports and SMTP errors in Exchange
    # Online"; sisimai's Rhost::Microsoft and Rhost::Outlook), where the generic reading of the
    # status or the words is another kind: an EHLO refused for its domain name is no unknown
    # host, an ambiguous address no unknown one, and Outlook.com's 5.5.0 "mailbox unavailable"
    # is its directory's answer for an address it does not have.
    Provider(
        "microsoft",
        "Microsoft",
        _hosts("outlook.com hotmail.com live.com msn.com"),
        sentences=_sentences("""
            blocked: 5.5.4 invalid domain name
            systemerror: 5.1.4 destination mailbox address ambiguous
            userunknown: 5.5.0 requested action not taken: mailbox unavailable
        """),
    ),
    # Deutsche Telekom (t-online.de): its refusals of a sending IP end "(Ask your postmaster for
    # help or to contact tosa@rx.t-online.de to clarify.)", a generic "A problem occurred."
    # before it (Telekom's postmaster page: the IP is refused by its spam defence, whose team
    # that address is; the short code after it, "(BL)", "(RL)", varies).
    Provider(
        "telekom",
        "Deutsche Telekom",
        _hosts("t-online.de telekom.de"),
        sentences=_sentences("""
            blocked: to contact tosa@rx.t-online.de to clarify
        """),
    ),
    # Symantec Email Security.cloud (MessageLabs): its knowledge base's sentences
    # (knowledge.broadcom.com "Email error and bounce codes for Email Security.cloud";
    # sisimai's Rhost::MessageLabs).
    Provider(
        "messagelabs",
        "MessageLabs",
        _hosts("messagelabs.com symanteccloud.com"),
        sentences=_sentences("""
            securityerror: please turn on smtp authentication in your mail client
            authfailure: domain authentication fail
            badreputation: connection rejected by policy
            blocked: mail rejected because your ip is in the pbl
            blocked: your ip address has been
            contenterror: stray linefeeds in message
            securityerror: tls/sslv3 connection required
            norelaying: as a relay, but i have not been configured
            notcompliantrfc: has detected that this message is not rfc 5322
            ratelimited: too many recipients received this hour
            ratelimited: too many messages
            rejected: sender envelope domain not allowed for sender ip address
            rejected: your domain has been blocked
            rejected: your email address has been blocked
            rejected: your envelope sender is in my badmailfrom list
            rejected: your email address has been blacklisted
            rejected: your domain has been blacklisted
            spamdetected: message filtered
            spamdetected: filtered by outbound scanning
            userunknown: no such user
            userunknown: invalid recipient
            userunknown: recipient mailbox is not allowed
        """),
    ),
)

# A provider's name or mark anywhere in a signature or a reply's text (one search of all of them
# first, screened by their literals: most replies name none).
_ANY = Screened(
    re.compile(
        "|".join(
            f"(?:{pattern.pattern})"
            for p in PROVIDERS
            for pattern in (p.hosts, p.mark)
            if pattern is not None
        )
    )
)

# The host a reply's text says answered: Postfix's "host mx.example[192.0.2.1] said:", Exim's
# "host mx.example [192.0.2.1]: 550 ...", sendmail's "... while talking to mx.example.:". Any
# other host the text names (the sender's relay in "Client host smtp.east.cox.net blocked", a
# link, an address) is no receiving provider.
_ANSWERED = re.compile(
    r"\bhost ([a-z0-9][a-z0-9.-]{0,200}?)\.? ?\[[^\]\s]{1,60}\](?: said)?:"
    r"|\bwhile talking to ([a-z0-9][a-z0-9.-]{0,200}?)\.?:"
)


def _receiving_side(signature: str) -> str:
    """The receiving side's part of a signature: the host that answered (after the parser's
    "remote-mta:") and the recipient's domain (its trailing " @domain"). The reporter's own names
    (Reporting-MTA, From, X-Mailer) are the sender's side as often as not: a mailbox at Cox or
    GoDaddy, or on Microsoft 365, has every bounce reported by its provider's outbound relay,
    whatever host refused the recipient, and that host's "Recipient rejected: spam content" is
    no Cox verdict on the address."""
    head, at, domain = f" {signature}".rpartition(" @")
    remote = (head if at else signature).partition(REMOTE_MARK)[2]
    return f"{remote} @{domain}" if at else remote


def provider_reason(signature: str, text: str, reply: str = "") -> tuple[Provider, str, str] | None:
    """(provider, its code or sentence, reason) for a reply ``text`` (folded, lower-case) from a
    provider on the receiving side of ``signature``, named as the host that answered in the text,
    or marked by its own words there, whose code or own sentence the provider's
    table decides; ``None`` otherwise. ``reply`` is the SMTP reply code ("550"), for the
    sentences that hold only under one."""
    if not _ANY.search(f"{signature} {text}"):
        return None
    answered = " ".join(host for m in _ANSWERED.finditer(text) for host in m.groups() if host)
    where = f"{_receiving_side(signature)} {answered}"
    for provider in PROVIDERS:
        if not provider.hosts.search(where) and not (provider.mark and provider.mark.search(text)):
            continue
        code = provider.code_of(text)
        if code and provider.codes is not None:
            return provider, code.upper(), provider.codes[code]
        for need, said, reason in provider.sentences:
            if (not need or need == reply) and said in text:
                return provider, f'"{said}"', reason
    return None
