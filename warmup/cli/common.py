"""Options and output helpers shared by every command."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast, overload

import click

from warmup.cli import check_db, param_name
from warmup.errors import FieldError, NoLedger, WarmupError
from warmup.instants import Reading, read_instant
from warmup.lazyre import compiled_later
from warmup.ledger import MailboxRow, Reads, open_gate_ledger, open_ledger, open_reads
from warmup.ledger.values import SQL_INT_MAX
from warmup.words import shown

if TYPE_CHECKING:  # imported when used: ``warmup quota`` reads a ledger without SQLAlchemy
    from warmup.ledger import Ledger
    from warmup.ledger.gatepath import GateLedger

F = TypeVar("F", bound=Callable[..., Any])

MAX_TIMEOUT = 3600.0  # seconds: an hour for one network step is already more than any server takes


class Span(dt.timedelta):
    """A duration as :class:`Duration` read it: a timedelta that prints as it was typed
    (``--expires 72h`` in a warning, not ``3 days, 0:00:00``)."""

    typed: str

    def __str__(self) -> str:
        return self.typed


class Duration(click.ParamType):
    """A duration option (``--expires``, ``--sync-every``, ``--timeout``): a number and a unit,
    ``90s``, ``10m``, ``72h``, ``3d``, ``2w`` or ``1d12h`` (:func:`warmup.instants.duration_seconds`;
    a bare number is in ``bare`` units where the option has one), above 0 and from ``least``
    to ``most`` seconds. Every such option refuses alike, exit 64 with what to write:
    ``--sync-every 0`` was 64 and ``0s`` 65, ``--timeout 0s`` "not a number of seconds".
    Converts to a :class:`Span`."""

    name = "duration"

    def __init__(self, least: float, most: float, example: str, bare: str | None = None) -> None:
        self.least, self.most, self.example, self.bare = least, most, example, bare

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.timedelta):
            return value
        span = Span(seconds=self.seconds(str(value), param, ctx))
        span.typed = str(value).strip()
        return span

    def seconds(self, text: str, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """``text``'s seconds, within the bounds; else a usage error saying what to write."""
        from warmup.instants import duration_seconds
        from warmup.words import digits_fault

        fault = digits_fault(text)
        if fault:
            self.fail(f"{text!r}: {fault}", param, ctx)
        bare = self.bare and _BARE.fullmatch(text.strip())
        seconds = duration_seconds(f"{text.strip()}{self.bare}" if bare else text)
        if seconds is None:
            self.fail(f"{text!r} is not a duration; write {self.wanted()}", param, ctx)
        if not (seconds > 0 and self.least <= seconds <= self.most):
            self.fail(f"{text!r} is out of range; write {self.wanted()}", param, ctx)
        return seconds

    def wanted(self) -> str:
        """What to write: the bounds and an example."""
        low = f"at least {_unit(self.least)}" if self.least else "above 0"
        unit = f" (a bare number: {_UNITS[self.bare]})" if self.bare else ""
        return (
            f"a number and a unit (s, m, h, d, w){unit}, {low} and at most {_unit(self.most)}, "
            f"e.g. {self.example}"
        )


_BARE = compiled_later(r"[0-9]+(?:\.[0-9]+)?")  # a number without its unit
_UNITS = {"s": "seconds", "m": "minutes"}


def _unit(seconds: float) -> str:
    """``seconds`` in its largest whole unit: 60 -> 1m, 31536000 -> 365d."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class Seconds(Duration):
    """A timeout: a :class:`Duration` of at most :data:`MAX_TIMEOUT`, a bare number in seconds
    (``--timeout 60``, as it always took), as a float. ``type=float`` took ``nan``, ``inf``,
    ``0`` and negative numbers, which the socket layer refuses with a traceback or turns into
    a non-blocking socket that fails at once (0)."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(0, MAX_TIMEOUT, "60, 90s or 2m", bare="s")

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}" if value == value else "nan"
        return self.seconds(str(value), param, ctx)


SECONDS = Seconds()
EXPIRY = Duration(60, 365 * 86_400, "72h or 3d")  # how long a queued message may wait
EVERY = Duration(60, 365 * 86_400, "10m or 1h")  # how often a worker does something


def _store_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if check_db(ctx, param, value):
        ctx.ensure_object(dict)["db"] = value


