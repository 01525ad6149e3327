"""The SMTP stage a bounce's remote reply answered, as the report states it (or "": unknown).

Used as evidence by :func:`warmup.bounces.classify.decide`: "user unknown" refused after DATA is
a filter wearing that mask; refused at MAIL FROM, the sender was judged, not the address."""

from __future__ import annotations

import re

from .screen import Screened

__all__ = ["AFTER_DATA", "AT_MAIL", "LOCAL_DELIVERY", "RCPT_STATED", "at_rcpt", "smtp_stage"]


def _p(block: str) -> re.Pattern[str]:
    return re.compile("|".join(ln.strip() for ln in block.strip().splitlines() if ln.strip()))


# The SMTP stage a remote reply answered. Sendmail's bare ">>> DATA" transcript line is not
# evidence either way: with pipelining, RCPT errors are printed after it. Exim names the
# command it pipelined: "after pipelined RCPT TO:<addr>", "... end of data"; qmail-remote says
# "failed on DATA command" and "failed after I sent the message". Gmail's notices of 2008-2012
# end the reply they quote with the state of their SMTP client: "(state 14)" after RCPT TO,
# "(state 15)", "(state 17)", "(state 18)" after DATA (as sisimai's Lhost::Gmail reads them).
# Exim names the DATA command itself when the reply to it failed ("SMTP error from remote mail
# server after DATA:", "after pipelined DATA:": transports/smtp.c writes the command it sent, as
# sisimai's Lhost::Exim reads "after ([A-Za-z]{4})", BSD-2). Digital Arts m-FILTER's notice
# names the command under its own heading ("-------SMTP command" then "DATA" or "RCPT" on the
# next line; Lhost::mFILTER reads that line as the command).
AFTER_DATA = Screened(
    re.compile(
        r"(?:in reply to|after) (?:pipelined )?end of data|in reply to data command"
        r"|failed after i sent the message|failed on data command|\(state 1[578]\)"
        r"|after (?:pipelined )?data:|-{3,}smtp command data\b"
    )
)
# Sendmail's transcript prints the command it sent last and the reply it read then: ">>> RCPT
# To:<kim@...>" (with its ESMTP parameters if any: RFC 3461's NOTIFY= and ORCPT=), "<<< 550 ...".
# With PIPELINING (RFC 2920) it sends MAIL FROM and the RCPTs before it reads MAIL FROM's reply,
# so a refusal of the sender is printed after the last RCPT To, and names the sender's address as
# the reply's subject, as Sendmail's and Postfix's replies do ("<<< 550 5.7.1 <sales@...>...
# Access denied", "<<< 554 5.7.1 <sales@...>: Sender address rejected"): a reply whose subject
# has another local part than the RCPT's address did not answer that RCPT, its MAIL FROM did
# (usersmtp.c reads the pipelined MAIL FROM reply first; the sender is never a failed recipient,
# so its address stays in the recipient's block). The same local part in another domain is the
# recipient as the server rewrote it. The recipient's address stripped from the diagnostic
# ("<>": group 1 unset) compares with nothing: it states RCPT as before, and the unstripped
# text beside it decides.
_SENDMAIL_RCPT_CMD = r">>> rcpt to:?\s*<(?:([^<>@\s]+)(?:@[^<>\s]*)?)?>(?:\s+[a-z]+=\S*)*\s*<<<"
_OTHER_SUBJECT = r" [45]\d\d(?:[ -][245]\.\d{1,3}\.\d{1,3})? <(?!\1[@>])[^<>\s]+>(?::|\.\.\.)"
_SENDMAIL_PIPELINED_MAIL = _SENDMAIL_RCPT_CMD + f"(?(1){_OTHER_SUBJECT}|(?!))"
_SENDMAIL_RCPT = _SENDMAIL_RCPT_CMD + f"(?(1)(?!{_OTHER_SUBJECT}))"


# Trend Micro InterScan MSS's notice transcript names the command it sent and the reply it
# read, arrows the other way round from Sendmail's: "Sent <<< RCPT TO:<addr>", then "Received >>>
# 550 ..." (the failing reply right after it answered that RCPT TO; sisimai's
# lhost/interscanmss.rb reads the command so, BSD-2). The recipient's address may be stripped
# from the diagnostic ("<>").
_INTERSCAN_RCPT = r"sent <<< rcpt to:?\s*<[^<>\s]*>\s*received >>> [45]\d\d\b"
# A client's notice that names, in words, the command it sent and the reply it read next
# (hMailServer's default bounce: "hMailServer sent: RCPT TO:<addr>" / "Remote server replied:
# 550 ...", its %MACRO_SENT% and %MACRO_RECEIVED%): as InterScan's arrows, the reply answered
# that RCPT TO. The reply must follow the command, a few words of label between, nothing else.
_SENT_RCPT = (
    r"\bsent:? rcpt to:?\s*<[^<>\s]*>(?:\s+[a-z]+=\S*)*\s*(?:[a-z]+ ){0,3}"
    r"(?:replied|received|responded|answered|said|response|reply|answer):?\s*[45]\d\d\b"
)


