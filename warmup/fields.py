"""Checks of what users give warmup, shared by the commands that record (``record send``,
``record bounce``, ``import``) and those that set a mailbox up: a time zone, a Message-ID, free
text bound for the ledger, a bounce's enhanced status against its kind, a send before a
mailbox's start, a file that cannot be read. Each refuses with an error naming the field
(:class:`~warmup.errors.InvalidField`), which the CLI words with its flag."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from warmup.errors import (
    ConfigError,
    DataError,
    InvalidField,
    InvalidFieldData,
    NotFound,
    WarmupError,
)
from warmup.files import missing, missing_file, names_nothing
from warmup.instants import machine_zone as _local_zone
from warmup.lazyre import compiled_later
from warmup.ledger.values import local_day

# Names the system's zone folder holds that are no IANA zone: this host's own zone
# (/etc/localtime: another host reading the ledger would count other days), the rules file,
# and copies of the zones under other names. The tzdata package, where Python looks zones up on
# a host without that folder, has none of them: the ledger would name a zone it cannot load.
_ZONE_FILES = ("localtime", "posixrules")
_ZONE_COPIES = ("posix/", "right/")
# tzdata's zone for "no zone set" (UTC, its days shown as '-00'): a mailbox's days would be
# UTC's while the person meant another zone
_PLACEHOLDER = "Factory"


def check_timezone(tz: str, field: str = "timezone") -> str:
    """``tz`` if it is an IANA time zone name."""
    import pendulum  # here: the commands that check none (quota, send) never load it

    try:
        if tz in _ZONE_FILES or tz == _PLACEHOLDER or tz.startswith(_ZONE_COPIES):
            raise ValueError(tz)
        pendulum.timezone(tz)
        # pendulum takes 'utc' and 'Utc' for UTC; the ledger's zoneinfo does not, and
        # 'mailbox set --timezone utc' was a ZoneInfoNotFoundError traceback
        zoneinfo.ZoneInfo(tz)
    except Exception:
        hint = "use an IANA name like Asia/Shanghai"
        close = _zone_like(tz)
        if tz in _ZONE_FILES:
            hint = "name the zone itself"
            try:  # a $TZ naming none is no reason to hide what is wrong with this one
                hint += f" (this machine's zone is {_local_zone()})"
            except ConfigError:
                pass
        elif tz == _PLACEHOLDER:
            hint = "it is tzdata's stand-in for a zone not set; name the mailbox's own zone " + (
                "(an IANA name like Asia/Shanghai, or Etc/UTC for UTC)"
            )
        elif close:
            hint = f"did you mean {close}? (an IANA name is written exactly so)"
        elif offset := _offset_hint(tz):
            hint = offset
        raise InvalidField(field, "{field}: unknown time zone {tz!r}; " + hint, tz=tz) from None
    return tz


# An offset typed for a zone ('GMT+8', 'UTC-05:00'), and the IANA zones of a whole-hour offset,
# whose sign is POSIX's: Etc/GMT+8 is 8 hours *behind* UTC, though it reads as China's UTC+8.
_OFFSET = compiled_later(r"(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
_ETC_GMT = compiled_later(r"Etc/GMT([+-])(\d{1,2})")
_CITY = "your city's zone (an IANA name like Asia/Shanghai)"


def _offset_hint(tz: str) -> str | None:
    """What to write for an offset given as a zone: the Etc/GMT zone with its sign reversed
    (a whole hour), else a city's zone."""
    m = _OFFSET.fullmatch(tz.strip())
    if m is None:
        return None
    sign, hours, minutes = m[1], int(m[2]), int(m[3] or 0)
    if hours > 14 or minutes > 59:
        return None
    offset = f"UTC{sign}{hours:02}:{minutes:02}"
    if minutes or hours > (14 if sign == "+" else 12):
        return f"for {offset} write the zone of a city there (an IANA name like Asia/Shanghai)"
    etc = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return f"for {offset} write {etc} (the IANA Etc/GMT zones count the sign backwards), or {_CITY}"


