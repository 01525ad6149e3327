"""``warmup completion SHELL``: the shell's completion script (click's own)."""

from __future__ import annotations

import click

from warmup.cli import cli

SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS, case_sensitive=False))
def completion(shell: str) -> None:
    """Print the completion script for SHELL. Commands, options, mailbox addresses, pools,
    policies and providers then complete on TAB (addresses and pools from the ledger that
    --db or $WARMUP_DB names, else the default one).

    \b
    Example:
        eval "$(warmup completion bash)"        # in ~/.bashrc
        eval "$(warmup completion zsh)"         # in ~/.zshrc
        warmup completion fish > ~/.config/fish/completions/warmup.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the Choice above admits only shells click knows
    click.echo(cls(cli, {}, "warmup", "_WARMUP_COMPLETE").source())
