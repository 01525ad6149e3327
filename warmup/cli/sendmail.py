"""``warmup sendmail``: a sendmail-compatible entry point to the gate.

Two modes. Inside ``warmup send ADDRESS -- COMMAND`` (``WARMUP_SMTP_HOST/PORT/USER/PASSWORD``
set, as the relay hands them to its command) the message is submitted to that loopback relay,
which gates it: the ``sendmail`` shim on the command's PATH never needs the mailbox password.
Otherwise the message goes through a :class:`~warmup.gate.Gate` opened here.

Either way it is all or nothing, like the gate: when any recipient is refused, nothing is sent,
so a script that retries on a non-zero exit never mails the others twice. But for a retry (the
same message again, after a 4xx): it goes to those not reached yet, and one the server refused
for good the first time (suppressed since) is named and left out, exit 65.
"""

from __future__ import annotations

import re
from typing import Any

import click

from warmup.cli import WarmupCommand, cli
from warmup.cli.common import ledger_from, read_stdin
from warmup.errors import DataError, UsageError

RELAY_VARS = ("WARMUP_SMTP_HOST", "WARMUP_SMTP_PORT", "WARMUP_SMTP_USER", "WARMUP_SMTP_PASSWORD")
RELAY_TIMEOUT = 660.0
_EOL = re.compile(rb"\r\n|\n|\r")
# The relay's 250 when the server refused some recipients (warmup.relayreplies.answer).
_SENT = re.compile(r" sent to (\d+) of (\d+)")
_REJECTED = re.compile(r"; rejected upstream: (\S+) \((\d{3})\)")
# A retry's recipient the server refused for good the first time (warmup.relayreplies._BEFORE).
_BEFORE = re.compile(r"; refused before, not sent again: (\S+)")
# A retry's recipient refused at RCPT TO as suppressed that it reached before
# (warmup.relayreplies._REACHED).
_REACHED = re.compile(r"; reached before, not sent again: (\S+)")
# The relay's answer to a message whose connection upstream broke after its data went: it may
# have been delivered (warmup.relayreplies.answer's 554 5.4.2).
_FATE_UNKNOWN = "5.4.2 "
# The relay's answer when the server refused the mailbox as sender for good
# (warmup.relayreplies.SENDER_REFUSED): direct mode exits 69 for it.
_SENDER_REFUSED = "5.7.1 upstream refused the sender"
# The shim's EHLO name (warmup.relay.SHIM_HELO): the relay answers it all or nothing.
SHIM_HELO = "warmup-sendmail.invalid"
# Options of sendmail(8) and Postfix's sendmail(1) whose value may be the next argument. -h is the
# hop count here, not help (only --help is): as help it printed usage and exited 0, unsent.
VALUE_FLAGS = (
    *("-A", "-B", "-C", "-D", "-d", "-e", "-h", "-L", "-M", "-N", "-O", "-p", "-R", "-V", "-X"),
)
# Their options without a value, that change nothing of what is sent here (-v verbose, -U and
# -G the kind of submission, -n no aliasing, -m me too, -c hold expensive, -s keep From_ line):
# ignored. Any other option is refused (64), as both sendmails refuse one (EX_USAGE): skipped,
# its value (-M x: a macro) was read as a recipient, or it meant something not done here.
QUIET_FLAGS = ("-c", "-G", "-m", "-n", "-s", "-U", "-v")


# ctx.meta: how many of the recipients came after the '--' that ended the options.
_AFTER_END = "warmup.sendmail.after_end_of_options"


class _LastWins(WarmupCommand):
    """sendmail(8)'s options: one given twice keeps the last, as its callers expect (PHP's
    mail() adds ``-f FROM`` after a sendmail_path that already has one).

    And ``--`` ends them, as getopt(3) ends them in both sendmails: every word after it is a
    recipient, one starting with '-' included (``sendmail -- -x@example.com``), where a word
    before it that starts with '-' is an option (an unknown one refused). click ends its
    options there too, but hands on the words before and after it as one list: how many came
    after is kept in ``ctx.meta`` for the command."""

    repeats_last_wins = True

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_AFTER_END] = 0
        for at, arg in enumerate(args):
            # A '--' that is an option's value (-F --) ends nothing: what comes before it then
            # lacks that value, which a parser told of it alone says.
            if arg == "--" and _parses(self.make_parser(ctx), args[:at]):
                ctx.meta[_AFTER_END] = len(args) - at - 1
                break
        return super().parse_args(ctx, args)


