"""Days and hours a policy may send in: public holidays, working days, the sending window, and
how many paced sends fit in it. Pure: the holidays are computed by the ``holidays`` library
(vacanza/holidays on PyPI), never fetched.

- :class:`Calendar` (``[calendar] country = "CN"``): a country's public holidays and working days.
  China's working days are Monday to Friday plus the weekend days the State Council moves work
  to (调休), minus the holidays: the library's ``weekend_workdays``.
- :class:`Window` (``[window]``): local hour ranges, and the weekdays or the calendar's working
  days it opens on.
- :func:`closed` says why a local day is closed (a holiday, a day the window does not open on,
  a day the clocks jump over all the window's hours in the mailbox's zone);
  :func:`next_opening` is the first instant the window is open; :func:`fits` how many sends at a
  given gap fit between two instants of a day's window.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import importlib.util
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from warmup.instants import wall_instant as _wall_instant
from warmup.policy import holidaycache

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ONE_DAY = dt.timedelta(days=1)
MIDNIGHT = dt.time(0, 0)
# How far a search for the next open day goes: a window that opens on no day within two years
# is not a window (the spec refuses one with no weekday).
SEARCH_DAYS = 800
# A run of non-working days around a holiday (China's Spring Festival: 9 days) is at most this long.
BREAK_SEARCH = 12


class YearTable(NamedTuple):
    """One country's year: holiday names by date, and the weekend days that are working days."""

    holidays: Mapping[dt.date, str]
    workdays: frozenset[dt.date]
    weekend: frozenset[int]


@dataclass(frozen=True)
class Calendar:
    """``[calendar]``: whose public holidays count. No ``country``: no holidays at all."""

    country: str | None = None
    subdivision: str | None = None
    skip_holidays: bool = True  # a public holiday has quota 0 (and is not idle)

    def __bool__(self) -> bool:
        return self.country is not None

    def holiday(self, day: dt.date) -> str | None:
        """The public holiday's name on ``day``, or None."""
        if self.country is None:
            return None
        return year_table(self.country, self.subdivision, day.year).holidays.get(day)

    def working(self, day: dt.date) -> bool:
        """A working day: not a holiday, and a weekday or a weekend day work was moved to."""
        if self.country is None:
            return day.weekday() < 5
        table = year_table(self.country, self.subdivision, day.year)
        if day.weekday() in table.weekend:
            return day in table.workdays
        return day not in table.holidays

    def announced_until(self) -> int | None:
        """The last year whose official schedule the holidays library knows, for a country whose
        holidays are announced each year with make-up working days (China's 调休: the State
        Council publishes next year's in November); None for a country whose rules give every
        year (or no country). A later year is the library's estimate from the fixed rules: its
        breaks may be shorter or longer and it has no make-up working day."""
        if self.country is None:
            return None
        return _facts(self.country).announced

    def estimated(self, year: int) -> bool:
        """``year``'s holidays and working days are an estimate, not the announced schedule."""
        last = self.announced_until()
        return last is not None and year > last

    def estimate_note(self, year: int, last: int | None = None) -> str:
        """Says that the calendar of ``year`` (to ``last``) is an estimate, and what to do."""
        years = str(year) if last is None or last == year else f"{year}-{last}"
        return (
            f"{self.country}'s {years} holidays are the holidays library's estimate (its "
            f"official schedule, with make-up working days, is known up to "
            f"{self.announced_until()}): holidays and working days may differ; upgrade the "
            f"holidays package once {year}'s is announced"
        )

    def in_break(self, day: dt.date) -> bool:
        """``day`` is a non-working day joined to a public holiday by non-working days: part of a
        holiday break (China's National Day week includes its weekend days)."""
        if self.country is None or self.working(day):
            return False
        for step in (ONE_DAY, -ONE_DAY):
            d = day
            for _ in range(BREAK_SEARCH):
                if self.holiday(d) is not None:
                    return True
                d += step
                if self.working(d):
                    break
        return False


@dataclass(frozen=True)
class Window:
    """Local sending hours, as ``[start, end)`` ranges (end None = midnight), on the given weekdays
    (0 = Monday) or, with ``working_days``, on the calendar's working days."""

    ranges: tuple[tuple[dt.time, dt.time | None], ...] = ((MIDNIGHT, None),)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    working_days: bool = False

    @property
    def all_day(self) -> bool:
        return self.ranges == ((MIDNIGHT, None),)

    def describe(self) -> str:
        """``09:00-12:00 and 14:00-18:00``."""
        return " and ".join(
            f"{s:%H:%M}-{'24:00' if e is None else f'{e:%H:%M}'}" for s, e in self.ranges
        )


