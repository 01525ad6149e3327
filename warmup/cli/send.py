"""``warmup send``: one message through the gate, or a whole script behind the loopback relay."""

from __future__ import annotations

import datetime as dt
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from warmup.cli import WarmupCommand, cli
from warmup.cli.common import (
    DATA_FILE,
    GIVEN_FILE,
    SECONDS,
    F,
    complete_mailbox,
    complete_pool,
    not_blank,
    pass_gate_ledger,
    print_json,
    quoted_name,
    read_stdin,
    say,
    stdin_once,
    verbosity,
)
from warmup.errors import DataError, InvalidFieldData, TempFail, UsageError, WarmupError
from warmup.words import plural

if TYPE_CHECKING:
    from collections.abc import Sequence

    from warmup.gate import Gate, SendReport
    from warmup.ledger import Ledger
    from warmup.ledger.gatepath import GateLedger

SUBJECT_LIMIT = 998  # one header line (RFC 5322)
EXIT_BY_OUTCOME = {"unknown": 69, "soft": 75, "released": 75, "hard": 65, "block": 65}


def _password_command(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--password-command`` (or ``$WARMUP_PASSWORD_COMMAND``, the config file's): refused
    blank (:func:`not_blank`), and warned of when it carries what looks like a secret (``curl
    -u vault:X``, ``gpg --passphrase X``): the shell that runs it and the programs it starts
    show their arguments to every user of the host (ps), as a --db URL's password.

    Given on the command line, it is overwritten in warmup's own (``/proc/PID/cmdline``, what
    ps shows; :func:`warmup.procenv.hide_argument`), whatever it holds: a command that prints
    the password is one any process of the user could run again (``sys.argv`` keeps it)."""
    value = not_blank(ctx, param, value)
    if ctx.resilient_parsing:
        return value
    from warmup import credentials

    typed = ctx.get_parameter_source(param.name or "") == click.core.ParameterSource.COMMANDLINE
    # Typed, it wins over $WARMUP_PASSWORD; the environment's or the config file's does not.
    credentials.typed_command(value if typed else None)
    if value is None:
        return value
    if typed:
        from warmup.procenv import hide_argument

        hide_argument("--password-command", value)
    from warmup.cmdsecrets import literal_secret_in

    what = literal_secret_in(value)
    obj = ctx.find_root().ensure_object(dict)
    if what is not None and not obj.get("password_command_warned"):
        obj["password_command_warned"] = True
        click.echo(
            f"Warning: the password command carries what looks like a secret ({what}), which "
            f"every user of this host can read in the arguments of the shell that runs it "
            f"(ps); have it read the secret from a file only you can read or from its store "
            f"('pass show mail/sales')",
            err=True,
        )
    return value


def password_option(fn: F) -> F:
    return click.option(
        "--password-command",
        metavar="CMD",
        envvar="WARMUP_PASSWORD_COMMAND",
        callback=_password_command,
        help="Shell command printing the password (like msmtp's passwordeval).",
    )(fn)


class _SendCommand(WarmupCommand):
    """Everything after ``--`` is the COMMAND, so ``--pool NAME -- python x.py`` does not read
    ``python`` as the ADDRESS."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name
            for p in self.params
            if isinstance(p, click.Option) and not p.is_flag
            for name in p.opts
        }
        i = 0
        while i < len(args):
            if args[i] == "--":
                ctx.meta["warmup.send.command"] = tuple(args[i + 1 :])
                return super().parse_args(ctx, args[:i])
            i += 2 if args[i] in takes_value else 1
        return super().parse_args(ctx, args)