def _parses(parser: Any, args: list[str]) -> bool:
    """Whether click's ``parser`` reads ``args`` whole, no option left without its value."""
    try:
        parser.parse_args(args=args)
    except click.UsageError:
        return False
    return True


@cli.command(
    "sendmail",
    cls=_LastWins,
    context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]},
)
@click.option(
    "-t", "from_headers", is_flag=True, help="Read recipients from To/Cc/Bcc (Resent-* if any)."
)
@click.option("-i", "ignore_dots", is_flag=True, help="A lone '.' line does not end the message.")
@click.option("-f", "-r", "sender", metavar="FROM", help="Envelope sender: the mailbox.")
@click.option(
    "-F", "full_name", metavar="NAME", help="Sender's full name, in the From added when none."
)
@click.option("-o", "options", multiple=True, hidden=True, help="-oi as -i; others ignored.")
# sendmail's other options that take a value ("-N never", "-V envid", "-X logfile"): ignored, and
# their value is never read as a recipient.
@click.option(*VALUE_FLAGS, "ignored", multiple=True, hidden=True, help="Ignored.")
@click.option(*QUIET_FLAGS, "quiet", count=True, hidden=True, help="Ignored.")
@click.option("-b", "mode", default="m", hidden=True, help="-bm (deliver) only.")
# sendmail's queue run (-q, -q1h, -qIid) and newaliases (-I): nothing a message is sent for.
@click.option("-q", "queue_run", is_flag=False, flag_value="", default=None, hidden=True)
@click.option("-I", "newaliases", is_flag=True, hidden=True)
@click.argument("recipients", nargs=-1)
@click.pass_context
def sendmail(
    ctx: click.Context,
    from_headers: bool,
    ignore_dots: bool,
    sender: str | None,
    full_name: str | None,
    options: tuple[str, ...],
    ignored: tuple[str, ...],
    quiet: int,
    mode: str,
    queue_run: str | None,
    newaliases: bool,
    recipients: tuple[str, ...],
) -> int:
    """sendmail-compatible: gate and send the message on standard input.

    The mailbox is -f (or -r), else the From header, else $WARMUP_MAILBOX; a message without
    a From gets one naming it, with -F's full name if given. Recipients are the
    arguments, plus To/Cc/Bcc with -t (or when none are given; a resent message's
    Resent-To/Cc/Bcc instead). Exit codes as sendmail
    (sysexits): 0 sent (silently, as sendmail), 75 when the plan says later, 65 when a recipient or the message is
    refused (suppressed recipients too), 77 on a login failure, 69 when unreachable, when the
    server refuses the sender for good, or when the connection broke after the message went
    (it may have been delivered: never sent again),
    64 for an option sendmail(8) does not have. '--' ends the options: every word after it
    is a recipient, one starting with '-' too.

    \b
    Example:
        printf 'Subject: hi\\n\\nhello\\n' | warmup sendmail -f sales@corp.example lead@example.com
        printf 'To: lead@example.com\\nSubject: hi\\n\\nhello\\n' | sendmail -t -i
    """
    import email
    import email.policy
    import os

    from warmup import headers

    _check_mode(mode, queue_run, newaliases)
    # After '--' every word is a recipient; before it, one starting with '-' is an option.
    typed = recipients[: len(recipients) - ctx.meta.get(_AFTER_END, 0)]
    unknown = [r for r in typed if r.startswith("-")]
    if unknown:
        raise UsageError(
            f"sendmail option {_ascii(unknown[0])} is unknown; leave it out and give the "
            "recipients (or -t): 'warmup sendmail --help' lists the options that count"
        )
    # No more than a message can hold: an endless pipe (`yes | sendmail ...`) was read into
    # memory until there was none left. A SIGTERM or SIGHUP while it waits for the pipe (a
    # generator that hangs, under 'timeout') unwinds as Ctrl-C does, as it does later on: it
    # killed the command where it stood, without a word.
    raw = read_stdin(headers.MESSAGE_LIMIT + 1, "pipe the message in")
    if not (ignore_dots or "i" in options):
        raw = _cut_at_lone_dot(raw)
    if len(raw) > headers.MESSAGE_LIMIT:
        raise headers.size_error()
    # A generator that died before printing: no empty mail to a lead. Nor one that printed
    # only what is dropped below (a UTF-8 BOM, as PowerShell writes one; a mbox From_ line).
    if not headers.without_from_line(raw.removeprefix(b"\xef\xbb\xbf")).strip():
        raise DataError(
            "standard input held no message (nothing, or blank lines before a lone '.'): "
            "nothing sent; pipe the whole message in"
        )
    # After the size check (a cut-off input stays refused): read as the relay reads it, in
    # both modes (headers.header_section: the mbox From_ line dropped, text with no header all
    # body), every header line 'Name: value'. Python's parser drops a line it cannot read
    # (' Subject: x' first, ': x') and ends the headers at 'Bcc : x', which the Bcc removal
    # below took out first, and x (which -t reads from the headers) was never mailed.
    raw = headers.header_section(raw)
    relayed = all(os.environ.get(v) for v in RELAY_VARS)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # an argument may be a list ("a@x.example, b@y.example")
    rcpts = [a for r in recipients for a in _address_list(r)]
    if from_headers or not rcpts:
        rcpts += headers.recipients_of(msg)
    if not rcpts:
        # Without arguments the headers were read already, -t or not: "use -t" sent the user
        # after a flag that could not help.
        raise UsageError(
            "no recipients: the message names none in To, Cc or Bcc; add one there, or give "
            "them as arguments"
        )
    if relayed:
        from warmup import addresses

        mailbox = sender or os.environ.get("WARMUP_MAILBOX") or os.environ["WARMUP_SMTP_USER"]
        # As the gate reads them in direct mode: smtplib would raise on a non-ASCII address
        # (a traceback) and quietly rewrite one with a line break in it.
        mailbox = addresses.normalize(mailbox, "sender", one=_ONE_SENDER)
        rcpts = [addresses.normalize(r, "recipient") for r in rcpts]
        data = _without_bcc(raw)
        if full_name and "From" not in msg:
            data = _from_header(full_name, mailbox) + data
        return submit_to_relay(mailbox, list(dict.fromkeys(rcpts)), data)
    from warmup import headers
    from warmup.cli.send import _send_one
    from warmup.gate import Gate

    mailbox = sender or headers.sender_of(msg) or os.environ.get("WARMUP_MAILBOX", "")
    if not mailbox:
        raise UsageError("no mailbox: give -f ADDRESS, a From header, or $WARMUP_MAILBOX")
    from warmup import addresses

    # one line: the ledger's error quotes it
    mailbox = addresses.normalize(mailbox, "sender", one=_ONE_SENDER)
    if full_name and "From" not in msg:
        msg["From"] = _sender(full_name, mailbox)
    # one message; a SIGTERM or SIGHUP unwinds as Ctrl-C does, its slot settled
    with Gate(mailbox, ledger=ledger_from(ctx), settle_after=None) as gate:
        derived = "Message-ID" not in msg
        gone: list[str] = []  # a retry's recipients refused for good the first time
        if derived:  # the same for a retry of this message (exit 75): see derived_message_id
            from warmup.ledger import local_day
            from warmup.outgoing import message_id_for, refused_before, retry_recipients

            day = local_day(gate.clock(), gate.box.timezone)
            norm = [addresses.normalize(r, "recipient") for r in rcpts]
            message_id = message_id_for(gate.ledger, gate.box, norm, raw, day)
            msg.set_raw("Message-ID", message_id)
            slots = gate.ledger.message_slots(gate.box, message_id, norm)
            again = retry_recipients(slots, norm)
            if again is not None:  # a retry: to those not reached yet, alone
                rcpts = again
                gone = refused_before(slots, norm)
        return _send_one(
            gate,
            msg,
            rcpts,
            wait=False,
            dry_run=False,
            announce=False,
            derived=derived,
            retry=derived and again is not None,
            gone=gone,
        )


