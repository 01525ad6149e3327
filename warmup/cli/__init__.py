"""The ``warmup`` command line: thin click commands over :mod:`warmup.api`.

Errors follow sysexits (DESIGN.md): a :class:`~warmup.errors.WarmupError` prints one line
``Error: ...`` and exits with its code; click usage errors exit 64. No traceback for user errors.
"""

from __future__ import annotations

import gc
import importlib
import re
import sys
from collections.abc import Iterable
from typing import Any

import click

from warmup.errors import ConfigError, DataError, FieldError, NotFound, WarmupError
from warmup.words import digits_fault, whole_number_fault
from warmup.lazyre import compiled_later


# Command name -> module defining it; a module is imported only when its command runs, so
# ``warmup quota`` does not load the relay, reports or doctor (see bench/quota_startup.py).
COMMAND_MODULES = {
    "bounces": "bounces",
    "completion": "completion",
    "config": "config",
    "db": "db",
    "demo": "demo",
    "doctor": "doctor",
    "import": "record",
    "mailbox": "mailbox",
    "notify": "notify",
    "policy": "policy",
    "pool": "pool",
    "plan": "quota",
    "plot": "report",
    "providers": "providers",
    "queue": "queue",
    "quota": "quota",
    "record": "record",
    "report": "report",
    "run": "run",
    "send": "send",
    "sendmail": "sendmail",
    "suppress": "bounces",
}


def flag(field: str) -> str:
    """The option that gives a library field its value: ``smtp_security`` -> ``--smtp-security``.

    Every command names its options after the library's fields, so one rule maps them all.
    """
    return "--" + field.replace("_", "-")


def param_name(command: click.Command, field: str) -> str:
    """What the user typed for ``field`` on ``command``: an argument by its usage name
    (``NAME``), an option by its long flag; a field the command does not take by :func:`flag`."""
    for param in command.params:
        if param.name != field:
            continue
        if isinstance(param, click.Argument):
            return param.human_readable_name
        return next((o for o in param.opts if o.startswith("--")), flag(field))
    return flag(field)


class NamedFields:
    """Mixed into every command: a :class:`FieldError` it raises is rendered here, where the
    command's parameters are known, so a field given as an argument is not called ``--field``.

    An option that takes one value given twice (``record send --at X --at Y``) is a usage error:
    click keeps the last one silently, and which was meant cannot be known (a script's
    ``$DEFAULTS`` before the user's own, a line pasted twice). Flags and options that take a
    list (``multiple``) may repeat; a command set ``repeats_last_wins`` (the sendmail shim,
    whose callers stack ``-f`` as sendmail(8) lets them) keeps click's rule."""

    repeats_last_wins = False

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)  # type: ignore[misc]
        if self.repeats_last_wins or ctx.resilient_parsing:  # completion: never an error
            return parser
        parse = parser.parse_args

        def checked(args: list[str]) -> Any:
            opts, rest, order = parse(args=args)
            _refuse_repeats(ctx, order)
            _refuse_nul(ctx, opts)
            _refuse_other_digits(ctx, opts)
            return opts, rest, order

        parser.parse_args = checked
        return parser

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as exc:
            # click's parser raises "Option '--at' requires an argument." without the context,
            # so the line named no command's --help to look at, unlike every other usage error.
            if exc.ctx is None:
                exc.ctx = ctx
            raise

    def invoke(self, ctx: click.Context) -> Any:
        from warmup.cli.common import stops_as_interrupts

        try:
            # Every command: SIGTERM or a hang-up unwinds as Ctrl-C does, its write rolled back
            # and "Aborted (Terminated)." said, where only some commands did and the others
            # ('suppress add --from PIPE' waiting on its writer) died without a word. A command
            # with its own handlers ('run', a wrapped script's forwarding) sets them inside.
            if isinstance(self, click.Group):  # its command sets them
                return super().invoke(ctx)  # type: ignore[misc]
            with stops_as_interrupts():
                return super().invoke(ctx)  # type: ignore[misc]
        except FieldError as exc:
            if _from_config_file(ctx, exc.field):
                # The value came from a [commands.NAME] table: name that key, not a flag the
                # user never typed, and exit 78 as for any other value the file holds wrong.
                from warmup import config

                table = config.table_name(ctx.command_path.split(" ", 1)[-1])
                where = f"config file {config.load().path}: {table}"
                field = exc.field
                key = next(config_key(p) for p in ctx.command.params if p.name == field)
                raise _Rendered(
                    exc.render(
                        lambda f: f"{where} {key}" if f == field else param_name(ctx.command, f)
                    ),
                    ConfigError.exit_code,
                ) from exc
            raise _Rendered(
                exc.render(lambda f: param_name(ctx.command, f)), exc.exit_code
            ) from exc
        except NotFound as exc:
            # A name typed that names nothing is 64; one the config file holds (its mailbox
            # or pool) is the set-up's fault: name the file, exit 78.
            named = getattr(exc, "address", None) or getattr(exc, "name", None)
            held = next(
                (
                    p.name
                    for p in ctx.command.params
                    if p.name and _from_config_file(ctx, p.name) and ctx.params.get(p.name) == named
                ),
                None,
            )
            if named is None or held is None:
                raise
            from warmup import config

            raise _Rendered(
                f"config file {config.load().path}: {exc}", ConfigError.exit_code
            ) from exc
        except WarmupError as exc:
            # The ledger's own words send the user to --db/WARMUP_DB; a URL the config file
            # gave is fixed there ('check the URL in --db/WARMUP_DB' had them look where it
            # was not, their command line and environment holding none).
            if _LEDGER_PLACE not in str(exc) or not _db_from_config_file(ctx):
                raise
            from warmup import config

            where = f"the config file's db ({config.load().path})"
            raise _Rendered(str(exc).replace(_LEDGER_PLACE, where), exc.exit_code) from exc


