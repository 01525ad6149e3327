"""``warmup record send|bounce`` and ``warmup import``: history made outside the gate."""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from warmup import addresses, api
from warmup.cli import cli
from warmup.cli.common import (
    INPUT_FILE,
    Stopped,
    complete_mailbox,
    json_option,
    not_blank,
    pass_ledger,
    print_json,
    reading_terminal,
    say,
    typed_instant,
)
from warmup.errors import WarmupError
from warmup.words import plural, shown

if TYPE_CHECKING:
    from warmup.ledger import Ledger


@cli.group()
def record() -> None:
    """Record sends and bounces made outside 'warmup send'.

    \b
    Example:
        warmup record send sales@corp.example --to lead@example.com
        warmup record bounce sales@corp.example --to gone@example.com --kind hard
    """


@record.command("send")
@click.argument("address", shell_complete=complete_mailbox)
@click.option(
    "--to",
    "to",
    multiple=True,
    required=True,
    metavar="RCPT",
    help="Recipient (repeatable); each counts one against the quota.",
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="When it was sent (ISO 8601; without an offset, the mailbox's local time; default now).",
)
@click.option(
    "--message-id",
    metavar="ID",
    callback=not_blank,
    help="Message-ID, for matching bounces later.",
)
@pass_ledger
def record_send(
    ledger: Ledger, address: str, to: tuple[str, ...], at: str | None, message_id: str | None
) -> None:
    """Record a message ADDRESS sent to one or more recipients.

    \b
    Example:
        warmup record send sales@corp.example --to lead@example.com
    """
    from warmup.stopwindow import StopWindow

    when = typed_instant(at, [ledger.mailbox(address)]) if at is not None else None
    # A stop (Ctrl-C, SIGTERM, a hang-up) that comes from the COMMIT on waits until the line
    # below is kept (warmup.stopwindow): acted on in between, it said "Aborted." alone of sends
    # in the ledger, and a script that ran the command again recorded each twice.
    with StopWindow() as window:
        n = api.record_send(ledger, address, list(to), when, message_id, committing=window.open)
        # All were checked by now; one recipient given twice (a@x, A@X) is one send, not a
        # send "already recorded" (which sent users looking for an earlier import).
        distinct = len({addresses.normalize(t, "recipient", limits=False) for t in to})
        old, repeated = distinct - n, len(to) - distinct
        notes = [f"{old} already recorded"] if old else []
        notes += [f"{repeated} repeated"] if repeated else []
        box = addresses.normalize(address, limits=False)
        if n:
            from warmup.cli.common import DONE

            # Recorded for good: a script that ran the command again on exit 74 (its output
            # lost) recorded each twice, its quota of the day that much shorter.
            DONE.append(
                f"{plural(n, 'send')} {'was' if n == 1 else 'were'} recorded for {box}: do "
                f"not record {'it' if n == 1 else 'them'} again"
            )
    say(
        f"Recorded {plural(n, 'send')} for {box}"
        + (f" ({'; '.join(notes)})" if notes else "")
        + "."
    )
    _tell_suppressed(ledger, to, when)


def _tell_suppressed(ledger: Ledger, to: tuple[str, ...], when: dt.datetime | None) -> None:
    """A note for each recipient that was suppressed when it was mailed: the tool that sent it
    still mails an address warmup keeps from being mailed (a hard bounce, a complaint), and the
    record was taken without a word, the next bounce hurting the mailbox again."""
    seen: set[str] = set()
    for rcpt in to:
        clean = addresses.normalize(rcpt, "recipient", limits=False)
        if clean in seen:
            continue
        seen.add(clean)
        for row in ledger.suppressions(clean, limit=1):
            since = dt.datetime.fromisoformat(row["created_at"])
            if when is not None and when < since:
                continue  # mailed before it was suppressed
            why = f"{row['kind']}: {row['reason']}" if row["reason"] else row["kind"]
            click.echo(
                f"note: {clean} was suppressed ({why}) when it was mailed: take it off the "
                "list of the tool that sent this ('warmup send' refuses it)",
                err=True,
            )