# What -f names, said to a list given there ("give each on its own" fits no sender).
_ONE_SENDER = "the mailbox to send as"


def _address_list(arg: str) -> list[str]:
    """The addresses of one recipient argument: sendmail(8) and Postfix's sendmail read each as
    an address list, so ``"a@x.example, Bo <b@y.example>"`` is two recipients. An argument that
    does not read as such a list is kept whole, for the recipient check to refuse by name."""
    if "," not in arg:
        return [arg]
    from email.utils import getaddresses

    found = [addr for _, addr in getaddresses([arg])]
    return found if found and all(found) else [arg]


# What sendmail(8) does in the modes other than -bm, all of which send nothing.
_MODES = {
    "v": "verifies addresses",
    "s": "speaks SMTP on standard input",
    "p": "lists the mail queue",
    "i": "rebuilds the aliases",
    "t": "tests address rewriting",
    "d": "runs as a daemon",
    "D": "runs as a daemon",
    "h": "prints the host status",
    "H": "purges the host status",
    "P": "prints the queue's size",
}


def _check_mode(mode: str, queue_run: str | None, newaliases: bool) -> None:
    """:class:`UsageError` for what sendmail does without sending a message: read as one,
    ``sendmail -bv ADDRESS`` (address verification) sent its standard input to ADDRESS and
    ``-bs`` (Symfony's and Laravel's transport) waited for an end of input that never came."""
    if queue_run is not None:
        what = "-q runs the mail queue"
    elif newaliases:
        what = "-I rebuilds the aliases"
    elif mode == "m":
        return
    else:
        what = f"-b{_ascii(mode)} " + _MODES.get(mode[:1], "is a mode warmup does not know")
    raise UsageError(
        f"sendmail {what}; warmup's sendmail only sends the message on standard input (-bm): "
        "leave that option out and give the recipients (or -t)"
    )


