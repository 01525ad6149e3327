"""``warmup queue ...``: queue messages in the ledger's outbox, and see what became of them."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import click

from warmup.cli import cli
from warmup.cli.common import (
    DATA_FILE,
    EXPIRY,
    MESSAGE_ID,
    complete_pool,
    json_option,
    limit_option,
    message_id,
    not_blank,
    pass_ledger,
    print_json,
    print_table,
    say,
    stdin_once,
    stream_json,
    stream_table,
    typed_instant,
)
from warmup.errors import DataError, UsageError
from warmup.files import DataFile, StandardInput
from warmup.ledger import MailboxRow, OutboxRow
from warmup.ledger.values import OUTBOX_STATES
from warmup.words import plural, shown, some

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.outbox.due import Due


def _named(option: str, help_: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--pool NAME`` or ``--campaign NAME``: given blank (an unset ``"$VAR"``), refused as
    'send' refuses it (:func:`not_blank`), not looked up as a pool or campaign named ''."""
    complete = complete_pool if option == "--pool" else None
    return click.option(
        option, metavar="NAME", callback=not_blank, help=help_, shell_complete=complete
    )


def row_dict(row: OutboxRow, names: dict[int, str], pools: dict[int, str]) -> dict[str, Any]:
    def iso(ts: Any) -> str | None:
        return ts.isoformat() if ts is not None else None

    return {
        "id": row.id,
        "message_id": row.message_id,
        "state": row.state,
        "campaign": row.campaign,
        "mailbox": names.get(row.mailbox_id) if row.mailbox_id is not None else None,
        "pool": pools.get(row.pool_id) if row.pool_id is not None else None,
        "sent_by": names.get(row.sent_by) if row.sent_by is not None else None,
        "bulk": row.bulk,
        "via": row.sent_via,
        "recipients": list(row.recipients),
        "attempts": row.attempts,
        "not_before": iso(row.not_before),
        "next_attempt_at": iso(row.next_attempt_at),
        "expires_at": iso(row.expires_at),
        "last_reply": row.last_reply,
        "claimed_by": row.claimed_by,
        "claimed_at": iso(row.claimed_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _names(ledger: Ledger) -> tuple[dict[int, str], dict[int, str]]:
    return ledger.mailbox_names(), {p.id: p.name for p in ledger.pools()}


@cli.group()
def queue() -> None:
    """The outbox: messages queued in the ledger, sent by 'warmup run' when the plan allows.

    \b
    Example:
        warmup queue add --pool outreach --campaign dec --csv leads.csv --template intro.toml
        warmup queue status
    """


@queue.command("add")
@click.option("--mailbox", metavar="ADDRESS", callback=not_blank, help="Send from this mailbox.")
@_named("--pool", "Send from the pool's members.")
@_named("--campaign", "Campaign name, for status and cancel.")
@click.option(
    "--not-before",
    metavar="TIME",
    help="Not before this time (without a UTC offset: the mailboxes' local time; a time "
    "alone already past today: tomorrow's).",
)
@click.option(
    "--expires",
    metavar="DURATION",
    type=EXPIRY,
    default="72h",
    show_default=True,
    help="Give up on a message not sent within this (e.g. 72h, 3d).",
)
@click.option(
    "--eml",
    multiple=True,
    type=DATA_FILE,
    help="A complete RFC 5322 message (repeatable; - reads standard input).",
)
@click.option(
    "--bulk",
    is_flag=True,
    help="Bulk: once the members' quota is used, send through the pool's overflow channel.",
)
@click.option(
    "--csv",
    "csv_path",
    type=DATA_FILE,
    help="Recipients (an 'email' column) and fields, one message per row (- reads standard input).",
)
@click.option(
    "--template",
    type=DATA_FILE,
    help="TOML file: subject, text and optional html (Jinja2; - reads standard input).",
)
@pass_ledger
def add(
    ledger: Ledger,
    mailbox: str | None,
    pool: str | None,
    campaign: str | None,
    not_before: str | None,
    expires: dt.timedelta,
    eml: tuple[str, ...],
    csv_path: str | None,
    template: str | None,
    bulk: bool,
) -> None:
    """Queue messages: .eml files, or one message per CSV row from a template. Everything is
    checked first; nothing of the input is queued if any of it is wrong. Suppressed recipients
    are left out and counted, and so is a CSV row whose recipient an earlier row names or the
    campaign has queued or mailed already (queueing a file again completes its campaign), and
    an .eml the campaign has already (the same content to the same recipients). A FILE of -
    is standard input (once per command).

    \b
    Example:
        warmup queue add --pool outreach --campaign dec --csv leads.csv --template intro.toml
        warmup queue add --mailbox sales@corp.example --eml offer.eml --not-before 09:00
        export-leads | warmup queue add --pool outreach --csv - --template intro.toml
    """
    from warmup.files import data_path
    from warmup.outbox import Outbox

    if (mailbox is None) == (pool is None):
        raise UsageError("give exactly one of --mailbox ADDRESS and --pool NAME")
    if bool(eml) == bool(csv_path or template):
        raise UsageError("give --eml FILE... or --csv FILE --template FILE")
    if bool(csv_path) != bool(template):
        raise UsageError("--csv and --template go together")
    what = "the message" if eml else "the CSV" if csv_path == "-" else "the template (TOML)"
    stdin_once(what, **{"--eml": eml, "--csv": csv_path, "--template": template})
    _each_file_once(eml)
    boxes = (
        [ledger.mailbox(mailbox)] if mailbox is not None else list(ledger.pool(str(pool)).members)
    )
    # '--not-before 09:00' typed in the evening: tomorrow's 09:00, not this morning's (at once)
    start = (
        None if not_before is None else typed_instant(not_before, boxes, "--not-before", ahead=True)
    )
    if csv_path is not None and template is not None:
        from warmup.outbox.template import Rendered, filled, load_template

        tpl = load_template(data_path(template))
        messages: Iterable[tuple[EmailMessage | bytes | Rendered, None] | bytes | DataError] = (
            (message, None) for message in filled(tpl, data_path(csv_path))
        )
        where: Sequence[str] | None = None  # a row's errors name its line already
    else:
        messages = (_read_eml(data_path(p)) for p in eml)  # one unreadable: named with others
        where = [str(data_path(p)) for p in eml]
    from warmup.stopwindow import StopWindow

    # A stop (Ctrl-C, SIGTERM, a hang-up) that comes from the COMMIT on waits until the line
    # below is kept (warmup.stopwindow): acted on in between, it said "Aborted." alone of
    # messages queued, and a script that ran the command again queued them twice.
    with StopWindow() as window:
        got = Outbox(ledger).add_many(
            messages,
            mailbox=mailbox,
            pool=pool,
            campaign=campaign,
            not_before=start,
            expires=expires,
            where=where,
            bulk=bulk,
            committing=window.open,
        )
        to = f"pool {pool}" if pool else f"mailbox {ledger.mailbox(str(mailbox)).address}"
        named = f" (campaign {campaign})" if campaign else ""
        if got.ids:
            from warmup.cli.common import DONE

            # Queued for good: a script that ran the command again on exit 74 mailed each
            # twice.
            first, last = min(got.ids), max(got.ids)
            which = f"#{first}" if first == last else f"#{first}-#{last}"
            n = len(got.ids)
            DONE.append(
                f"{plural(n, 'message')} {'was' if n == 1 else 'were'} queued to {to}{named} "
                f"({which}): do not queue {'it' if n == 1 else 'them'} again"
            )
    say(f"Queued {plural(len(got.ids), 'message')} to {to}{named}.")
    if got.ids:
        _past_expiry(ledger, mailbox, pool, start, expires, boxes)
    if got.suppressed:
        dropped = f"; {plural(got.dropped, 'message')} left with none" if got.dropped else ""
        click.echo(
            f"Skipped {plural(len(got.suppressed), 'suppressed recipient')}: "
            f"{', '.join(sorted(got.suppressed))}{dropped}.",
            err=True,
        )
    if got.duplicates:
        twice = [f"{rcpt} ({where})" for rcpt, where in got.duplicates]
        click.echo(
            f"Skipped {plural(len(twice), 'duplicate recipient')}: {some(twice)}; "
            f"each recipient is queued once, from its first row.",
            err=True,
        )
    if got.already:
        again = [f"{where} (#{i})" for where, i in got.already]
        click.echo(
            f"Skipped {plural(len(again), 'message')} already queued: {some(again)}; the "
            f"same message is queued once{' per campaign' if campaign else ''}.",
            err=True,
        )
    if got.in_campaign:
        click.echo(
            f"Skipped {plural(len(got.in_campaign), 'recipient')} already in campaign "
            f"{campaign}: {some(got.in_campaign)}; a recipient is mailed once per campaign "
            f"(another --campaign name queues it again).",
            err=True,
        )


def _past_expiry(
    ledger: Ledger,
    mailbox: str | None,
    pool: str | None,
    start: dt.datetime | None,
    expiry: dt.timedelta,
    boxes: Sequence[MailboxRow],
) -> None:
    """Warn when the plan sends what waits for the target only after these messages expire:
    100,000 rows at 100 a day with the default 72h were queued without a word, and expired."""
    from warmup.instants import now_utc
    from warmup.ledger.values import local_day
    from warmup.outbox.status import target_finish

    now = now_utc()
    end = (start or now) + expiry
    # Only what is due by these messages' start (a --not-before past is now): what is due
    # later goes after them.
    due = max(start or now, now)
    label, day, unknown = target_finish(ledger, mailbox=mailbox, pool=pool, at=now, upto=due)
    if unknown:  # a member only a newer warmup can plan (and send from): no day to warn of
        return
    if day is not None and all(day <= local_day(end, b.timezone) for b in boxes):
        return
    if day is None and (held := _held(ledger, boxes, now)) is not None:
        # "not within 2 years; give a longer --expires, or queue fewer": neither helps a
        # pool whose every member is paused until someone resumes it
        whom = "one of its mailboxes" if pool is not None else "it"
        click.echo(
            f"Warning: {label} sends nothing until a person lets {whom} send "
            f"again ({held}); these messages expire unsent at {end:%Y-%m-%d %H:%M} UTC unless "
            f"that is done before",
            err=True,
        )
        return
    when = f"by {day}" if day else "not within 2 years"
    click.echo(
        f"Warning: at the plan's pace {label} sends what is queued to it {when}, after these "
        f"messages expire ({end:%Y-%m-%d %H:%M} UTC, --expires {expiry}): those not sent by "
        f"then expire unsent; give a longer --expires (at most 365d), or queue fewer",
        err=True,
    )


def _held(ledger: Ledger, boxes: Sequence[MailboxRow], now: dt.datetime) -> str | None:
    """Why every mailbox of ``boxes`` is paused until a person acts (a pause without an end,
    a cap of 0), or None when one is not."""
    from warmup import api
    from warmup.outbox.due import members_ready

    answers, refusals = api.quotas_each(ledger, boxes, now)
    members = None if refusals else members_ready(answers, now)
    return members.why if members is not None and members.held else None


def _each_file_once(paths: Sequence[str]) -> None:
    """:class:`DataError` for an --eml file given twice (the same name, or another name of it:
    a glob and a name, a relative and an absolute path), as the outbox refuses a Message-ID
    given twice: a message without one was queued twice, and its recipients mailed twice.
    '-' is stdin_once's."""
    import os

    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        if path == "-":
            continue
        try:
            st = os.stat(path)
        except (OSError, ValueError):  # named by the reading, with the others
            continue
        first = seen.get((st.st_dev, st.st_ino))
        seen.setdefault((st.st_dev, st.st_ino), path)
        if first is not None:
            again = "" if first == path else f" (as {first})"
            raise DataError(f"{path}: given twice{again}; queue it once")


def _read_eml(path: DataFile) -> bytes | DataError:
    """The bytes of an .eml file, read no further than a provider would take of it (a
    gigabyte file filled memory, then failed to fit in a ledger row with a traceback); one
    that cannot be read or is too big: its :class:`DataError`, for ``Outbox.add_many`` to
    name with the others."""
    from warmup.headers import MESSAGE_LIMIT, size_error

    try:
        if isinstance(path, StandardInput):
            data = path.read_bytes(MESSAGE_LIMIT + 1)
        else:
            with path.open("rb") as f:
                data = f.read(MESSAGE_LIMIT + 1)
    except OSError as exc:
        return DataError(f"{path}: cannot read it ({exc.strerror or exc})")
    if len(data) > MESSAGE_LIMIT:
        return DataError(f"{path}: {size_error()}")
    if not data.removeprefix(b"\xef\xbb\xbf").strip():  # not "no recipient": there is no message
        return DataError(f"{path}: the message is empty; give a whole RFC 5322 message")
    return data


@queue.command("list")
@_named("--campaign", "Only this campaign's messages.")
@click.option(
    "--state",
    type=click.Choice(OUTBOX_STATES, case_sensitive=False),
    help="Only messages in this state.",
)
@limit_option("oldest first")
@json_option
@pass_ledger
def list_(ledger: Ledger, campaign: str | None, state: str | None, limit: int, json_: bool) -> int:
    """List queued messages and what became of them, oldest first.

    \b
    Example:
        warmup queue list --campaign dec --state unknown
        warmup queue list --campaign dec --limit 0 --json
    """
    # A campaign of 50,000 rows printed 50,000 lines (and built them all in memory): the
    # first --limit of them, and a line on stderr saying how many there are. All of them
    # (--limit 0) are read a page at a time from one snapshot, twice for a table (its column
    # widths, then its lines): a million took 1.3 GiB held at once.
    _list(ledger, campaign, state, limit, json_)
    return _unreadable_said(ledger)


def _unreadable_said(ledger: Ledger) -> int:
    """A line on stderr for each outbox row the command's reads left out, a time of it
    unreadable (a hand edit's): 65 when there is one, else 0."""
    from warmup.cli.common import error_line

    left_out = ledger.outbox_unreadable()
    for error in left_out:
        click.echo(error_line(error), err=True)
    return 65 if left_out else 0


def _list(ledger: Ledger, campaign: str | None, state: str | None, limit: int, json_: bool) -> None:
    """:func:`list_`'s listing."""
    from warmup.instants import now_utc

    names, pools = _names(ledger)
    now = now_utc()  # the same for every page, and both reads of them
    ready: dict[tuple[int | None, int | None], Any] = {}  # each target's plan, read once
    holds = ledger.holds()  # the worker's holds of pools (mailboxes), read once
    with ledger.message_pages(campaign, state, limit or None) as listing:
        if campaign is not None and not listing.more_than(0):  # a typo read "No messages."
            ledger.check_campaign(campaign)
        if limit and listing.more_than(limit):
            _say_limited(ledger, campaign, state, limit)

        held_why: dict[int, str] = {}  # a page's messages whose pool (mailbox) is held: why

        def pages() -> Iterator[tuple[list[OutboxRow], dict[int, list[str]], dict[int, Due]]]:
            for rows in listing:
                bad = _suppressed_each(ledger, rows)
                held_why.clear()
                yield rows, bad, _due_each(ledger, rows, bad, held_why, now, ready, holds)

        if json_:
            # due: when it can really go (its pool's plan too), next_attempt_at its own time
            stream_json(
                lambda: (
                    [
                        {
                            **row_dict(r, names, pools),
                            **_due_fields(due.get(r.id), r),
                            **_bad(r, bad),
                        }
                        for r in rows
                    ]
                    for rows, bad, due in pages()
                )
            )
            return
        if not listing.more_than(0):
            click.echo(_none_said(campaign=campaign, state=state))
            return
        stream_table(
            ["ID", "STATE", "CAMPAIGN", "FROM", "TO", "TRIES", "NEXT (UTC)", "LAST REPLY"],
            lambda: (
                [_line(r, names, pools, due, bad, held_why) for r in rows]
                for rows, bad, due in pages()
            ),
        )


def _say_limited(ledger: Ledger, campaign: str | None, state: str | None, limit: int) -> None:
    """The line on stderr of a listing cut at ``limit``: of how many, and how to narrow them."""
    total = sum(
        c["messages"]
        for c in ledger.outbox_counts()
        if (campaign is None or c["campaign"] == campaign)
        and (state is None or c["state"] == state)
    )
    # the filters not given yet (both given: suggesting one again sent the user in circles)
    left = [f for f, given in (("--campaign", campaign), ("--state", state)) if not given]
    narrow = (
        f", {' and '.join(left)} {'narrows' if len(left) == 1 else 'narrow'} them" if left else ""
    )
    click.echo(
        f"Showing the first {limit} {'message' if limit == 1 else 'messages'} (oldest first) "
        f"of {total}; --limit 0 shows all{narrow}.",
        err=True,
    )


def _line(
    r: OutboxRow,
    names: dict[int, str],
    pools: dict[int, str],
    due: dict[int, Due],
    bad: dict[int, list[str]],
    held_why: dict[int, str],
) -> list[Any]:
    """The cells of ``r``'s line of 'queue list' (``held_why``: see :func:`_due_each`)."""
    return [
        r.id,
        r.state,
        r.campaign,
        f"overflow of pool {pools.get(r.pool_id or 0, '(removed)')}"
        if r.sent_via == "overflow"
        else names.get(r.sent_by or 0)
        or (
            f"pool {pools.get(r.pool_id, '(removed)')}"  # not "pool None"
            if r.pool_id
            else names.get(r.mailbox_id or 0, "mailbox (removed)" if r.mailbox_id else None)
        ),
        some(list(r.recipients), 2),
        r.attempts,
        (
            HELD
            if due[r.id].held
            else f"expires {r.expires_at:%Y-%m-%d %H:%M}"  # before it can go
            if _expires_first(due[r.id], r)
            else f"{due[r.id].at:%Y-%m-%d %H:%M}"
        )
        if r.id in due
        else NEVER
        if r.id in bad and len(bad[r.id]) == len(r.recipients)
        else None,
        (held_why.get(r.id) or r.last_reply or "")[:60] or None,
    ]


def _suppressed_each(ledger: Ledger, rows: Sequence[OutboxRow]) -> dict[int, list[str]]:
    """The suppressed recipients of each waiting message of ``rows`` that has some: the worker
    leaves them out, and cancels a message whose every recipient is."""
    waiting = [r for r in rows if r.state in ("queued", "sending")]
    addresses = sorted({a for r in waiting for a in r.recipients})
    found: set[str] = set()
    for start in range(0, len(addresses), 5_000):  # SQLite's parameters are limited
        found.update(ledger.suppressed(addresses[start : start + 5_000]))
    bad = {r.id: [a for a in r.recipients if a in found] for r in waiting}
    return {i: b for i, b in bad.items() if b}


def _bad(row: OutboxRow, bad: dict[int, list[str]]) -> dict[str, Any]:
    """``suppressed`` for the JSON of 'queue list' and 'queue show': the recipients of a
    waiting message that it will not go to (every one: the message will not be sent)."""
    return {"suppressed": bad.get(row.id, [])}


def _due_each(
    ledger: Ledger,
    rows: Sequence[OutboxRow],
    bad: dict[int, list[str]],
    held_why: dict[int, str] | None = None,
    now: dt.datetime | None = None,
    ready: dict[tuple[int | None, int | None], Any] | None = None,
    holds: dict[tuple[str, int], Any] | None = None,
) -> dict[int, Due]:
    """When each queued message of ``rows`` can go: its own time, or later when no mailbox of
    its pool (or its mailbox) may send before (paused, quota used, paced), as the worker says
    it (``held``: not before a person resumes one of them; its time is only when the worker
    looks again); each pool's plan read once. Not one whose every recipient is suppressed
    (``bad``: :func:`_suppressed_each`): it will not go. ``held_why``: filled with why each
    message whose pool (mailbox) the worker holds waits (the hold's reason). ``now``,
    ``ready`` (each target's plan, filled as read) and ``holds`` (:meth:`Ledger.holds`):
    given, the same for every page of a listing."""
    from warmup.instants import now_utc
    from warmup.ledger.outbox_holds import applies, target_of
    from warmup.outbox.due import target_ready, when

    now = now or now_utc()
    ready = {} if ready is None else ready
    if holds is None:
        holds = ledger.holds() if any(r.state == "queued" for r in rows) else {}
    due = {}
    for r in rows:
        if r.state != "queued" or len(bad.get(r.id, ())) == len(r.recipients):
            continue
        target = (r.pool_id, None if r.pool_id is not None else r.mailbox_id)
        if target not in ready:
            ready[target] = target_ready(ledger, *target, now)
        # its pool (mailbox) held until a slot, not before its own time: then, for the hold's
        # reason (the message whose claim found it held was put back until then itself)
        hold = holds.get(target_of(r.pool_id, r.mailbox_id))
        held = hold is not None and hold.until > now and hold.until >= r.next_attempt_at
        if held and hold is not None and applies(hold, r.bulk):
            due[r.id] = when(hold.until, hold.why, ready[target])
            if held_why is not None:
                held_why[r.id] = hold.why
        else:
            due[r.id] = when(r.next_attempt_at, None, ready[target])
    return due


HELD = "when resumed"  # a queued message whose every mailbox is paused until a person acts
NEVER = "never: suppressed"  # a queued message whose every recipient is suppressed


def _due_fields(due: Due | None, row: OutboxRow) -> dict[str, Any]:
    """``due`` (when it can go; None when held, not queued, or not before its expiry),
    ``held`` and ``expires_first`` (its mailboxes may send it only at or after its expiry:
    it waits until then, and expires, unless a change lets it go sooner) for the JSON of
    'queue list' and 'queue show'."""
    held = due is not None and due.held
    late = _expires_first(due, row)
    return {
        "due": None if due is None or held or late else due.at.isoformat(),
        "held": held,
        "expires_first": late,
    }


def _expires_first(due: Due | None, row: OutboxRow) -> bool:
    """Whether the first moment ``row`` can go (``due``) is at or after its expiry."""
    return due is not None and not due.held and due.at >= row.expires_at


@queue.command("show")
@click.argument("message_id", metavar="ID", type=MESSAGE_ID)
@json_option
@pass_ledger
def show(ledger: Ledger, message_id: int, json_: bool) -> None:
    """Show one queued message: its state, envelope, tries, when it can go and headers.

    \b
    Example:
        warmup queue show 42
    """
    import email
    import email.policy

    row = ledger.message(message_id)
    names, pools = _names(ledger)
    msg = email.message_from_bytes(row.data or b"", policy=email.policy.default)
    bad = _suppressed_each(ledger, [row])
    held_why: dict[int, str] = {}
    data = {
        **row_dict(row, names, pools),
        # as 'queue list': when it can really go (its pool's plan too), not only its own time
        **_due_fields(_due_each(ledger, [row], bad, held_why).get(row.id), row),
        **_bad(row, bad),
        "headers": {k: str(v) for k, v in msg.items() if k.lower() in _SHOWN},
    }
    if row.id in held_why:  # its pool (mailbox) held by the worker: why, as 'queue list' says
        data = {"waiting": held_why[row.id], **data}
    if json_:
        print_json(data)
        return
    # A header or a server's reply may hold control characters (an encoded word decodes to
    # anything): shown as escapes, as in 'queue list', never acted on by the terminal.
    for key, value in data.items():
        if key == "headers":
            for h, v in value.items():
                click.echo(f"{h}: {shown(v)}")
        elif key == "held":
            if value:  # its mailboxes paused until a person acts: no time to give
                click.echo(f"due: {HELD}")
        elif key == "expires_first":
            if value:  # its mailboxes' next slot is after its expiry
                click.echo(
                    "due: not before its expiry: it waits until then and expires, unless a "
                    "change lets its mailboxes send it sooner"
                )
        elif key == "suppressed" and value:
            click.echo(f"suppressed: {shown(', '.join(value))} (not sent to)")
            if len(value) == len(row.recipients):  # the worker cancels it when it comes to it
                click.echo("due: never: every recipient is suppressed; the worker cancels it")
        elif value not in (None, [], ""):
            text = ", ".join(value) if isinstance(value, list) else str(value)
            click.echo(f"{key}: {shown(text)}")


_SHOWN = {"from", "to", "cc", "reply-to", "subject", "date", "message-id"}


@queue.command("cancel")
@click.argument("message_id", metavar="[ID]", type=MESSAGE_ID, required=False)
@_named("--campaign", "Cancel every queued message of the campaign.")
@pass_ledger
def cancel(ledger: Ledger, message_id: int | None, campaign: str | None) -> None:
    """Cancel a queued message (one waiting after a 4xx too), or every queued message of a
    campaign. A cancelled message is never tried again by itself; 'warmup queue retry ID'
    queues it again.

    \b
    Example:
        warmup queue cancel 42
        warmup queue cancel --campaign dec
    """
    from warmup.instants import now_utc

    if message_id is None and campaign is None:
        raise UsageError("give a message ID or --campaign NAME")
    if message_id is not None and campaign is not None:  # which one was meant, the ID or all?
        raise UsageError(
            f"give a message ID or --campaign NAME, not both: 'warmup queue cancel {message_id}' "
            f"cancels that message, 'warmup queue cancel --campaign {shlex.quote(campaign)}' "
            f"every queued message of the campaign"
        )
    n, sending = ledger.cancel_messages(now_utc(), message_id, campaign)
    say(f"Cancelled {plural(n, 'message')}.")
    if sending:
        what = plural(sending, "message") + (" is" if sending == 1 else " are")
        click.echo(
            f"{what} being sent now: a worker is finishing {'its' if sending == 1 else 'their'} "
            "try; unless it goes now, it is cancelled, never tried again."
        )


@queue.command("retry")
@click.argument("message_id", metavar="ID", type=MESSAGE_ID)
@click.option(
    "--expires",
    metavar="DURATION",
    type=EXPIRY,
    default="72h",
    show_default=True,
    help="Give up on the message if not sent within this from now (e.g. 72h, 3d).",
)
@pass_ledger
def retry(ledger: Ledger, message_id: int, expires: dt.timedelta) -> None:
    """Queue an unknown, expired or cancelled message again, or make a queued one due now. An
    unknown one may have reached its recipients: it goes again under a new Message-ID (the gate
    never sends one twice). An expired or cancelled one its campaign has queued again since is
    refused: both would go. A queued one waiting for its next try (a refused login fixed
    since) goes at the next pass of 'warmup run', not before its --not-before; it keeps its
    expiry, unless --expires is given: then it expires that long after it is due.

    \b
    Example:
        warmup queue retry 42
    """
    from warmup import outbox
    from warmup.instants import now_utc
    from warmup.outbox.worker import due_stamp

    now = now_utc()
    row = ledger.message(message_id)
    # A queued message keeps its expiry unless --expires was asked for (not its default)
    given = click.get_current_context().get_parameter_source("expires")
    typed = given is not None and given is not click.core.ParameterSource.DEFAULT
    mid = outbox.retry(ledger, message_id, expires if typed or row.state != "queued" else None, now)
    if row.state != "queued":
        # a cancel undone: the message goes when it was to go, not at once
        later = f"; it is due at {due_stamp(row.not_before)}, its --not-before"
        say(f"Queued message {message_id} again as {mid}{later if row.not_before > now else ''}.")
        return
    until = (
        f"; it expires at {ledger.message(message_id).expires_at:%Y-%m-%d %H:%M} UTC"
        if typed
        else ""
    )
    if row.not_before > now:
        say(f"Message {message_id} is due at {due_stamp(row.not_before)}, its --not-before{until}.")
    else:
        say(f"Message {message_id} is due now: the next pass of 'warmup run' sends it{until}.")


@queue.command("mark")
@click.argument("words", nargs=-1, metavar="[ID] sent|unsent")
@_named("--campaign", "Mark every unknown message of the campaign.")
@pass_ledger
def mark(ledger: Ledger, words: tuple[str, ...], campaign: str | None) -> None:
    """Say what became of an unknown message (the connection broke after its data began), or
    of every unknown message of a campaign, once you have checked (the Sent folder, a reply):
    'sent', it went (bounces then count it; its quota already did), or 'unsent', it did not
    and is not to be sent: it is cancelled and its quota slot given back ('warmup queue retry
    ID' still sends it). Recipients refused with a 4xx in that same try go again.

    \b
    Example:
        warmup queue mark 42 sent
        warmup queue mark --campaign dec unsent
    """
    from warmup import outbox

    message_id, went = _mark_words(words, campaign)
    done = outbox.mark(ledger, went, message_id, campaign)
    if not done:
        say("No unknown messages.")
        return
    word = "sent" if went else "unsent (cancelled)"
    say(
        f"Marked message {done[0][0]} {word}."
        if message_id is not None
        else f"Marked {plural(len(done), 'message')} {word}."
    )
    for i, state in done:
        if state == "queued":
            rcpts = ", ".join(ledger.message(i).recipients)
            say(f"Message {i} is queued again for {rcpts}: a 4xx deferred them in that try.")


def _mark_words(words: tuple[str, ...], campaign: str | None) -> tuple[int | None, bool]:
    """``queue mark``'s arguments: the message's id (None with --campaign) and whether it went."""
    if not words or words[-1] not in ("sent", "unsent"):
        raise UsageError(
            "say 'sent' (it went) or 'unsent' (it did not, and is not to be sent) after the "
            "message ID or --campaign NAME: 'warmup queue mark 42 sent'"
        )
    went = words[-1] == "sent"
    if len(words) > 2:
        raise UsageError(f"one message ID at a time, or --campaign NAME; got {' '.join(words)}")
    given = words[0] if len(words) == 2 else None
    if given is not None and campaign is not None:
        raise UsageError(
            f"give a message ID or --campaign NAME, not both: 'warmup queue mark {given} "
            f"{words[-1]}' marks that message, 'warmup queue mark --campaign "
            f"{shlex.quote(campaign)} {words[-1]}' every unknown message of the campaign"
        )
    if given is None and campaign is None:
        raise UsageError(
            f"give a message ID or --campaign NAME: 'warmup queue mark 42 {words[-1]}'"
        )
    return (message_id(given) if given is not None else None), went


@queue.command("status")
@_named("--pool", "Only the messages queued to this pool.")
@json_option
@pass_ledger
def status(ledger: Ledger, pool: str | None, json_: bool) -> int:
    """Per campaign and sending mailbox: sent, queued, failed, and the finish date the plan
    gives at the current ramp; sends through a pool's overflow channel apart.

    \b
    Example:
        warmup queue status --json
        warmup queue status --pool outreach
    """
    from warmup import api
    from warmup.outbox.status import status_each

    data, refusals = status_each(ledger, pool=pool)
    _status_shown(data, json_, pool)
    if not json_:
        _suppressed_said(data["campaigns"])
        _unknown_said(ledger, data["campaigns"])
    # a mailbox whose policy or provider preset this warmup does not know hides no campaign:
    # the dates leave it out (as the worker does), and it is named
    for refusal in refusals:
        click.echo(f"Error: {refusal.error}", err=True)
    return max(api.refusals_code(refusals), _unreadable_said(ledger))


def _none_said(**asked: str | None) -> str:
    """What 'queue list' and 'queue status' say of no message: of the outbox, what to do; of
    those asked for (``asked``: option -> value), which, as 'bounces list' does."""
    given = [f"--{option} {value}" for option, value in asked.items() if value is not None]
    if not given:
        return "The outbox is empty; queue messages with 'warmup queue add'."
    return " ".join(["No messages", *given]) + "."


def _unknown_said(ledger: Ledger, campaigns: list[dict[str, Any]]) -> None:
    """A line for each campaign with ``unknown`` messages: it is not done until a person
    decides whether they went, and the line names the commands that show and resend them, and
    the one that records the decision."""
    for c in campaigns:
        n = c["unknown"]
        if not n:
            continue
        name = c["campaign"]
        listed = "warmup queue list --state unknown" + (
            f" --campaign {shlex.quote(name)}" if name is not None else ""
        )
        # (no campaign: messages() would read every campaign's)
        rows = ledger.messages(name, "unknown", 2) if n == 1 and name is not None else []
        one = rows[0].id if len(rows) == 1 else "ID"
        retry = f"'warmup queue retry {one}'"
        marks = (
            f"'warmup queue mark {one} sent' (or unsent) records"
            if name is None or n == 1
            else f"'warmup queue mark --campaign {shlex.quote(name)} sent' (or unsent) records"
        )
        click.echo(
            f"Campaign {name or '(none)'} waits for a person: "
            + (
                f"1 message is unknown (it may have reached its recipients); '{listed}' "
                f"lists it, {retry} sends it again, {marks} whether it went."
                if n == 1
                else f"{n} messages are unknown (they may have reached their recipients); "
                f"'{listed}' lists them, {retry} sends one again, {marks} whether they went."
            )
        )


def _done_by(c: dict[str, Any]) -> str:
    """The DONE BY of campaign ``c``: done; its unknown messages or "none to send" when
    nothing of it will be sent (as the live view of 'warmup run' says it); its expiry when
    that comes before the plan sends it; the plan's day."""
    from warmup.outbox.status import nothing_to_send

    if c["finished"]:
        return "done"
    said = nothing_to_send(c)
    if said is not None:
        return said
    return (
        f"expires {c['expires_day']}" if c["expires_first"] else c["finish"] or "not within 2 years"
    )


def _suppressed_said(campaigns: list[dict[str, Any]]) -> None:
    """A line for each campaign with waiting messages whose every recipient was suppressed
    after they were queued: they are counted as queued (their state), but will not be sent."""
    for c in campaigns:
        n = c["suppressed"]
        if not n:
            continue
        name = c["campaign"] or "(none)"
        each, them = ("each has", "them") if n > 1 else ("it has", "it")
        click.echo(
            f"Campaign {name}: {plural(n, 'queued message')} will not be sent: {each} only "
            f"suppressed recipients, and the worker cancels {them} when it comes to {them} "
            f"(left out of DONE BY; 'warmup suppress remove ADDRESS' first to send one)."
        )


def _status_shown(data: dict[str, Any], json_: bool, pool: str | None) -> None:
    """Print ``queue status``'s answer (``pool``: of the messages queued to that pool)."""
    if json_:
        print_json(data)
        return
    if not data["campaigns"]:
        click.echo(_none_said(pool=pool))
        return
    print_table(
        ["CAMPAIGN", "SENT", "QUEUED", "SENDING", "FAILED", "UNKNOWN", "CANCELLED", "DONE BY"],
        [
            [
                c["campaign"] or "(none)",
                c["sent"],
                c["queued"],
                c["sending"],
                c["failed"],
                c["unknown"],
                c["cancelled"],
                _done_by(c),
            ]
            for c in data["campaigns"]
        ],
    )
    if data["mailboxes"]:
        click.echo("")
        print_table(
            ["MAILBOX", "SENT", "BOUNCED", "UNKNOWN", "EXPIRED"],
            [
                [m["mailbox"], m["sent"], m["bounced"], m["unknown"], m["expired"]]
                for m in data["mailboxes"]
            ],
        )
    if data["overflow"]:
        click.echo("")
        print_table(
            ["OVERFLOW OF POOL", "SENT", "BOUNCED", "UNKNOWN"],
            [[o["pool"], o["sent"], o["bounced"], o["unknown"]] for o in data["overflow"]],
        )
