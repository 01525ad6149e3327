"""The instants and dates warmup accepts from its users, with their bounds in one place.

Every instant or date a user types or imports lies in ``[EARLIEST, LATEST)``: outside it a date
is a typo (year 1, 9999), and the policy's calendar arithmetic around it would overflow.
A record of something that happened (a send, a bounce, a pause) may in addition lie at most
``FUTURE_SLACK`` ahead of this machine's clock, the allowance for a sender's clock that runs a
little fast: a send dated next year would otherwise pace the mailbox until then.

An instant that cannot be read is a usage error (exit 64); one read fine but out of bounds is
bad data (exit 65). Both name the field (``at``, ``started``, ...), never a CLI flag.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Iterable
from typing import NamedTuple
from zoneinfo import ZoneInfo

from warmup.errors import ConfigError, InvalidField, InvalidFieldData, NaiveInstant, expect
from warmup.lazyre import compiled_later
from warmup.words import digits_fault

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(minutes=5)

_RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC"
# The UTC offsets places use (Baker Island, Kiribati's Line Islands). ISO 8601 and Python read
# any below 24 hours: '+18:00' typed for '+08:00' was ten hours off, without a word.
LOWEST_OFFSET = dt.timedelta(hours=-12)
HIGHEST_OFFSET = dt.timedelta(hours=14)
# A time's written UTC offset at the end of a text: +08:00, +0800, +08, -05:30.
_OFFSET_TEXT = compiled_later(r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*([+-])(\d\d):?(\d\d)?\s*$")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_instant(
    text: str, field: str = "at", tz: str | None = None, *, as_edge: bool = True
) -> dt.datetime:
    """An ISO 8601 instant as aware UTC. A time without a UTC offset is local time in ``tz``
    (default UTC), a date alone its local midnight; ``as_edge``: see :func:`read_instant`.

    Refused unless it lies in ``[EARLIEST, LATEST)``.
    """
    return read_instant(text, (tz or "UTC",), field, as_edge=as_edge).at


class Reading(NamedTuple):
    """An instant a user typed, read: ``at`` (aware UTC); ``zone``, the zone a time without an
    offset was read in (None: it had one); ``machine``, whether that zone is this machine's
    for want of a single mailbox zone."""

    at: dt.datetime
    zone: str | None = None
    machine: bool = False
    # how the local time typed was read where the clocks skip or repeat it ("" elsewhere)
    wall: str = ""


def read_instant(
    text: str,
    zones: Iterable[str] = (),
    field: str = "at",
    *,
    as_edge: bool = True,
    ahead: bool = False,
    now: dt.datetime | None = None,
) -> Reading:
    """Read ``text`` as a user means it: with a UTC offset (``+08:00``, ``Z``) as given; without
    one, in the mailboxes' local time — the one zone of ``zones`` (the mailboxes in scope), else,
    with none or several, this machine's zone (:func:`machine_zone`). A date alone is local
    midnight; a time alone (``09:00``) is that time of the local today. A local time the clocks
    skip or repeat is read as a window's edge is (:func:`wall_instant`: the jump, or the first
    of two); with ``as_edge`` False as earlier versions read it (shifted by the gap, or the
    second of two): an import's, so that a log imported before reads the same again.
    ``ahead``: a time alone already past today is tomorrow's (as at(1) reads one): a time
    something waits for, such as ``queue add --not-before 09:00`` typed in the evening.
    ``now``: the instant "today" and "past" are of (default: this machine's clock).

    Refused unless it lies in ``[EARLIEST, LATEST)``: an unreadable text is
    :class:`InvalidField` (exit 64), an instant out of bounds :class:`InvalidFieldData` (65).
    """
    if len(text) >= 19 and text[10:11] in ("T", " "):
        # The common case, a full time with its UTC offset (every row of a log export), read
        # by the standard library: ten times cheaper than pendulum's parser, same instant.
        try:
            fast = dt.datetime.fromisoformat(text)
        except ValueError:
            fast = None
        if fast is not None and real_offset(fast.utcoffset()):
            try:
                return Reading(check_query(fast.astimezone(dt.UTC), field, text))
            except OverflowError:
                raise out_of_range(field, text) from None
    _refuse_other_digits(text, field)
    _refuse_unreal_offset(text, field)
    if _DAY_MONTH.match(text):
        # pendulum's lenient parser reads 3/11/2026 as March 11: a European's 3 November
        # would land silently on another day (Y/M/D, 2026/11/3, is Excel's Chinese default).
        raise InvalidField(
            field,
            "{field}: {text!r} could be day/month or month/day; write the year first "
            "(2026-11-03, 2026/11/3)",
            text=text,
        )
    if _BARE_NUMBER.fullmatch(text):
        n, month = int(text), now_utc().strftime("%Y-%m")
        # suggested only as what it can be: 45 is no hour nor day, 27 no hour, 0 no day
        an_hour, a_day = n <= 23, 1 <= n <= 31
        raise InvalidField(
            field,
            "{field}: {text!r} could be a day of the month or an hour; write the time "
            "({n:02d}:00) or the date ({month}-{n:02d})"
            if an_hour and a_day
            else "{field}: {text!r} is not a date or time; write the date ({month}-{n:02d}), "
            "or a time (09:00)"
            if a_day
            else "{field}: {text!r} is not a date or time; write the time ({n:02d}:00), or a "
            "date (2026-11-29)"
            if an_hour
            else "{field}: {text!r} is not a date or time; write a time (09:00) or a date "
            "(2026-11-29)",
            text=text,
            n=n,
            month=month,
        )
    if wrong := _wrong_clock(field, text):
        raise wrong
    import pendulum  # here: the commands that read no such text (quota, send) never load it

    distinct = set(zones)
    zone, machine, wall = None, False, ""
    try:
        try:
            value = pendulum.parse(text, tz=None, strict=True)
        except pendulum.parsing.exceptions.ParserError:  # not ISO 8601: dateutil's reading
            _refuse_a_guess(text, field, whole_date=not _TIME_ALONE.fullmatch(text))
            value = pendulum.parse(text, tz=None, strict=False)
        if not isinstance(value, pendulum.DateTime) and isinstance(value, pendulum.Date):
            value = pendulum.datetime(value.year, value.month, value.day, tz=None)
        if isinstance(value, pendulum.DateTime) and value.tzinfo is None:
            machine = len(distinct) != 1
            zone = machine_zone() if machine else next(iter(distinct))
            if _TIME_ALONE.fullmatch(text):
                # pendulum dates a time alone on this machine's today; the mailbox's may differ
                local = pendulum.instance(now or now_utc()).in_timezone(zone)
                day = local.date()
                if ahead and value.time() < local.time().replace(tzinfo=None):
                    day = day.add(days=1)
                value = value.replace(year=day.year, month=day.month, day=day.day)
            if as_edge:  # a time the clocks skip is the jump, a repeated one the first
                # the mailbox's stored zone as the ledger reads it: 'utc' is UTC, an unknown
                # one a line saying what to set (78), not zoneinfo's traceback
                tz = _stored_zone(zone)
                at = wall_instant(value.date(), value.time(), tz)
                wall = _wall_note(value.date(), value.time(), tz, at)
                value = pendulum.instance(at)
            else:
                value = pendulum.datetime(*value.timetuple()[:6], value.microsecond, tz=zone)
        if isinstance(value, pendulum.DateTime):
            if zone is None and not real_offset(value.utcoffset()):  # one _OFFSET_TEXT missed
                raise InvalidField(
                    field,
                    "{field}: {text!r} has a UTC offset no place uses: expected one from -12:00 "
                    "to +14:00 (e.g. +08:00)",
                    text=text,
                )
            value = value.in_timezone("UTC")
    except OverflowError:
        raise _unix_time(field, text) or out_of_range(field, text) from None
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
        # pendulum's ValueError also covers impossible offsets (+99:00) and days (11-31).
        raise (
            _unix_time(field, text)
            or _no_such_day(field, text)
            or InvalidField(
                field,
                "{field}: {text!r} is not an ISO 8601 date or time (e.g. 2026-11-29T09:30:00+08:00)",
                text=text,
            )
        ) from None
    if not isinstance(value, pendulum.DateTime):
        raise InvalidField(field, "{field}: {text!r} is not a date or time", text=text)
    return Reading(check_query(value, field, text, local=zone is not None), zone, machine, wall)


def _wall_note(day: dt.date, time: dt.time, tz: dt.tzinfo, at: dt.datetime) -> str:
    """How :func:`wall_instant` read a local time the clocks skip or repeat, in words; ""
    for one they read once."""
    local = at.astimezone(tz)
    if local.replace(tzinfo=None) != dt.datetime.combine(day, time):
        return f"does not exist that day (the clocks jump forward): read as {local:%H:%M %Z}"
    first = dt.datetime.combine(day, time, tz)
    if first.utcoffset() != first.replace(fold=1).utcoffset():
        return f"happens twice that day (the clocks go back): read as the first, {local:%H:%M %Z}"
    return ""


# A duration typed on the command line (--expires, --sync-every, --timeout, a pause's span):
# units from weeks to seconds, 0-9 only (re's \d took '٣d' for three days).
_DURATION = compiled_later(r"(?:[0-9]+(?:\.[0-9]+)?[wdhms])+")
_DURATION_PART = compiled_later(r"([0-9]+(?:\.[0-9]+)?)([wdhms])")
_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_BLANKS = compiled_later(r"\s+")


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration like ``72h``, ``3d``, ``90m``, ``45s``, ``1d12h`` or ``2w`` (a
    float: ``99999999999d`` is past what a timedelta holds, so compare before converting), or
    None when ``text`` is no such duration."""
    raw = _BLANKS.sub("", text).lower()  # "1d 12h", "3 d" as a pause's span always took
    if not _DURATION.fullmatch(raw):
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(raw))


