"""What the notice generators of tests/corpus/unseen3, unseen4 and unseen5 share: encoded words, the
returned original, a text / multipart / DSN notice, Postfix's and Exim's bounce templates.
Each generator sets ``noticekit.OUT`` to its folder, then writes its notices with these."""

import base64
from pathlib import Path

OUT = Path(".")  # the folder written: set by the generator that imports this


def enc(text, cs):
    """An RFC 2047 encoded-word labelled ``cs``."""
    return f"=?{cs}?B?{base64.b64encode(text.encode(cs)).decode()}?="


def write(name, head, body: bytes | str):
    if isinstance(body, str):
        body = body.encode("utf-8")
    (OUT / name).write_bytes(head.encode("ascii") + b"\n" + body)


ORIG = """From: sales@corp.example
To: {rcpt}
Subject: quotation
Date: Mon, 7 Dec 2026 09:00:00 +0100
Message-ID: <{mid}@corp.example>
"""


def body_bytes(text, cs, cte):
    data = text.encode(cs)
    return base64.encodebytes(data) if cte == "base64" else data


def text_notice(name, sender, subject, text, rcpt, mid, cs="us-ascii", cte="8bit", extra=""):
    """A notice of one text part, the returned message's headers at its end."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:00:00 +0100
MIME-Version: 1.0
{extra}Content-Type: text/plain; charset="{cs}"
Content-Transfer-Encoding: {cte}
"""
    full = text + "\n\n" + ORIG.format(rcpt=rcpt, mid=mid) + "\nhello\n"
    write(name, head, body_bytes(full, cs, cte))


def mixed_notice(name, sender, subject, text, rcpt, mid, cs="us-ascii", cte="8bit", extra=""):
    """A multipart/mixed notice: the text part, then the returned message (message/rfc822)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:01:00 +0100
MIME-Version: 1.0
{extra}Content-Type: multipart/mixed; boundary="mx"
"""
    body = (
        f'--mx\nContent-Type: text/plain; charset="{cs}"\n'
        f"Content-Transfer-Encoding: {cte}\n\n".encode()
        + body_bytes(text, cs, cte)
        + f"""
--mx
Content-Type: message/rfc822

{ORIG.format(rcpt=rcpt, mid=mid)}
hello
--mx--
""".encode()
    )
    write(name, head, body)


def report_notice(
    name, sender, subject, text, per_rcpt, mid, reporting, extra="", cs="us-ascii", cte="8bit"
):
    """An RFC 3464 report: the human text, one block of fields per recipient, the headers.
    ``per_rcpt`` is a list of (recipient, action, status, diagnostic or "", extra fields)."""
    head = f"""From: {sender}
To: sales@corp.example
Subject: {subject}
Date: Mon, 7 Dec 2026 10:02:00 +0100
MIME-Version: 1.0
{extra}Content-Type: multipart/report; report-type=delivery-status; boundary="rp"
"""
    blocks = []
    for rcpt, action, status, diag, more in per_rcpt:
        lines = [f"Final-Recipient: rfc822; {rcpt}", f"Action: {action}", f"Status: {status}"]
        lines += more
        if diag:
            lines.append(f"Diagnostic-Code: {diag}")
        blocks.append("\n".join(lines))
    fields = "\n\n".join(blocks)
    body = (
        f'--rp\nContent-Type: text/plain; charset="{cs}"\n'
        f"Content-Transfer-Encoding: {cte}\n\n".encode()
        + body_bytes(text, cs, cte)
        + f"""
--rp
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporting}

{fields}

--rp
Content-Type: text/rfc822-headers

{ORIG.format(rcpt=per_rcpt[0][0], mid=mid)}
--rp--
""".encode()
    )
    write(name, head, body)


POSTFIX = """This is the mail system at host {host}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: host {remote}[192.0.2.44] said: {reply} (in reply to {cmd}
    command)
"""


def postfix(name, rcpt, remote, reply, status, mid, cmd="RCPT TO"):
    """A Postfix DSN of the remote's reply (our relay reports the provider's words)."""
    text = POSTFIX.format(host="mx.corp.example", rcpt=rcpt, remote=remote, reply=reply, cmd=cmd)
    report_notice(
        name,
        "MAILER-DAEMON@mx.corp.example (Mail Delivery System)",
        "Undelivered Mail Returned to Sender",
        text,
        [(rcpt, "failed", status, f"smtp; {reply}", [f"Remote-MTA: dns; {remote}"])],
        mid,
        "mx.corp.example",
    )


EXIM = """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    host {remote} [192.0.2.45]
    SMTP error from remote mail server after {cmd}:
    {reply}
"""


def postfix_delay(name, rcpt, remote, reply, status, mid):
    """Postfix's delay warning (bounce(5)'s delay template): still being retried."""
    text = f"""This is the mail system at host mx.corp.example.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

                   The mail system

<{rcpt}>: host {remote}[192.0.2.46] said: {reply} (in reply to RCPT TO command)
"""
    report_notice(
        name,
        "MAILER-DAEMON@mx.corp.example (Mail Delivery System)",
        "Delayed Mail (still being retried)",
        text,
        [(rcpt, "delayed", status, f"smtp; {reply}", [f"Remote-MTA: dns; {remote}"])],
        mid,
        "mx.corp.example",
    )


def exim(name, rcpt, remote, reply, mid, cmd=None, retry=False):
    cmd = cmd or f"RCPT TO:<{rcpt}>"
    text = EXIM.format(rcpt=rcpt, remote=remote, reply=reply, cmd=cmd)
    if retry:
        text = text.replace(
            f"    SMTP error from remote mail server after {cmd}:\n",
            f"    retry timeout exceeded\n    SMTP error from remote mail server after {cmd}:\n",
        )
    text_notice(
        name,
        "Mail Delivery System <Mailer-Daemon@mx.corp.example>",
        "Mail delivery failed: returning message to sender",
        text + "\n------ This is a copy of the message, including all the headers. ------\n",
        rcpt,
        mid,
        extra=f"X-Failed-Recipients: {rcpt}\nAuto-Submitted: auto-replied\n",
    )