@cli.command(cls=_SendCommand)
@click.argument("address", required=False, shell_complete=complete_mailbox)
@click.option("--to", "to", multiple=True, metavar="RCPT", help="Recipient (repeatable).")
@click.option("--cc", multiple=True, metavar="RCPT", help="Copy recipient (repeatable).")
@click.option("--subject", default="", help="Subject line.")
@click.option("--body", help="Plain-text body.")
@click.option(
    "--body-file", type=DATA_FILE, help="Body from a file (UTF-8; - reads standard input)."
)
@click.option(
    "--html-file",
    type=DATA_FILE,
    help="An HTML version of the body (UTF-8; - reads standard input), sent with "
    "--body/--body-file as its plain-text alternative.",
)
@click.option(
    "--attach",
    multiple=True,
    type=GIVEN_FILE,
    metavar="FILE",
    help="Attach a file (repeatable).",
)
@click.option("--reply-to", metavar="ADDR", help="Where replies go (a Reply-To header).")
@click.option(
    "--eml",
    type=DATA_FILE,
    help="A complete RFC 5322 message (its Message-ID is kept); - reads standard input.",
)
@click.option("--wait", is_flag=True, help="Wait (today) for the next slot instead of exit 75.")
@click.option("--refuse", is_flag=True, help="With a COMMAND: answer 451 instead of waiting.")
@click.option(
    "--queue",
    is_flag=True,
    help="With a COMMAND: queue its messages in the outbox ('warmup run' sends them).",
)
@click.option(
    "--pool",
    metavar="NAME",
    shell_complete=complete_pool,
    callback=not_blank,
    help="With --queue: send from the pool's members.",
)
@click.option(
    "--campaign", metavar="NAME", callback=not_blank, help="With --queue: the messages' campaign."
)
@click.option(
    "--bulk",
    is_flag=True,
    help="With --queue: bulk messages; once the members' quota is used they go through the "
    "pool's overflow channel.",
)
@click.option("--dry-run", is_flag=True, help="Check the gate only: no reservation, no SMTP.")
@click.option(
    "--json",
    "json_",
    is_flag=True,
    help="One message: print its outcome for each recipient as JSON.",
)
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="SMTP timeout: seconds (60) or a duration (90s, 2m).",
)
@password_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_gate_ledger
def send(
    ledger: GateLedger,
    address: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    subject: str,
    body: str | None,
    body_file: str | None,
    html_file: str | None,
    attach: tuple[str, ...],
    reply_to: str | None,
    eml: str | None,
    wait: bool,
    refuse: bool,
    queue: bool,
    pool: str | None,
    campaign: str | None,
    bulk: bool,
    dry_run: bool,
    json_: bool,
    timeout: float,
    password_command: str | None,
    command: tuple[str, ...],
) -> int:
    """Send one message through the gate, or run COMMAND behind a gated loopback SMTP relay.

    One message: exit 75 with the reason and the next allowed time when the plan says no
    (--wait sleeps until then, within today); suppressed recipients exit 65 before any quota
    is used. With `-- COMMAND`, the command gets WARMUP_SMTP_HOST/PORT/USER/PASSWORD (and
    SMTP_*; STARTTLS on that port, implicit TLS on WARMUP_SMTPS_PORT, the run's certificate in
    WARMUP_SMTP_CAFILE), a `sendmail` shim on its PATH, and every message it sends is gated. With --queue
    (ADDRESS or --pool NAME) every message is answered `250 queued as ID` at once and stored
    in the outbox, to go out from the mailbox or the pool's members with 'warmup run'; with
    --campaign, one the campaign has already (the command run again) is answered `250 already
    queued as ID` and not queued twice.

    \b
    Example:
        warmup send sales@corp.example --to lead@example.com --subject Hi --body "Hello"
        warmup send sales@corp.example --eml offer.eml --wait
        warmup send sales@corp.example --refuse -- python outreach.py
        warmup send --pool outreach --queue --campaign dec -- python outreach.py
    """
    from warmup.gate import Gate

    command = _command(command)
    # Values from the config file's [commands.send] are defaults where they apply: see
    # _fit_config_defaults. Flags given on the command line are checked as they are.
    fitted = _fit_config_defaults(command)
    to, cc, subject, body = fitted["to"], fitted["cc"], fitted["subject"], fitted["body"]
    body_file, html_file, attach = fitted["body_file"], fitted["html_file"], fitted["attach"]
    reply_to, eml, wait, refuse = (
        fitted["reply_to"],
        fitted["eml"],
        fitted["wait"],
        fitted["refuse"],
    )
    queue, pool, campaign, bulk = (
        fitted["queue"],
        fitted["pool"],
        fitted["campaign"],
        fitted["bulk"],
    )
    dry_run, json_ = fitted["dry_run"], fitted["json_"]
    composed = bool(body or body_file or html_file or attach or reply_to)
    # --subject too: with a COMMAND it was taken and silently ignored (the messages the
    # command writes went out with their own subjects, or none), exit 0.
    if command and (to or cc or subject or composed or eml or dry_run or json_):
        raise UsageError(
            "with a COMMAND, give no --to/--cc/--subject/--body/--html-file/--attach/"
            "--reply-to/--eml/--dry-run/--json: the command's own messages are gated"
        )
    if address is not None:
        from warmup import addresses

        # A line break in it broke out of the From header (ValueError: a traceback) or the
        # one-line error that names an unknown mailbox.
        address = addresses.normalize(address, "mailbox address")
    if queue or pool or campaign or bulk:
        return _queue(ledger.full(), address, pool, campaign, bulk, queue, command, wait or refuse)
    if address is None:
        raise UsageError("give the mailbox ADDRESS (or --pool NAME with --queue)")
    if command:
        if wait and refuse:
            raise UsageError("--wait and --refuse exclude each other")
        from warmup.wrap import run_wrapped, shed_password

        shed_password(on_exec=ledger.close)  # may start this command over, without the secret
        with Gate(
            address, ledger=ledger.full(), password_command=password_command, timeout=timeout
        ) as gate:
            return run_wrapped(gate, list(command), wait=not refuse)
    if refuse:
        raise UsageError("--refuse applies to a wrapped COMMAND (warmup send ADDRESS -- CMD)")
    # --cc and --subject too: with --eml they were taken and the message went as it was, its
    # own Subject kept, and to the --cc addresses alone (as --to), not to its To, exit 0.
    if eml and (html_file or attach or reply_to or cc or subject):
        raise UsageError(
            "--subject, --cc, --html-file, --attach and --reply-to build a message; an --eml "
            "message is sent as it is (to its own recipients, or to --to alone): put them in "
            "the .eml file"
        )
    if html_file and body is None and not body_file:
        raise UsageError(
            "--html-file needs a plain-text version too (--body or --body-file): spam filters "
            "mark down mail that is HTML only"
        )
    stdin_once(
        None,
        **{"--body-file": body_file, "--html-file": html_file, "--eml": eml, "--attach": attach},
    )
    message = _build(address, to, cc, subject, body, body_file, eml, bool(attach))
    _compose(message, html_file, attach, reply_to)
    # One message, closed right after it (close() writes its settlement): no settler
    # thread.
    with Gate(
        address,
        ledger=ledger,
        password_command=password_command,
        timeout=timeout,
        settle_after=None,
    ) as gate:
        return _send_one(gate, message, list(to) + list(cc), wait, dry_run, json_=json_)