@record.command("bounce")
@click.argument("address", shell_complete=complete_mailbox)
@click.option("--to", "to", required=True, metavar="RCPT", help="The recipient that bounced.")
@click.option(
    "--kind",
    default="hard",
    show_default=True,
    type=click.Choice(["hard", "soft", "block", "complaint"], case_sensitive=False),
    help="hard: the address is bad (suppressed); soft: transient; block: refused for policy, "
    "spam or reputation; complaint: the recipient reported it as spam (suppressed).",
)
@click.option(
    "--status", metavar="X.Y.Z", callback=not_blank, help="Enhanced status code, e.g. 5.1.1."
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="When it bounced (ISO 8601; without an offset, the mailbox's local time; default now).",
)
@pass_ledger
def record_bounce(
    ledger: Ledger, address: str, to: str, kind: str, status: str | None, at: str | None
) -> None:
    """Record a bounce learnt elsewhere (hard bounces and complaints suppress the recipient).

    It counts in the mailbox's bounce rate only if it answers a send of the mailbox (the latest
    to the recipient in the 30 days before): a bounce for an address the mailbox never mailed is
    kept and listed, never counted.

    \b
    Example:
        warmup record bounce sales@corp.example --to gone@example.com --kind hard --status 5.1.1
    """
    when = typed_instant(at, [ledger.mailbox(address)]) if at is not None else None
    got = api.record_bounce(ledger, address, to, kind, status, when)
    rcpt = addresses.normalize(to, limits=False)  # both checked by record_bounce
    if not got.bounces:
        say("Already recorded.")
    elif got.counted:
        say(f"Recorded a {kind} bounce for {rcpt}.")
    elif got.matched:  # a send's first bounce is counted (and its first complaint)
        what = "complaint" if kind == "complaint" else "bounce"
        say(
            f"Recorded a {kind} bounce for {rcpt}; it answers a send of "
            f"{addresses.normalize(address, limits=False)} that an earlier {what} already "
            f"counts in its {what} rate, so it does not count again."
        )
    else:
        # A person vouches for what they record: the address is suppressed all the same. Said,
        # as a mistyped address (suppressed, the one meant still mailed) is seen only here.
        vouched = (
            f"; {rcpt} is suppressed all the same, as you vouch for it ('warmup suppress "
            f"remove {shlex.quote(rcpt)}' if that was a mistake)"
            if kind in ("hard", "complaint")
            else ""
        )
        say(
            f"Recorded a {kind} bounce for {rcpt}; it matches no send of "
            f"{addresses.normalize(address, limits=False)}, so it does not count in its bounce "
            f"rate{vouched}."
        )


@cli.command("import")
@click.argument("file", type=INPUT_FILE)
@json_option
@pass_ledger(create=True)
def import_(ledger: Ledger, file: str, json_: bool) -> None:
    """Import sends (and bounces) from an earlier sending log (CSV).

    The whole file is checked first (a bad line rejects it, naming the line, nothing written),
    then written in batches of 2,000 rows, so sends going on meanwhile never wait long.

    Header: mailbox,recipient,sent_at and optionally
    message_id,bounce_kind,bounce_status,bounced_at (times ISO 8601; without an offset, the
    mailbox's local time), provider,timezone,policy (register a mailbox the ledger does not know
    yet; a known mailbox keeps its own, and a note says so when the file gives others) and
    event,reason (event=pause|resume: a pause or resume at sent_at; recipient empty).
    A FILE of - is standard input. Importing the same file again adds nothing, even saved by
    Excel with its times cut to the minute or second (a row without message_id matches the send
    within that precision), and says how many rows were in the ledger already. --json: what it
    added and skipped, as one object.

    \b
    Example:
        warmup import sent-log.csv
        zcat sent-log.csv.gz | warmup import -
        warmup import sent-log.csv --json
    """
    from warmup.cli.progress import bars

    name = api.STANDARD_INPUT.name if file == "-" else Path(file).name
    if file == "-":
        reading_terminal("the sending log (CSV)")
    phases = {"check": f"Checking {name}", "write": f"Importing {name}"}
    at: dict[str, tuple[int, int]] = {}  # phase -> rows done, rows in all (write: written)

    def progress(phase: str, n: int, of: int | None) -> None:
        at[phase] = (n, of or 0)
        update(phases[phase], n, of)

    try:
        with bars("rows") as update:
            r = api.import_csv(ledger, file, progress)
    except KeyboardInterrupt as exc:
        source = api.STANDARD_INPUT.name if file == "-" else file
        phase = "write" if "write" in at else "check"
        code = 128 + exc.signum if isinstance(exc, Stopped) else 130
        raise _import_interrupted(source, phase, *at.get("write", (0, 0)), code) from None
    if r.sends or r.bounces or r.events:
        api.keep_walks(ledger)
    extra = (
        f" Registered {plural(r.mailboxes, 'new mailbox', 'new mailboxes')} and "
        f"{plural(r.events, 'pause/resume event')}."
        if r.mailboxes or r.events
        else ""
    )
    if r.skipped:
        # One bounce per send is imported: a second one (a soft bounce, then the hard one)
        # was dropped without a word, its hard address not even suppressed.
        sends = "its send has" if r.skipped == 1 else "their sends have"
        extra += (
            f" {plural(r.skipped, 'bounce')} skipped: {sends} one already "
            "(record another with 'warmup record bounce')."
        )
    if r.already:
        # The same file again said "Imported 0 new sends" alone: not why (every row was there).
        extra += f" {plural(r.already, 'row')} already recorded, skipped."
    if r.ignored:
        extra += f" Ignored {plural(len(r.ignored), 'column')} warmup does not read: "
        # a header is text from elsewhere: its control characters shown, never acted on
        extra += f"{', '.join(shown(c) for c in r.ignored)}."
    if json_:
        print_json(
            {
                "file": str(api.STANDARD_INPUT) if file == "-" else file,
                "sends": r.sends,
                "bounces": r.bounces,
                "already_recorded": r.already,
                "mailboxes": r.mailboxes,
                "events": r.events,
                "bounces_skipped": r.skipped,
                "ignored_columns": list(r.ignored),
            }
        )
    else:
        say(
            f"Imported {plural(r.sends, 'new send')} and {plural(r.bounces, 'new bounce')} "
            f"from {api.STANDARD_INPUT if file == '-' else shown(file)}.{extra}"
        )
    for kept in r.kept:
        click.echo(
            f"note: {_kept_note(str(api.STANDARD_INPUT) if file == '-' else shown(file), kept)}",
            err=True,
        )
    for address, note in r.zones:
        click.echo(f"note: {address}: {note}", err=True)
    if r.events and r.paused:
        _tell_paused(ledger, r.paused)