def read_until(text: str, tz: str, now: dt.datetime, field: str = "until") -> dt.datetime:
    """The end of a pause a user typed: :func:`until_reading`'s instant."""
    return until_reading(text, tz, now, field).at


def until_reading(text: str, tz: str, now: dt.datetime, field: str = "until") -> Reading:
    """The end of a pause a user typed: a span ahead of ``now`` (``3d``, ``12h``, ``1d12h``,
    ``90m``, ``30s``, ``2w``: :func:`duration_seconds`) or an instant as :func:`read_instant`
    reads it in zone ``tz`` (a date alone is its local midnight; a time alone already past today
    is tomorrow's, as ``queue add --not-before`` reads one), as a :class:`Reading` (its ``wall``
    says how a local time the clocks skip or repeat was read). Anything unreadable is :class:`InvalidField` (exit 64); one read
    fine whose end is not after ``now`` or not before 2100 is :class:`InvalidFieldData` (65),
    as every instant out of bounds is (``--at``'s)."""
    _refuse_other_digits(text, field)
    seconds = duration_seconds(text)  # one reading of spans: "30s" was no span here
    if seconds is not None:
        try:
            got = Reading(now + dt.timedelta(seconds=seconds))
        except OverflowError:
            got = Reading(LATEST)
    else:
        try:
            got = read_instant(text, (tz,), field, ahead=True, now=now)
        except InvalidField as exc:
            if "ISO 8601" not in exc.template:  # day/month, Unix time: said precisely
                raise
            raise InvalidField(
                field,
                "{field}: {text!r} is neither a span (3d, 12h, 90m, 30s, 1w) nor an ISO 8601 date "
                "or time (e.g. 2026-11-29 or 2026-11-29T09:30:00+08:00)",
                text=text,
            ) from None
    end = got.at
    if end <= now:
        raise InvalidFieldData(
            field,
            "{field}: {text!r} is not in the future (now is {now}); give a later time, or a "
            "span such as 3d or 12h",
            text=text,
            now=local_text(now, tz),
        )
    if end >= LATEST:
        raise InvalidFieldData(
            field, "{field}: {text!r} is after {latest}", text=text, latest=f"{LATEST:%Y-%m-%d}"
        )
    return got