def zone_note(tz: str) -> str | None:
    """A note for a zone taken whose name says the opposite of what it is: ``Etc/GMT+8``, given
    for China's UTC+8, is UTC-08:00 (days begin 16 hours late). None for any other zone."""
    m = _ETC_GMT.fullmatch(tz)
    if m is None or int(m[2]) == 0:
        return None
    hours, meant = int(m[2]), "-" if m[1] == "+" else "+"
    said = f"{tz} is UTC{meant}{hours:02}:00 (the IANA Etc/GMT zones count the sign backwards)"
    if meant == "+" and hours > 12:  # Etc/GMT-14 is UTC+14; no zone is 14 hours behind
        return said
    return f"{said}; for UTC{m[1]}{hours:02}:00 write Etc/GMT{meant}{hours}, or better {_CITY}"


def _zone_like(tz: str) -> str | None:
    """The IANA zone ``tz`` names in other letter case or with spaces for underscores
    (``asia/shanghai``, ``America/New York``), if one."""
    import zoneinfo

    want = tz.strip().replace(" ", "_").lower()
    for copy in _ZONE_COPIES:
        want = want.removeprefix(copy)
    zones = sorted(zoneinfo.available_timezones().difference(_ZONE_FILES))
    return next((z for z in zones if z.lower() == want), None)


def unreadable(path: object, exc: OSError) -> WarmupError:
    """A file given to read that could not be: one that is not there is
    :func:`~warmup.files.missing_file` (exit 66, as a missing ``--template`` is); one whose
    name is too long for the system a name that names nothing (64); any other failure bad
    input (65)."""
    if missing(exc):
        return missing_file(str(path), exc=exc)
    why = f"{path}: cannot read it ({exc.strerror or exc})"
    return NotFound(why) if names_nothing(exc) else DataError(why)


# Bounds of free text kept in the ledger (a Message-ID line may be 998 octets, RFC 5322).
REASON_LIMIT, MESSAGE_ID_LIMIT, STATUS_LIMIT = 500, 998, 32
# An enhanced status code (RFC 3463): class 2, 4 or 5, then a subject and a detail of 1-3 digits.
ENHANCED_STATUS = compiled_later(r"[245]\.\d{1,3}\.\d{1,3}")


def contradicted(kind: str, status: str) -> str | None:
    """What the enhanced ``status`` of a bounce of ``kind`` is, when it says that bounce cannot
    be (``{kind}`` names the kind's field), as ``record bounce`` and ``import`` refuse it; None
    when they agree. A 4.x.x is a retried failure: recorded hard, a full mailbox (4.2.2) or a
    policy (4.7.1) suppressed a good address. Only the address's own verdicts, 4.1.1 (unknown)
    and 4.1.6 (moved), may be hard: the last reply of a delivery given up on, as the classifier
    reads a report. A 2.x.x says the message was delivered: no bounce at all."""
    if status[0] == "2":
        return "a success (class 2): the message was delivered, there is no bounce to record"
    if status[0] == "4" and kind == "hard" and status[1:] not in (".1.1", ".1.6"):
        return (
            "a temporary failure (class 4) that says nothing against the address (only "
            "4.1.1, unknown, or 4.1.6, moved, in a report of a delivery given up on, is "
            "hard): record it as {kind} soft (or block)"
        )
    return None


