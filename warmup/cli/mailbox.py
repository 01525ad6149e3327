"""``warmup mailbox ...``: register, inspect, pause and resume mailboxes."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import click

from warmup import addresses, api
from warmup.cli import cli
from warmup.cli.common import (
    complete_mailbox,
    complete_policy,
    complete_provider,
    error_line,
    json_option,
    pass_ledger,
    print_json,
    print_table,
    read_password,
    say,
    wall_said,
)
from warmup.errors import InvalidField, UsageError
from warmup.instants import local_short, local_text, read_instant, until_reading
from warmup.providers import AUTHS, SECURITIES, providers
from warmup.words import plural, whole_number_fault

if TYPE_CHECKING:
    import datetime as dt

    from warmup.ledger import Ledger


def endpoint_options(fn: Any) -> Any:
    fn = click.option(
        "--auth",
        type=click.Choice(AUTHS, case_sensitive=False),
        help="How it logs in: password (an app password) or oauth ('mailbox login --oauth'). "
        "Default: the provider's (oauth for m365 and gmail).",
    )(fn)
    for kind in ("imap", "smtp"):
        fn = click.option(
            f"--{kind}-security",
            type=click.Choice(SECURITIES, case_sensitive=False),
            help=f"{kind.upper()} security (none only for loopback hosts).",
        )(fn)
        fn = click.option(f"--{kind}-port", type=int, help=f"{kind.upper()} port.")(fn)
        fn = click.option(f"--{kind}-host", help=f"{kind.upper()} host (required for custom).")(fn)
    return fn


def _no_cap(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "none"


def _cap(value: str | None) -> int | None:
    """``--cap N`` (N >= 1, checked by the library); ``--cap none`` and no ``--cap``: None."""
    if value is None or _no_cap(value):
        return None
    fault = whole_number_fault(value)  # int() reads '２００' as 200, and '1_000' as 1000
    if fault:
        raise InvalidField("cap", "{field}: {value!r}: {fault}", value=value, fault=fault)
    try:
        return int(value)
    except ValueError:
        raise InvalidField(
            "cap", "{field} {value!r}: expected a whole number >= 1, or none", value=value
        ) from None


CAP_HELP = "Daily ceiling of this mailbox, N >= 1 (e.g. what the admin allows); none: no cap."


def _stored(note: str) -> None:
    """A policy file is stored in the ledger (so it works from any directory and every host):
    say so once."""
    click.echo(f"{note[0].upper()}{note[1:]}; the mailbox uses it by name.", err=True)


def _zone_said(tz: str | None) -> None:
    """A zone typed whose name reads as its opposite (Etc/GMT+8 is UTC-08:00) is taken, and
    said to be what it is."""
    note = None if tz is None else api.zone_note(tz)
    if note:
        click.echo(f"note: {note}", err=True)


@cli.group()
def mailbox() -> None:
    """Register and manage mailboxes.

    \b
    Example:
        warmup mailbox add sales@corp.example --provider exmail
        warmup mailbox list
    """


@mailbox.command("add")
@click.argument("address")
@click.option(
    "--provider",
    required=True,
    metavar="NAME",
    shell_complete=complete_provider,
    help="Provider preset: exmail, netease, aliyun, gmail, m365, zoho, custom.",
)
@click.option(
    "--timezone",
    "tz",
    metavar="TZ",
    help="IANA zone for day boundaries (default: the provider's, else this machine's).",
)
@click.option(
    "--policy",
    metavar="NAME|FILE",
    shell_complete=complete_policy,
    help="Policy: a preset, a policy stored with 'warmup policy add', or a TOML file (stored "
    "in the ledger under its file name). Default: the provider's preset (warmup providers).",
)
@click.option("--cap", metavar="N|none", help=CAP_HELP)
@click.option(
    "--started",
    metavar="DATE",
    help="Count warm-up history from this date only (e.g. a re-bound mailbox); a date "
    "ahead: no sending until then.",
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="When it was added (default now; a past time for a mailbox in use before this "
    "ledger): quota, plan and report --at answer from that day on.",
)
@endpoint_options
@pass_ledger(create=True)
def add(
    ledger: Ledger,
    address: str,
    provider: str,
    tz: str | None,
    policy: str | None,
    cap: str | None,
    started: str | None,
    at: str | None,
    **overrides: Any,
) -> None:
    """Register ADDRESS with a provider preset.

    \b
    Example:
        warmup mailbox add sales@corp.example --provider exmail
        warmup mailbox add me@lab.test --provider custom --smtp-host mail.lab.test \\
            --smtp-port 465 --imap-host mail.lab.test --imap-port 993
    """
    box = api.add_mailbox(
        ledger,
        address,
        provider,
        timezone=tz,
        policy=policy,
        noted=_stored,
        cap=_cap(cap),
        started=None if started is None else api.parse_date(started, "started"),
        added_at=None
        if at is None
        else wall_said(read_instant(at, [api.mailbox_zone(provider, tz)]), at, "--at"),
        **overrides,
    )
    _zone_said(tz)
    say(
        f"Added {box.address} ({providers()[box.provider].title}, {box.timezone}, "
        f"policy {box.policy}). See 'warmup quota {shlex.quote(box.address)}'."
    )


@mailbox.command("list")
@json_option
@pass_ledger
def list_(ledger: Ledger, json_: bool) -> int:
    """List registered mailboxes.

    \b
    Example:
        warmup mailbox list --json
    """
    from warmup.ledger.values import UnreadableMailbox

    boxes = ledger.mailboxes()
    # a row holding what no version writes (a hand edit): named after the others, exit 65
    odd = [b for b in boxes if isinstance(b, UnreadableMailbox)]
    boxes = [b for b in boxes if not isinstance(b, UnreadableMailbox)]
    _list(ledger, boxes, json_, bool(odd))
    for box in odd:
        click.echo(error_line(box.fault), err=True)
    return 65 if odd else 0


def _list(ledger: Ledger, boxes: list[Any], json_: bool, odd: bool) -> None:
    now = api.now_utc()
    paused = _paused(ledger, boxes, now)
    if json_:
        print_json(
            [{**b.to_dict(), **_json_paused(paused.get(b.address, _NOT_PAUSED))} for b in boxes]
        )
        return
    if not boxes:
        if not odd:
            click.echo(
                "No mailboxes yet: add one with 'warmup mailbox add ADDRESS --provider exmail'."
            )
        return
    print_table(
        ["MAILBOX", "PROVIDER", "TIMEZONE", "POLICY", "CAP", "PAUSED"],
        [
            [b.address, b.provider, b.timezone, b.policy, b.cap, _paused_text(b, paused, now)]
            for b in boxes
        ],
    )


_NOT_PAUSED: dict[str, Any] = {"paused": False, "paused_until": None}


def _paused(ledger: Ledger, boxes: list[Any], now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Whether each mailbox is paused now, and until when when its pause ends by itself ('pause
    --until', a provider back-off); a mailbox whose policy cannot be read is left out (its
    'warmup quota' says why)."""
    results, _ = api.quotas_each(ledger, boxes, now)
    return {
        a.mailbox: {
            "paused": a.status == "paused",
            "paused_until": a.next_send_at if a.status == "paused" else None,
        }
        for _, a in results
    }