# Seconds or milliseconds since 1970, as scripts log them: only where nothing else read the
# text (twelve digits are also ISO 8601's basic 202609300900).
_UNIX_TIME = compiled_later(r"\s*\d{9,13}(\.\d+)?\s*")


def real_offset(offset: dt.timedelta | None) -> bool:
    """Whether ``offset`` is a UTC offset some place uses (-12:00 to +14:00)."""
    return offset is not None and LOWEST_OFFSET <= offset <= HIGHEST_OFFSET


def _refuse_unreal_offset(text: str, field: str) -> None:
    """:class:`InvalidField` for a written UTC offset beyond -12:00 to +14:00: '+23:59' is
    valid ISO 8601 but no place's (a typo, as '+80:00', which was "not ISO 8601" alone)."""
    m = _OFFSET_TEXT.search(text)
    if m is None:
        return
    sign, hours, minutes = m.groups()
    offset = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
    if not real_offset(-offset if sign == "-" else offset):
        raise InvalidField(
            field,
            "{field}: {text!r} has a UTC offset of {offset}, which no place uses: expected one "
            "from -12:00 to +14:00 (e.g. +08:00)",
            text=text,
            offset=f"{sign}{hours}:{minutes or '00'}",
        )


def _refuse_other_digits(text: str, field: str) -> None:
    """:class:`InvalidField` for digits other than 0-9: pendulum's parser and re's ``\\d`` read
    '٢٠٢٦-١٢-٠١' as 2026-12-01, and a span '٣d' as three days."""
    fault = digits_fault(text)
    if fault:
        raise InvalidField(field, "{field}: {text!r}: {fault}", text=text, fault=fault)