def closed(
    window: Window, calendar: Calendar, day: dt.date, tz: dt.tzinfo | None = None
) -> str | None:
    """Why the window stays shut all of local ``day``, or None when it opens that day. With the
    mailbox's zone ``tz``, a day the clocks jump over every range of the window is shut too
    (:func:`skipped`); without it, only the calendar and the weekdays are asked."""
    why = None
    if calendar.skip_holidays:
        name = calendar.holiday(day)
        if name is not None:
            why = f"public holiday in {calendar.country} ({name})"
    if why is None and window.working_days and not calendar.working(day):
        why = f"not a working day in {calendar.country} ({_WEEKDAY_NAMES[day.weekday()]})"
    if why is not None:
        if calendar.estimated(day.year):
            why += f" (an estimate: {calendar.country}'s {day.year} schedule is not in the holidays library)"
        return why
    if not window.working_days and day.weekday() not in window.weekdays:
        return f"{_WEEKDAY_NAMES[day.weekday()]} is not a sending day (window.weekdays)"
    return None if tz is None else skipped(window, day, tz)


def skipped(window: Window, day: dt.date, tz: dt.tzinfo) -> str | None:
    """Why the clocks leave the window not one minute of local ``day`` (New York's 02:00-03:00,
    or 02:15-02:45, on its spring-forward day: both edges are passed at the jump), or None.
    Only a day the clocks go forward on can (:func:`jumps`); a range that only partly lies in
    the skipped hour keeps the minutes it really has (:func:`ranges_on`)."""
    if day not in jumps(tz, day.year) or ranges_on(window, day, tz):
        return None
    at = wall_instant(day, window.ranges[0][0], tz)  # every edge of the day is the jump
    before = (at - dt.timedelta(seconds=1)).astimezone(tz) + dt.timedelta(seconds=1)
    after = at.astimezone(tz)
    to = f"{after:%H:%M}" if after.date() == day else f"{after:%Y-%m-%d %H:%M}"
    return (
        f"the clocks jump from {before:%H:%M} to {to} that day, over the whole window "
        f"({window.describe()})"
    )


@functools.lru_cache(maxsize=512)
def jumps(tz: dt.tzinfo, year: int) -> frozenset[dt.date]:
    """The local days of ``year`` whose clocks go forward in zone ``tz``: the offset at the next
    midnight is ahead of the one at this midnight, read before any jump at midnight itself
    (Havana's 00:00 CST to 01:00 CDT is that day's).

    The midnights are read a week apart, and day by day only within a week whose two ends
    differ: about 0.1 ms per zone and year, once, where reading every day (asked of every day a
    walk or a plan judges) cost 3 µs a day. Two changes of one zone's clocks a week or less
    apart that undo each other would go unseen; the time zone database has none from 2000 to
    2100 (the closest, Morocco's and Egypt's Ramadan breaks, are three weeks or more)."""

    def offset(d: dt.date) -> dt.timedelta | None:
        return dt.datetime.combine(d, MIDNIGHT, tz).utcoffset()

    out = []
    day, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    at = offset(day)
    while day < end:
        week = min(day + dt.timedelta(days=7), end)
        then = offset(week)
        if then != at:
            d, o = day, at
            while d < week:
                nxt = offset(d + ONE_DAY)
                if o is not None and nxt is not None and nxt > o:
                    out.append(d)
                d, o = d + ONE_DAY, nxt
        day, at = week, then
    return frozenset(out)


def off(window: Window, calendar: Calendar, day: dt.date, tz: dt.tzinfo | None = None) -> bool:
    """A day that does not count as idle: closed (in zone ``tz``, when given), or part of a
    holiday break."""
    if closed(window, calendar, day, tz) is not None:
        return True
    return calendar.skip_holidays and calendar.in_break(day)


def off_between(
    window: Window, calendar: Calendar, first: dt.date, last: dt.date, tz: dt.tzinfo | None = None
) -> int:
    """How many days from ``first`` to ``last`` (both included; 0 when ``last`` is before it)
    are :func:`off` (in zone ``tz``, when given): from a running count per year, so a report
    walking years of idle days asks each day once, not once per later day of the gap (hours for
    decades ahead). A window open every day of no calendar is off only on a day the clocks
    jump over it: those few days are asked, not the year's."""
    if last < first:
        return 0
    if not calendar and not window.working_days and len(window.weekdays) == 7:
        if tz is None:
            return 0
        return sum(
            first <= d <= last and skipped(window, d, tz) is not None
            for year in range(first.year, last.year + 1)
            for d in jumps(tz, year)
        )
    total = 0
    for year in range(first.year, last.year + 1):
        running = _off_running(window, calendar, tz, year)
        a = (first - dt.date(year, 1, 1)).days if year == first.year else 0
        z = (last - dt.date(year, 1, 1)).days + 1 if year == last.year else len(running) - 1
        total += running[z] - running[a]
    return total