_LEDGER_PLACE = "--db/WARMUP_DB"  # where the ledger's errors say its URL was given


def _db_from_config_file(ctx: click.Context) -> bool:
    """Whether the ledger of this command came from the config file: a command's own
    ``[commands.NAME] db``, or the top-level ``db`` with no --db given anywhere."""
    from click.core import ParameterSource

    if isinstance(ctx.command, click.Group):  # told by its command, which knows its --db
        return False
    own = ctx.get_parameter_source("db")  # the command's --db (cli.common.db_option)
    if own is ParameterSource.DEFAULT_MAP:
        return True
    if own not in (None, ParameterSource.DEFAULT):
        return False
    sources = ctx.find_root().ensure_object(dict).get("sources", {})
    return sources.get("db") is ParameterSource.DEFAULT_MAP


def _refuse_repeats(ctx: click.Context, order: list[click.Parameter]) -> None:
    """A usage error naming the first option in ``order`` (each option as often as it was
    given) that takes one value and was given more than once."""
    seen: set[int] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count or param.is_flag:
            continue
        key = id(param)
        if key in seen:
            given = sum(p is param for p in order)
            name = next((o for o in param.opts if o.startswith("--")), param.opts[0])
            raise click.UsageError(
                f"Option '{name}' given {'twice' if given == 2 else f'{given} times'}; it takes one "
                "value: give it once",
                ctx,
            )
        seen.add(key)


def _refuse_other_digits(ctx: click.Context, opts: dict[str, Any]) -> None:
    """A usage error for a number given with digits other than 0-9 (``--smtp-port ٣``), or a
    whole number in a spelling only Python reads (``--days 1_000``, ``--smtp-port +5``), as
    typed, before click's int() or float() reads it as one."""
    for param in ctx.command.params:
        if not isinstance(param.type, _NUMBERS) or param.name not in opts:
            continue
        given = opts[param.name]
        whole = isinstance(param.type, click.types.IntParamType)
        for value in given if isinstance(given, (list, tuple)) else [given]:
            fault = whole_number_fault(value) if whole else digits_fault(value)
            if fault:
                raise click.BadParameter(f"{value!r}: {fault}", ctx, param)


def _refuse_nul(ctx: click.Context, opts: dict[str, Any]) -> None:
    """Bad data (65, as a NUL in stored text always was) for a value holding a NUL character:
    no path, address, name or URL holds one (a command line cannot carry one; a program
    calling warmup can), and one given as a path or ``--db`` was a ValueError traceback from
    the first file or ledger opened with it."""
    for param in ctx.command.params:
        given = opts.get(param.name) if param.name else None
        for value in given if isinstance(given, (list, tuple)) else [given]:
            if isinstance(value, str) and "\0" in value:
                shown = shown_value(param.name or "", value)
                raise DataError(
                    f"{param_name(ctx.command, param.name or '')} {shown!r}: a NUL, a control "
                    "character no value may hold; give the value without it"
                )


# Keys (their last part, '_' as '-') whose value is a command line, a webhook, a ledger
COMMAND_KEYS = ("command", "password-command")
LEDGER_KEYS = ("db", "db-url", "to")  # db copy's --to