def _unix_time(field: str, text: str) -> InvalidField | None:
    if not _UNIX_TIME.fullmatch(text):
        return None
    return InvalidField(
        field,
        "{field}: {text!r} looks like a Unix time (seconds or milliseconds since 1970); write "
        "it as ISO 8601 (e.g. 2026-11-29T09:30:00+08:00)",
        text=text,
    )


# 09:00, 9:00:30.5, T09:00, 9am, 9:30 p.m.: a time of day, on the mailboxes' day
_TIME_ALONE = compiled_later(
    r"\s*T?(\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\.?)\s*",
    re.IGNORECASE,
)
_BARE_NUMBER = compiled_later(r"\s*\d{1,2}\s*")  # 9: the 9th (pendulum's reading) or 09:00?

# A time of day alone, its parts apart, hours and minutes as typed (pendulum reads 13pm as
# 13:00, 0am as 00:00, 0pm as 12:00); a signed number, which it reads as some day of its own.
_CLOCK_PARTS = compiled_later(
    r"\s*T?(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?(?:\s*([ap])\.?m\.?)?\s*", re.IGNORECASE
)
_SIGNED_NUMBER = compiled_later(r"\s*[-+]\d+\s*")


def _wrong_clock(field: str, text: str) -> InvalidField | None:
    """Why ``text``, written as a time of day, is none (an hour past 12 with am/pm, 0am, minute
    60, 24:00), with the forms that are; None when it is one, or is not written as one."""
    if _SIGNED_NUMBER.fullmatch(text):
        return InvalidField(
            field,
            "{field}: {text!r} is not a date or time; write a time (09:00) or a date (2026-11-29)",
            text=text,
        )
    m = _CLOCK_PARTS.fullmatch(text)
    if m is None or (m[2] is None and m[4] is None):  # a bare number: _BARE_NUMBER's
        return None
    hour, minute, second, half = int(m[1]), m[2], m[3], m[4]
    why = (
        "an hour with am or pm is 1 to 12"
        if half and not 1 <= hour <= 12
        else "an hour is 00 to 23, midnight 00:00"
        if hour > 23
        else "minutes take two digits, 00 to 59"
        if minute is not None and (len(minute) != 2 or int(minute) > 59)
        else "seconds take two digits, 00 to 59"
        if second is not None and (len(second) != 2 or int(second) > 59)
        else None
    )
    if why is None:
        return None
    return InvalidField(
        field,
        "{field}: {text!r} is not a time of day ({why}); write 00:00 to 23:59 (21:30) or 1 to 12 "
        "with am or pm (9:30pm)",
        text=text,
        why=why,
    )