def _tell_paused(ledger: Ledger, addresses_: tuple[str, ...]) -> None:
    """A note for each mailbox a pause row of the file named that is paused now: an old log
    whose last event is a pause stopped the mailbox's sending, and nothing said so."""
    named = set(addresses_)
    boxes = [b for b in ledger.mailboxes() if b.address in named]
    results, _ = api.quotas_each(ledger, boxes, api.live_now())
    for box, allowance in results:
        if allowance.status != "paused":
            continue
        why = next((r for r in allowance.reasons if r.startswith("paused")), "paused")
        click.echo(f"note: {box.address} is {why}", err=True)  # the reason says what to do


def _kept_note(source: str, kept: api.KeptSettings) -> str:
    """One line for a known mailbox the file gives other settings: the ledger's were kept (the
    columns only register new mailboxes), and how to take the file's where a command can."""
    said = ", ".join(f"{column} {ours!r}" for column, (ours, _) in kept.differ.items())
    has = ", ".join(f"{column} {theirs!r}" for column, (_, theirs) in kept.differ.items())
    options = [
        f"--{column} {shlex.quote(ours)}"
        for column, (ours, _) in kept.differ.items()
        if column in ("policy", "timezone")
    ]
    fix = (
        f"; to follow the file: 'warmup mailbox set {shlex.quote(kept.address)} "
        f"{' '.join(options)}'"
        if options
        else ""
    )
    return (
        f"{source}: line {kept.line} gives {kept.address} {said}; it was in the ledger already "
        f"and keeps its own ({has}): these columns only register new mailboxes{fix}"
    )


class _Interrupted(WarmupError):
    """An import stopped by Ctrl-C (exit 130, as the shell reports it), SIGTERM (143) or
    SIGHUP (129)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _import_interrupted(source: str, phase: str, n: int, of: int, code: int) -> WarmupError:
    """Ctrl-C, SIGTERM or SIGHUP (exit ``code``) during an import: what it wrote and what to
    do. It said "Aborted.", and a user could not tell an import cut off before its first row
    from one cut off with most of them written (batches are committed one by one)."""
    if phase == "check":
        return _Interrupted(
            f"import of {source} interrupted while it was checked: nothing was imported", code
        )
    if n >= of:
        return _Interrupted(
            f"import of {source} interrupted once all its {of} rows were in the ledger", code
        )
    return _Interrupted(
        f"import of {source} interrupted with the first {n} of its {of} rows in the ledger; run "
        f"the same import again to write the rest (a row already in the ledger is not added "
        f"twice)",
        code,
    )