def shown_value(key: str, value: str) -> str:
    """``value`` of the option or config key ``key`` as a message may quote it: a webhook
    without what may carry its token, a command with what looks like a secret in it masked, a
    ledger's password masked (in a URL, a libpq ``key=value`` string, or a URL missing its
    scheme), any other URL's password masked. A NUL in ``--db URL`` was refused quoting the URL,
    password and all."""
    last = key.rpartition(".")[2].replace("_", "-")
    if last == "webhook":
        from warmup.config import mask

        return mask(value)
    if last in COMMAND_KEYS:
        from warmup.cmdsecrets import masked_command

        return masked_command(value)
    if last in LEDGER_KEYS and "://" not in value:
        from warmup.ledger import not_a_path

        fault = not_a_path(value)
        return "(a PostgreSQL connection string)" if fault is not None else value
    from warmup.config import shown

    return str(shown(key, value))


# click's number types (IntRange and FloatRange among them; common.Seconds is a float type)
_NUMBERS = (click.types.IntParamType, click.types.FloatParamType)


def _from_config_file(ctx: click.Context, field: str) -> bool:
    """Whether the command's parameter ``field`` took its value from the config file."""
    from click.core import ParameterSource

    if not any(p.name == field for p in ctx.command.params):
        return False
    return ctx.get_parameter_source(field) is ParameterSource.DEFAULT_MAP