_DAY_MONTH = compiled_later(r"\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")  # 3/11/2026, 11.3.26
_YEAR_FIRST = compiled_later(r"\s*(\d{4})([/-])(\d{1,2})\2(\d{1,2})(?![0-9])")  # 2026-02-30
_FULL_YEAR = compiled_later(r"(?<![0-9])[0-9]{4}(?![0-9])")
_SIGNED_ZONE = compiled_later(r"(?:UTC|GMT)\s*[+-]\s*[0-9]{1,2}(?::?[0-9]{2})?", re.IGNORECASE)
# What dateutil reads past without a word. A second time, year or UTC offset overwrites the
# first ('2026-12-01 09:00 09:30' was 09:30, '2026-12-01 2026-12-05' 20:26 at UTC-05:00, and
# '...T09:00:00Z+08:00' UTC-08:00, the Z a zone name and the sign read as POSIX writes it); a
# sign or separator with nothing to separate is skipped ('-2026-12-01', '2026--12-01',
# '2026-12-01,,,' were that day). A clock time is not one written after a sign or a colon
# (an offset, a clock's seconds); a year not four digits after a sign (+0800).
_STRAY_MARKS = compiled_later(r"^\s*[^\w\s]|[^\w\s.]\s*$|[^\w\s]{2,}")
_CLOCK_TIME = compiled_later(
    r"(?<![0-9:+-])[0-9]{1,2}:[0-9]{2}|(?<![0-9:+-])[0-9]{1,2}\s*[ap]\.?m", re.IGNORECASE
)
_YEAR_WRITTEN = compiled_later(r"(?<![0-9+-])[0-9]{4}(?![0-9])")
_ZONE_WRITTEN = compiled_later(
    r"(?<![a-z])(?:Z|UTC|GMT)(?![a-z])|[+-]\s*[0-9]{1,2}(?::?[0-9]{2})?", re.IGNORECASE
)


def _refuse_a_guess(text: str, field: str, whole_date: bool = True) -> None:
    """:class:`InvalidField` for what dateutil (pendulum's lenient parser, for a text that is
    no ISO 8601) reads other than as written, rather than an instant nobody typed:

    - a text naming no whole date (``whole_date``): dateutil fills in what is missing from
      today, so ``10.30`` (half past ten, as many write it) was 10 December, ``1.5`` the 1st of
      this month, ``2026/12`` today's day of December, ``Dec 1 26`` a guess at the century. A
      year written in full, a month and a day, or a time alone (read apart, as today's);
    - a zone abbreviation (``10:00 PST``): dropped without a word, the time read as the
      mailbox's own, 16 hours off for a Shanghai mailbox;
    - ``GMT+8``, ``UTC-05:00``: read as POSIX writes them, the sign backwards (UTC-08:00)."""
    from dateutil import parser  # type: ignore[import-untyped]  # pendulum's lenient reader

    zones: list[str | None] = []

    def read(default: dt.datetime, tzinfos: object = None) -> dt.date | None:
        try:
            return parser.parse(text, default=default, tzinfos=tzinfos).date()
        except (ValueError, OverflowError):
            return None

    first = read(dt.datetime(2001, 1, 1), lambda name, offset: zones.append(name))
    if first is None:  # unreadable: pendulum's own error says so (a Unix time, 'next tuesday')
        return
    signed = _SIGNED_ZONE.search(text)
    if signed:
        raise InvalidField(
            field,
            "{field}: {text!r}: {zone!r} is read by some as ahead of UTC and by others as "
            "behind it; write the offset alone (2026-12-01T10:00+08:00)",
            text=text,
            zone=signed[0].strip(),
        )
    twice = _written_twice(text)
    if twice:
        raise InvalidField(
            field,
            "{field}: {text!r} is not one date and time: {twice}; write one "
            "(2026-12-01T10:30, or 2026-12-01T10:30+08:00 with its UTC offset)",
            text=text,
            twice=twice,
        )
    named = next((z for z in zones if z and z not in ("UTC", "GMT")), None)
    if named:
        raise InvalidField(
            field,
            "{field}: {text!r}: the zone {zone!r} is an abbreviation warmup does not read (CST "
            "is China's, or America's, or Cuba's); write its UTC offset (2026-12-01T10:00-08:00), "
            "or leave it out for the mailbox's own time",
            text=text,
            zone=named,
        )
    if whole_date and not (_FULL_YEAR.search(text) and first == read(dt.datetime(2002, 2, 2))):
        raise InvalidField(
            field,
            "{field}: {text!r} is not a whole date: write the year, month and day "
            "(2026-12-01, or 2026-12-01T10:30), or a time alone (10:30)",
            text=text,
        )


