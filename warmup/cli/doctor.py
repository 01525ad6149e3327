"""``warmup doctor``: check a mailbox's DNS, TCP, TLS, SMTP login and IMAP login, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from warmup.cli import cli
from warmup.cli.common import (
    SECONDS,
    complete_mailbox,
    json_option,
    not_blank,
    pass_ledger,
    print_json,
    print_table,
)
from warmup.cli.send import password_option
from warmup.errors import ConfigError, UsageError
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.oauth import Bearer

MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "-"}


@cli.command()
@click.argument("address", shell_complete=complete_mailbox)
@click.option(
    "--timeout",
    type=SECONDS,
    default=10.0,
    show_default=True,
    help="Seconds to wait for each answer (a whole check: at most 3 times this).",
)
@click.option(
    "--domain/--no-domain",
    default=True,
    show_default=True,
    help="Also check the sending domain's DNS: MX, SPF, DKIM, DMARC.",
)
@click.option(
    "--dkim-selector",
    "selectors",
    metavar="NAME",
    multiple=True,
    help="DKIM selector to look for (default: the provider's known ones).",
)
@click.option(
    "--dns-server",
    metavar="IP[:PORT]",
    envvar="WARMUP_DNS_SERVER",
    callback=not_blank,
    help="Resolver for the domain checks (default: the system's).",
)
@password_option
@json_option
@pass_ledger
def doctor(
    ledger: Ledger,
    address: str,
    timeout: float,
    domain: bool,
    selectors: tuple[str, ...],
    dns_server: str | None,
    password_command: str | None,
    json_: bool,
) -> int:
    """Check a mailbox's set-up step by step and name the step that fails.

    In order: the SMTP and IMAP hosts (primary and backup) resolve, accept a TCP connection
    and a verified TLS handshake; then SMTP EHLO + AUTH (then QUIT: nothing is sent) and an
    IMAP login; then the ledger's file (every page read: a damaged one fails, 78), or a
    shared ledger's server clock against this host's (a warning over 5 minutes apart), and a
    warning when the mailbox has sends stamped after this host's now (its clock may be
    behind); then the
    sending domain's DNS (MX at the provider, one SPF record that
    includes the provider and does not end in +all within 10 lookups, a DKIM key, a DMARC
    policy). A failure says the likely cause and the fix, in the order of the provider's
    setup checklist. Exit 0 when nothing failed (warnings allowed), else the code of the first
    failure: 69 unreachable (DNS, TCP, TLS), 77 login refused, 78 no password, a damaged
    ledger or a domain record to fix.

    \b
    Example:
        warmup doctor sales@corp.example
        warmup doctor sales@corp.example --password-command 'pass show mail/sales' --json
        warmup doctor sales@corp.example --dkim-selector s2026
    """
    from warmup import doctor as lib
    from warmup import logins

    if not domain:  # what is typed for the domain checks was dropped without a word
        for given, param, option, what in (
            (selectors, "selectors", "--dkim-selector", "names a DKIM key of"),
            (dns_server, "dns_server", "--dns-server", "names the resolver of"),
        ):
            if given and _typed(param):
                raise UsageError(
                    f"{option} {what} the domain checks, which --no-domain turns off: give "
                    "one or the other"
                )
    box = ledger.mailbox(address)
    if domain:  # a bad resolver or selector is refused before minutes of checks
        from warmup import domaincheck

        if dns_server:
            domaincheck.nameserver(dns_server)
        for sel in selectors:
            domaincheck.check_selector(sel)
    password: str | Bearer | None
    reason = ""
    try:
        password = logins.secret_for(box, password_command)
    except ConfigError as exc:
        password, reason = None, str(exc)
    checks = lib.run(box, password, timeout, no_password=reason or "no password available")
    stored = lib.ledger_check(ledger)
    checks += [stored] if stored else []
    clock = lib.clock_check(ledger)
    checks += [clock] if clock else []
    ahead = lib.ahead_check(ledger, box)
    checks += [ahead] if ahead else []
    kinds = lib.kinds_check(ledger, box)
    checks += [kinds] if kinds else []
    if domain:
        from warmup import domaincheck
        from warmup.providers import get_provider

        checks += domaincheck.run(
            box.address.rpartition("@")[2],
            get_provider(box.provider, of=box.address),
            selectors=selectors,
            server=dns_server,
            timeout=timeout,
        )
    code = lib.exit_code(checks)
    if json_:
        print_json(
            {
                "mailbox": box.address,
                "provider": box.provider,
                "exit_code": code,
                "checks": [c.to_dict() for c in checks],
            }
        )
        return code
    print_table(
        ["STEP", "TARGET", "STATUS", "MS", "DETAIL"],
        [[c.name, c.target, MARKS[c.status], c.ms, c.detail] for c in checks],
    )
    said: set[str] = set()  # the same advice once, after the first step it applies to
    for c in checks:
        if c.status == "fail":
            click.echo(f"\n{c.name} failed for {c.target}: {c.detail}", err=True)
            if c.cause and c.cause + c.fix not in said:
                click.echo(f"  likely cause: {c.cause}", err=True)
                if c.fix:
                    click.echo("  fix: " + c.fix.replace("\n", "\n    "), err=True)
            said.add(c.cause + c.fix)
        elif c.status == "warn" and c.fix and c.fix not in said:
            # A warning that says what to do (name the DKIM selector, another resolver): the
            # table's detail alone leaves the user guessing the option.
            click.echo(f"\n{c.name} warning for {c.target}: {c.detail}", err=True)
            click.echo("  fix: " + c.fix.replace("\n", "\n    "), err=True)
            said.add(c.fix)
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    summary = (f"{failed} failed" if failed else "all checks passed") + (
        f", {plural(warned, 'warning')}" if warned else ""
    )
    click.echo(f"\n{box.address}: {summary}.", err=bool(failed))
    return code


def _typed(param: str) -> bool:
    """Whether ``param`` was given on the command line (not by the config file's
    ``[commands.doctor]`` or ``$WARMUP_DNS_SERVER``: defaults ``--no-domain`` may leave
    unused)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(param) is ParameterSource.COMMANDLINE