class _Rendered(WarmupError):
    """A :class:`FieldError` with its fields named for the command that raised it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _suggest_a_command(exc: click.UsageError, names: list[str], ctx: click.Context) -> None:
    """Raise ``exc`` again with the nearest command names when click found none to suggest.

    click draws its "Did you mean" from the group's loaded commands, and the top-level group
    loads a command's module only to run it: 'warmup qouta' got no suggestion where
    'warmup bounces synk' got 'sync'. (click < 8.4 suggests nothing: left as it is.)"""
    try:
        from click.exceptions import NoSuchCommand
    except ImportError:
        return
    if isinstance(exc, NoSuchCommand) and not exc.possibilities:
        raise NoSuchCommand(exc.command_name, possibilities=names, ctx=ctx) from None


class WarmupCommand(NamedFields, click.Command):
    pass


class WarmupSubgroup(NamedFields, click.Group):
    command_class = WarmupCommand
    group_class = type


class WarmupGroup(NamedFields, click.Group):
    """Maps library errors and click usage errors to one line and a sysexits code."""

    command_class = WarmupCommand
    group_class = WarmupSubgroup

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            # stdout's reader went away ('warmup quota | head -1', 'grep -q'): what was asked
            # is done and printed as far as anyone reads it. click caught it first and exited
            # 1, silently, failing 'set -o pipefail' scripts; stop here, exit 0, as intended
            # below. Another pipe (a socket, a child's stdin) is an error as before.
            if not _output_lost(exc):
                raise
            raise click.exceptions.Exit(0) from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"warmup.cli.{COMMAND_MODULES[name]}")
        _started()
        return super().get_command(ctx, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            name, cmd, rest = super().resolve_command(ctx, args)
        except click.UsageError as exc:
            _suggest_a_command(exc, self.list_commands(ctx), ctx)
            raise
        if name is not None and cmd is not None and not ctx.resilient_parsing:
            broken = ctx.meta.pop("warmup.config_error", None)
            try:
                if broken is not None:
                    raise broken
                self._check_config_tables(ctx, name, cmd)
            except ConfigError:
                # looked at only then: each command's start parsed its arguments once more
                if not _runs_without_config(ctx, name, cmd, rest):
                    raise
        return name, cmd, rest

    def _check_config_tables(self, ctx: click.Context, name: str, cmd: click.Command) -> None:
        """A ``[commands.NAME]`` table of the config file that names no command, or an option
        the command being run does not have, is a configuration error: silently ignored, a typo
        (``dayz = 60``) would leave the user wondering why the default holds. Every table's
        first word is checked against the commands, the run command's own tables in full (the
        other groups' subcommands are not imported for it: ``warmup config show`` checks all)."""
        from warmup import config

        loaded = config.load()
        if not loaded.commands:
            return
        commands = set(self.list_commands(ctx))
        for table, options in loaded.commands.items():
            top, *path = table.split()
            where = f"config file {loaded.path}: {config.table_name(table)}"
            if top not in commands:
                close = config.nearest(top, commands)
                hint = (
                    f"; did you mean {config.table_name(self._mended(ctx, close, path))}?"
                    if close
                    else ""
                )
                raise ConfigError(f"{where}: no such command{hint} (see 'warmup --help')")
            if top != name:
                continue
            target = cmd
            for part in path:
                sub = target.commands.get(part) if isinstance(target, click.Group) else None
                if sub is None:
                    hint = (
                        config.meant(part, target.commands)
                        if isinstance(target, click.Group)
                        else ""
                    )
                    raise ConfigError(
                        f"{where}: no such command{hint} (see 'warmup {name} --help')"
                    )
                target = sub
            node: Any = ctx.default_map or {}
            for part in (top, *path):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            for option, value in options.items():
                param = param_named(target, option)
                key = option.replace("-", "_")  # as Config.default_map() wrote it
                if param is not None and param.name != key and key in node:
                    node[param.name] = node.pop(key)  # click's default_map: by param name
                check_config_value(param, where, option, table, value, target.params)

    def _mended(self, ctx: click.Context, top: str, path: list[str]) -> str:
        """Command ``top`` and the words ``path`` below it, each mended to the nearest
        subcommand where there is one, for a suggestion that names a command: "Queue List"
        is "queue list", not "queue List". On the way to an error only: it imports ``top``."""
        from warmup import config

        words, target = [top], self.get_command(ctx, top)
        for part in path:
            subs = target.commands if isinstance(target, click.Group) else {}
            word = config.nearest(part, subs) or part
            words.append(word)
            target = subs.get(word)
        return " ".join(words)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The config file's values are click's default_map: below flags and the environment.
        if parent is None and "default_map" not in extra:
            from warmup import config

            broken: ConfigError | None = None
            try:
                extra["default_map"] = config.load().default_map()
            except ConfigError as exc:
                # Said when the command is known (resolve_command): the commands that find or
                # explain the file ('config path', any --help, --version) work without it, and
                # shell completion never prints (its Error line went into the command line
                # being typed, at every TAB).
                broken = exc
                extra["default_map"] = {}
        else:
            broken = None
        try:
            made = super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError as exc:  # 'warmup --help | head -1': as in invoke
            if not _output_lost(exc):
                raise
            raise click.exceptions.Exit(0) from None
        if broken is not None:
            made.meta["warmup.config_error"] = broken
        return made

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort as exc:
            # A SIGTERM or SIGHUP taken as Ctrl-C (cli.common.stops_as_interrupts): the exit
            # code a shell gives a command that signal ended, as without the handler.
            signum = getattr(exc.__cause__, "signum", None)
            how = ""
            if signum is not None:
                import signal

                how = f" ({signal.strsignal(signum) or signum})"
            # What was done for good before it (a message sent and recorded, then a stop
            # while the connection closed): "Aborted." alone had a script send it again.
            from warmup.cli.common import DONE

            _complain(f"Aborted{how}" + ("".join(f"; {d}" for d in DONE) or "."))
            sys.exit(130 if signum is None else 128 + signum)
        except _NO_ARGS_IS_HELP as exc:
            # 'warmup' or 'warmup mailbox' alone: the help, as --help shows it (a usage error
            # for the exit code), not its text squeezed into one "Error: Usage: ..." line.
            _complain(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
            sys.exit(64)
        except click.BadParameter as exc:
            fault = _config_fault(exc)
            if fault is None:
                _usage(exc)
                sys.exit(64)
            _complain(f"Error: {fault}")
            sys.exit(ConfigError.exit_code)
        except click.UsageError as exc:
            _usage(exc)
            sys.exit(64)
        except click.ClickException as exc:
            _complain(f"Error: {exc.format_message()}")
            sys.exit(exc.exit_code)
        except FieldError as exc:
            _complain(f"Error: {exc.render(flag)}")
            sys.exit(exc.exit_code)
        except WarmupError as exc:
            _complain(f"Error: {exc}")
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as exc:
            if _output_lost(exc):
                # What was sent or settled before stays so; a claimed message is settled or
                # left 'sending' for recovery, as after any error.
                from warmup.cli.common import DONE

                done = "".join(f"; {d}" for d in DONE)
                _complain(f"Error: cannot write the output: {exc.strerror or exc}{done}")
            else:
                raise
            sys.exit(74)  # EX_IOERR
        sys.exit(rv if isinstance(rv, int) else 0)


def _complain(text: str) -> None:
    """``text`` on stderr, if stderr can take it: with stderr on a full disk (``2>> log`` in a
    cron job) the line is lost, the exit code that says what happened is not (it was 1, from
    the traceback of the failed write, for every error: 75 "try later" looked like a crash).
    A value quoted back at its full length (a 100 KB ``--policy`` or ``--timezone``) is cut
    to its ends, so the line still reads as one line with its fix. An error's control
    characters are written as escapes: a value quoted back with a newline in it (``--db
    "$(find ...)"`` finding two files) made the one line two, the second looking like a
    line of its own; a login's setup checklist after it, and a list of indented lines
    (every bad row of a ``queue add``), keep their lines."""
    if text.startswith("Error: "):
        from warmup.providers import without_checklist

        line, checklist = without_checklist(text)
        text = _STAND_IN.sub(r"\\x\1", _CONTROL.sub(_escaped, line)) + checklist
    try:
        click.echo(_LONG_WORD.sub(_cut, text), err=True)
    except OSError:
        _to_null(sys.stderr)


# A run of text without a space longer than any name, path or address a user types: a value
# given by mistake (a file's contents, a variable that expanded to a page).
_LONG_WORD = compiled_later(r"\S{201,}")


# C0 controls and DEL: never part of what an error means to say, only of a value it quotes;
# but a newline before an indented line, the list of every bad row an error may name
# (warmup.outbox.inputerrors), is the error's own.
# ... and the bytes of a name that is not UTF-8 (a file name, read as os.fsdecode reads it:
# its bytes as lone surrogates, which stderr wrote as '\udce9'): written as '\xe9'.
_CONTROL = compiled_later(r"\n(?!  )|[\x00-\x09\x0b-\x1f\x7f\udc80-\udcff]")


# ... and those bytes as repr() quoted a value holding them ('x\\udcff@corp.example', an
# address or campaign name typed in a GBK terminal): written as the byte, '\\xff', as the
# names quoted whole are.
_STAND_IN = compiled_later(r"(?<!\\)\\udc([89a-f][0-9a-f])")  # not a backslash typed


def _escaped(match: re.Match[str]) -> str:
    c = match[0]
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or f"\\x{ord(c) & 0xFF:02x}"


def _cut(match: re.Match[str]) -> str:
    word = match[0]
    return f"{word[:100]}...({len(word) - 120:,} characters cut)...{word[-20:]}"


# Raised (click >= 8.2) for a group called without its command; older clicks printed the help
# themselves and exited.
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_NeverRaised", (click.UsageError,), {})
)