def _written_twice(text: str) -> str | None:
    """What ``text`` (read by dateutil) writes twice or stray, which dateutil would read past,
    said for an error line; None when nothing is."""
    stray = _STRAY_MARKS.search(text)
    if stray:
        return f"{stray[0].strip()!r} separates nothing"
    clocks = _CLOCK_TIME.findall(text)
    if len(clocks) > 1:
        return f"it gives two times of day ({clocks[0]!r} and {clocks[1]!r})"
    years = _YEAR_WRITTEN.findall(text)
    if len(years) > 1:
        return f"it gives two years ({years[0]} and {years[1]})"
    clock = _CLOCK_TIME.search(text)
    if clock:  # the signs before a time are a date's dashes
        zones = [z.replace(" ", "") for z in _ZONE_WRITTEN.findall(text, clock.end())]
        if len(zones) > 1:
            return f"it gives two UTC offsets or zones ({zones[0]!r} and {zones[1]!r})"
    return None


def wall_instant(day: dt.date, time: dt.time, tz: dt.tzinfo) -> dt.datetime:
    """The first instant (aware UTC) the wall clock of ``tz`` reads ``time`` or later on ``day``.

    Usually the instant it reads ``time`` (the first of two when the clocks go back). When the
    clocks jump over ``time`` (02:30 on a spring-forward day in New York), the instant of the jump:
    at 03:10 EDT that day, 02:30 has passed. A plain ``combine`` gives the pre-jump offset's reading
    instead, 03:30 EDT, half an hour late (and ``fold=1`` an hour early, 01:30 EST). A window's
    edges and a time typed without an offset (``--at``, ``--until``; not an import's) both
    read so."""
    a = dt.datetime.combine(day, time, tz)
    u = a.astimezone(dt.UTC)
    later = a.replace(fold=1)
    if a.utcoffset() == later.utcoffset() or u.astimezone(tz).replace(tzinfo=None) == (
        a.replace(tzinfo=None)
    ):
        return u  # the wall clock reads it once, or twice (the first)
    # In the gap: the jump lies between the post-jump offset's reading and the pre-jump one's.
    lo, hi = int(later.timestamp()), int(u.timestamp())
    after = later.utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dt.datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return dt.datetime.fromtimestamp(hi, dt.UTC)


# Names zoneinfo loads that are no place's zone: this host's own files and tzdata's stand-in
# for a zone not set (UTC shown as '-00'); fields.check_timezone refuses them as well.
_NO_PLACE = ("localtime", "posixrules", "Factory")
# A POSIX TZ of one fixed offset, no daylight saving: 'CST-8' (China's, as many hosts there
# set it), '<+08>-8', 'UTC+8' (eight hours *behind* UTC: POSIX counts westward, as the IANA
# Etc/GMT zones do).
_POSIX_FIXED = compiled_later(r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)([+-]?)(\d{1,2})(:00){0,2}")


def _kept_zone(name: str) -> str | None:
    """``name`` if it is a zone a ledger can keep (zoneinfo loads it, and it is a place's)."""
    name = name.removeprefix("posix/")
    if not name or name in _NO_PLACE or name.startswith("right/"):
        return None
    try:
        ZoneInfo(name)
    except Exception:  # not found, not a zone file, a path or '..' (ValueError), a folder
        return None
    return name