@functools.lru_cache(maxsize=512)
def _off_running(
    window: Window, calendar: Calendar, tz: dt.tzinfo | None, year: int
) -> tuple[int, ...]:
    """``running[k]``: how many of the first ``k`` days of ``year`` are :func:`off`."""
    start = dt.date(year, 1, 1)
    out = [0]
    for k in range(366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365):
        out.append(out[-1] + off(window, calendar, start + dt.timedelta(days=k), tz))
    return tuple(out)


def _ranges_on(
    window: Window, day: dt.date, tz: dt.tzinfo
) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
    """The window's ranges on local ``day`` as aware UTC instants (the day is assumed open).

    A range the clocks jump over whole (02:00-03:00 on New York's spring-forward day) is left
    out: both its edges are passed at the jump, so it never opens that day."""
    out = []
    for start, end in window.ranges:
        a = wall_instant(day, start, tz)
        b = wall_instant(day + ONE_DAY if end is None else day, end or MIDNIGHT, tz)
        # in UTC: the length of a range on a day the clocks change is its real length
        if a < b:
            out.append((a, b))
    return tuple(out)


# kept by (window, day, zone): an answer asks for today's twice (the worker's look at a pool's
# members: before each message), a report's walk for each day's again and again
ranges_on = functools.lru_cache(maxsize=4096)(_ranges_on)


# a report's walk asks for each day's ranges again and again
wall_instant = functools.lru_cache(maxsize=4096)(_wall_instant)


def next_opening(window: Window, calendar: Calendar, local: dt.datetime) -> dt.datetime | None:
    """None if the window is open at ``local`` (aware, local time), else the next instant it
    opens (aware UTC); None too if it opens on no day within :data:`SEARCH_DAYS`."""
    tz = local.tzinfo
    assert tz is not None
    day = local.date()
    # compared in UTC, as the ranges are: a local instant compared with a UTC one asks its zone
    # for the offset at each comparison (~8k instructions each)
    at = local if tz is dt.UTC else local.astimezone(dt.UTC)
    for k in range(SEARCH_DAYS):
        d = day + dt.timedelta(days=k)
        if closed(window, calendar, d) is not None:
            continue
        for a, b in ranges_on(window, d, tz):
            if k == 0 and a <= at < b:
                return None
            if a > at:
                return a
    return None


def fits(
    window: Window,
    day: dt.date,
    tz: dt.tzinfo,
    gap: float,
    after: dt.datetime | None = None,
) -> int | None:
    """How many sends fit in ``day``'s window (from ``after`` on, if given) one every ``gap``
    seconds, starting as each range opens; None when nothing paces them (``gap`` 0).

    Sends start when a range opens and go on every ``gap`` while the range is open; a gap that
    runs past the range's end carries into the next range.
    """
    if gap <= 0:
        return None
    n = 0
    # a plain UTC datetime: a pendulum instant with a zoneinfo zone loses it in an addition
    carry = None if after is None else dt.datetime.fromtimestamp(after.timestamp(), dt.UTC)
    for a, b in ranges_on(window, day, tz):
        t = a if carry is None or carry < a else carry
        if t >= b:
            continue
        k = math.ceil((b - t).total_seconds() / gap - 1e-9)
        n += k
        carry = t + dt.timedelta(seconds=k * gap)
    return n


# -- the holidays library --------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def year_table(country: str, subdivision: str | None, year: int) -> YearTable:
    """One year of ``country``'s calendar (cached per process, and on disk between processes:
    :mod:`warmup.policy.holidaycache`)."""
    entry = f"{subdivision or ''}/{year}"
    kept = holidaycache.get(country, "years", entry)
    if kept is not None:
        try:
            return YearTable(
                {dt.date.fromisoformat(d): str(n) for d, n in kept["holidays"]},
                frozenset(dt.date.fromisoformat(d) for d in kept["workdays"]),
                frozenset(int(w) for w in kept["weekend"]),
            )
        except (KeyError, TypeError, ValueError):
            pass  # not as this code writes it: computed again (and replaced)
    cls = _country_class(country)
    h = cls(years=year, subdiv=subdivision)
    workdays = frozenset(d for d in getattr(h, "weekend_workdays", ()) if d.year == year)
    table = YearTable(
        {d: name for d, name in h.items() if d.year == year},
        workdays,
        frozenset(getattr(h, "weekend", (5, 6))),
    )
    holidaycache.put(
        country,
        "years",
        entry,
        {
            "holidays": [[d.isoformat(), n] for d, n in table.holidays.items()],
            "workdays": sorted(d.isoformat() for d in table.workdays),
            "weekend": sorted(table.weekend),
        },
    )
    return table