def db_option(fn: F) -> F:
    """``--db`` on the command itself (it also works before the command name)."""
    return click.option(
        "--db",
        metavar="URL|PATH",
        expose_value=False,
        callback=_store_db,
        is_eager=True,
        help="Ledger URL or SQLite path (overrides $WARMUP_DB).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "json_", is_flag=True, help="Print JSON.")(fn)


def ledger_from(ctx: click.Context, create: bool = False) -> Ledger:
    """The ledger for this invocation, opened once.

    Only a command that writes something a new ledger can hold (``create``: adding a mailbox,
    importing, ...) creates a missing one, and says so; any other refuses it (exit 66), so a
    mistyped ``--db`` never becomes an empty ledger that answers "no mailboxes".
    """
    obj = ctx.find_root().ensure_object(dict)
    if "ledger" not in obj:
        obj["ledger"] = _opened(ctx, open_ledger(obj.get("db"), create=create))
    return cast("Ledger", obj["ledger"])


def reads_from(ctx: click.Context) -> Reads:
    """The ledger for a command that only asks what ``warmup quota`` asks (:class:`Reads`):
    opened without SQLAlchemy where the backend can (:func:`warmup.ledger.open_reads`); the
    invocation's full ledger if one is open already. A missing ledger is refused (exit 66)."""
    obj = ctx.find_root().ensure_object(dict)
    if "ledger" in obj:
        return cast(Reads, obj["ledger"])
    if "reads" not in obj:
        obj["reads"] = _opened(ctx, open_reads(obj.get("db")))
    return cast(Reads, obj["reads"])


def gate_ledger_from(ctx: click.Context) -> GateLedger:
    """The ledger for a command that sends through a gate (``warmup send``): opened without
    SQLAlchemy where the backend can (:func:`warmup.ledger.open_gate_ledger`; its ``full()`` is
    the full backend, opened on first use); the invocation's full ledger if one is open already.
    A missing ledger is refused (exit 66)."""
    obj = ctx.find_root().ensure_object(dict)
    if "ledger" in obj:
        return cast("GateLedger", obj["ledger"])
    if "gate_ledger" not in obj:
        obj["gate_ledger"] = _opened(ctx, open_gate_ledger(obj.get("db")))
    return cast("GateLedger", obj["gate_ledger"])


R = TypeVar("R", bound=Reads)


def _opened(ctx: click.Context, ledger: R) -> R:
    ctx.call_on_close(ledger.close)
    for warning in ledger.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return ledger


@overload
def pass_ledger(fn: F) -> F: ...
@overload
def pass_ledger(*, create: bool) -> Callable[[F], F]: ...
def pass_ledger(fn: F | None = None, *, create: bool = False) -> Any:
    """Pass the ledger as the command's first argument (``create``: see :func:`ledger_from`)."""

    def decorate(fn: F) -> F:
        passing = _passing(fn, lambda ctx: ledger_from(ctx, create))
        passing.creates_ledger = create  # type: ignore[attr-defined]  # README's list: test_docs
        return passing

    return decorate if fn is None else decorate(fn)


def pass_ledger_if_any(fn: F) -> F:
    """Pass the ledger, or None when there is none yet (never created): for commands that
    also answer from built-in data alone (the policy presets)."""

    def opener(ctx: click.Context) -> Ledger | None:
        try:
            return ledger_from(ctx)
        except NoLedger:
            return None

    return _passing(fn, opener)


def pass_reads(fn: F) -> F:
    """Pass the ledger as :func:`reads_from` opens it as the command's first argument."""
    return _passing(fn, reads_from)


def pass_gate_ledger(fn: F) -> F:
    """Pass the ledger as :func:`gate_ledger_from` opens it as the command's first argument."""
    return _passing(fn, gate_ledger_from)


def _passing(fn: F, opener: Callable[[click.Context], Reads | None]) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ledger = opener(click.get_current_context())
        try:
            result = fn(ledger, *args, **kwargs)
        except BaseException:
            if ledger is not None:
                ledger.discard_if_unused()  # bad input leaves no new empty ledger behind
            raise
        if ledger is not None:
            say_created(ledger)
        return result

    # Typed as the command itself so that click's decorators stack; the wrapper supplies the
    # ledger.
    return cast(F, db_option(wrapper))


def typed_instant(
    text: str, boxes: Sequence[MailboxRow], option: str = "--at", *, ahead: bool = False
) -> dt.datetime:
    """``--at`` as the user means it: a time without a UTC offset is the local time of the
    mailboxes in scope (:func:`warmup.instants.read_instant`; ``ahead``: a time alone already
    past is tomorrow's). When they have no single zone, it is this machine's, and a note on
    stderr says so (stdout stays the answer, JSON too)."""
    field = option.lstrip("-").replace("-", "_")
    got = read_instant(text, [b.timezone for b in boxes], field, ahead=ahead)
    if got.machine:
        why = "the mailboxes are in several zones" if boxes else "no mailbox is in scope"
        click.echo(
            f"Note: {option} {text} has no UTC offset and {why}: read in this machine's zone, "
            f"{got.zone} (= {got.at:%Y-%m-%dT%H:%M:%SZ}).",
            err=True,
        )
    return wall_said(got, text, option)


def wall_said(got: Reading, text: str, option: str) -> dt.datetime:
    """The instant ``got`` read from ``text`` (typed as ``option``), after a note on stderr
    where it was a local time the clocks skip or repeat, saying which instant was taken: 02:30
    on a spring-forward day in New York is no time of that day, 01:30 on the fall-back day two.
    """
    if got.wall:
        click.echo(f"Note: {option} {text} in {got.zone} {got.wall}.", err=True)
    return got.at


def error_line(error: WarmupError) -> str:
    """``Error: ...`` for a mailbox a command leaves out (a refusal), a field it names called
    as the current command's user typed it (``--at``, not ``at``)."""
    if isinstance(error, FieldError):
        command = click.get_current_context().command
        return f"Error: {error.render(lambda f: param_name(command, f))}"
    return f"Error: {error}"


def none_yet(at: str | None = None) -> str:
    """What a listing of every mailbox says when there is none: in the ledger, or (``at``: the
    ``--at`` typed) as of that instant, every mailbox having been added after it."""
    if at is None:
        return "No mailboxes yet: add one with 'warmup mailbox add ADDRESS --provider exmail'."
    return f"No mailboxes yet as of --at {at}: each was added after that day."


def print_json(data: Any) -> None:
    """``data`` as JSON: text as it is where stdout's encoding carries it, else as ``\\uXXXX``
    escapes (still the same JSON; a Latin-1 locale's stdout cannot take 第一周)."""

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if not _encodable(text):
        text = json.dumps(data, indent=2, ensure_ascii=True, default=str)
    click.echo(text)


def _encodable(text: str) -> bool:
    """Whether stdout's encoding carries ``text``."""
    import sys

    if text.isascii():
        return True
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def stream_json(pages: Callable[[], Iterable[Iterable[Any]]]) -> None:
    """:func:`print_json`'s output of a list, to the byte, for items too many to hold:
    ``pages()`` gives them a page at a time (memory holds one). Called once where stdout's
    encoding is Unicode's (text read from a ledger carries no lone surrogate); elsewhere twice,
    the first to learn whether every item can be written as it is (else all are escaped)."""
    import codecs
    import sys

    def texts(ascii_only: bool) -> Iterator[str]:
        for page in pages():
            yield from (json.dumps(i, indent=2, ensure_ascii=ascii_only, default=str) for i in page)

    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        unicode = codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        unicode = False
    ascii_only = not unicode and not all(_encodable(t) for t in texts(False))
    opened = False
    chunk: list[str] = []
    for text in texts(ascii_only):
        chunk.append(",\n" if opened else "[\n")
        opened = True
        chunk.append("  " + text.replace("\n", "\n  "))  # one level in, as json.dumps nests it
        if len(chunk) >= 2_000:
            click.echo("".join(chunk), nl=False)
            chunk.clear()
    chunk.append("\n]" if opened else "[]")
    click.echo("".join(chunk))


# Statuses on a terminal: green may send now, yellow later today or tomorrow, red needs a person.
STATUS_COLOURS = {
    "ok": "green",
    "hold": "yellow",
    "step_back": "yellow",
    "paced": "yellow",
    "exhausted": "yellow",
    "closed": "blue",
    "paused": "red",
}


def verbosity() -> int:
    """-1 with ``--quiet``, 1 with ``--verbose``, else 0."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return int(obj.get("verbosity", 0)) if isinstance(obj, dict) else 0


# What a command did that cannot be undone, for the line that says its output was lost
# (exit 74): "cannot write the output" alone made a sent message look unsent, and its retry
# reached the recipients twice.
DONE: list[str] = []


def say_created(ledger: Reads) -> None:
    """Once, on stderr, that this command created ``ledger``, where: its path as typed may
    hold a line break or an escape sequence, shown escaped as an error shows it (a terminal
    acted on it; click dropped an escape sequence from a pipe, naming another file)."""
    if ledger.created:
        say(f"Created a new ledger at {shown(ledger.where)}.", err=True)


def say(message: str, err: bool = False) -> None:
    """A confirmation or progress line ("Sent ...", "Imported ..."): printed unless
    ``--quiet``. Answers the user asked for (tables, JSON) and errors always print."""
    if verbosity() >= 0:
        click.echo(message, err=err)


def read_password(prompt: str) -> str:
    """A password typed at the terminal without echo, or the first line of piped standard input.

    With standard input closed (``<&-`` in a CI job) Python has no ``sys.stdin`` at all: say
    where else a password can come from instead of failing on ``None``."""
    import sys

    from warmup.errors import ConfigError

    if sys.stdin is None:
        raise ConfigError(
            "no standard input to read the password from; pipe it in "
            "('pass show mail/sales | warmup ...'), or set WARMUP_PASSWORD or use "
            "--password-command 'CMD' instead of storing it"
        )
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True))
    # At most MAX_PIPED characters: read whole, '< /dev/zero' never ended, and a file without
    # a line break became the password.
    line = sys.stdin.readline(MAX_PIPED + 1)
    if len(line.rstrip("\r\n")) > MAX_PIPED:
        raise ConfigError(
            f"the password on standard input is longer than {MAX_PIPED:,} characters; pipe "
            f"only the password, on the first line"
        )
    password = line.rstrip("\r\n")
    if not password:  # '< /dev/null', an unset variable echoed: "empty password" said no fix
        raise ConfigError(
            "no password on standard input (its first line is empty); pipe only the password, "
            "on the first line ('pass show mail/sales | warmup ...'), or run the command on a "
            "terminal to type it"
        )
    return password


MAX_PIPED = 65_536  # characters of a piped password: one short line


def read_stdin(limit: int, fix: str, what: str = "the message") -> bytes:
    """Up to ``limit`` bytes of standard input. With it closed (``<&-``, a daemon's or cron's
    child) Python has no ``sys.stdin``: :class:`UsageError` (64, as a file that cannot be opened)
    saying so and ``fix`` (where else the data can come from), not an AttributeError traceback."""
    import sys

    from warmup.errors import UsageError

    if sys.stdin is None:
        raise UsageError(f"standard input: cannot read it (it is closed); {fix}")
    reading_terminal(what)
    return sys.stdin.buffer.read(limit)


# A FILE of data a command reads: '-' is standard input (warmup.files.data_path). Each such
# option takes it, so that 'zcat x.gz | warmup ... -' works wherever 'warmup import -' does.
def quoted_name(name: str) -> str:
    """``name`` (a file name as argv gave it) quoted for an error: as repr() quotes it, but a
    byte that is no UTF-8 (kept by os.fsdecode as a lone surrogate, which repr() wrote as
    '\\udce9') written '\\xe9', as ``ls -b`` shows it and the error printer writes the rest."""
    import re

    return re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", repr(name))


class _DataFile(click.Path):
    """click's Path, saying why a name that is there cannot be read: a symbolic link whose
    target is gone, or a loop of links, was "File 'x' does not exist." while 'ls' lists it.
    A name that is no UTF-8 is quoted by its bytes (:func:`quoted_name`): click's own messages
    put U+FFFD in place of each, naming a file no one has. A file that is not there is said
    as the library says it (:func:`warmup.files.missing_file`, exit 66, no usage hint), with
    or without ``exists``: click's "Invalid value for 'FILE': File 'x' does not exist." was
    another wording of the same fault than 'import' and 'suppress add --from' gave."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import os

        from warmup.errors import MissingFile
        from warmup.files import missing, missing_file

        if value != "-" and isinstance(value, str):
            try:
                os.stat(value)
            except OSError as exc:
                if not missing(exc):  # a loop of links (ENAMETOOLONG: click's, as before)
                    if os.path.islink(value):
                        self.fail(
                            f"{quoted_name(value)} cannot be read ({exc.strerror}); give the "
                            "file itself",
                            param,
                            ctx,
                        )
                else:
                    label = (
                        param_name(ctx.command, param.name)
                        if ctx is not None
                        and isinstance(param, click.Option)
                        and param.name
                        # the config file's key is named before it (its [commands.NAME] key)
                        and ctx.get_parameter_source(param.name) is not DEFAULT_MAP
                        else ""
                    )
                    error = missing_file(value, label, exc)
                    if os.path.islink(value):  # 'ls' lists it: say what it is
                        named = f"{label} {quoted_name(value)}" if label else quoted_name(value)
                        error = MissingFile(
                            f"{named} is a symbolic link to {quoted_name(os.readlink(value))}, "
                            "which does not exist; give the file itself"
                        )
                        error.path = value
                    self._missing(error, param, ctx)
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            clicks = repr(click.format_filename(value)) if isinstance(value, str) else ""
            if not clicks or clicks == quoted_name(value) or clicks not in exc.message:
                raise
            self.fail(exc.message.replace(clicks, quoted_name(value)), param, ctx)

    def _missing(
        self, error: WarmupError, param: click.Parameter | None, ctx: click.Context | None
    ) -> NoReturn:
        """Raise ``error``; as click's bad value where the config file gave the name (its
        ``[commands.NAME]`` key is named then, exit 78: the set-up is wrong, not the typing)."""
        given = None if ctx is None or param is None or not param.name else param.name
        if given and ctx and ctx.get_parameter_source(given) is DEFAULT_MAP:
            self.fail(str(error), param, ctx)
        raise error


DEFAULT_MAP = click.core.ParameterSource.DEFAULT_MAP
DATA_FILE = _DataFile(exists=True, dir_okay=False, allow_dash=True)
# A file a command reads in its own way (its own words for one that cannot be): only one that
# is not there is said here, as for DATA_FILE.
INPUT_FILE = _DataFile(dir_okay=False, allow_dash=True)


class _MessageId(click.ParamType):
    """A queued message's ID (:func:`message_id`) as an argument: 'queue show', 'cancel' and
    'retry' said click's "'x1' is not a valid integer." of what 'queue mark' said is no ID."""

    name = "message ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, int) else message_id(str(value))


def message_id(text: str) -> int:
    """``text`` read as a queued message's ID, as 'queue list' shows it (0-9 digits alone:
    int() also reads '４２', ' 42' and '4_2'), or the usage error every number given says."""
    from warmup.words import whole_number_fault

    if not (text.isascii() and text.isdigit()):
        why = whole_number_fault(text) or "expected a number, as 'warmup queue list' shows"
        ctx = click.get_current_context(silent=True)
        raise click.BadParameter(f"{text!r}: {why}", ctx, param_hint="'ID'")
    return int(text)


MESSAGE_ID = _MessageId()
# A file that must be there, standard input not taken (--attach: a name of its own).
GIVEN_FILE = _DataFile(exists=True, dir_okay=False)


# The names of standard input as a file: `--body-file - --attach /dev/stdin` read it twice, and
# the attachment went out empty.
STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def stdin_once(what: str | None, **given: Sequence[str] | str | None) -> None:
    """Refuse standard input (``-``) named by more than one of ``given`` (option -> its values;
    it holds one stream), and say on stderr when one reads it from the terminal (``what``;
    None: the reading says it, :func:`read_stdin`): the command would otherwise seem to hang."""
    from warmup.errors import UsageError

    named = [
        f"{option} {value}"
        for option, values in given.items()
        for value in ([values] if isinstance(values, str) else values or ())
        if value == "-" or value in STDIN_PATHS
    ]
    if len(named) > 1:
        raise UsageError(
            f"standard input given {len(named)} times ({', '.join(named)}); it can be read "
            f"once: give the others as files"
        )
    if named and what:
        reading_terminal(what)


def not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A callback refusing a value given blank, never taken for the option left out (the
    ``"$VAR"`` of an unset variable): ``record send --message-id ""`` recorded a send keyed on
    its time, and a script's retry recorded it twice; ``send --password-command ""`` used the
    keyring's password; ``send --pool "" --to ...`` sent from ADDRESS, not queued."""
    if value is not None and not value.strip():
        raise click.BadParameter("blank; give the value, or leave the option out")
    return value


def from_config_file(name: str) -> bool:
    """Whether the running command's parameter ``name`` took its value from the config file
    (``[commands.NAME]``): a default, which a flag typed on the command line overrides."""
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT_MAP


def typed_wins(*names: str) -> set[str]:
    """Of the running command's parameters ``names``, given together where they exclude each
    other, those the config file gave when the others were typed: the flag typed wins over the
    file's default, so those are to be dropped. Empty when all or none came from the file
    (the user gave both: the command refuses them, as it did)."""
    filed = {name for name in names if from_config_file(name)}
    return filed if filed and len(filed) < len(names) else set()


def limit_option(order: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--limit N`` of a listing that may be long (1000 by default, 0: all), rows ``order``."""
    return click.option(
        "--limit",
        type=click.IntRange(min=0),
        default=1000,
        show_default=True,
        # More than any ledger holds is all of them: SQL takes no number past 2**63-1 (an
        # OverflowError traceback from 'queue list --limit 2**70').
        callback=lambda ctx, param, value: min(value, SQL_INT_MAX),
        help=f"At most this many, {order} (0: all).",
    )


def reading_terminal(what: str) -> None:
    """Say on stderr that ``what`` is being read from the terminal, when standard input is one:
    a command reading it waited silently, as if it hung ('warmup import -' typed without its
    pipe)."""
    import sys

    if sys.stdin is None or sys.stderr is None or not sys.stdin.isatty():
        return
    try:
        sys.stderr.write(
            f"Reading {what} from the terminal; end it with Ctrl-D (Ctrl-C: cancel).\n"
        )
        sys.stderr.flush()
    except OSError:  # stderr on a full disk: the reading goes on
        pass


def colour(stream: Any = None) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` (https://no-color.org) or
    ``TERM=dumb``."""
    import os
    import sys

    from warmup import config

    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if config.load().get("output.color") is False:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def paint_status(text: str, status: str | None = None) -> str:
    """``text`` in its status's colour (``status`` defaults to the text itself)."""
    fg = STATUS_COLOURS.get(status or text.strip())
    return click.style(text, fg=fg, bold=fg == "red") if fg else text


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], status_column: str | None = None
) -> None:
    """Columns aligned; on a terminal, the ``status_column``'s values in their colours. A cell's
    control characters are shown as escapes (cells hold what bounces and users wrote)."""
    cells = [_cells(row) for row in rows]
    _print_rows(headers, column_widths(headers, [cells]), [cells], status_column)


