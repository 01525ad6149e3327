"""Errors that carry a sysexits code (see DESIGN.md) and a one-line message for the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class WarmupError(Exception):
    """A user-facing failure: ``str(err)`` names the fault and the fix; ``exit_code`` is sysexits."""

    exit_code = 1

    def _render_traceback_(self) -> list[str]:
        """What IPython and Jupyter show for it (their hook): its one line, as the CLI prints
        it, not a traceback through warmup's frames ending in that line (a notebook given an
        unknown mailbox)."""
        return [f"Error: {self}"]


class UsageError(WarmupError):
    exit_code = 64  # EX_USAGE


class DataError(WarmupError):
    exit_code = 65  # EX_DATAERR


class Unavailable(WarmupError):
    exit_code = 69  # EX_UNAVAILABLE


class TempFail(WarmupError):
    exit_code = 75  # EX_TEMPFAIL


class ConnectionCut(Unavailable):
    """The ledger's server cut a connection warmup was using (an administrator's
    pg_terminate_backend, a pooler's restart, a fail-over) and takes new ones: the ledger was
    away for a moment, and trying again helps (75). Still :class:`Unavailable` for whatever
    waits for a ledger that is away (``warmup run``, the gate's held settlements)."""

    exit_code = 75  # EX_TEMPFAIL


class LedgerBusy(TempFail):
    """The ledger's server answered but could not serve now: a statement it timed out, no
    connection slot left. A retry may pass (75), as when the server is away (69)."""


class PermissionFailure(WarmupError):
    exit_code = 77  # EX_NOPERM


class ConfigError(WarmupError):
    exit_code = 78  # EX_CONFIG


class NewerLedger(ConfigError):
    """A ledger a newer warmup upgraded: a migration this version does not know is recorded in
    it. This version would read and write a schema it does not know (78, upgrade warmup)."""


class ReadOnlyLedger(ConfigError):
    """A ledger this process may read but not write here (a read-only mount, a folder it may
    not write, a read-only PostgreSQL session or server): ``why`` says why, ``fix`` what lets
    it write, each a phrase for another message (an upgrade's, which no read can do without)."""

    def __init__(self, message: str, why: str, fix: str) -> None:
        super().__init__(message)
        self.why = why
        self.fix = fix


class NotFound(UsageError):
    """A name the caller gave (a mailbox, pool or policy, an IMAP folder) that names nothing
    (exit 64, as an unknown provider or time zone is): the command was used with a wrong name.
    What the stored set-up names and cannot be found (a mailbox's policy unknown here) is a
    :class:`ConfigError` (78) instead."""


class MissingFile(NotFound):
    """A file given to read that is not there (or whose symbolic link points nowhere): exit 66,
    sysexits' EX_NOINPUT, as for a ledger that is not there (:class:`NoLedger`); every command
    says it in one line (:func:`warmup.files.missing_file`). Still a :class:`NotFound` (a name
    that names nothing) for the code that treats both alike."""

    exit_code = 66  # EX_NOINPUT
    path = ""  # the file as it was given


class WrongType(UsageError, TypeError):
    """A value of the wrong Python type given to the library (a str where a datetime is
    wanted, an int for an address): said at once, naming the parameter, rather than as an
    AttributeError deep inside. A :class:`TypeError` too, as Python's own are; the CLI never
    gives one (64 if it did)."""


def expect(value: Any, kind: type | tuple[type, ...], field: str, hint: str = "") -> Any:
    """``value`` if it is a ``kind`` (a bool is no int here), else :class:`WrongType`:
    ``not_before: expected a datetime.datetime, got str '2026-01-01'`` (then ``hint``)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    if _like(value, kinds):
        return value
    names = " or ".join(
        _article(f"{k.__module__ + '.' if k.__module__ != 'builtins' else ''}{k.__qualname__}")
        for k in kinds
    )
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise WrongType(f"{field}: expected {names}, got {type(value).__name__} {shown}{hint}")


def _like(value: Any, kinds: tuple[type, ...]) -> bool:
    """Whether ``value`` is a number or a truth value of another library's, as good as an
    ``int``, ``float`` or ``bool`` of Python's: ``numpy.int64(3)`` (a pandas column's, a
    ``range`` of numpy's), ``numpy.float32``, ``numpy.True_``, each taken before these checks;
    a :class:`fractions.Fraction` or :class:`decimal.Decimal` where a float is."""
    import decimal
    import numbers

    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool in kinds  # numpy's bool is no Integral: never an int here, as bool is not
    if isinstance(value, bool):
        return False
    return (int in kinds and isinstance(value, numbers.Integral)) or (
        # Decimal is a real number that Python does not register as numbers.Real (its
        # arithmetic with floats raises): taken where a float is, the caller converts it
        float in kinds and isinstance(value, numbers.Real | decimal.Decimal)
    )


def _article(name: str) -> str:
    """``a str``, ``an int``: a type's name as a message says it."""
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


class NoLedger(ConfigError):
    """The ledger named does not exist yet, and the command would not create one: exit 66
    (EX_NOINPUT, as for any input file that is not there), not 78: the set-up may be right and
    the path mistyped. Still a :class:`ConfigError` for the code that treats both alike."""

    exit_code = 66  # EX_NOINPUT


class LedgerVanished(NoLedger):
    """The SQLite ledger file was removed (or renamed) while a command had it open: what was
    written after that went with the removed file, and it is not made again (an empty new file
    "lacked part of warmup's schema", 78). Exit 66, as for a ledger that is not there."""


class OutputFailure(WarmupError):
    exit_code = 74  # EX_IOERR: the output itself could not be written (a full disk)


class IOFailure(WarmupError):
    """A file warmup reads or writes failed under it: the ledger's disk full or failing, an
    input that cannot be read to its end (EX_IOERR, 74). Not a set-up to fix (78): the path
    and the permissions were fine."""

    exit_code = 74


class FieldError(WarmupError):
    """A bad value of a named input field (``at``, ``cap``, ``smtp_security``, ...).

    ``template`` is a :meth:`str.format` string: ``{field}`` stands for the field at fault, a
    placeholder named in ``refs`` for another field it mentions (``refs={"host": "smtp_host"}``),
    any other placeholder for one of ``values``. ``str(err)`` calls fields by their library names
    (``smtp_security``); a front end calls :meth:`render` with its own names for them (the CLI
    prints ``--smtp-security``). Values are never read as placeholders, so user input with braces
    in it is printed as given.
    """

    def __init__(
        self, field: str, template: str, *, refs: dict[str, str] | None = None, **values: Any
    ) -> None:
        self.field = field
        self.template = template
        self.refs = {"field": field, **(refs or {})}
        self.values = values
        super().__init__(self.render())

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*args)``; this one needs its template and values back.
        return _rebuild, (type(self), self.field, self.template, self.refs, self.values)

    def render(self, name: Callable[[str], str] = str) -> str:
        """The message, with each field called ``name(field)``."""
        return self.template.format(**{k: name(f) for k, f in self.refs.items()}, **self.values)