_BUILT = ("to", "cc", "subject", "body", "body_file", "html_file", "attach", "reply_to")


def _fit_config_defaults(command: tuple[str, ...]) -> dict[str, Any]:
    """The command's parameters, less the config file's values for options that do not apply
    to the form the command line chose (each reset to its default): a subject, cc or to for a
    message built here, with a COMMAND or an --eml; campaign, pool or bulk without --queue;
    wait or refuse with it; refuse, or queue, without a COMMAND; a wait or refuse that a flag
    contradicts; the file's body, body-file or eml when the command line gives one of them.
    They were refused as if given (a default subject made every 'send -- CMD'
    exit 64), or used where they made no sense (a default cc got an --eml message alone)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    params = ctx.params
    from_file = {n for n in params if ctx.get_parameter_source(n) is ParameterSource.DEFAULT_MAP}
    drop: set[str] = set()
    if command:
        drop |= {*_BUILT, "eml", "dry_run", "json_"}
        queued = params["queue"]
        drop |= {"wait", "refuse"} if queued else {"pool", "campaign", "bulk"}
    else:
        drop |= {"refuse", "queue", "pool", "campaign", "bulk"}
        if params["eml"] and "eml" not in from_file:
            drop |= set(_BUILT)
        texts = ("body", "body_file", "eml")
        if any(params[n] is not None and n not in from_file for n in texts):
            drop |= set(texts)  # the text typed wins over the file's (only those are dropped)
    if params["wait"] and params["refuse"] and len({"wait", "refuse"} & from_file) == 1:
        drop |= {"wait", "refuse"}  # the flag wins over the file
    by_name = {p.name: p for p in ctx.command.params}
    for name in drop & from_file:
        option = by_name[name]
        assert isinstance(option, click.Option)
        empty: object = False if option.is_flag else "" if name == "subject" else None
        params[name] = () if option.multiple else empty
    return params


def _command(positional: tuple[str, ...]) -> tuple[str, ...]:
    """The COMMAND: what follows ``--`` (see :class:`_SendCommand`), else the positionals.
    A ``--`` with nothing after it is refused: it was read as no command at all, and the user
    was told to give a --body."""
    meta = click.get_current_context().meta
    if "warmup.send.command" in meta and not meta["warmup.send.command"]:
        raise UsageError(
            "nothing after --: give the COMMAND to run behind the relay "
            "(warmup send ADDRESS -- python outreach.py)"
        )
    return tuple(meta.get("warmup.send.command", positional))


def _queue(
    ledger: Ledger,
    address: str | None,
    pool: str | None,
    campaign: str | None,
    bulk: bool,
    queue: bool,
    command: tuple[str, ...],
    pacing_flag: bool,
) -> int:
    """``warmup send (ADDRESS | --pool NAME) --queue [--bulk] -- COMMAND``."""
    if not queue:
        raise UsageError(
            "--pool, --campaign and --bulk go with --queue (warmup send --pool NAME --queue -- CMD)"
        )
    if not command:
        raise UsageError(
            "--queue needs a COMMAND (warmup send --pool NAME --queue -- CMD); to queue "
            "files, use 'warmup queue add'"
        )
    if (address is None) == (pool is None):
        raise UsageError("give the mailbox ADDRESS or --pool NAME (one of them) with --queue")
    if pacing_flag:
        raise UsageError("--queue answers at once: it takes no --wait or --refuse")
    from warmup.outbox.relay import QueueRelay
    from warmup.wrap import run_relay, shed_password

    shed_password(on_exec=ledger.close)  # nothing goes upstream, but the command must not read it
    relay = QueueRelay(ledger, mailbox=address, pool=pool, campaign=campaign, bulk=bulk)
    return run_relay(relay, list(command))


def _build(
    address: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    subject: str,
    body: str | None,
    body_file: str | None,
    eml: str | None,
    attached: bool = False,
) -> EmailMessage:
    """The message of --to/--cc/--subject and --body, --body-file or --eml. ``attached``:
    --attach files follow, which carry a message whose text is blank."""
    given = [x for x in (body is not None, body_file, eml) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --body, --body-file, --eml")
    if eml:
        from warmup.outgoing import prepare

        data = _read_limited(Path(eml), "--eml")
        if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM from a Windows editor: no header
            data = data[3:]
        if not data.strip():  # it was "no recipients", as if the message had been read
            where = "standard input" if eml == "-" else eml
            raise DataError(f"--eml {where}: the message is empty; give a whole RFC 5322 message")
        # read as the relay reads it (warmup.headers.header_section), mbox From_ line dropped
        return prepare(data, address.strip().lower())
    if not to:
        raise UsageError("--to is required (or give --eml with its own To/Cc)")
    _check_header_values(to, cc, subject)
    from email.headerregistry import Address

    from warmup import addresses

    msg = EmailMessage()
    msg["From"] = address.strip().lower()
    # Each as one address: joined as text, 'Li, Wei <li@x.cn>' read as "Li" and "Wei <...>".
    for name, values in (("To", to), ("Cc", cc)):
        if values:
            pairs = [addresses.named(v, "recipient") for v in values]
            msg[name] = [Address(shown, addr_spec=addr) for shown, addr in pairs]
    msg["Subject"] = subject
    text = body if body is not None else _body_text(Path(body_file or ""))
    if not text.strip() and not attached:  # "$BODY" unset, a generator that printed nothing
        if body is not None:
            raise UsageError("--body is blank: give the message's text (an unset variable?)")
        raise DataError(f"--body-file {body_file}: holds no text; give the message's text")
    _check_body(text, "--body" if body is not None else f"--body-file {body_file}")
    msg.set_content(text)
    return msg


def _compose(
    msg: EmailMessage, html_file: str | None, attach: tuple[str, ...], reply_to: str | None
) -> None:
    """Add to the message ``_build`` made: a Reply-To, an HTML alternative of its text, and
    attachments (read whole, each within what a message may hold). An HTML-only message is
    refused: spam filters score mail without a plain-text part, and a mailbox warming up
    cannot afford it."""
    from warmup.headers import MESSAGE_LIMIT, size_error

    if reply_to is not None:
        from email.headerregistry import Address

        from warmup import addresses

        shown, addr = addresses.named(reply_to, "--reply-to", one="the address replies go to")
        msg["Reply-To"] = Address(shown, addr_spec=addr)
    if html_file:
        html = _text_of(Path(html_file), "--html-file")
        if not html.strip():  # mail clients show the HTML part: the lead saw a blank message
            raise DataError(
                f"--html-file {html_file}: holds no text; give the HTML, or leave --html-file "
                f"out to send the text alone"
            )
        _check_body(html, f"--html-file {html_file}")
        msg.add_alternative(html, subtype="html")
    total = 0
    for name in attach:
        path = Path(name)
        _check_attachment_name(path)
        data = _read_limited(path, "--attach")
        total += len(data)
        if total > MESSAGE_LIMIT:
            raise DataError(f"--attach {path}: the attachments together: {size_error()}")
        main, sub = _attachment_type(path.name).split("/", 1)
        # as bytes (base64): a text file's charset is unknown, so it goes as it is
        msg.add_attachment(data, maintype=main, subtype=sub, filename=path.name)


def _check_attachment_name(path: Path) -> None:
    """Refuse a file whose name cannot be an attachment's ``filename``: one with a line break
    (the email package raised ValueError: a traceback, exit 1) or another control character
    (written raw into the part's header), or with bytes that are no UTF-8 (Latin-1 or GBK file
    names: UnicodeEncodeError, a traceback). A tab is white space a quoted name may hold."""
    import re

    from warmup.fields import clip

    found = re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]", path.name)
    if found is None:
        return
    shown = quoted_name(clip(str(path)))
    c = found[0]
    if "\udc80" <= c <= "\udcff":
        why = f"is not UTF-8 (byte 0x{ord(c) - 0xDC00:02x})"
    else:
        why = f"holds the control character U+{ord(c):04X}"
    raise DataError(
        f"--attach {shown}: the file's name {why}, which an attachment's name cannot carry; "
        f"copy it to a plain UTF-8 name (cp FILE report.pdf) and attach that"
    )


# A compressed file's type is its compression's (``logs.tar.gz`` is gzip's bytes, not a tar).
_COMPRESSED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
}


def _attachment_type(name: str) -> str:
    """The MIME type an attachment named ``name`` goes under, in base64: the one its name
    suggests, but a compressed file's compression, and for a ``.eml`` (message/rfc822, which
    RFC 2046 forbids in base64) or any other message/* or multipart/* type, plain bytes."""
    import mimetypes

    kind, encoding = mimetypes.guess_type(name)
    if encoding is not None:
        return _COMPRESSED.get(encoding, "application/octet-stream")
    if kind is None or kind.startswith(("message/", "multipart/")):
        return "application/octet-stream"
    return kind


def _read_limited(path: Path, flag: str) -> bytes:
    """The bytes of ``path``, read no further than a message can hold: ``/dev/zero`` or a file
    of gigabytes was read whole into memory (a MemoryError traceback, or none left)."""
    from warmup.headers import MESSAGE_LIMIT, size_error

    if str(path) == "-":
        what = "the message" if flag == "--eml" else f"the {flag[2:].replace('-file', '')}"
        data = read_stdin(MESSAGE_LIMIT + 1, f"pipe it in, or give {flag} its path", what)
    else:
        with path.open("rb") as f:
            data = f.read(MESSAGE_LIMIT + 1)
    if len(data) > MESSAGE_LIMIT:
        raise DataError(f"{flag} {path}: {size_error()}")
    return data


def _body_text(path: Path) -> str:
    """The --body-file's text: UTF-8, or :class:`DataError` (a binary or Latin-1 file raised
    UnicodeDecodeError: a traceback). A byte order mark (Notepad's 'UTF-8') is not text: it
    went out as the body's first character, and made an ASCII body 8-bit."""
    return _text_of(path, "--body-file")


def _text_of(path: Path, flag: str) -> str:
    """:func:`_body_text` of the file given with ``flag``."""
    try:
        return _read_limited(path, flag).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{flag} {path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
            f"convert it (iconv -t UTF-8), or send a prepared message with --eml"
        ) from None


def _check_body(text: str, where: str) -> None:
    """Refuse a body that cannot be sent as UTF-8 text: a byte of argv that is not UTF-8 (a
    surrogate, which set_content could not encode: a traceback), or a NUL (RFC 5322 forbids it;
    it went out raw under 'Content-Transfer-Encoding: 7bit')."""
    import re

    found = re.search("[\x00\udc80-\udcff]", text)
    if found is None:
        return
    c, i = found[0], found.start()
    if c == "\x00":
        raise DataError(
            f"{where}: holds a NUL character (at character {i}), which no mail may carry; is "
            f"it UTF-16 or binary? Save it as UTF-8 text"
        )
    raise DataError(
        f"{where}: not UTF-8 text (byte 0x{ord(c) - 0xDC00:02x} at character {i}); give it in "
        f"UTF-8 (a GBK terminal or script: convert it, e.g. iconv -f GBK -t UTF-8)"
    )


def _check_header_values(to: tuple[str, ...], cc: tuple[str, ...], subject: str) -> None:
    """Refuse what would break out of its header line (CR, LF, NUL) before any message exists."""
    from warmup import addresses, api

    for field, values in (("to", to), ("cc", cc)):
        for value in values:
            try:
                addresses.normalize(value, "recipient")
            except DataError as exc:
                raise InvalidFieldData(field, "{field}: {problem}", problem=str(exc)) from None
    api.text_field(subject, "subject", SUBJECT_LIMIT)


def _send_one(
    gate: Gate,
    message: EmailMessage,
    rcpts: list[str],
    wait: bool,
    dry_run: bool,
    announce: bool = True,
    json_: bool = False,
    derived: bool = False,
    retry: bool = False,
    gone: list[str] | None = None,
) -> int:
    """Gate and send one message; its exit code. ``announce``: say "Sent ..." on success
    (``sendmail`` is silent then, as sendmail is: cron mails any output). ``json_``: the
    outcome as :func:`_report_json` on standard output, instead of the lines that say it.
    ``derived``: the message's Message-ID is :func:`warmup.outgoing.derived_message_id`'s, so one
    the ledger holds is this message again (:func:`warmup.outgoing.retry_of_derived`); ``retry``:
    ``rcpts`` are those a retry of it has not reached (:func:`warmup.outgoing.retry_recipients`);
    ``gone``: those it leaves out, refused for good the first time (named; exit 65 at least).
    A message under its own Message-ID that the gate refuses (a duplicate, suppressed, over
    quota) is such a retry when :func:`warmup.outgoing.retry_of_own` says so."""
    from email.errors import MissingHeaderBodySeparatorDefect

    from warmup.gate import NotAllowed
    from warmup.outgoing import prepare, recipients_of

    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in message.defects):
        # Python ends the headers there: the lines after it (a Bcc, a From) would go out as
        # body text that every recipient reads.
        raise DataError(
            "the message has a header line that is not 'Name: value' (white "
            "space before the colon?): fix its headers, with an empty line "
            "before the body"
        )
    msg = prepare(message, gate.box.address)
    if not rcpts:
        from warmup import headers

        # 100,000 addresses: refused in seconds, where the registry took minutes
        quick = headers.many_recipients(msg)
        if quick is not None:
            gate.check_fits(quick)
    rcpts = rcpts or recipients_of(msg)
    if not rcpts:  # the gate's bare "no recipients" did not say where they were looked for
        raise DataError(
            "no recipients: the message names none in To, Cc or Bcc; add one there, or give --to"
        )
    gate.check_fits(rcpts)
    if dry_run:
        from warmup import addresses

        # Read as reserve() reads them: '<X@y>' is x@y, a recipient named twice costs one slot.
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in rcpts))
        gone = list(gone or ())
        # as the send would: its own Message-ID sent before to some of those it names, and to
        # no one else, goes to those not reached yet alone (a retry: _retry_of_own)
        own = None if derived or retry else _retry_of_own(gate, msg, rcpts)
        if own is not None:
            rcpts, _, gone = own
        from warmup import headers

        del msg["Bcc"]  # as the gate flattens it: a header it cannot write is refused (65),
        headers.sendable(msg)  # and bytes no server takes (a NUL, a line over 998 octets)
        from warmup.gate import Suppressed
        from warmup.ledger import DuplicateSend
        from warmup.outgoing import message_id_of

        try:  # the send's own checks before a slot, in its order
            a = gate.check_refusals(rcpts, message_id_of(msg))
        except (Suppressed, DuplicateSend) as exc:
            raise DataError(f"would refuse: {exc}") from None
        except NotAllowed as exc:
            # "would wait" only where the send would: --wait, and a slot later today. A pause,
            # a used quota or a slot without --wait is exit 75 at once, not a wait.
            waits = wait and gate.wait_for(exc) is not None
            raise TempFail(f"would {'wait' if waits else 'not send now'}: {exc}") from None
        if json_:
            print_json(
                {
                    "mailbox": gate.box.address,
                    "dry_run": True,
                    "message_id": message_id_of(msg),
                    "recipients": rcpts,
                    "remaining": a.remaining,
                    "quota": a.quota,
                }
            )
        else:
            click.echo(
                f"Would send to {plural(len(rcpts), 'recipient')}: allowed now "
                f"({a.remaining} of {a.quota} left today)."
            )
        for rcpt in gone:  # as the send names them, and exits for them
            click.echo(f"{rcpt}: refused for good by the first attempt; not sent again", err=True)
        return EXIT_BY_OUTCOME["hard"] if gone else 0
    from warmup.gate import Suppressed
    from warmup.ledger import DuplicateSend
    from warmup.outgoing import new_message_id, retry_of_derived

    retrying = retry
    gone = list(gone or ())
    reached: list[str] = []
    while True:
        try:
            report = gate.send(msg, rcpts)
            break
        except KeyboardInterrupt:
            _interrupted(gate, msg, rcpts)
            raise
        except (DuplicateSend, NotAllowed, Suppressed) as exc:
            # Read only when refused: its own Message-ID sent before to some of those it names,
            # and to no one else, is a retry, to those not reached yet alone (retry_of_own).
            own = None if derived or retrying else _retry_of_own(gate, msg, rcpts)
            if own is not None:
                rcpts, reached, gone = own
                retrying = True
                continue
            if isinstance(exc, NotAllowed):
                delay = gate.wait_for(exc) if wait else None
                if delay is None:
                    raise
                _sleep(delay, str(exc))
                continue
            if isinstance(exc, Suppressed):
                raise
            again = retry_of_derived(exc) if derived else None
            if again:  # a retry: to those the first attempt did not reach
                rcpts, retrying = again, True
                continue
            # The same text again, as a new message; not when a retry found those it was for
            # reached meanwhile (another retry of it): that would mail them twice.
            if again is not None and not retrying:
                msg.replace_header("Message-ID", new_message_id(gate.box.address))
                continue
            if exc.outcome != "sent" or not exc.unsent:
                raise
            # A new Message-ID (what the error asks for) would mail those reached twice.
            raise DataError(
                f"message {exc.message_id} was already sent to {exc.recipient}; warmup never "
                f"sends it twice; it has not reached {', '.join(exc.unsent)}: send it to them "
                f"alone{_naming(exc.unsent, announce)}"
            ) from None
        except WarmupError as exc:
            # Failed once its slots were taken (the server unreachable, the login refused): an
            # outcome of the send, printed as its JSON prints every other one (it printed
            # nothing); the error line still on stderr, the exit code as without --json.
            # Refused before a slot (suppressed, over quota, a bad message): nothing was tried,
            # the one line on stderr, as any command's refusal.
            if json_ and gate.last_failure is not None:
                print_json(_report_json(gate, gate.last_failure, exc.exit_code, gone))
            raise
    results = report.results
    too_big = _too_big(results)
    if report.sent:
        from warmup.cli.common import DONE

        DONE.append(
            f"message {report.message_id} was sent to {plural(len(report.sent), 'recipient')}: "
            f"do not send it again"
        )
    # A size refused for good is bad data, as a hard refusal is, not "try later".
    codes = (
        EXIT_BY_OUTCOME.get("hard" if r in too_big else v.outcome, 0) for r, v in results.items()
    )
    worst = max(codes, default=0)
    worst = max(worst, EXIT_BY_OUTCOME["hard"] if gone else 0)  # the script must know of them
    code = 75 if report.throttle else worst
    from warmup.smtp import refused_sender

    sender = refused_sender(report)
    if sender is not None:  # the server turns this sender away: no retry helps (75 invited one)
        code = 69
    if report.garbled and code == EXIT_BY_OUTCOME["released"]:
        # An answer that was no SMTP reply before the data: the server is broken, not busy;
        # 75 asked a script to retry, each retry a new connection and login (as after the data)
        code = 69
    if json_:
        print_json(_report_json(gate, report, code, gone))
        return code
    for host, why in report.failed_hosts:
        click.echo(f"{host} unavailable ({why}); used the backup host {report.host}.", err=True)
    for rcpt, result in results.items():
        if result.outcome != "sent" and sender is None:  # that one reply: said once, below
            note = " (suppressed)" if result.outcome == "hard" else ""
            # (a result without a reply code, one of unknown fate, had two spaces in its place)
            words = (f"{rcpt}:", result.outcome, result.code, result.text)
            click.echo(" ".join(str(w) for w in words if w) + note, err=True)
    for rcpt in gone:
        click.echo(f"{rcpt}: refused for good by the first attempt; not sent again", err=True)
    if too_big:
        servers = "The server of" if len(too_big) == 1 else "The servers of"
        refuse = "refuses" if len(too_big) == 1 else "refuse"
        click.echo(
            f"{servers} {', '.join(too_big)} {refuse} this message's size for good: sent "
            f"again it is refused again; make it smaller (a link instead of an attachment?)",
            err=True,
        )
    if reached and announce:
        click.echo(
            f"A retry of {report.message_id}: not sent again to {', '.join(reached)}, reached "
            f"before; sent to those it had not reached",
            err=True,
        )
    if report.throttle:
        click.echo(
            f"The provider throttled the mailbox ({report.throttle[0]} "
            f"{report.throttle[1]}); it is paused for a while, see 'warmup quota'.",
            err=True,
        )
    sent = report.sent
    later = [
        r for r, v in results.items() if v.outcome in ("soft", "released") and r not in too_big
    ]
    # A retry under its Message-ID goes to these alone: not to those reached, nor to one the
    # server refused for good (the one address a "550 5.1.1" for the whole message named).
    refused = any(v.outcome in ("hard", "block") for v in results.values())
    if (sent or refused) and later and not report.throttle:
        click.echo(
            f"Not sent yet to {', '.join(later)}: send it again to them "
            f"alone{_naming(later, announce)}; it keeps its Message-ID",
            err=True,
        )
    if sent and announce:
        say(f"Sent {report.message_id} to {plural(len(sent), 'recipient')} via {report.host}.")
    elif report.error:
        maybe = [r for r, v in results.items() if v.outcome == "unknown"]
        if maybe:  # "not sent" invited the retry that mails them twice
            click.echo(
                f"Error: {report.error}; the message may have reached {', '.join(maybe)}: it "
                f"is counted and {report.message_id} is never sent again; ask the recipient "
                "before sending it anew",
                err=True,
            )
        elif sender is not None:
            click.echo(
                f"Error: not sent: {report.host} refuses mail from {gate.box.address} (MAIL "
                f"FROM: {sender[0]} {sender[1]}), and will refuse a retry alike: ask the "
                f"provider why (a disabled or blocked account?)",
                err=True,
            )
        else:
            click.echo(f"Error: not sent: {report.error}", err=True)
    return code


def _too_big(results: dict[str, Any]) -> list[str]:
    """The recipients whose server refused the message's size for good at RCPT TO ("552
    5.3.4": :func:`warmup.smtp.size_refused`): released, but the same message would be refused
    again, so they exit 65, as a recipient refused for good does, not 75 (which tells a script
    to try later), and are not told to send it again."""
    from warmup.smtp import size_refused

    return [r for r, v in results.items() if size_refused(v)]


def _retry_of_own(
    gate: Gate, msg: EmailMessage, rcpts: list[str]
) -> tuple[list[str], list[str], list[str]] | None:
    """For a message the gate refused under its own Message-ID: when it is a retry
    (:func:`warmup.outgoing.retry_of_own`), the recipients it goes to now, those it reached before
    and those refused for good before; else None (the refusal stands)."""
    from warmup import addresses
    from warmup.outgoing import message_id_of, refused_before, retry_of_own

    wanted = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in rcpts))
    slots = gate.ledger.message_slots(gate.box, message_id_of(msg), wanted)
    again = retry_of_own(slots, wanted)
    if again is None:
        return None
    reached = [r for r in wanted if slots[r][1] == "sent"]
    return again, reached, refused_before(slots, wanted)


def _report_json(
    gate: Gate, report: SendReport, code: int, gone: Sequence[str] = ()
) -> dict[str, object]:
    """``warmup send --json``: the message, the host it went through (and those passed over),
    each recipient's outcome with the server's reply, those a retry left out as refused for
    good by an earlier attempt (``refused_before``: the exit 65 is for them), a throttle, an
    error, the exit code."""
    return {
        "mailbox": gate.box.address,
        "message_id": report.message_id,
        "host": report.host,
        "failed_hosts": [{"host": h, "error": why} for h, why in report.failed_hosts],
        "recipients": [
            {"recipient": r, "outcome": v.outcome, "code": v.code, "reply": v.text or None}
            for r, v in report.results.items()
        ],
        "refused_before": list(gone),
        "throttle": (
            {"code": report.throttle[0], "reply": report.throttle[1]} if report.throttle else None
        ),
        "error": report.error,
        "exit_code": code,
    }


def _interrupted(gate: Gate, msg: EmailMessage, rcpts: list[str]) -> None:
    """Say whether a ^C came once the message may have left (the ledger counts it as of
    unknown fate, and never sends it again), once the server took it (held until the ledger
    said "sent": the Aborted line names it, as after a stop while the gate closes) or before
    (nothing went)."""
    from warmup import addresses
    from warmup.outgoing import message_id_of

    try:
        mid = message_id_of(msg)
        wanted = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in rcpts))
        slots = gate.ledger.message_slots(gate.box, mid, wanted)
    except Exception:  # the ledger is not what the user asked about: the ^C stands
        return
    sent = [r for r, (_, o) in slots.items() if o == "sent"]
    if sent:
        from warmup.cli.common import DONE

        DONE.append(
            f"message {mid} was sent to {plural(len(sent), 'recipient')}: do not send it again"
        )
    # What the server answered but the ledger could not write is the closing gate's to say
    # (74: the server took it, do not send it again), not "may have reached"
    known = gate.unwritten()
    maybe = [r for r, (i, o) in slots.items() if o in ("unknown", "reserved") and i not in known]
    if maybe:
        click.echo(
            f"Interrupted during delivery: the message may have reached {', '.join(maybe)}; "
            f"it is counted and {mid} is never sent to them again",
            err=True,
        )


def _naming(rcpts: list[str] | tuple[str, ...], send: bool) -> str:
    """How ``warmup send`` names them (sendmail takes recipients as arguments)."""
    return f" ({' '.join(f'--to {r}' for r in rcpts)})" if send else ""


def _sleep(delay: float, why: str) -> None:
    """Wait ``delay`` seconds for the next slot (:meth:`Gate.wait_for`), with a countdown on a
    terminal (progress: neither it nor the line saying why with --quiet)."""
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
    shown = verbosity() >= 0
    tty = shown and sys.stderr.isatty()
    if shown and not tty:
        click.echo(f"{why}; waiting.", err=True)
    while True:
        left = (until - dt.datetime.now(dt.UTC)).total_seconds()
        if left <= 0:
            break
        if tty:
            m, s = divmod(int(left), 60)
            click.echo(f"\rwaiting {m:02d}:{s:02d} for the next slot ", nl=False, err=True)
        time.sleep(min(left, 1.0))
    if tty:
        click.echo("", err=True)