def message_id_field(value: str, field: str = "message_id") -> str:
    """A Message-ID given as text (``--message-id``, an imported row's), as :func:`text_field`
    keeps it, at most :data:`MESSAGE_ID_LIMIT` octets in UTF-8: a header line's bound is in
    octets, and a PostgreSQL index takes about 2,700 of them. Counted in characters, 950 of a
    CJK Message-ID (2,850 octets) passed the check, and PostgreSQL refused the row when it was
    written: exit 69 after an import's earlier batches had been committed.

    Angle brackets with nothing inside (``<>``, how some logs write a message without one) are
    no Message-ID: "" (a send keyed on its time). Kept, every message to one recipient written
    so was one send, the second and later "already recorded": a history undercounted.

    Spelled as the gate and the bounce matcher spell one (``<id>``, or bare as logs write it,
    which the matcher takes too): a leading byte-order mark (U+FEFF), doubled angle brackets and
    white space inside them dropped (``<<a@b>>``, ``< a@b >``: ``<a@b>``). What is
    not one Message-ID, white space or an angle bracket inside (``a b@c``, ``<a@b> <c@d>``,
    ``<a@b``), is refused: kept as given, it was matched by no bounce naming the real one."""
    value = text_field(value, field, MESSAGE_ID_LIMIT).lstrip("\ufeff").strip()
    inner = value
    while len(inner) >= 2 and inner[0] == "<" and inner[-1] == ">":
        inner = inner[1:-1].strip()
    if not inner:
        return ""
    if any(c.isspace() or c in "<>" for c in inner):
        raise InvalidFieldData(
            field,
            "{field}: {value!r} is not one Message-ID (white space or an angle bracket inside "
            "it); give one, as <id@host> or id@host",
            value=clip(value),
        )
    value = inner if inner == value else f"<{inner}>"
    octets = len(value.encode("utf-8", "surrogatepass"))
    if octets > MESSAGE_ID_LIMIT:
        raise InvalidFieldData(
            field,
            "{field}: {n} octets in UTF-8; at most {limit} are kept (a header line's length)",
            n=octets,
            limit=MESSAGE_ID_LIMIT,
        )
    return value


def text_field(value: str, field: str, limit: int) -> str:
    """``value`` stripped, if it is at most ``limit`` characters with no control characters.

    Control characters (NUL, CR, LF, ...) in the ledger would break its one-line listings and
    any header they are copied into.
    """
    value = value.strip()
    if _PLAIN_TEXT.fullmatch(value) is None:  # most values pass: one scan in C, no generator
        undecoded = next((c for c in value if "\udc80" <= c <= "\udcff"), None)
        if undecoded is not None:  # a byte of argv that is not UTF-8 (Python's surrogateescape)
            raise InvalidFieldData(
                field,
                "{field}: {value!r} is not UTF-8 text (byte 0x{byte:02x}); give it in UTF-8 (a GBK "
                "terminal or script: convert it, e.g. with iconv -f GBK -t UTF-8)",
                value=clip(value),
                byte=ord(undecoded) - 0xDC00,
            )
        # U+2028/U+2029 end a line too, for Python's email headers (str.splitlines) and for viewers.
        bad = next(
            (c for c in value if ord(c) < 32 or 127 <= ord(c) < 160 or c in _SEPARATORS), None
        )
        if bad is not None:
            raise InvalidFieldData(
                field,
                "{field}: {value!r} contains the control character {char}; give plain text on one line",
                value=clip(value),
                char=f"U+{ord(bad):04X}",
            )
    if len(value) > limit:
        raise InvalidFieldData(
            field, "{field}: {n} characters; at most {limit} are kept", n=len(value), limit=limit
        )
    return value


_SEPARATORS = "\u2028\u2029"
# Text with none of what text_field refuses (the characters its two scans look for).
_PLAIN_TEXT = compiled_later("[^\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]*")


def clip(value: str, n: int = 60) -> str:
    return value if len(value) <= n else value[:n] + "..."


def before_start(
    address: str, started: dt.date | None, tz: str, at: dt.datetime, now: dt.datetime
) -> str | None:
    """Why a send at ``at`` cannot be recorded for a mailbox whose start day is still ahead
    (``mailbox add --started`` a future day), or None. Such a mailbox is closed until that day
    (the policy gives it quota 0), so a send dated before it contradicts the plan: likely the
    wrong mailbox or a mistyped start. A start day already reached is a re-bound mailbox's fresh
    start, and sends before it are its old history: kept, as before."""
    if started is None or started <= local_day(now, tz):
        return None
    day = local_day(at, tz)
    if day >= started:
        return None
    return (
        f"mailbox {address!r} does not start until {started} (closed until then): "
        f"a send on {day} cannot be recorded for it"
    )
