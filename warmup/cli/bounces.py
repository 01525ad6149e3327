"""``warmup bounces ...`` and ``warmup suppress ...``: learn of bounces, stop mailing dead addresses."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from warmup import addresses, api
from warmup.cli import cli
from warmup.cli.common import (
    DATA_FILE,
    INPUT_FILE,
    SECONDS,
    complete_mailbox,
    error_line,
    json_option,
    limit_option,
    none_yet,
    pass_ledger,
    print_json,
    print_table,
    reading_terminal,
    say,
    stdin_once,
    typed_instant,
    typed_wins,
    verbosity,
)
from warmup.cli.send import password_option
from warmup.errors import DataError, UsageError
from warmup.instants import local_text, machine_zone
from warmup.words import plural, shown

if TYPE_CHECKING:
    from pathlib import PurePath

    from warmup.ledger import Ledger

# "delayed": delay warnings (RFC 3464 Action: delayed), recorded and listed, never counted;
# "notice": ARF feedback reports that are no complaint (auth-failure, not-spam), likewise.
KINDS = ["hard", "soft", "block", "complaint", "delayed", "notice"]
UNMATCHED_SHOWN = 10  # addresses named after a sync; --verbose names them all


@cli.group()
def bounces() -> None:
    """Parse, sync and list bounces (DSNs, SMTP rejections, complaints).

    \b
    Example:
        warmup bounces sync sales@corp.example
        warmup bounces list --kind hard
    """


@bounces.command("sync")
@click.argument("address", shell_complete=complete_mailbox)
@click.option(
    "--since",
    metavar="DATE",
    help=(
        "Read the messages since DATE, again if read before (default: the new ones; on a "
        "first sync, since the day before the first send)."
    ),
)
@click.option(
    "--folder",
    "folders",
    multiple=True,
    default=["INBOX"],
    show_default=True,
    help="IMAP folder to read (repeatable).",
)
@click.option("--move-to", metavar="FOLDER", help="Move notifications found to this folder.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="IMAP timeout: seconds (60) or a duration (90s, 2m).",
)
@click.option(
    "--suppress-soft",
    is_flag=True,
    help="Then suppress the addresses this mailbox's sends keep soft-bouncing for, as "
    "'suppress soft --apply' does (else one line says how many).",
)
@password_option
@json_option
@pass_ledger
def sync(
    ledger: Ledger,
    address: str,
    since: str | None,
    folders: tuple[str, ...],
    move_to: str | None,
    timeout: float,
    suppress_soft: bool,
    password_command: str | None,
    json_: bool,
) -> None:
    """Read bounce notifications from the mailbox over IMAP and record them.

    Read-only (messages stay unseen), incremental and idempotent: a second run records nothing
    new. Hard bounces and complaints suppress the recipient; delay warnings (the server still
    tries) are kept as kind delayed, and feedback reports that are no complaint (ARF
    auth-failure, not-spam) as kind notice, never counted.

    Then it looks, in this mailbox's sends only, for the addresses 'suppress soft' finds (its
    --sends and --days as [commands."suppress soft"] in the config file sets them, else 3
    and 7): a line says how many, or --suppress-soft suppresses them.

    \b
    Example:
        warmup bounces sync sales@corp.example
        warmup bounces sync sales@corp.example --folder INBOX --folder Junk --since 2026-11-01
        warmup bounces sync sales@corp.example --suppress-soft
    """
    from warmup import logins, notify
    from warmup.bounces.imap import READ_BYTES, LoginFailed
    from warmup.bounces.imap import sync as run_sync
    from warmup.bounces.message import MAX_LINES
    from warmup.bounces.record import MAX_RECIPIENTS
    from warmup.providers import checklist_text, get_provider

    box = ledger.mailbox(address)
    since_date = None if since is None else api.parse_date(since, "since")
    from warmup.bounces.imap import check_since

    check_since(since_date, box, dt.datetime.now(dt.UTC))  # before a password is asked for
    sends, days = soft_measure()  # a bad one refused before anything is read or recorded
    ep = api.endpoints(box)
    password = logins.secret_for(box, password_command)
    from contextlib import ExitStack

    from warmup.cli.progress import bars

    stack = ExitStack()
    update = stack.enter_context(bars("messages", show=not json_))

    def progress(total: int, done: int) -> None:
        update("Reading notifications", done, total)

    notifier = notify.notifier_for(ledger, log=lambda line: click.echo(line, err=True))
    try:
        report = run_sync(
            ledger,
            box,
            hosts=ep.imap_hosts,
            port=ep.imap_port,
            security=ep.imap_security,
            password=password,
            folders=list(folders),
            since=since_date,
            move_to=move_to,
            timeout=timeout,
            progress=progress,
            notifier=notifier,
        )
    except LoginFailed as exc:
        raise LoginFailed(
            f"{exc}\n{checklist_text(get_provider(box.provider, of=box.address))}"
        ) from None
    finally:
        stack.close()
        notifier.close()
    streaks = api.soft_streaks(ledger, sends, days, mailbox=box.address)
    added = api.suppress_streaks(ledger, streaks) if suppress_soft and streaks else 0
    data = {
        "mailbox": box.address,
        "host": report.host,
        # the hosts passed over, with why, as 'send --json' gives them
        "failed_hosts": [{"host": h, "error": why} for h, why in report.failed_hosts],
        "scanned": report.scanned,
        "bounces": report.bounces,
        "matched": report.matched,
        "delayed": report.delayed,
        "notices": report.notices,
        "unmatched": report.unmatched,
        "moved": report.moved,
        "linked": report.linked,
        "partial": report.partial,
        "capped": report.capped,
        "not_kept": report.not_kept,
        "soft_streaks": [s.address for s in streaks],
        "soft_suppressed": added if suppress_soft else None,
    }
    if json_:
        print_json(data)
        return
    for host, why in report.failed_hosts:
        click.echo(f"{host} unavailable ({why}); used the backup host {report.host}.", err=True)
    say(
        f"Scanned {plural(report.scanned, 'message')} on {report.host}: recorded "
        f"{report.new_text()}."
    )
    if report.delayed:
        say(
            f"Of these, {plural(report.delayed, 'delay warning')} (the server still tries: "
            "kept, not counted, nothing suppressed)."
        )
    if report.notices:
        say(
            f"Of these, {plural(report.notices, 'notice')} (feedback that is no complaint, "
            "auth-failure or not-spam: kept, not counted, nothing suppressed)."
        )
    if report.moved:
        say(f"Moved {plural(report.moved, 'report')} to {move_to}.")
    if report.linked:
        say(f"Linked {plural(report.linked, 'bounce')} read earlier to the sends recorded since.")
    if report.unmatched:
        # One address a line of several bounces names once (a block, then the hard verdict):
        # "3 addresses: a, a, b" counted a bounce as an address.
        named = list(dict.fromkeys(report.unmatched))
        listed = named if verbosity() > 0 else named[:UNMATCHED_SHOWN]
        more = len(named) - len(listed)
        bounces = (
            f" ({plural(len(report.unmatched), 'bounce')})"
            if len(report.unmatched) > len(named)
            else ""
        )
        say(
            f"Unmatched (kept, not linked to a send): "
            f"{plural(len(named), 'address', 'addresses')}{bounces}: "
            f"{', '.join(shown(a) for a in listed)}"
            + (f" and {more} more (--verbose lists them all)" if more else "")
        )
    if report.partial:
        click.echo(
            f"Read only the first {READ_BYTES // 1_000_000} MB or {MAX_LINES:,} lines of these "
            "reports, and it "
            f"names no failed recipient; check them by hand: {', '.join(report.partial)}"
        )
    if report.capped:
        click.echo(
            shown(
                f"Recorded only the first {MAX_RECIPIENTS:,} failed recipients of these reports, "
                f"which list more: {', '.join(report.capped)}"
            )
        )
    if report.not_kept:
        click.echo(report.not_kept_text())
    if streaks:
        from warmup.bounces.streaks import said_of

        say(said_of(streaks, added if suppress_soft else None))


def soft_measure() -> tuple[int, int]:
    """``suppress soft``'s --sends and --days as the config file's ``[commands."suppress
    soft"]`` sets them, else their defaults: ``bounces sync`` looks for what that command lists,
    so the addresses it names are the ones found there. A value that command would refuse is
    refused here too (exit 78), naming the key."""
    from warmup import config
    from warmup.cli import check_config_value, param_named
    from warmup.errors import ConfigError

    table = "suppress soft"
    given = config.load().commands.get(table, {})
    where = f"config file {config.path()}: {config.table_name(table)}"
    measure = []
    for name in ("sends", "days"):
        param = param_named(suppress_soft, name)
        assert param is not None
        value = given.get(name, param.default)
        check_config_value(param, where, name, table, value)
        try:
            measure.append(param.type.convert(value, param, None))
        except click.BadParameter as exc:
            raise ConfigError(f"{where} {name}: {exc.message}") from None
    return measure[0], measure[1]


@bounces.command("parse")
@click.argument("files", nargs=-1, required=True, type=DATA_FILE)
@click.option("--explain", is_flag=True, help="Print each recipient's decision path.")
@json_option
def parse(files: tuple[str, ...], explain: bool, json_: bool) -> None:
    """Show what the bounce parser finds in message files (.eml); records nothing.

    Each failed recipient gets a kind (hard, soft, block, complaint), the reason behind it and
    the rule that decided; --explain prints how, one line per step. A FILE of - is standard
    input. A delay warning (the
    server still tries) shows as delayed (JSON: "delayed": true, its kind the words' reading):
    a sync records it but never counts it. A feedback report that is no complaint (ARF
    auth-failure, not-spam) is a notice: recorded and listed, never counted nor suppressing. A report about a forwarded message names the address
    mailed as "original_recipient".

    \b
    Example:
        warmup bounces parse returned.eml
        warmup bounces parse --explain returned.eml
        warmup bounces parse tests/corpus/dsn/eml/*.eml --json
        fetch-report | warmup bounces parse -
    """
    from warmup.bounces import parse_report
    from warmup.bounces.formats import MAX_CONTAINERS
    from warmup.bounces.message import MAX_INPUT, MAX_LINES
    from warmup.bounces.reportfiles import EMPTY

    stdin_once("the message", FILES=files)
    results = parse_report(list(files), steps=explain)
    unread = [
        f"{'standard input' if r['file'] == '-' else shown(r['file'])} ({r['error']})"
        for r in results
        if r.get("error")
    ]
    if json_:
        print_json(results)
    for item in [] if json_ else results:
        if item.get("error"):
            continue
        # A message's words, and a file name, may carry terminal escapes: printed defused.
        name = "standard input" if item["file"] == "-" else shown(item["file"])
        if not item["bounces"] and not item.get("partial"):
            click.echo(f"{name}: not a bounce")
        if item.get("capped"):
            first = len(item["bounces"])
            click.echo(f"{name}: lists more failed recipients than are read; the first {first:,}:")
        for b in item["bounces"]:
            click.echo(
                shown(
                    f"{name}: {'delayed' if b['delayed'] else b['kind']:9} {b['reason']:15} "
                    f"{b['recipient'] or ('(redacted)' if b.get('redacted') else '-'):40} "
                    f"{b['status'] or '-':7} {b['reply'] or '-':4} {b['diagnostic'][:60]}"
                    + (f" (sent to {b['original_recipient']})" if b["original_recipient"] else "")
                )
            )
            if explain:
                for step in [*b["steps"], f"rule: {b['rule']}"]:
                    click.echo(f"    {shown(step)}")
        if item.get("partial"):
            of = f" of {item['size'] / 1e6:.1f} MB" if item["size"] else ""
            read = {
                "lines": f"its first {MAX_LINES:,} lines, which name",
                "boundaries": f'up to where it says "boundary" a {MAX_CONTAINERS + 1}th time '
                "(multiparts nested deeper are not read), which names",
            }.get(item["cut"], f"its first {MAX_INPUT // 1_000_000} MB{of}, which names")
            click.echo(f"{name}: read only {read} no failed recipient; check the rest by hand")
    if unread:
        said = f"not read: {', '.join(unread)}; give message files (.eml)"
        # nothing in them is bad data, as an empty 'send --eml' or 'import' is (65); a file
        # that cannot be read is a usage error (64)
        if all(r["error"] == EMPTY for r in results if r.get("error")):
            raise DataError(said)
        raise UsageError(said)


@bounces.command("list")
@click.argument("address", required=False, shell_complete=complete_mailbox)
@click.option("--kind", type=click.Choice(KINDS, case_sensitive=False), help="Only this kind.")
@click.option(
    "--since",
    metavar="DATETIME",
    help="Only bounces at or after this time (ISO 8601; without an offset, local time).",
)
@limit_option("newest first")
@json_option
@pass_ledger
def list_(
    ledger: Ledger,
    address: str | None,
    kind: str | None,
    since: str | None,
    limit: int,
    json_: bool,
) -> int:
    """List recorded bounces, newest first (times in each mailbox's zone; JSON: UTC).

    A report whose returned original is another's, or dated away from the send it would
    answer, is listed unmatched, with why ("unverified"); every bounce not counted says why
    ("not_counted": a stranger's address, another mailbox's message, a second report, ...).

    \b
    Example:
        warmup bounces list sales@corp.example --kind hard
        warmup bounces list --since 2026-11-01 --limit 50
    """
    unzoned = _list(ledger, address, kind, since, limit, json_)
    # a mailbox whose stored zone is unknown here: the others' bounces listed, it named (78)
    for refusal in unzoned:
        click.echo(error_line(refusal.error), err=True)
    # a row whose time a hand edit left unreadable: the others listed, it named (exit 65)
    for error in ledger.bounces_left_out:
        click.echo(error_line(error), err=True)
    if unzoned:
        return api.refusals_code(unzoned)
    return 65 if ledger.bounces_left_out else 0


def _list(
    ledger: Ledger,
    address: str | None,
    kind: str | None,
    since: str | None,
    limit: int,
    json_: bool,
) -> list[api.Refusal]:
    """:func:`list_`'s listing; the mailboxes left out, their stored zone unknown here (their
    bounces' local times and ``--since``'s cannot be told): asked about alone, one is refused."""
    from warmup.bounces.classify import recorded_reason

    box = None if address is None else ledger.mailbox(address)
    scope, unzoned = api.zoned([box] if box else ledger.mailboxes())
    if box is not None and unzoned:
        raise unzoned[0].error
    start = typed_instant(since, scope, "--since") if since is not None else None
    # one more than --limit, to say the list was cut (silently showing the newest 1,000 of
    # 1,023 read as "these are all")
    left_out = [r.box.id for r in unzoned]
    rows = ledger.bounces(box, kind, limit + 1 if limit else None, start, left_out)
    if limit and len(rows) > limit:
        rows = rows[:limit]
        click.echo(
            f"Showing the newest {limit:,}; there are more: --limit 0 shows all, "
            "--since, --kind or ADDRESS narrows them.",
            err=True,
        )
    for r in rows:
        r["reason"] = recorded_reason(
            r["kind"], r["status"] or "", r["reply"] or "", r["diagnostic"] or ""
        )
    if json_:
        print_json(rows)
        return unzoned
    if not rows and not scope:  # as 'report --by-reason' says it: no mailbox, not no bounce
        if not unzoned:  # else each mailbox is named on stderr
            click.echo(none_yet())
        return unzoned
    if not rows:
        asked = [f"of {box.address}" if box else "", f"--kind {kind}" if kind else ""]
        asked.append(f"--since {since}" if since is not None else "")
        click.echo(" ".join(["No bounces", *filter(None, asked)]) + ".")
        return unzoned
    zones = {b.address: b.timezone for b in scope}
    print_table(
        [
            "WHEN",
            "MAILBOX",
            "RECIPIENT",
            "KIND",
            "REASON",
            "STATUS",
            "SOURCE",
            "MATCHED",
            "COUNTED",
        ],
        [
            [
                local_text(dt.datetime.fromisoformat(r["at"]), zones.get(r["mailbox"], "UTC")),
                r["mailbox"],
                r["recipient"],
                r["kind"],
                r["reason"],
                r["status"],
                r["source"],
                "yes" if r["matched"] else "no",
                "yes" if r["counted"] else "no",  # matched yet not counted: a second report
            ]
            for r in rows
        ],
    )
    for r in rows:
        if r["unverified"]:
            click.echo(shown(f"Unverified, not counted: {r['recipient']}: {r['unverified']}"))
        elif r["not_counted"]:
            said = r["recipient"] or "(no recipient)"
            click.echo(shown(f"Not counted: {said}: {r['not_counted']}"))
    return unzoned


@cli.group()
def suppress() -> None:
    """Addresses never to be mailed again (hard bounces, complaints, manual entries).

    \b
    Example:
        warmup suppress add someone@example.com --reason "asked to be removed"
        warmup suppress list
    """


def _listed(from_: str | None, addresses_: tuple[str, ...], verb: str) -> PurePath | None:
    """The file of ``suppress add/remove --from`` (``-``: standard input, said when it is a
    terminal); None for addresses given as arguments, refused (64) when there are none."""
    if from_ is None:
        if not addresses_:
            raise UsageError(f"give the addresses to {verb}, or --from FILE")
        return None
    from pathlib import Path

    if from_ == "-":
        reading_terminal("the addresses (one a line)")
        return api.STANDARD_INPUT
    return Path(from_)


@suppress.command("add")
@click.argument("addresses_", metavar="[ADDRESS]...", nargs=-1)
@click.option("--reason", required=True, help="Why (e.g. 'asked to be removed').")
@click.option(
    "--from",
    "from_",
    metavar="FILE",
    type=INPUT_FILE,
    help="Also the addresses FILE lists (- for standard input): one a line, or a CSV export "
    "with a column named email (or address); a bad line refuses the file, nothing kept.",
)
@pass_ledger(create=True)
def suppress_add(
    ledger: Ledger, addresses_: tuple[str, ...], reason: str, from_: str | None
) -> None:
    """Suppress addresses by hand.

    \b
    Example:
        warmup suppress add someone@example.com --reason "asked to be removed"
        warmup suppress add --from unsubscribed.csv --reason "unsubscribed"
    """
    listed = _listed(from_, addresses_, "suppress")
    given, distinct, added = api.suppress_listed(ledger, addresses_, reason, listed)
    # One address in two spellings (A@X.example, a@x.example) is one.
    old, repeated = distinct - added, given - distinct
    notes = [f"{old} already {'was' if old == 1 else 'were'}"] if old else []
    notes += [f"{repeated} repeated"] if repeated else []
    say(
        f"Suppressed {plural(added, 'address', 'addresses')}"
        + (f" ({'; '.join(notes)})" if notes else "")
        + "."
    )


@suppress.command("list")
@click.argument("match", required=False, metavar="[ADDRESS|@DOMAIN]")
@limit_option("by address")
@click.option(
    "--csv",
    "csv_",
    is_flag=True,
    help="CSV (address,kind,reason,since) that 'suppress add --from' reads back.",
)
@json_option
@pass_ledger
def suppress_list(ledger: Ledger, match: str | None, limit: int, csv_: bool, json_: bool) -> None:
    """List suppressed addresses, by address: all, one ADDRESS (is it suppressed?), or those
    of @DOMAIN.

    \b
    Example:
        warmup suppress list @example.com
        warmup suppress list lead@example.com
        warmup suppress list --limit 0 --json
        warmup suppress list --limit 0 --csv > suppressed.csv
    """
    if csv_ and json_:
        dropped = typed_wins("csv_", "json_")  # a default in the config file yields to a flag
        if not dropped:
            raise UsageError("give --csv or --json, not both")
        csv_, json_ = "csv_" not in dropped, "json_" not in dropped
    domain = match is not None and match.startswith("@")
    if match is not None:  # as stored: lower case, a display name dropped, a bad one refused
        if domain:
            match = addresses.normalize_domain(match)
        else:
            match = addresses.lookup(match)
    # 200,000 suppressions printed 200,000 lines (12 s): the first --limit, and a line on
    # stderr saying how many there are.
    rows = ledger.suppressions(match, limit + 1 if limit else None)
    if limit and len(rows) > limit:
        rows = rows[:limit]
        total = ledger.suppression_count(match)
        click.echo(
            f"Showing the first {limit} (by address) of {total:,}; --limit 0 shows all, "
            f"ADDRESS or @DOMAIN narrows them.",
            err=True,
        )
    if json_:
        print_json(rows)
        return
    if csv_:
        # The table's columns were no file 'suppress add --from' could read back (its header
        # line was refused as a malformed address): this one is, by its address column.
        # Written by click.echo, not by csv.writer on sys.stdout: a write its C code makes
        # failing (> /dev/full, '| head -0') was a traceback and exit 1, not 74 and 0.
        import csv
        import io

        from warmup.words import spreadsheet_text

        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        out.writerow(["address", "kind", "reason", "since"])
        # a cell a spreadsheet would run as a formula (a reason quoted from a stranger's
        # report, '=HYPERLINK(...)') guarded as 'report --format csv' guards its cells
        out.writerows(
            [spreadsheet_text(r[k]) for k in ("address", "kind", "reason", "created_at")]
            for r in rows
        )
        click.echo(text.getvalue(), nl=False)
        return
    if not rows:
        removal = None if match is None or domain else ledger.last_removal(match)
        click.echo(
            "No suppressed addresses."
            if match is None
            else f"No suppressed addresses at {match[1:]}."
            if domain
            else f"{match} is not suppressed."
            + (
                ""
                if removal is None
                else f" Taken back {local_text(removal['removed_at'], machine_zone())} "
                f"('suppress remove'); it was {removal['kind']}"
                # the column may be empty: a row kept from elsewhere ('suppress list' shows "-")
                + (f": {shown(removal['reason'])}." if removal["reason"] else ", no reason given.")
            )
        )
        return
    print_table(
        ["ADDRESS", "KIND", "REASON", "SINCE"],
        [
            [r["address"], r["kind"], r["reason"], local_text(since, machine_zone())]
            for r in rows
            for since in [dt.datetime.fromisoformat(r["created_at"])]
        ],
    )


@suppress.command("soft")
@click.option(
    "--sends",
    metavar="N",
    type=click.IntRange(*api.SOFT_STREAK_SENDS),
    default=3,
    show_default=True,
    help="How many of a mailbox's last sends to an address must each have soft-bounced.",
)
@click.option(
    "--days",
    metavar="D",
    type=click.IntRange(*api.SOFT_STREAK_DAYS),
    default=7,
    show_default=True,
    help="At least this many days from the first of those sends to the last.",
)
@click.option("--apply", is_flag=True, help="Suppress them (else they are only listed).")
@json_option
@pass_ledger
def suppress_soft(ledger: Ledger, sends: int, days: int, apply: bool, json_: bool) -> None:
    """List (--apply: suppress) the addresses that keep soft-bouncing for their own state: a
    mailbox's last N sends to each were all answered by a soft bounce whose reason is a full
    mailbox (mailboxfull) or a suspended or disabled one (suspend), over D days or more;
    of an address taken back by 'suppress remove', only the sends after its latest removal.

    \b
    Example:
        warmup suppress soft
        warmup suppress soft --sends 4 --days 14 --apply
    """
    found = api.soft_streaks(ledger, sends, days)
    # Written before anything is printed: a write refused (a read-only ledger, a server gone)
    # came after the table or the JSON of the addresses, read as done, then its error line.
    added = api.suppress_streaks(ledger, found) if apply else 0
    if json_:
        print_json([s.to_dict() for s in found])
    elif found:
        print_table(
            ["ADDRESS", "MAILBOX", "SENDS", "FROM", "TO", "REASONS"],
            [
                [
                    s.address,
                    s.mailbox,
                    s.sends,
                    local_text(s.first, s.timezone),
                    local_text(s.last, s.timezone),
                    ", ".join(s.reasons),
                ]
                for s in found
            ],
        )
    else:
        click.echo(
            f"No address soft-bounced {sends} sends in a row over {plural(days, 'day')} or more."
        )
    if not apply:
        if found and not json_:
            say("Listed only: --apply suppresses them.")
        return
    old = len({s.address for s in found}) - added  # another process's meanwhile
    say(
        f"Suppressed {plural(added, 'address', 'addresses')}"
        + (f" ({old} already {'was' if old == 1 else 'were'})" if old else "")
        + ".",
        err=json_,
    )


@suppress.command("remove")
@click.argument("addresses_", metavar="[ADDRESS]...", nargs=-1)
@click.option(
    "--from",
    "from_",
    metavar="FILE",
    type=INPUT_FILE,
    help="Also the addresses FILE lists (- for standard input), as 'suppress add --from' reads "
    "it ('suppress list --csv' writes one); a bad line refuses the file, nothing taken back.",
)
@pass_ledger
def suppress_remove(ledger: Ledger, addresses_: tuple[str, ...], from_: str | None) -> None:
    """Allow addresses again (e.g. a bounce was a mistake, a full mailbox was emptied).

    The removal is remembered: 'suppress soft' (and a sync's --suppress-soft) counts only the
    address's sends after it, so an old streak does not suppress it again. An address that was
    not suppressed is left as it is, and said so (exit 0: it may be mailed, as asked).

    \b
    Example:
        warmup suppress remove someone@example.com
        warmup suppress remove --from taken-back.csv
    """
    if from_ is None and len(addresses_) == 1:
        clean = addresses.lookup(addresses_[0])  # a DSN's suppression is of any length
        # Not there: exit 64 made a script's "take these back" fail on the one already taken
        # back (or never suppressed), though what it asked for holds. Nothing written, said so.
        if not ledger.unsuppress(clean):
            say(f"{clean} was not suppressed; nothing taken back.")
            return
        say(f"{clean} may be mailed again.")
        return
    listed = _listed(from_, addresses_, "take back")
    given, distinct, removed = api.unsuppress_listed(ledger, addresses_, listed)
    # Not suppressed: left as they were, counted (exit 0, as for one address).
    absent, repeated = distinct - removed, given - distinct
    notes = [f"{absent} {'was' if absent == 1 else 'were'} not suppressed"] if absent else []
    notes += [f"{repeated} repeated"] if repeated else []
    say(
        f"Took back {plural(removed, 'address', 'addresses')}"
        + (f" ({'; '.join(notes)})" if notes else "")
        + "."
    )