class CalendarError(ValueError):
    """A ``[calendar]`` value the holidays library cannot use; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def check(country: Any, subdivision: Any) -> tuple[str, str | None]:
    """``(country, subdivision)`` normalised, or :class:`CalendarError` saying what is wrong."""
    if not isinstance(country, str) or not country.strip():
        raise CalendarError("country", f"expected a country code like 'CN', got {country!r}")
    code = country.strip().upper()
    try:
        facts = _facts(code)
    except LookupError:
        raise CalendarError(
            "country",
            f"{country!r} is not a country the holidays library knows; use an ISO 3166 code "
            f"like 'CN', 'US' or 'DE'",
        ) from None
    if subdivision is None:
        return code, None
    if not isinstance(subdivision, str):
        raise CalendarError(
            "subdivision", f"expected a subdivision code like 'CA', got {subdivision!r}"
        )
    sub = facts.aliases.get(subdivision, subdivision)
    known = facts.subdivisions
    if sub not in known:
        listed = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        raise CalendarError(
            "subdivision",
            f"{subdivision!r} is not a subdivision of {code} "
            f"({'choose one of ' + listed if known else 'it has none'})",
        )
    return code, sub


def data_version() -> str:
    """The holidays library's version: part of a walk memo's inputs, since a new version may
    correct a past holiday. Read from its installed metadata when it has some (as the library
    reads it, without importing the library)."""
    library = holidaycache.installed()
    if library is not None:
        return library[0]
    import holidays

    return str(holidays.__version__)


class _Facts(NamedTuple):
    """What the library says of a country code: its subdivisions (with their aliases) and the
    last year of its announced schedule (:func:`_announced_until`)."""

    subdivisions: tuple[str, ...]
    aliases: Mapping[str, str]
    announced: int | None


@functools.cache
def _facts(code: str) -> _Facts:
    """:class:`_Facts` of ``code``, kept on disk as :func:`year_table`'s years are; or
    :class:`LookupError` when the library knows no such country (never kept)."""
    kept = holidaycache.get(code, "country", "facts")
    if kept is not None:
        try:
            announced = kept["announced"]
            return _Facts(
                tuple(str(s) for s in kept["subdivisions"]),
                {str(a): str(s) for a, s in kept["aliases"].items()},
                None if announced is None else int(announced),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            pass
    cls = _country_class(code)
    facts = _Facts(
        tuple(getattr(cls, "subdivisions", ()) or ()),
        dict(getattr(cls, "subdivisions_aliases", {}) or {}),
        _announced_until(code),
    )
    holidaycache.put(
        code,
        "country",
        "facts",
        {
            "subdivisions": list(facts.subdivisions),
            "aliases": dict(facts.aliases),
            "announced": facts.announced,
        },
    )
    return facts


def _announced_until(code: str) -> int | None:
    """The last year of ``code``'s substituted days (a day off moved from a weekend day): the
    mark of a calendar announced year by year. None when it has none (rules give every year)."""
    # the static holidays are merged into an instance (from mixin classes), not the class
    special = getattr(_country_class(code)(), "special_public_holidays", None) or {}
    years = [
        year
        for year, entries in special.items()
        for entry in (entries if entries and isinstance(entries[0], tuple) else (entries,))
        if len(entry) == 4 and all(isinstance(x, int) for x in entry)
    ]
    return max(years) if years else None


@functools.cache
def _country_class(code: str) -> Any:
    """The library's class for ``code`` (ISO alpha-2 or alpha-3), or :class:`LookupError`."""
    from holidays import registry

    for module, (name, *codes) in registry.COUNTRIES.items():
        if code in codes:
            return getattr(_country_module(module), name)
    raise LookupError(code)


def _country_module(module: str) -> Any:
    """``holidays.countries.<module>``, loaded on its own when possible: importing it the usual
    way runs ``holidays.countries``' ``__init__``, which imports all ~250 countries (a tenth of
    a second on every ``warmup send``). The countries use absolute imports only; if one ever
    does not, the usual import is the fallback."""
    full = f"holidays.countries.{module}"
    if full in sys.modules or "holidays.countries" in sys.modules:
        return importlib.import_module(full)
    try:
        import holidays

        path = f"{holidays.__path__[0]}/countries/{module}.py"
        spec = importlib.util.spec_from_file_location(full, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        return mod
    except Exception:
        sys.modules.pop(full, None)
        return importlib.import_module(full)