def _zone_of_tz(tz: str) -> str:
    """The zone ``$TZ`` names as the C library reads it: a zone's name (``:`` before it or not:
    ``PRC``, ``Japan``, ``Asia/Tokyo``), a file of the system's zones
    (``/usr/share/zoneinfo/Asia/Tokyo``), or one fixed offset (``CST-8``: ``Etc/GMT-8``).
    :class:`ConfigError` for any other (``garbage``, a rule with daylight saving)."""
    text = tz.removeprefix(":")
    if text.startswith("/"):  # TZ=/etc/localtime: the link's target names the zone
        text = os.path.realpath(text)
    if "zoneinfo/" in text:
        text = text.rsplit("zoneinfo/", 1)[1]
    if name := _kept_zone(text):
        return name
    fixed = _POSIX_FIXED.fullmatch(text)
    if fixed and (hours := int(fixed[2])) <= (14 if fixed[1] == "-" else 12):
        return f"Etc/GMT{'-' if fixed[1] == '-' else '+'}{hours}" if hours else "UTC"
    raise ConfigError(
        f"TZ={tz!r} names no time zone warmup can use; set TZ to an IANA name "
        "(e.g. TZ=Asia/Shanghai), or unset it to use the system's zone"
    )


def machine_zone() -> str:
    """This machine's IANA zone name: the one ``$TZ`` names (:func:`_zone_of_tz`), else the
    system's as pendulum finds it (``UTC`` when it has none that can be named). A ``$TZ`` set
    empty is one left unset."""
    if tz := os.environ.get("TZ", ""):
        return _zone_of_tz(tz)
    # The same function as pendulum.local_timezone, which a warm mypy cache mistakes for the
    # submodule pendulum.tz.local_timezone ("Module not callable").
    import pendulum

    return _kept_zone(pendulum.tz.local_timezone().name or "") or "UTC"


