"""``warmup policy ...``: warm-up policies kept in the ledger, by name."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import click

from warmup import policies
from warmup.cli import cli
from warmup.cli.common import (
    DATA_FILE,
    json_option,
    ledger_from,
    pass_ledger,
    pass_ledger_if_any,
    print_json,
    print_table,
    reading_terminal,
    say,
)

if TYPE_CHECKING:
    from warmup.ledger import Ledger


@cli.group()
def policy() -> None:
    """Warm-up policies: the built-in presets and your own, stored in the ledger.

    A mailbox refers to its policy by name, so a policy reads the same from any directory and on
    every host sharing a team ledger. 'set' stores a new version: the mailboxes using it follow
    it from then on, and reports show the day it changed.

    \b
    Example:
        warmup policy add careful careful.toml
        warmup mailbox set sales@corp.example --policy careful
        warmup policy list
    """


@policy.command("add")
@click.argument("name")
@click.argument("file", type=DATA_FILE)
@pass_ledger(create=True)
def add(ledger: Ledger, name: str, file: str) -> None:
    """Store the policy FILE (TOML, checked) in the ledger as NAME.

    NAME is the policy's name: FILE needs no name line, and one that says another name (a copy
    of a preset) is noted and stored as NAME.

    A FILE of - is standard input.

    \b
    Example:
        warmup policy add careful careful.toml
        warmup policy show default | sed 's/= 50$/= 30/' | warmup policy add careful -
    """
    policies.add(ledger, name, _read_from(file), noted=_renamed)
    say(
        f"Stored policy {name} (version 1) from {_shown(file)}. Use it with 'warmup mailbox set "
        f"ADDRESS --policy {shlex.quote(name)}'."
    )


@policy.command("set")
@click.argument("name")
@click.argument("file", type=DATA_FILE)
@pass_ledger
def set_(ledger: Ledger, name: str, file: str) -> None:
    """Store a new version of the policy NAME from FILE; its mailboxes follow it from now on.

    \b
    Example:
        warmup policy set careful careful.toml
    """
    before = ledger.policy_text(name)
    version = policies.update(ledger, name, _read_from(file), noted=_renamed)
    if before is not None and version == before[0]:
        say(f"Policy {name} unchanged: {_shown(file)} holds its version {version}; nothing stored.")
        return
    users: list[str] = next((p["mailboxes"] for p in ledger.policies() if p["name"] == name), [])
    say(
        f"Stored version {version} of policy {name}; {len(users)} mailbox"
        f"{'' if len(users) == 1 else 'es'} use{'s' if len(users) == 1 else ''} it."
    )


def _read_from(file: str) -> str:
    """FILE, which ``-`` makes standard input (said when it is a terminal)."""
    if file == "-":
        reading_terminal("the policy (TOML)")
    return file


def _shown(file: str) -> str:
    return "standard input" if file == "-" else file


def _renamed(note: str) -> None:
    """FILE's name line says another name than NAME, which wins: one note on stderr."""
    click.echo(f"note: {note}.", err=True)


@policy.command("list")
@json_option
@pass_ledger  # a mistyped --db must not answer "no stored policies" (issue #12)
def list_(ledger: Ledger, json_: bool) -> None:
    """List the presets and the stored policies, with the mailboxes using each.

    \b
    Example:
        warmup policy list --json
    """
    rows = policies.listing(ledger)
    if json_:
        print_json(rows)
        return
    print_table(
        ["NAME", "VERSION", "FROM", "MAILBOXES"],
        [
            [r["name"], r["version"] or "preset", r["source"], ", ".join(r["mailboxes"]) or "-"]
            for r in rows
        ],
    )


@policy.command("show")
@click.argument("name")
@json_option
@pass_ledger_if_any
def show(ledger: Ledger | None, name: str, json_: bool) -> None:
    """Print a policy's TOML (a preset's, or the newest version of a stored one).

    \b
    Example:
        warmup policy show default > mine.toml
    """
    if ledger is None and name not in policies.preset_names():
        ledger_from(click.get_current_context())  # says there is no ledger (yet) at --db
    found = policies.show(ledger, name)
    if json_:
        print_json(found.to_dict())
        return
    click.echo(found.text, nl=not found.text.endswith("\n"))