def _json_paused(got: dict[str, Any]) -> dict[str, Any]:
    until = got["paused_until"]
    return {**got, "paused_until": until.isoformat() if until else None}


def _paused_text(box: Any, paused: dict[str, dict[str, Any]], now: dt.datetime) -> str:
    got = paused.get(box.address)
    if got is None:
        return "?"
    if not got["paused"]:
        return "-"
    if got["paused_until"] is None:
        return "until resumed"
    return f"until {local_short(got['paused_until'], box.timezone, now)}"


@mailbox.command("show")
@click.argument("address", shell_complete=complete_mailbox)
@json_option
@pass_ledger
def show(ledger: Ledger, address: str, json_: bool) -> None:
    """Show a mailbox's settings, endpoints and today's allowance.

    \b
    Example:
        warmup mailbox show sales@corp.example
    """
    box = ledger.mailbox(address)
    ep = api.endpoints(box)
    allowance = api.quota_for(ledger, box, api.live_now())
    data = {
        **box.to_dict(),
        "auth": api.auth_of(box),
        "smtp": {"hosts": list(ep.smtp_hosts), "port": ep.smtp_port, "security": ep.smtp_security},
        "imap": {"hosts": list(ep.imap_hosts), "port": ep.imap_port, "security": ep.imap_security},
        "allowance": allowance.to_dict(),
    }
    if json_:
        print_json(data)
        return
    click.echo(f"{box.address}  ({providers()[box.provider].title})")
    click.echo(
        f"  time zone  {box.timezone}   policy {box.policy}   "
        f"cap {'none' if box.cap is None else box.cap}"
        f"   started {box.started or '-'}   login {api.auth_of(box)}"
    )
    click.echo(f"  SMTP       {' -> '.join(ep.smtp_hosts)}:{ep.smtp_port} ({ep.smtp_security})")
    click.echo(f"  IMAP       {' -> '.join(ep.imap_hosts)}:{ep.imap_port} ({ep.imap_security})")
    click.echo(
        f"  today      {allowance.status}: {allowance.sent}/{allowance.quota} sent, "
        f"stage {allowance.stage}, day {allowance.day}"
    )
    # Why, as 'quota ADDRESS' says it: "paused" with no reason nor end sent users to guess
    # (a bounce-rate pause wants 'mailbox resume', one --until a wait).
    for reason in allowance.reasons:
        click.echo(f"             - {reason}")