def local_text(ts: dt.datetime, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """``ts`` as local time in zone ``tz``, with the zone (``2026-11-16 10:00 CST``): every
    time warmup prints carries its zone. A naive ``ts`` is UTC, as the ledger stores it.

    The standard library's conversion, through the zone :func:`zone` keeps: pendulum's
    (``instance(ts).in_timezone(tz)``, the same text) took 63 µs a call against 4, the most of
    a long listing's time (``bounces list``, ``queue list``: a row or two each)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(zone(tz)).strftime(fmt)


def local_short(ts: dt.datetime, tz: str, now: dt.datetime, fmt: str = "%m-%d %H:%M %Z") -> str:
    """``ts`` in zone ``tz`` as :func:`local_text` writes it with ``fmt`` (month and day, no
    year: a table's column), the year put in front when it is not the year of ``now`` there:
    "12-04 01:00" for a time a year ahead read as this year's 12-04, already past."""
    if local_text(ts, tz, "%Y") != local_text(now, tz, "%Y"):
        fmt = f"%Y-{fmt}"
    return local_text(ts, tz, fmt)


def parse_date(text: str, field: str) -> dt.date:
    """A date like ``2026-11-29`` in ``[EARLIEST, LATEST)``."""
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        raise _no_such_day(field, text) or InvalidField(
            field, "{field}: {text!r} is not a date like 2026-11-29", text=text
        ) from None
    return check_date(value, field)


def _no_such_day(field: str, text: str) -> InvalidField | None:
    """The error for a date written right that names no day (``2026-02-29``, ``2026-13-01``,
    ``2026-11-00``), saying which part is out of range; None for any other text. It was "not
    an ISO 8601 date or time (e.g. ...)", of a text that is one in form: the user looked for a
    typo in the format, not at the calendar."""
    import calendar

    m = _YEAR_FIRST.match(text)
    if m is None:
        return None
    year, month, day = int(m[1]), int(m[3]), int(m[4])
    if year < 1:  # no calendar before year 1: the bounds' message says what is expected
        return None
    days = calendar.monthrange(year, month)[1] if 1 <= month <= 12 else 0
    if not days:
        why = f"there is no month {month} (a year has 12)"
    elif not 1 <= day <= days:
        why = f"{calendar.month_name[month]} {year} has {days} days, from 1 to {days}"
    else:
        return None
    return InvalidField(
        field, "{field}: {text!r} is no day of the calendar: {why}", text=text, why=why
    )


def check_date(value: dt.date, field: str) -> dt.date:
    """``value`` if it lies in ``[EARLIEST, LATEST)``, else :class:`InvalidFieldData`."""
    if not EARLIEST.date() <= value < LATEST.date():
        raise out_of_range(field, value.isoformat())
    return value


def check_query(
    value: dt.datetime, field: str = "at", text: str | None = None, *, local: bool = False
) -> dt.datetime:
    """``value`` (an instant to evaluate or report at) if it lies in ``[EARLIEST, LATEST)``;
    ``local``: ``text`` had no UTC offset (the error says the instant it was read as)."""
    aware(value, field)
    if not EARLIEST <= value < LATEST:
        raise out_of_range(field, text or value.isoformat(), value if local else None)
    return value


def check_event(
    value: dt.datetime, field: str = "at", now: dt.datetime | None = None
) -> dt.datetime:
    """``value`` (when something happened) if it is after ``EARLIEST`` and not in the future.

    "The future" starts ``FUTURE_SLACK`` after ``now`` (default: this machine's clock).
    """
    check_query(value, field)
    now = now or now_utc()
    if value > now + FUTURE_SLACK:
        raise InvalidFieldData(
            field,
            "{field}: {value} is in the future (this machine's clock says {now}); a record "
            "of something that happened may be at most {slack} minutes ahead",
            value=_iso(value),
            now=_iso(now),
            slack=int(FUTURE_SLACK.total_seconds() // 60),
        )
    return value


# What to give instead, said after a value that is no datetime.
_AN_AWARE_ONE = (
    " (give an aware one, e.g. datetime.datetime.fromisoformat('2026-01-01T09:00:00+08:00'))"
)


def aware(value: dt.datetime, field: str) -> dt.datetime:
    """``value`` if it carries a UTC offset (a naive time is ambiguous: refused); a value that
    is no datetime at all (a script's ``"2026-01-01"``) is :class:`WrongType` naming ``field``."""
    expect(value, dt.datetime, field, _AN_AWARE_ONE)
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveInstant(
            field,
            "{field}: {value} has no UTC offset (give e.g. +08:00 or Z)",
            value=value.isoformat(),
        )
    return value


def _iso(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


def out_of_range(field: str, text: str, read: dt.datetime | None = None) -> InvalidFieldData:
    """``text`` out of bounds; ``read``: the instant it was read as, said too (a local midnight
    of 2000-01-01 east of UTC is 1999 in UTC, and "expected a time between 2000-01-01 and ..."
    alone reads as nonsense)."""
    year = text.strip()[:4]
    if read is not None and year.isdigit() and not EARLIEST.year <= int(year) < LATEST.year:
        # the year typed is the fault: its reading adds only noise (1900's local midnight in
        # Shanghai is 1899-12-31T15:54:17Z, the city's mean solar time before 1901)
        read = None
    said = " (read as {read})" if read is not None else ""
    return InvalidFieldData(
        field,
        "{field}: {text!r}" + said + " is out of range: expected a time " + _RANGE,
        text=text,
        read=read.replace(microsecond=0).isoformat().replace("+00:00", "Z") if read else "",
    )


@functools.cache
def zone(tz: str) -> ZoneInfo:
    """The zone a mailbox's stored ``tz`` names. A name in other letter case than the IANA
    one (``utc``: ``mailbox add --timezone utc`` stored it before it was refused) is that
    zone; a name this machine's time zone database lacks is a one-line error (78), not a
    traceback from every command reading the mailbox."""
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        pass
    import zoneinfo

    folded = tz.lower()
    same = next((z for z in sorted(zoneinfo.available_timezones()) if z.lower() == folded), None)
    if same is not None:
        return ZoneInfo(same)
    raise ConfigError(
        f"time zone {tz!r} stored for a mailbox is unknown to this machine's time zone "
        "database; set it with 'warmup mailbox set ADDRESS --timezone NAME' (an IANA name like "
        "Asia/Shanghai) or update the system's tzdata"
    )


# zone() under a name read_instant's local ``zone`` (the zone's name) does not hide
_stored_zone = zone