def stream_table(
    headers: Sequence[str],
    pages: Callable[[], Iterable[Iterable[Sequence[Any]]]],
    columns: Sequence[Iterable[Any]] | None = None,
) -> None:
    """:func:`print_table`'s output, to the byte, for rows too many to hold: ``pages()`` gives
    them a page at a time, and is called twice (the column widths, then the rows), to give the
    same rows both times; memory holds one page. ``columns``: each column's distinct values,
    when the caller has them (a frame's): the widths from those, and ``pages()`` called once."""
    if columns is None:
        widths = column_widths(headers, map(_cells_of, pages()))
    else:
        widths = [
            max([len(h), *(text_width(cell) for cell in _cells(list(c)))])
            for h, c in zip(headers, columns)
        ]
    _print_rows(headers, widths, map(_cells_of, pages()))


def _cells(row: Sequence[Any]) -> list[str]:
    """A row's cells as the table shows them: None as ``-``, control characters as escapes."""
    return [_writable("-" if v is None else shown(str(v))) for v in row]


def _cells_of(page: Iterable[Sequence[Any]]) -> list[list[str]]:
    return [_cells(row) for row in page]


def column_widths(headers: Sequence[str], pages: Iterable[Iterable[Sequence[str]]]) -> list[int]:
    """The width of each column: its header's, or its widest cell's (``pages`` of cells)."""
    widths = [len(h) for h in headers]
    for page in pages:
        for r in page:
            for i, cell in enumerate(r):
                w = text_width(cell)
                if w > widths[i]:
                    widths[i] = w
    return widths


