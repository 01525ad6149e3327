"""``warmup notify ...``: where notifications of pauses, holds, finished campaigns go."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from warmup.cli import cli
from warmup.cli.common import json_option, pass_ledger, print_json, say
from warmup.errors import ConfigError, Unavailable

if TYPE_CHECKING:
    from warmup.ledger import Ledger


@cli.group()
def notify() -> None:
    """Notifications: a webhook (JSON POST) and/or a command (JSON on its standard input),
    told when a mailbox is paused (throttle reply, bounce rate, by hand), held or stepped back,
    a campaign finishes, or 'warmup run' stops with messages queued.

    \b
    Example:
        warmup notify set --webhook - < wecom-robot.url
        warmup notify test
    """


@notify.command("set")
@click.option(
    "--webhook",
    metavar="URL|-",
    help="POST each event here ('' forgets it); '-': read the URL from standard input, as a "
    "URL with a token must be (it is kept in this host's keyring).",
)
@click.option(
    "--command",
    metavar="CMD",
    help="Run this with each event on stdin ('' forgets it); one with a secret in it (--token X, "
    "?key=X) is refused: have it read the secret from a file or the environment.",
)
@pass_ledger(create=True)
def set_(ledger: Ledger, webhook: str | None, command: str | None) -> None:
    """Store where notifications go, in the ledger ($WARMUP_NOTIFY_WEBHOOK and
    $WARMUP_NOTIFY_COMMAND take precedence). A webhook URL with a token in its path or query
    (a WeCom, Feishu or Slack robot's) is given on standard input and kept in this host's system
    keyring: never on a command line, nor in the ledger.

    \b
    Example:
        warmup notify set --webhook - < wecom-robot.url
        warmup notify set --command "/usr/local/bin/page-oncall"
    """
    from warmup import notify as lib

    if webhook is None and command is None:
        raise click.UsageError("give --webhook URL and/or --command CMD")
    if webhook == "-":
        webhook = _read_url()
    elif webhook and lib.has_token(lib.check_webhook(webhook)) and _typed("webhook"):
        raise click.UsageError(
            "the webhook URL carries a token (in its user, path or query), and a command line "
            "is seen by every user of this machine: give it on standard input, e.g. "
            "'warmup notify set --webhook - < robot.url'"
        )
    lib.configure(ledger, webhook, command)
    _show(lib.shown(lib.targets(ledger)), False, confirm=True)
    _warn_elsewhere(ledger)
    if command:
        _warn_unfound(command)


def _warn_unfound(command: str) -> None:
    """Warnings for a command that would fail as run (split into words, no shell): its program
    not found here (a typo, a script not yet installed; stored anyway, since another host of a
    team ledger may have it) or shell syntax in it, which reaches the program as words."""
    import shlex
    import shutil

    words = shlex.split(command)  # configure() refused one that cannot be split
    program = words[0]
    fault = None
    if "/" not in program:
        fault = None if shutil.which(program) else "is not found here (PATH)"
    elif os.path.isdir(program):  # it was "not found here", though it is there
        fault = "is a folder, not a program"
    elif not os.path.exists(program):
        fault = "is not found here"
    elif not (os.path.isfile(program) and os.access(program, os.X_OK)):
        fault = "is not a program this user may run (chmod +x it)"
    if fault:
        click.echo(
            f"warning: {program!r} {fault}: "
            f"stored, but each event would fail on this host; 'warmup notify test' runs it once",
            err=True,
        )
    syntax = [] if os.path.basename(program) in _SHELLS else [w for w in words[1:] if _shellish(w)]
    if syntax:
        click.echo(
            f"warning: {syntax[0]!r} reaches {program} as a word, not as the shell's: no shell "
            f"runs the command; wrap it in sh -c '...' if a shell is meant",
            err=True,
        )


# Words a shell reads as its own syntax: no shell runs a notify command, so they are arguments.
_SHELL_SYNTAX = frozenset(("|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "&>"))
# Programs that are shells: the words they are given (sh -c '...') are theirs to read.
_SHELLS = frozenset(("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"))


def _shellish(word: str) -> bool:
    """Whether ``word`` is, or holds, what a shell would have read as its own: a redirection
    or pipe typed against its target (``>/tmp/e.json``, ``2>/dev/null``, ``|tee``), a list's
    ``;`` or ``|`` against the word before it, a variable or command substitution, or a ``~``
    home (``$HOME/e.json``, ``$(date)``, ``~/e.json``). A word holding white space was quoted
    as one on purpose: an argument, left alone."""
    import re

    if word in _SHELL_SYNTAX:
        return True
    if any(c.isspace() for c in word):
        return False
    return bool(re.match(r"[0-9&]?(?:>|<)|\||~(?:/|$)", word)) or bool(
        re.search(r"[;|]$|\$(?:[A-Za-z_{(])|`", word)
    )


def _typed(name: str) -> bool:
    """Whether option ``name`` came from the command line (not the config file's
    ``[commands."notify set"]``, which is a file of the user's)."""
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source(name)
    return source is ParameterSource.COMMANDLINE


def _read_url() -> str:
    """The webhook URL from standard input: typed unechoed at a terminal, else its first line."""
    import sys

    if sys.stdin is not None and sys.stdin.isatty():
        return str(click.prompt("Webhook URL", hide_input=True)).strip()
    line = sys.stdin.readline(65_536) if sys.stdin is not None else ""
    # A file saved by Notepad starts with a byte order mark, which no URL does.
    line = line.removeprefix("\ufeff").strip()
    if not line:
        raise click.UsageError("--webhook -: standard input holds no URL; pipe one in")
    return line


def _warn_elsewhere(ledger: Ledger) -> None:
    """Say so when the ledger's webhook is kept in another host's keyring, or when the ledger
    still holds a webhook's token (stored before tokens went to the keyring)."""
    from warmup import notify as lib

    masked = lib.elsewhere(ledger)
    if masked:
        click.echo(
            f"warning: the webhook {masked} was set on another host (its token is in that host's "
            f"keyring); to notify from this host too, run 'warmup notify set --webhook -' here",
            err=True,
        )
    stored = ledger.settings(lib.KEYS["webhook"]).get(lib.KEYS["webhook"])
    if stored and lib.has_token(stored):
        click.echo(
            "warning: the ledger holds the webhook's token (set by an older warmup); move it to "
            "this host's keyring with 'warmup notify set --webhook -'",
            err=True,
        )
    command = ledger.settings(lib.KEYS["command"]).get(lib.KEYS["command"])
    if command and lib.secret_in(command):
        click.echo(
            f"warning: the ledger's notify command carries what looks like a secret "
            f"({lib.secret_in(command)}; set by an older warmup): set a command that reads it "
            f"from a file or an environment variable with 'warmup notify set --command CMD'",
            err=True,
        )


@notify.command("show")
@json_option
@pass_ledger
def show(ledger: Ledger, json_: bool) -> None:
    """Where notifications go (the webhook's path and query, which may hold a token, masked).

    \b
    Example:
        warmup notify show
    """
    from warmup import notify as lib

    _show(lib.shown(lib.targets(ledger)), json_)
    _warn_elsewhere(ledger)


@notify.command("clear")
@pass_ledger
def clear(ledger: Ledger) -> None:
    """Forget the stored webhook and command.

    \b
    Example:
        warmup notify clear
    """
    from warmup import notify as lib

    lib.configure(ledger, clear=True)
    _show(lib.shown(lib.targets(ledger)), False, confirm=True)


@notify.command("test")
@pass_ledger
def test(ledger: Ledger) -> None:
    """Send a test event now and say whether it arrived (exit 69 if not; 78 if no target is set
    or the webhook can never work).

    \b
    Example:
        warmup notify test
    """
    from warmup import notify as lib
    from warmup.instants import now_utc

    lib.check_targets(ledger)
    notifier = lib.notifier_for(ledger, log=lambda line: click.echo(line, err=True))
    if not notifier.active:
        # Nothing is unreachable: nothing is set (exit 78, as a webhook that can never work).
        raise ConfigError(
            "no notification target on this host; set one with 'warmup notify set --webhook URL'"
        )
    with notifier:
        notifier.send(lib.event("test", None, now_utc(), "a test from 'warmup notify test'"))
    if notifier.failed or notifier.given_up:
        raise Unavailable("the test event was not delivered (see above)")
    say("Test event delivered.")


def _show(found: dict[str, str], json_: bool, confirm: bool = False) -> None:
    """Where notifications go; ``confirm``: as what 'set' or 'clear' left (a confirmation,
    which --quiet drops), not as the answer 'show' is."""
    if json_:
        print_json(found)
        return
    echo = say if confirm else click.echo
    if not found:
        echo("Notifications: none (set one with 'warmup notify set --webhook URL').")
    for name in ("webhook", "command"):
        if name in found:
            echo(f"{name.capitalize()}: {found[name]}")