def _ascii(text: str) -> str:
    return " ".join(text.split()).encode("ascii", "replace").decode()[:20]


def _from_header(full_name: str, mailbox: str) -> bytes:
    """``From: NAME <mailbox>`` as sendmail -F adds it, RFC 2047 encoded when not ASCII."""
    import email.policy

    value = _sender(full_name, mailbox)
    return email.policy.SMTP.header_factory("From", value).fold(policy=email.policy.SMTP).encode()


def _sender(full_name: str, mailbox: str) -> Any:
    import email.headerregistry

    from warmup.headers import addresses_like

    name = " ".join(full_name.split())  # one line: a line break would start another header
    # An address in it is one the From would show: refused there as "header From names ...",
    # a header the user never wrote.
    other = next((a for a in addresses_like(name) if a.lower() != mailbox), None)
    if other is not None:
        raise UsageError(
            f"-F {name!r} (the sender's full name, in the From warmup adds) names {other}, "
            f"not the mailbox {mailbox}; give -F a name ('-F \"Sales Team\"'), and the "
            f"mailbox to send as with -f"
        )
    return email.headerregistry.Address(name, addr_spec=mailbox) if name else mailbox


def submit_to_relay(mailbox: str, rcpts: list[str], data: bytes) -> int:
    """Submit to the relay of a wrapped run; the sysexits code for its answer."""
    import os
    import smtplib

    host, port, user, password = (os.environ[v] for v in RELAY_VARS)
    try:
        # The relay may hold its reply until the next paced slot (up to 10 minutes).
        with smtplib.SMTP(host, int(port), local_hostname=SHIM_HELO, timeout=RELAY_TIMEOUT) as smtp:
            smtp.login(user, password)
            code, reply = smtp.mail(mailbox)
            if code != 250:
                return _refused(f"sender {mailbox}", code, reply)
            refused = {}
            for rcpt in rcpts:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if refused and (
                len(refused) == len(rcpts) or not all(map(_suppressed, refused.values()))
            ):
                smtp.rset()  # all or nothing, as in direct mode
                return max(_refused(r, c, t) for r, (c, t) in refused.items())
            # Only suppressed ones refused: the relay sends a retry of the message to the rest
            # (reached before, or refused for good, the suppressed ones) and nothing else.
            code, reply = smtp.data(data)  # raises only when DATA itself is refused
            if code == 250:  # those it reached before: their 550 at RCPT TO is no refusal
                reached = set(_REACHED.findall(reply.decode("utf-8", "replace")))
                # (rcpts are normalized, as the relay names them)
                refused = {r: v for r, v in refused.items() if r not in reached}
            before = max((_refused(r, c, t) for r, (c, t) in refused.items()), default=0)
            if code != 250:
                if before and b"nothing sent (all or nothing)" in reply:  # as said at RCPT TO
                    return before
                return max(before, _refused("message", code, reply))
            return max(before, _rejected_upstream(reply))
    except smtplib.SMTPAuthenticationError as exc:
        return _refused("relay login", exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPResponseException as exc:
        return _refused("message", exc.smtp_code, exc.smtp_error)
    except (OSError, smtplib.SMTPException) as exc:
        click.echo(f"sendmail: the warmup relay at {host}:{port} is unreachable ({exc})", err=True)
        return 69
    return 0


def _refused(what: str, code: int, reply: bytes | str) -> int:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    click.echo(f"sendmail: {what}: {code} {' '.join(text.split())}", err=True)
    if code in (530, 534, 535, 454):
        return 77  # EX_NOPERM
    if code == 554 and text.startswith(_SENDER_REFUSED):
        return 69  # EX_UNAVAILABLE: the server turns the sender away, as direct mode exits
    if code == 554 and text.startswith(_FATE_UNKNOWN):
        # As direct mode exits for it (warmup.cli.send.EXIT_BY_OUTCOME): the server went away
        # mid-message, EX_UNAVAILABLE; final, as 65 is, so no retry mails it twice, but not
        # "bad data": nothing was wrong with the message.
        return 69
    if code == 452 and text.startswith("4.5.3"):
        # Too many recipients: temporary for a client that sends the rest in another
        # transaction, but this one is all or nothing and a retry names them all again.
        return 65  # EX_DATAERR, as direct mode exits for it
    return 75 if 400 <= code < 500 else 65  # EX_TEMPFAIL / EX_DATAERR


def _suppressed(refusal: tuple[int, bytes | str]) -> bool:
    """A refusal at RCPT TO of a suppressed recipient (warmup.relay's 550 5.1.1 for it)."""
    code, reply = refusal
    text = reply.decode("ascii", "replace") if isinstance(reply, bytes) else str(reply)
    return code == 550 and text.startswith("5.1.1 <") and " is suppressed (" in text


def _rejected_upstream(reply: bytes) -> int:
    """0, or as direct mode exits when the server refused some recipients (75 when one of
    them may be retried, else 65): the relay's 250 names them, ``; rejected upstream: ADDR
    (CODE)`` each (:func:`warmup.relayreplies.answer`)."""
    text = reply.decode("ascii", "replace")
    rejected = _REJECTED.findall(text)
    for rcpt, code in rejected:
        click.echo(f"sendmail: {rcpt}: rejected upstream ({code})", err=True)
    gone = _BEFORE.findall(text)
    for rcpt in gone:
        click.echo(
            f"sendmail: {rcpt}: refused for good by the first attempt; not sent again", err=True
        )
    if gone and not any(code.startswith("4") for _, code in rejected):
        return 65
    sent = _SENT.search(text)
    if not rejected and (sent is None or sent[1] == sent[2]):
        return 0
    return 75 if any(code.startswith("4") for _, code in rejected) else 65


def _cut_at_lone_dot(raw: bytes) -> bytes:
    """Traditional sendmail input: a line holding only '.' ends the message (unless -i)."""
    match = re.search(rb"(?m)^\.\r?$", raw)
    return raw[: match.start()] if match else raw


def _without_bcc(raw: bytes) -> bytes:
    """CRLF lines, and no Bcc header (with its folded lines): sendmail -t hides Bcc."""
    from warmup import headerlines

    return headerlines.without(_EOL.sub(b"\r\n", raw))
