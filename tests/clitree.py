"""The CLI's click tree walked: every command's parameters, for tests that must find each option
of a kind (a file read, a local time) so that one added to a command cannot slip past them."""

from __future__ import annotations

from collections.abc import Iterator

import click


def params() -> Iterator[tuple[str, click.Parameter]]:
    """``(command, parameter)`` for each parameter of every command of ``warmup``, the command
    named by its words ("mailbox add")."""
    from warmup.cli import cli

    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[str, click.Parameter]]:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, (*path, name))
            return
        for param in command.params:
            yield " ".join(path), param

    return walk(cli, ())