def _usage(exc: click.UsageError) -> None:
    """A usage error as every other error: one line, what was wrong and where to look (click's
    own form is a usage line, a "Try --help" line, a blank one, then the error)."""
    hint = ""
    ctx = exc.ctx
    if ctx is not None and ctx.help_option_names:
        names = ctx.help_option_names
        hint = f" (see '{ctx.command_path} {'--help' if '--help' in names else names[0]}')"
        root = ctx.find_root()
        given = getattr(exc, "option_name", None)
        if isinstance(exc, click.NoSuchOption) and ctx is not root and given is not None:
            mine = next((p for p in root.command.params if given in getattr(p, "opts", ())), None)
            if mine is not None:
                # 'warmup mailbox list -q': -q is warmup's own option, which the subcommand's
                # --help does not list; say where it goes.
                rest = ctx.command_path.split(" ", 1)[-1]
                hint = (
                    f"; {given} is an option of warmup itself: give it before the command "
                    f"('warmup {given} {rest} ...')"
                )
    message = " ".join(exc.format_message().split())
    if hint.startswith(";"):
        message = message.rstrip(".")
    _complain(f"Error: {message}{hint}")


def _output_lost(exc: OSError) -> bool:
    """Whether ``exc`` is stdout failing (a full disk, ``> /dev/full``, a device error), not
    another file: raised writing it, or it cannot take its buffered lines even now. If so,
    what is left goes to /dev/null: the interpreter's flush at exit would fail again, with an
    "Exception ignored" report and exit 120. (Stderr never fails: _stderr_that_never_fails.)"""
    out = sys.stdout
    if out is None:
        return False
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    buffer = getattr(out, "buffer", None)
    streams = (out, buffer, getattr(buffer, "raw", None))
    raised_here = tb is not None and any(
        v is s for v in tb.tb_frame.f_locals.values() for s in streams if s is not None
    )
    if not raised_here:
        try:
            out.flush()
        except OSError:
            pass
        else:
            return False
    _to_null(out)
    return True