@mailbox.command("set")
@click.argument("address", shell_complete=complete_mailbox)
@click.option("--cap", metavar="N|none", help=CAP_HELP)
@click.option(
    "--policy",
    metavar="NAME|FILE",
    shell_complete=complete_policy,
    help="Policy: a preset, a stored policy, or a TOML file (stored in the ledger).",
)
@click.option("--timezone", "tz", metavar="TZ", help="IANA time zone for day boundaries.")
@click.option(
    "--started",
    metavar="DATE|none",
    help="Count warm-up history from this date only (a re-bound mailbox warms up again, its "
    "history kept); a date ahead: no sending until then; none: count it all.",
)
@endpoint_options
@pass_ledger
def set_(
    ledger: Ledger,
    address: str,
    cap: str | None,
    policy: str | None,
    tz: str | None,
    started: str | None,
    **overrides: Any,
) -> None:
    """Change a mailbox's cap, policy, time zone, start day or endpoints.

    \b
    Example:
        warmup mailbox set sales@corp.example --cap 80
        warmup mailbox set sales@corp.example --cap none
        warmup mailbox set sales@corp.example --started 2026-12-01
    """
    limit = api.NO_CAP if _no_cap(cap) else _cap(cap)
    start = (
        None
        if started is None
        else api.NO_START
        if started.strip().lower() == "none"
        else api.parse_date(started, "started")
    )
    box = api.set_mailbox(
        ledger,
        address,
        noted=_stored,
        cap=limit,
        policy=policy,
        timezone=tz,
        started=start,
        **overrides,
    )
    _zone_said(tz)
    say(f"Updated {box.address}.")


@mailbox.command("pause")
@click.argument("address", shell_complete=complete_mailbox)
@click.option("--reason", required=True, help="Why (shown in 'warmup quota').")
@click.option(
    "--until",
    "until",
    metavar="WHEN",
    help="Send again by itself then: a span (3d, 12h, 90m, 30s, 1w) or a date or time (ISO 8601; "
    "without an offset, the mailbox's local time; a date alone, its midnight; a time alone "
    "already past, tomorrow's).",
)
@pass_ledger
def pause(ledger: Ledger, address: str, reason: str, until: str | None) -> None:
    """Stop all sending from ADDRESS until 'warmup mailbox resume', or with --until until then.

    \b
    Example:
        warmup mailbox pause sales@corp.example --reason "domain moved to spam at Gmail"
        warmup mailbox pause sales@corp.example --reason "IP review" --until 3d
        warmup mailbox pause sales@corp.example --reason "holiday" --until 2w
    """
    now = api.now_utc()
    end = None
    if until is not None:  # api.pause_end's reading, with a note for a time the clocks skip
        zone = ledger.mailbox(address).timezone
        end = wall_said(until_reading(until, zone, now), until, "--until")
    api.pause(ledger, address, reason, at=now, until=end)
    box = addresses.normalize(address, limits=False)
    if end is None:
        say(f"Paused {box}: {reason.strip()}")
    else:
        tz = ledger.mailbox(address).timezone
        say(f"Paused {box} until {local_text(end, tz)}: {reason.strip()}")


@mailbox.command("resume")
@click.argument("address", shell_complete=complete_mailbox)
@pass_ledger
def resume(ledger: Ledger, address: str) -> None:
    """Resume a paused mailbox (after a bounce-rate pause it continues one stage back).

    \b
    Example:
        warmup mailbox resume sales@corp.example
    """
    box = ledger.mailbox(address)
    if api.quota_for(ledger, box, api.now_utc()).status != "paused":
        # A resume of a mailbox that is not paused would record an event that does nothing.
        click.echo(
            f"{box.address} is not paused; nothing to resume. "
            f"See 'warmup quota {shlex.quote(box.address)}'."
        )
        return
    api.resume(ledger, box.address)
    say(f"Resumed {box.address}. See 'warmup quota {shlex.quote(box.address)}'.")


