"""``warmup config``: the effective settings and where each came from."""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from warmup.cli import check_config_value, cli, load_all, param_named
from warmup.cli.common import json_option, print_json, print_table
from warmup.errors import ConfigError, NoLedger, WarmupError

SOURCES = {
    ParameterSource.COMMANDLINE: "flag",
    ParameterSource.ENVIRONMENT: "environment",
    ParameterSource.DEFAULT_MAP: "config file",
    ParameterSource.DEFAULT: "default",
}
# Keys (their last part, '_' as '-') whose value is a command line: shown with what looks like
# a secret in it masked
COMMANDS = ("command", "password-command")


@cli.group()
def config() -> None:
    """The config file (defaults below flags and the environment).

    \b
    Example:
        warmup config path
        warmup config show
    """


@config.command("path")
def path_() -> None:
    """Print where the config file is read from ($WARMUP_CONFIG, else the platform's folder).

    \b
    Example:
        warmup config path
    """
    from warmup import config as cfg

    click.echo(cfg.path())


@config.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, json_: bool) -> None:
    """Print every setting in effect, its value and where it came from (flag, environment,
    config file, ledger, default). Secrets in webhook URLs are masked.

    \b
    Example:
        warmup config show
        warmup config show --json
    """
    from warmup import config as cfg
    from warmup import notify
    from warmup.ledger import default_path

    loaded = cfg.load()
    root = ctx.find_root()
    sources: dict[str, ParameterSource] = (
        root.obj.get("sources", {}) if isinstance(root.obj, dict) else {}
    )

    def origin(name: str) -> str:
        found = sources.get(name)
        return SOURCES.get(found, "default") if found is not None else "default"

    rows: list[dict[str, Any]] = []

    def add(key: str, value: Any, source: str) -> None:
        rows.append({"key": key, "value": value, "source": source})

    def masked(key: str, value: Any) -> Any:
        if isinstance(value, str) and key.rpartition(".")[2] == "webhook":
            return notify.mask(value)
        if isinstance(value, str) and key.rpartition(".")[2].replace("_", "-") in COMMANDS:
            # notify.command, [commands."notify set"] command, a [commands.X] password-command
            return notify.shown_target("command", value)
        return cfg.shown(key, value)

    db = root.obj.get("db") if isinstance(root.obj, dict) else None
    add("db", cfg.shown("db", db) if db else str(default_path()), origin("db"))
    for key in ("mailbox", "pool"):
        add(key, loaded.get(key), "config file" if key in loaded.values else "unset")
    # What is in force: --quiet and --verbose from two places (one in the file, the other
    # typed; both in the file) leave one of them set but not heeded, which was listed as True.
    verbosity = root.obj.get("verbosity", 0) if isinstance(root.obj, dict) else 0
    for key, heeded, other in (
        ("quiet", verbosity < 0, "verbose"),
        ("verbose", verbosity > 0, "quiet"),
    ):
        set_ = bool(root.params.get(key))
        source = origin(key)
        if set_ and not heeded:
            source = f"{source}, overridden by output.{other}"
        add(f"output.{key}", heeded, source)
    if os.environ.get("NO_COLOR"):
        add("output.color", False, "environment (NO_COLOR)")
    elif "output.color" in loaded.values:
        add("output.color", loaded.get("output.color"), "config file")
    else:
        add("output.color", "on a terminal", "default")
    stored: dict[str, str] = {}
    try:
        from warmup.cli.common import ledger_from

        stored = ledger_from(ctx).settings("notify.")
    except NoLedger:  # no ledger yet: nothing stored in it
        pass
    except WarmupError as exc:
        # A ledger server that is down, a password it refuses (77: nothing was shown), a file
        # that is no ledger, a directory, an unknown scheme (shown as if in force, without a
        # word): the rest is still worth showing, and that the ledger is at fault is the news.
        click.echo(f"warning: {exc}; the ledger's settings are not shown", err=True)
    for name, key in notify.KEYS.items():
        if os.environ.get(notify.ENV[name]):
            value, source = os.environ[notify.ENV[name]], f"environment ({notify.ENV[name]})"
        elif loaded.get(key):
            value, source = loaded.get(key), "config file"
        elif stored.get(key):
            value, source = stored[key], "ledger (warmup notify set)"
        elif name == "webhook" and stored.get(notify.IN_KEYRING):
            # its token in a keyring (warmup notify set --webhook -): masked, whatever the host
            value = stored[notify.IN_KEYRING]
            here = notify.elsewhere_of(value) is None
            source = "this host's keyring" if here else "another host's keyring (not this one's)"
        else:
            value, source = None, "unset"
        add(key, masked(key, value), source)
    from warmup import smtp

    add("smtp.chunking", *smtp.chunking_setting())
    group = load_all()
    for name, options in sorted(loaded.commands.items()):
        command: Any = group
        for part in name.split():
            parent = command
            command = parent.commands.get(part) if isinstance(parent, click.Group) else None
            if command is None:
                hint = cfg.meant(part, parent.commands) if isinstance(parent, click.Group) else ""
                raise ConfigError(
                    f"config file {loaded.path}: {cfg.table_name(name)}: no such command{hint}"
                )
        for option, value in sorted(options.items()):
            # As every other command checks its own tables: a value it would refuse (or click
            # would bend, days = true) is refused here too, never listed as if in force.
            where = f"config file {loaded.path}: {cfg.table_name(name)}"
            param = param_named(command, option)
            check_config_value(param, where, option, name, value, command.params)
            add(f"commands.{name}.{option}", masked(option, value), "config file")
    if json_:
        print_json({"file": str(loaded.path), "exists": loaded.exists, "settings": rows})
        return
    click.echo(f"Config file: {loaded.path}{'' if loaded.exists else ' (none)'}")
    print_table(
        ["KEY", "VALUE", "FROM"],
        [[r["key"], "-" if r["value"] is None else r["value"], r["source"]] for r in rows],
    )