def _to_null(stream: Any) -> None:
    """Point ``stream``'s file descriptor at /dev/null (its pending lines go nowhere, not into
    a failing flush at exit)."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's stream)
        pass


def _config_fault(exc: click.BadParameter) -> str | None:
    """The message for a bad value that came from the config file's ``[commands.NAME]`` (not
    typed: "Invalid value for '--days'" would send the user looking at a command line that has
    no --days), or None for a value given on the command line or in the environment."""
    ctx, param = exc.ctx, exc.param
    if ctx is None or param is None or param.name is None:
        return None
    if ctx.get_parameter_source(param.name) != click.core.ParameterSource.DEFAULT_MAP:
        return None
    from warmup import config

    name = " ".join(ctx.command_path.split()[1:])
    key = config_key(param)
    return f"config file {config.path()}: {config.table_name(name)} {key}: {exc.message}"


def config_key(param: click.Parameter) -> str:
    """How a config file names ``param``: its long option without dashes (``json`` for
    ``--json``, whose parameter is ``json_``; ``timezone`` for ``tz``)."""
    long = next((o for o in getattr(param, "opts", ()) if o.startswith("--")), None)
    return long[2:] if long else str(param.name)


def check_config_value(
    param: click.Parameter | None,
    where: str,
    option: str,
    command: str,
    value: Any,
    params: Iterable[click.Parameter] = (),
) -> None:
    """:class:`ConfigError` if the config file's ``value`` for ``option`` of ``command`` (its
    ``param``, None: it has none) is not one the command would take as it is written. ``where``:
    the file and table, as messages name them; ``params``: the command's, to name the option a
    mistyped one meant."""
    if param is None:
        from warmup import config

        hint = config.meant(option, {config_key(p) for p in params if p.name != "help"})
        raise ConfigError(
            f"{where} {option}: the command has no such option{hint} "
            f"(see 'warmup {command} --help')"
        )
    many = getattr(param, "multiple", False) or param.nargs != 1
    if many and not isinstance(value, list):
        raise ConfigError(f'{where} {option}: expected a list such as ["a", "b"]')
    if isinstance(value, list) and not many:
        raise ConfigError(f"{where} {option}: expected one value, not a list")
    for one in value if isinstance(value, list) else [value]:
        fault = _bent(param, one)
        if fault:
            raise ConfigError(f"{where} {option}: {fault}")


def _bent(param: click.Parameter, value: Any) -> str | None:
    """Why click would bend the config file's ``value`` for ``param`` without a word, or None:
    it converts with int() and str(), so ``days = true`` was 1 day, ``days = 1.5`` 1 day and
    ``campaign = false`` the campaign "False"."""
    kind = param.type
    toml = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if getattr(param, "is_bool_flag", False) or isinstance(kind, click.types.BoolParamType):
        # click's str_to_bool calls .strip() on it: an integer was a traceback, "yes" bent.
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            # Taken until the check came: say what changed, not 'true or false, not 'true''.
            return f"expected true or false, not the text {value!r}: write it without quotes"
        return f"expected true or false, not {value!r}"
    if getattr(param, "is_flag", False):
        return None
    whole = isinstance(kind, click.types.IntParamType)  # days = "1_000": TOML's 1_000 is 1000
    fault = whole_number_fault(value) if whole else digits_fault(value)
    if fault and isinstance(kind, _NUMBERS):
        return f"{value!r}: {fault}"
    if whole:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            return f"expected a whole number, not {toml}"
    elif isinstance(kind, click.types.FloatParamType):
        if isinstance(value, bool):
            return f"expected a number, not {toml}"
    elif isinstance(kind, click.types.StringParamType) and isinstance(value, bool):
        return f'expected text, not {toml} (write "{toml}" if that is meant)'
    return None


def _runs_without_config(
    ctx: click.Context, name: str, cmd: click.Command, rest: list[str]
) -> bool:
    """A command that works with the config file broken: the one that finds it (``config
    path``) and any ``--help``, so a user can learn where the file is and what it may hold."""
    words = rest[: rest.index("--")] if "--" in rest else rest
    return (name == "config" and words[:1] == ["path"]) or _asks_for_help(ctx, name, cmd, rest)


def _asks_for_help(ctx: click.Context, name: str, cmd: click.Command, args: list[str]) -> bool:
    """Whether ``cmd`` (or the subcommand its group resolves) reads a help option in ``args``,
    as click parses them: a '-h' that is an option's value (``queue list --campaign -h``) ran
    the command with the broken config file ignored, on another ledger than the file names."""
    settings = {**cmd.context_settings, "resilient_parsing": True}  # sendmail's: --help only
    sub = click.Context(cmd, info_name=name, parent=ctx, **settings)
    helps = cmd.get_help_option(sub)
    try:
        opts, rest, _ = cmd.make_parser(sub).parse_args(list(args))
        if helps is not None and helps.name is not None and opts.get(helps.name):
            return True
        if not isinstance(cmd, click.Group) or not rest:
            return False
        sub_name, sub_cmd, sub_rest = click.Group.resolve_command(cmd, sub, rest)
    except click.ClickException:  # the command's own parse says what is wrong, after the file
        return False
    return sub_cmd is not None and _asks_for_help(sub, sub_name or "", sub_cmd, sub_rest)


def param_named(command: click.Command, option: str) -> click.Parameter | None:
    """``command``'s parameter that a config file's ``option`` names: by its name in the code,
    or as on the command line (``timezone`` for ``--timezone``, whose parameter is ``tz``)."""
    flag = "--" + option.replace("_", "-")
    return next((p for p in command.params if p.name == option), None) or next(
        (p for p in command.params if flag in getattr(p, "opts", ())), None
    )


def check_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--db``'s value; blank is refused: ``--db "$TEAM_DB"`` with the variable unset would
    otherwise fall back to $WARMUP_DB or the default ledger, another ledger than the one meant.

    A URL holding a password given on the command line is used, with one warning per command:
    argv is readable by every user of the host (``ps``) and kept in shell history."""
    if value is not None and not value.strip():
        raise click.BadParameter("blank; give a SQLite path or a ledger URL")
    if value is not None and value.strip() == "-":  # no ledger is read or written as a stream
        raise click.BadParameter(
            "'-' is no ledger; give a SQLite path ('./-' for a file named '-') or a URL"
        )
    if (
        value is not None
        and "://" in value
        and not ctx.resilient_parsing  # shell completion: not a command being run
        and ctx.get_parameter_source(param.name or "") == click.core.ParameterSource.COMMANDLINE
    ):
        from warmup.ledger import mask_url

        obj = ctx.find_root().ensure_object(dict)
        if mask_url(value) != value and not obj.get("argv_secret_warned"):
            obj["argv_secret_warned"] = True
            flag = max(getattr(param, "opts", None) or ["--db"], key=len)
            # --db's place elsewhere is WARMUP_DB; db copy's --to has only its config key
            # (WARMUP_DB there names the source: following that advice copied a ledger onto itself)
            elsewhere = (
                "set WARMUP_DB, or db in the config file (warmup config)"
                if flag == "--db"
                else f'set {param.name} under [commands."{ctx.command_path.partition(" ")[2]}"] '
                f"in the config file (warmup config path)"
            )
            click.echo(
                f"Warning: {flag} {mask_url(value)} puts the database password on the command "
                f"line, where other users of this host (ps) and your shell history can read it; "
                f"{elsewhere}, or leave the password out of the URL and put it in ~/.pgpass",
                err=True,
            )
    return value