def _print_rows(
    headers: Sequence[str],
    widths: Sequence[int],
    pages: Iterable[Iterable[Sequence[str]]],
    status_column: str | None = None,
) -> None:
    """The header line, then the rows of ``pages`` (cells) padded to ``widths``, a page a write."""
    paint = status_column in headers and colour()
    at = headers.index(status_column) if paint and status_column else -1
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for page in pages:
        lines = []
        for r in page:
            padded = [c + " " * (w - text_width(c)) for c, w in zip(r, widths)]
            if at >= 0:
                padded[at] = paint_status(padded[at], r[at])
            lines.append("  ".join(padded).rstrip() + "\n")
        if lines:
            click.echo("".join(lines), nl=False)


def _writable(text: str) -> str:
    """``text`` as stdout will write it: a character its encoding lacks as its escape (see
    warmup.cli.main), so the columns are aligned on what is shown."""
    if text.isascii():
        return text
    import sys

    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        try:
            return text.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:
            return text
    return text


def text_width(text: str) -> int:
    """How many terminal columns ``text`` takes: two for a wide (CJK) character, none for a
    combining mark. A stage named in Chinese counted one a character pushed every column after
    it out of line."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def percent(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


# -- shell completion (``warmup completion``): candidates from the ledger, never an error ----------


def _ledger_for_completion(ctx: click.Context, lean: bool = False) -> Any:
    """The ledger the command line names (``--db``, else $WARMUP_DB, else the default), if it
    exists and holds the current schema; completion must never create one, upgrade one (a TAB
    wrote a team's ledger, taking its migration lock, for an older warmup's hosts to refuse),
    print, or fail. ``lean``: opened as :func:`open_reads` opens it (mailboxes without
    SQLAlchemy: its import was two thirds of a TAB's second)."""
    import os

    db = None
    c: click.Context | None = ctx
    while c is not None and db is None:
        db = (c.obj or {}).get("db") if isinstance(c.obj, dict) else None
        db = db or c.params.get("db") or c.params.get("db_url")  # a command's --db, the root's
        c = c.parent
    try:
        url = db or os.environ.get("WARMUP_DB") or None
        if lean:
            return open_reads(url, migrate=False)
        ledger = open_ledger(url, create=False, migrate=False)
        if ledger.pending_migrations():
            ledger.close()
            return None
        return ledger
    except Exception:  # a missing, unreadable or older ledger: no candidates
        return None


def _candidates(
    ctx: click.Context,
    incomplete: str,
    names: Callable[[Any], Sequence[str]],
    lean: bool = False,
) -> list[str]:
    ledger = _ledger_for_completion(ctx, lean)  # lean: Reads, pool_names and policy_names
    if ledger is None:
        return []
    try:
        # Pool and policy names keep their case ('Outreach'): "Out" and "out" both offer it
        return [n for n in names(ledger) if n.lower().startswith(incomplete.lower())]
    except Exception:
        return []
    finally:
        ledger.close()


def complete_mailbox(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Mailbox addresses of the ledger that start with what is typed."""
    return _candidates(ctx, incomplete, lambda led: [b.address for b in led.mailboxes()], lean=True)


def complete_pool(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Pool names of the ledger."""
    return _candidates(ctx, incomplete, lambda led: led.pool_names(), lean=True)


def complete_policy(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Preset names and the policies stored in the ledger; else a TOML file's path."""
    from click.shell_completion import CompletionItem

    from warmup.policy.spec import preset_names

    presets = [n for n in preset_names() if n.startswith(incomplete.lower())]
    stored = _candidates(ctx, incomplete, lambda led: led.policy_names(), lean=True)
    return sorted(set(presets) | set(stored)) or [CompletionItem(incomplete, type="file")]


def complete_provider(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Provider preset names (warmup/providers.toml)."""
    from warmup.providers import providers

    return [n for n in providers() if n.startswith(incomplete.lower())]


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt would be (see
    :func:`stops_as_interrupts`); the shell's exit code for it is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stops_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM (a service manager's stop, 'timeout', 'kill') and SIGHUP (the
    terminal or SSH session closed) interrupt as Ctrl-C does: what is under way unwinds (a
    transaction rolled back, a reserved slot settled) and the command says what it left. They
    killed it where it stood: a send stopped before anything left kept its slot ``reserved``,
    then ``unknown``, counted as sent and waiting for a person, without a word. A signal
    ignored (``nohup``) stays so; off the main thread no handler can be set: unchanged."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    before = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            before[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, old in before.items():
            # None: a handler set outside Python; the default is the nearest we can restore
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