# m-FILTER's notice: the command under its heading (AFTER_DATA above), here RCPT.
_MFILTER_RCPT = r"-{3,}smtp command rcpt\b"


def _sendmail_rcpt(block: str) -> re.Pattern[str]:
    """:func:`_p` with SENDMAIL_RCPT standing for :data:`_SENDMAIL_RCPT` (its one group is
    the only one of the pattern: the back-reference names it)."""
    return _p(
        block.replace("SENDMAIL_RCPT", _SENDMAIL_RCPT)
        .replace("INTERSCAN_RCPT", _INTERSCAN_RCPT)
        .replace("SENT_RCPT", _SENT_RCPT)
        .replace("MFILTER_RCPT", _MFILTER_RCPT)
    )


# RCPT-stage evidence: the stage named by Postfix/Exim/qmail/Yahoo/X3/Messaging Server/Gmail or in
# Sendmail's transcript (">>> RCPT To:<addr>", with its ESMTP parameters if any: RFC 3461's
# NOTIFY= and ORCPT=), or in Postfix's session transcripts, where a failing reply is the line
# right after the RCPT TO it answers (smtpd's "In: RCPT TO:<addr>" / "Out: 550 ...", the SMTP
# client's "Out: RCPT TO:<addr>" / "In: 550 ...": src/smtpd/smtpd_chat.c, src/smtp/smtp_chat.c;
# a pipelined RCPT's reply comes after the next command, and is no evidence here), the server
# answering DATA with "Need RCPT"/"no valid recipients" (every
# RCPT had failed), a reply in Postfix's RCPT-restriction form ("550 5.1.1 <addr>: ..."), Exchange code 000C05A6. The
# reply form is apart, written to start with its digit (see classify._STATUS_RE): the words
# are screened by their literals, the reply by the engine's skip to a 4 or 5.
_AT_RCPT_WORDS = Screened(
    _sendmail_rcpt(r"""
    in reply to rcpt to|after (?:pipelined )?rcpt to|rcpt to command|SENDMAIL_RCPT
    INTERSCAN_RCPT|SENT_RCPT|MFILTER_RCPT
    \b(?:in|out): rcpt to:?\s*<[^>]*>(?:\s+[a-z]+=\S*)*\s*(?:in|out): [45]\d\d\b
    does not like recipient|\[rcpt_to\]|smtp:rcpt\b|has rejected address
    need rcpt|no valid recipients|recipient address rejected
    \(000c05a6\)|\(state 14\)
""")
)
# The reporting MTA's own statement that the reply answered RCPT TO (Postfix's "in reply to RCPT TO
# command", Exim's "after RCPT TO:<addr>", qmail-remote's "does not like recipient.", which it
# writes for a refused RCPT TO only, Sendmail's transcript with the reply read right after the
# RCPT TO it sent), not an inference from the reply's form or words ("Recipient address
# rejected:" is also written by policy maps and filters; a Sendmail transcript's reply after
# ">>> DATA" may be a pipelined RCPT's or the message's).
RCPT_STATED = Screened(
    re.compile(
        "|".join(
            (
                r"in reply to rcpt to|after (?:pipelined )?rcpt to|rcpt to command",
                r"does not like recipient\.",
                *(_INTERSCAN_RCPT, _SENT_RCPT, _MFILTER_RCPT, _SENDMAIL_RCPT),
            )
        )
    )
)
# "(?:^|[\s:;])[45]\d\d[ -]...": at the start or after a blank, colon or semicolon.
_AT_RCPT_REPLY = re.compile(
    r"[45](?<![^\s:;][45])\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?<[^<>\s]+@[^<>\s]+>:"
)
# The sender was refused (MAIL FROM): whatever the words, the recipient's address was not judged.
AT_MAIL = Screened(
    re.compile(
        r"(?:in reply to|after) (?:pipelined )?mail from|mail from command"
        r"|>>> mail from:?\s*<[^>]*>(?:\s+[a-z]+=\S*)*\s*<<<|" + _SENDMAIL_PIPELINED_MAIL
    )
)
# The reporting host did the final (local) delivery itself: no remote reply to mask a filter.
# Postfix names the mailbox store it handed the message to ("delivery via host[private/
# dovecot-lmtp]"); Exim's router finds no route for the address ("Unrouteable address"): its
# own verdict, not a remote reply.
LOCAL_DELIVERY = re.compile(r"\bfinal delivery\b|\blmtp\b|unroute?able address")


def smtp_stage(text: str) -> str:
    """The SMTP command a remote reply answered, as stated in ``text``: "MAIL", "RCPT", "DATA"
    or "" (unknown)."""
    low = " ".join((text or "").lower().split())
    if AFTER_DATA.search(low):
        return "DATA"
    if AT_MAIL.search(low):
        return "MAIL"
    return "RCPT" if at_rcpt(low) else ""


def at_rcpt(text: str) -> bool:
    """Whether ``text`` (folded, lower-cased) states that a reply answered RCPT TO."""
    return bool(_AT_RCPT_WORDS.search(text) or _AT_RCPT_REPLY.search(text))