@click.group(cls=WarmupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="warmup")
@click.option(
    "--db",
    "db_url",  # not "db": click's default_map holds the 'db' group's table under that key
    metavar="URL|PATH",
    envvar="WARMUP_DB",
    callback=check_db,
    help="Ledger: a SQLite file path or SQLAlchemy URL (default: $WARMUP_DB or "
    "~/.local/share/warmup/ledger.db).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only answers, warnings and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print more (e.g. the table of quota --check).")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, quiet: bool, verbose: bool) -> None:
    """Plan and enforce the send-rate warm-up of business mailboxes.

    \b
    Example:
        warmup mailbox add sales@corp.example --provider exmail
        warmup quota sales@corp.example
        warmup plan sales@corp.example --days 30
    """
    ctx.ensure_object(dict)
    ctx.obj.setdefault("db", db_url)
    sources = {name: ctx.get_parameter_source(name) for name in ("db_url", "quiet", "verbose")}
    sources["db"] = sources.pop("db_url")
    if quiet and verbose:
        typed = click.core.ParameterSource.COMMANDLINE
        if sources["quiet"] == typed and sources["verbose"] == typed:
            # -q won without a word, and 'config show' listed both as in force
            raise click.UsageError(
                "give -q/--quiet or -v/--verbose, not both: --quiet prints only answers, "
                "warnings and errors, --verbose prints more"
            )
        # one from the config file, the other given now: the one given wins
        quiet = sources["quiet"] != click.core.ParameterSource.DEFAULT_MAP
    ctx.obj["verbosity"] = -1 if quiet else int(verbose)
    ctx.obj["sources"] = sources


def main() -> None:
    global _STARTING
    # No cyclic garbage collection while the command's modules are imported (they are kept to
    # the end, and the collector walked them a few dozen times, ~4 ms of 'warmup quota'); then
    # they are frozen, so neither a later collection nor the one at exit walks them again.
    gc.disable()
    _STARTING = True
    try:
        _hold_closed_standard_streams()
        _escape_what_stdout_cannot_encode()
        # Before any command is started: none may read a secret in /proc/PPID/environ.
        from warmup.procenv import hide_initial_secrets

        hide_initial_secrets()
        cli(prog_name="warmup")
    except KeyboardInterrupt as exc:
        # Ctrl-C again (or a SIGTERM taken as one) while the first one's line was written: a
        # traceback from the middle of that line. The user asked twice: the process ends by
        # the signal, as it would have without Python's handler.
        import signal

        _started()
        _die_by(getattr(exc, "signum", None) or signal.SIGINT)
    finally:  # a command that ends before its module is imported (--version, a bad option)
        _started()
        _ctrl_c_ends_the_exit()