@mailbox.command("remove")
@click.argument("address", shell_complete=complete_mailbox)
@click.option("--force", is_flag=True, help="Also delete its sends and bounces.")
@pass_ledger
def remove(ledger: Ledger, address: str, force: bool) -> None:
    """Remove a mailbox (refused if it has history or queued messages, unless --force, which
    cancels them), and forget its password and OAuth login in the keyring.

    \b
    Example:
        warmup mailbox remove old@corp.example --force
    """
    box = ledger.mailbox(address)
    done = api.remove_mailbox(ledger, box.address, force)
    note = f"; cancelled {plural(done.cancelled, 'queued message')}" if done.cancelled else ""
    if done.forgotten:
        note += f"; forgot its {' and '.join(done.forgotten)} in the keyring"
    if done.kept:
        # Shown even with --quiet: a secret left behind is what the user must act on.
        name = shlex.quote(box.address)
        click.echo(
            f"Removed {box.address}{note}, but {done.kept}: any password or OAuth login stored "
            f"for it is still there; delete them with 'keyring del warmup {name}' and "
            f"'keyring del warmup-oauth {name}'."
        )
        return
    say(f"Removed {box.address}{note}.")


@mailbox.command("login")
@click.argument("address", shell_complete=complete_mailbox)
@click.option("--forget", is_flag=True, help="Remove the stored password (or OAuth login) instead.")
@click.option(
    "--oauth",
    is_flag=True,
    help="Log in with OAuth (Microsoft 365, Gmail): approve a code in any browser.",
)
@pass_ledger
def login(ledger: Ledger, address: str, forget: bool, oauth: bool) -> None:
    """Store the mailbox's client-specific (app) password, or its OAuth login, in the system
    keyring.

    The password is read from the terminal without echo (or from standard input when piped);
    it never goes to the ledger, logs or command lines. Without a keyring, or with one that
    does not encrypt (keyrings.alt's PlaintextKeyring: refused), use WARMUP_PASSWORD or
    --password-command instead.

    With --oauth, warmup prints a URL and a code: open the URL in a browser on any machine,
    enter the code and approve; the refresh token goes to the keyring. The organisation's
    OAuth application ID comes from WARMUP_OAUTH_CLIENT_ID.

    \b
    Example:
        warmup mailbox login sales@corp.example
        pass show mail/sales | warmup mailbox login sales@corp.example
        warmup mailbox login sales@corp.onmicrosoft.com --oauth
    """
    from warmup import credentials

    box = ledger.mailbox(address)
    if oauth:
        _oauth_login(ledger, box, forget)
        return
    if forget:
        if credentials.forget_password(box.address):
            say(f"Forgot the stored password of {box.address}.")
        else:
            say(f"No password of {box.address} is stored in the keyring; nothing to forget.")
        return
    secret = read_password(f"Client-specific password for {box.address}")
    where = credentials.store_password(box.address, secret)
    # messages held for want of a login go at the next pass, not after their 5-minute hold
    ledger.release(box, api.now_utc())
    # An m365 or gmail mailbox logs in with OAuth unless told otherwise: the password stored
    # is not used until it is (the user thought the login done, and every send said none).
    name = shlex.quote(box.address)
    hint = (
        f"; {box.address} logs in with OAuth: use the password with 'warmup mailbox set "
        f"{name} --auth password', or log in with 'warmup mailbox login {name} --oauth'"
        if api.auth_of(box) == "oauth"
        else ""
    )
    say(f"Stored the password of {box.address} in the keyring {where}{hint}.")


def _oauth_login(ledger: Ledger, box: Any, forget: bool) -> None:
    from warmup import oauth
    from warmup.providers import get_provider

    if forget:
        if oauth.forget(box.address):
            say(f"Forgot the OAuth login of {box.address}.")
        else:
            say(f"No OAuth login of {box.address} is stored in the keyring; nothing to forget.")
        return
    provider = get_provider(box.provider, of=box.address)
    if provider.oauth is None:
        # The library's advice ('warmup mailbox set ADDR --auth password') changed nothing for
        # a mailbox that logs in with a password already, and named no address.
        name = shlex.quote(box.address)
        raise UsageError(
            f"--oauth: {provider.title} has no OAuth login in warmup; store the mailbox's "
            f"password with 'warmup mailbox login {name}' (without --oauth)"
        )

    def show(code: oauth.DeviceCode) -> None:
        from warmup.words import shown

        # Shown even with --quiet: the login cannot go on without the user reading it. The
        # URL and code are the endpoint's text: never a terminal's escapes.
        life = code.expires_in
        valid = f"{life / 60:.0f} min" if life >= 90 else f"{life:.0f} s"  # not "0 min"
        click.echo(
            f"To sign in {box.address}, open {shown(code.verification_uri)} in a browser and "
            f"enter the code {shown(code.user_code)} (valid {valid}). Waiting...",
            err=True,
        )

    where = oauth.login(box.address, provider, show, now=api.now_utc)
    ledger.release(box, api.now_utc())  # its held messages go at the next pass
    auth = api.auth_of(box)
    hint = (
        ""
        if auth == "oauth"
        else f"; use it with 'warmup mailbox set {shlex.quote(box.address)} --auth oauth'"
    )
    say(f"Stored the OAuth login of {box.address} in the keyring {where}{hint}.")