def _rebuild(
    cls: type[FieldError], field: str, template: str, refs: dict[str, str], values: dict[str, Any]
) -> FieldError:
    return cls(field, template, refs=refs, **values)


class InvalidField(FieldError, UsageError):
    """A field given in a form the library cannot read (exit 64)."""


class NaiveInstant(InvalidField, ValueError):
    """A datetime without a UTC offset given to the library (``now``, ``at``): said at the
    API's edge, naming the parameter, rather than as Python's "can't compare offset-naive and
    offset-aware datetimes" from deep inside. A :class:`ValueError` too (the type is right,
    the value is not); exit 64 if a front end let one through."""


class InvalidFieldData(FieldError, DataError):
    """A field read fine whose value is out of bounds or inconsistent (exit 65)."""


class UnwritableField(FieldError, OutputFailure):
    """A file a field names (a plot's path) that could not be written: a full disk, a device
    error (exit 74)."""


# What a ledger that fails under a command raises (a full or failing disk, a server gone or
# timing out, a file or role that may not be written): a command that did something first
# says so with it (:func:`restated`).
LEDGER_FAULTS = (Unavailable, TempFail, IOFailure, ConfigError, PermissionFailure)


def restated(exc: WarmupError, text: str) -> WarmupError:
    """The ledger fault ``exc`` (one of :data:`LEDGER_FAULTS`) said as ``text``: its kind, and
    so its exit code, kept."""
    return type(exc)(text)