def _die_by(signum: int) -> None:
    """End this process by ``signum``'s default action (exit 128+N if that does not end it)."""
    import os
    import signal

    try:
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def _ctrl_c_ends_the_exit() -> None:
    """The command has ended (its line said, its exit code set): a Ctrl-C from now on ends the
    process at once, as SIGTERM's default does, not with a KeyboardInterrupt inside the
    interpreter's shutdown. A user pressing Ctrl-C again while a stopped command closed its
    connections got "Exception ignored in atexit callback" and a traceback below
    "Aborted."."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


_STARTING = False  # main() holds the collector until the command's module is imported


def _started() -> None:
    """The command's module is imported: the collector runs again (a worker or a relay runs
    for hours), over what is made from now on. Only after :func:`main`: a program that calls
    :data:`cli` itself (tests, scripts) keeps its own collector as it is."""
    global _STARTING
    if _STARTING:
        _STARTING = False
        gc.freeze()
        gc.enable()


# Started with its standard output closed ('warmup report --json >&-'): whether it was. The
# worker ('warmup run' under a supervisor that gives it none) takes that as "no log wanted".
STDOUT_CLOSED = False


def _hold_closed_standard_streams() -> None:
    """A standard stream closed at start (``>&-``, ``2>&-``, ``<&-``) gets /dev/null on its
    descriptor, so the next file opened (a config file, a plot, a child's pipe) cannot take
    descriptor 1 and receive what is printed. Standard output closed was an answer printed
    nowhere and exit 0 (Python sets ``sys.stdout`` to None and click prints nothing): now its
    first line fails as a full disk does, one line and exit 74, as ``echo hi >&-`` fails."""
    import os

    global STDOUT_CLOSED
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1 and sys.stdout is None:
                STDOUT_CLOSED = True
                sys.stdout = _closed_output()
    # With 2>&- too: what warmup says there goes nowhere, as asked (Python's None was an
    # AttributeError wherever a command asked whether stderr is a terminal).
    sys.stderr = _stderr_that_never_fails()


def _stderr_that_never_fails() -> Any:
    """Standard error as a stream whose failed write (``2> /dev/full``, a full disk under
    ``2>> log``, a reader gone) is dropped, and what follows with it, as with ``2>&-``: a
    note, a warning or a progress bar lost there leaves the command and its exit code as
    they were. Such a write was an OSError out of the command, exit 74 "cannot write the
    output" while the answer stood on stdout (or, with the note first, was never printed)."""
    import io

    class Dropping(io.FileIO):
        def write(self, data: Any) -> int:
            try:
                written = super().write(data)
            except OSError:
                _to_null(self)  # the rest goes nowhere, the exit's flush too
                return len(data)
            return len(data) if written is None else written  # None: would block, dropped

    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        raw = Dropping(2, "w", closefd=False)
    except OSError:  # no descriptor 2 even now (no /dev/null to put there): as Python left it
        return sys.stderr
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding,
        errors="backslashreplace",
        line_buffering=True,
    )


def _closed_output() -> Any:
    """A text stream whose every write fails with EBADF: standard output was closed."""
    import errno
    import io

    class Closed(io.RawIOBase):
        said = False

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            if self.said:  # as after _to_null: the rest goes nowhere, the exit's flush too
                return len(data)
            self.said = True
            raise OSError(errno.EBADF, "standard output is closed (>&-)")

        def fileno(self) -> int:
            return 1  # /dev/null now: the interpreter's last flush lands there

    return io.TextIOWrapper(io.BufferedWriter(Closed()), "utf-8", line_buffering=True)


def _escape_what_stdout_cannot_encode() -> None:
    """A character stdout's encoding lacks (a Chinese stage name or address on a Latin-1 or
    cp1252 locale, a host of a team ledger set up elsewhere) is written as its escape, as
    Python writes stderr: it was a UnicodeEncodeError traceback, the whole answer lost."""
    import codecs

    out = sys.stdout
    if out is None or getattr(out, "errors", None) not in ("strict", "surrogateescape"):
        return
    try:
        if codecs.lookup(out.encoding).name == "utf-8":
            # It lacks only lone surrogates: a file name or value from argv's bytes that are no
            # UTF-8 (Python decodes b"\xff" as "\udcff"), quoted back by an answer ("\udcff: not
            # a bounce"). Written as the bytes the user gave, as ls and cat do: it was a
            # UnicodeEncodeError traceback, exit 1, under a UTF-8 locale such as en_US.UTF-8.
            if out.errors == "strict":
                out.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
            return
        out.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    except (AttributeError, LookupError, TypeError, ValueError):  # not a TextIOWrapper
        pass


def load_all() -> click.Group:
    """Import every command module (for documentation and tests); returns the group."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"warmup.cli.{module}")
    return cli
