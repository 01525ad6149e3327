"""Policy specs: TOML files with stages, health rules and idle rules, validated on load.

A bad file is refused with the key at fault (``stage[2].daily: ...``), raised as
:class:`~warmup.errors.ConfigError` so the CLI exits 78.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmup.errors import ConfigError, NotFound
from warmup.files import home, missing, missing_file, names_nothing, read_regular
from warmup.lazyre import compiled_later
from warmup.policy.calendar import Calendar, CalendarError, Window, check
from warmup.words import digits_fault

# 0-9, not \d: re's \d and float() take every script's digits ("٥m" was five minutes).
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|m|s)")
_IN_DAYS = compiled_later(r"[0-9]+(?:\.[0-9]+)?\s*d(?:ays?)?")
_RANGE = compiled_later(r"([0-9.hms]+)\s*(?:-|–|\.\.|to)\s*([0-9.hms]+)")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Bounds that every value of a policy lies in. Past them a policy is a typo, and the calendar
# arithmetic of the walk (dates, timedeltas) would overflow for every command of the mailbox.
MAX_VOLUME = 1_000_000  # recipients a day: ceiling, daily, domain_cap
MAX_DAYS = 3650  # stage length, idle rules
MAX_WINDOW_DAYS = 365  # health window
MAX_SAMPLE = 1_000_000
MAX_INTERVAL = 86_400.0  # seconds between two sends: one day
MAX_GROWTH = 100.0
MAX_STAGES = 100
MAX_FILE = 1_000_000  # bytes of TOML
MAX_NAME = 200
# The built-in presets, read as plain files next to this module (a wheel and an editable install
# both keep them there): importlib.resources' import was ~5 ms of every 'warmup quota'.
PRESETS = Path(__file__).resolve().parent / "presets"


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``"5m"``, ``"1h30m"``, ``"45s"`` or ``"0s"``."""
    text = str(text).strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"h": 3600, "m": 60, "s": 1}[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        fault = digits_fault(text)
        if fault:
            raise ValueError(f"{text!r}: {fault}")
        if _IN_DAYS.fullmatch(text):  # "1d": the unit outbox expiry takes, not this one
            raise ValueError(
                f"{text!r}: days are no unit here; write hours, minutes or seconds "
                f"('24h' at most, '5m', '90s')"
            )
        written_as_range = _RANGE.fullmatch(text)  # "2m-5m": a range, written as a list
        if written_as_range:
            low, high = written_as_range.groups()
            raise ValueError(f'{text!r} is a range; write it as a list: ["{low}", "{high}"]')
        raise ValueError(f"{text!r} is not a duration like '5m', '90s' or '1h30m'")
    return total


@dataclass(frozen=True)
class Stage:
    name: str
    days: int  # active days; 0 = open-ended
    daily_from: int
    daily_to: int
    interval_min: float  # seconds
    interval_max: float

    def volume(self, index: int) -> int:
        """Daily volume on the ``index``-th (0-based) active day of this stage."""
        if self.days <= 1 or self.daily_from == self.daily_to:
            return self.daily_from
        i = min(index, self.days - 1)
        return round(self.daily_from + (self.daily_to - self.daily_from) * i / (self.days - 1))

    def describe_volume(self) -> str:
        if self.daily_from == self.daily_to:
            return f"{self.daily_from}/day"
        return f"ramp {self.daily_from}->{self.daily_to}/day over {self.days} days"


@dataclass(frozen=True)
class Health:
    window_days: int = 7
    min_sample: int = 20
    hold_above: float = 0.03
    step_back_above: float = 0.05
    pause_above: float = 0.10
    complaint_hold_above: float = 0.001
    complaint_pause_above: float = 0.003


@dataclass(frozen=True)
class Idle:
    step_back_after_days: int = 14
    restart_after_days: int = 30


@dataclass(frozen=True)
class RecipientDomains:
    """``[recipient_domains]``: how many recipients of one receiving domain a mailbox may mail a
    day (``default`` for any domain not named), so one mailbox never floods one provider."""

    default: int | None = None
    caps: tuple[tuple[str, int], ...] = ()  # (lower-case domain, cap), sorted

    def cap_for(self, domain: str) -> int | None:
        return dict(self.caps).get(domain, self.default)

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.caps)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    ceiling: int
    growth_factor: float
    stages: tuple[Stage, ...]
    health: Health = field(default_factory=Health)
    idle: Idle = field(default_factory=Idle)
    window: Window = field(default_factory=Window)
    domain_cap: int | None = None
    description: str = ""
    recipient_domains: RecipientDomains = field(default_factory=RecipientDomains)
    calendar: Calendar = field(default_factory=Calendar)
    # A day advances warm-up only with at least this share of its quota sent (0: any send).
    qualify: float = 0.5

    def stage_at(self, day: int) -> tuple[int, Stage, int]:
        """(stage number, stage, 0-based index within it) for warm-up day ``day`` (1-based)."""
        left = day - 1
        for n, st in enumerate(self.stages):
            if st.days == 0 or left < st.days:
                return n, st, left
            left -= st.days
        last = self.stages[-1]
        return len(self.stages) - 1, last, last.days - 1

    def stage_start(self, number: int) -> int:
        """Active days completed before stage ``number`` begins."""
        return sum(st.days for st in self.stages[:number])


# What a missing required key could read, for the error that asks for it.
_EXAMPLES = {"name": '"mine"', "ceiling": "300", "growth_factor": "2.0", "days": "7", "daily": "50"}


def _need(data: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        example = _EXAMPLES.get(key)
        add = f"add a line such as {key} = {example}" if example else f"add [[{key}]] tables"
        raise ConfigError(
            f"{where}{key}: missing; {add} ('warmup policy show default' prints a whole policy)"
        )
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {_kind_name(kind)}, got {_show(value)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {
            int: "an integer",
            float: "a number",
            str: "a string",
            list: "a list",
            dict: "a table",
        }.get(k, k.__name__)
        for k in kinds
    )


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut short, so an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _count(value: Any, where: str, most: int, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise ConfigError(
            f"{where}: expected a whole number from {least} to {most:_}, got {_show(value)}"
        )
    return value


def _text(value: Any, where: str, most: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > most or not value.isprintable():
        raise ConfigError(
            f"{where}: expected printable text of at most {most} characters, got {_show(value)}"
        )
    return value


def _rate(data: dict[str, Any], key: str, where: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(
            f"{where}{key}: expected a fraction between 0 and 1 (0.03 = 3%), got {_show(value)}"
        )
    return float(value)


def _check_names(stages: tuple[Stage, ...]) -> None:
    """Each stage names itself apart: the name is all that quota, plan and report show of a
    stage, and the plot colours each name's band; a blank one printed an empty STAGE column,
    and two stages of one name ran together as one."""
    seen: dict[str, int] = {}
    for n, stage in enumerate(stages, 1):
        if not stage.name.strip():
            raise ConfigError(
                f'stage[{n}].name: blank; give the stage a name, e.g. name = "week {n}"'
            )
        if stage.name in seen:
            raise ConfigError(
                f"stage[{n}].name: {stage.name!r} names stage[{seen[stage.name]}] already; give "
                f"each stage a name of its own"
            )
        seen[stage.name] = n


def _stage(raw: Any, n: int, last: bool) -> Stage:
    where = f"stage[{n}]."
    if not isinstance(raw, dict):
        raise ConfigError(f"stage[{n}]: expected a [[stage]] table")
    name = _text(_need(raw, "name", where, str), where + "name")
    days = _count(_need(raw, "days", where, int), where + "days", MAX_DAYS)
    if days == 0 and not last:
        raise ConfigError(f"{where}days: 0 (open-ended) is allowed only for the last stage")
    daily = _need(raw, "daily", where, (int, list))
    if isinstance(daily, list) and len(daily) != 2:
        raise ConfigError(f"{where}daily: expected a number or [from, to], got {_show(daily)}")
    pair = daily if isinstance(daily, list) else [daily, daily]
    if any(type(v) is int and v == 0 for v in pair):
        # A day counts toward warm-up only when it sends: a day of quota 0 never does, so the
        # mailbox would stay on that day, at quota 0, for good.
        raise ConfigError(
            f"{where}daily: 0 a day never ends the stage (a day counts toward warm-up only "
            f"when it sends); give at least 1, and pause a mailbox to stop it"
        )
    # from 1: a negative count's message said "from 0", and 0 is refused just above
    lo, hi = (_count(v, where + "daily", MAX_VOLUME, 1) for v in pair)
    if lo != hi and days < 2:
        raise ConfigError(
            f"{where}daily: a ramp needs a stage of 2 days or more (days = {days} would send "
            f"{lo} a day throughout); give one number, or the days the ramp takes"
        )
    interval = raw.get("interval", "0s")
    pair = interval if isinstance(interval, list) else [interval, interval]
    if len(pair) != 2:
        raise ConfigError(
            f"{where}interval: expected a duration or [min, max], got {_show(interval)}"
        )
    try:
        imin, imax = (parse_duration(v) for v in pair)
    except ValueError as exc:
        raise ConfigError(f"{where}interval: {exc}") from None
    if imax > MAX_INTERVAL:
        raise ConfigError(
            f"{where}interval: {_show(pair[1])} is more than a day "
            f"(at most '24h' between two sends)"
        )
    if imin > imax:
        raise ConfigError(f"{where}interval: min {pair[0]} is above max {pair[1]}")
    _only(raw, {"name", "days", "daily", "interval"}, where)
    return Stage(name, days, lo, hi, imin, imax)


_CLOCK = compiled_later(r"([0-9]{1,2}):([0-9]{2})")


def _clock(value: Any, where: str) -> dt.time | None:
    """A local time ``"08:00"`` (or ``"8:00"``); ``"24:00"`` is None (midnight at the end of
    the day). Minutes take two digits: ``"8:5"`` could be 08:05 or 08:50."""
    try:
        m = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if m is None:
            raise ValueError(value)
        hh, mm = m.groups()
        if int(hh) == 24 and mm == "00":
            return None
        return dt.time(int(hh), int(mm))
    except ValueError:
        fault = digits_fault(value)
        raise ConfigError(
            f"{where}: {_show(value)}: {fault}"
            if fault
            else f"{where}: expected a local time like '08:00', got {_show(value)}"
        ) from None


def _ranges(hours: Any) -> tuple[tuple[dt.time, dt.time | None], ...]:
    """``["08:00", "20:00"]`` or ``[["09:00", "12:00"], ["14:00", "18:00"]]``: sorted ranges that
    do not overlap."""
    example = "['08:00', '20:00'] or [['09:00', '12:00'], ['14:00', '18:00']]"
    if isinstance(hours, list) and hours and all(isinstance(h, list) for h in hours):
        pairs = hours
    elif isinstance(hours, list) and len(hours) == 2 and all(isinstance(h, str) for h in hours):
        pairs = [hours]
    else:
        raise ConfigError(f"window.hours: expected {example}, got {_show(hours)}")
    if len(pairs) > 24:
        raise ConfigError(f"window.hours: {len(pairs)} ranges; at most 24")
    out: list[tuple[dt.time, dt.time | None]] = []
    for n, pair in enumerate(pairs, 1):
        where = "window.hours" if len(pairs) == 1 else f"window.hours[{n}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(
                f"{where}: expected a range like ['09:00', '12:00'], got {_show(pair)}"
            )
        start, end = _clock(pair[0], where), _clock(pair[1], where)
        if start is None:
            raise ConfigError(f"{where}: a range cannot start at 24:00")
        if end is not None and end < start:
            a, b = f"{start:%H:%M}", f"{end:%H:%M}"
            raise ConfigError(
                f"{where}: {a}-{b}: the end must be after the start; across midnight, "
                f"write two ranges: [['00:00', '{b}'], ['{a}', '24:00']]"
            )
        if end is not None and end == start:
            raise ConfigError(
                f"{where}: {pair[0]}-{pair[1]} is empty; the end must be after the start"
            )
        if out and (out[-1][1] is None or start < out[-1][1]):
            raise ConfigError(
                f"{where}: ranges must be in order and not overlap "
                f"({pair[0]} starts before the previous range ends)"
            )
        out.append((start, end))
    return tuple(out)


def _window(raw: Any, calendar: Calendar) -> Window:
    if not isinstance(raw, dict):
        raise ConfigError("window: expected a [window] table")
    _only(raw, {"hours", "weekdays", "working_days"}, "window.")
    ranges = _ranges(raw.get("hours", ["00:00", "24:00"]))
    working = raw.get("working_days", False)
    if not isinstance(working, bool):
        raise ConfigError(f"window.working_days: expected true or false, got {_show(working)}")
    if working and not calendar:
        raise ConfigError(
            "window.working_days: needs a calendar to know the working days; "
            'add [calendar] country = "CN" (or your country)'
        )
    if working and "weekdays" in raw:
        raise ConfigError(
            "window.weekdays: give weekdays or working_days = true, not both "
            "(working days are the calendar's weekdays, make-up days included)"
        )
    days = raw.get("weekdays", list(_WEEKDAYS))
    numbers = [_weekday(d) for d in days] if isinstance(days, list) else []
    if not numbers or None in numbers:
        raise ConfigError(f"window.weekdays: expected names like ['mon', 'tue'], got {_show(days)}")
    return Window(ranges, tuple(sorted({n for n in numbers if n is not None})), working)


_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(name: Any) -> int | None:
    """Monday = 0 for ``"mon"``, ``"Tues"``, ``"thursday"`` (three letters or more of the English
    name), else None: ``"Tuesdayyy"`` and ``"mo"`` are not weekdays."""
    if not isinstance(name, str) or len(name.strip()) < 3:
        return None
    low = name.strip().lower()
    return next((i for i, full in enumerate(_WEEKDAY_NAMES) if full.startswith(low)), None)


def _calendar(raw: Any) -> Calendar:
    if not isinstance(raw, dict):
        raise ConfigError("calendar: expected a [calendar] table")
    _only(raw, {"country", "subdivision", "skip_holidays"}, "calendar.")
    if "country" not in raw:
        raise ConfigError('calendar.country: missing (e.g. country = "CN")')
    skip = raw.get("skip_holidays", True)
    if not isinstance(skip, bool):
        raise ConfigError(f"calendar.skip_holidays: expected true or false, got {_show(skip)}")
    try:
        country, sub = check(raw["country"], raw.get("subdivision"))
    except CalendarError as exc:
        raise ConfigError(f"calendar.{exc.key}: {exc}") from None
    return Calendar(country, sub, skip)


def parse_policy(
    data: dict[str, Any], source: str = "<policy>", name: str | None = None
) -> PolicySpec:
    """Validate a decoded TOML document into a :class:`PolicySpec`. ``name``: what the policy
    is called when the document has no ``name`` line (stored as NAME, a file's own ``name``
    is optional); without it the document must name itself."""
    try:
        if name is None or "name" in data:
            name = _text(_need(data, "name", "", str), "name")
        ceiling = _count(_need(data, "ceiling", "", int), "ceiling", MAX_VOLUME, 1)
        growth = _need(data, "growth_factor", "", (int, float))
        if not 1 <= growth <= MAX_GROWTH:  # also refuses nan and inf
            raise ConfigError(
                f"growth_factor: expected a number from 1 to {MAX_GROWTH:g}, got {_show(growth)}"
            )
        raw_stages = _need(data, "stage", "", list)
        if not 1 <= len(raw_stages) <= MAX_STAGES:
            raise ConfigError(
                f"stage: expected 1 to {MAX_STAGES} [[stage]] tables, got {len(raw_stages)}"
            )
        stages = tuple(_stage(s, i + 1, i == len(raw_stages) - 1) for i, s in enumerate(raw_stages))
        _check_names(stages)
        _check_rising(stages)
        _check_growth(float(growth), stages, ceiling)
        h = data.get("health", {})
        if not isinstance(h, dict):
            raise ConfigError("health: expected a [health] table")
        health = Health(
            window_days=_count(h.get("window_days", 7), "health.window_days", MAX_WINDOW_DAYS, 1),
            min_sample=_count(h.get("min_sample", 20), "health.min_sample", MAX_SAMPLE),
            hold_above=_rate(h, "hold_above", "health.", 0.03),
            step_back_above=_rate(h, "step_back_above", "health.", 0.05),
            pause_above=_rate(h, "pause_above", "health.", 0.10),
            complaint_hold_above=_rate(h, "complaint_hold_above", "health.", 0.001),
            complaint_pause_above=_rate(h, "complaint_pause_above", "health.", 0.003),
        )
        _only(h, {f.name for f in dataclasses.fields(Health)}, "health.")
        if not health.hold_above <= health.step_back_above <= health.pause_above:
            raise ConfigError("health: expected hold_above <= step_back_above <= pause_above")
        if health.complaint_hold_above > health.complaint_pause_above:
            raise ConfigError("health: expected complaint_hold_above <= complaint_pause_above")
        i = data.get("idle", {})
        if not isinstance(i, dict):
            raise ConfigError("idle: expected an [idle] table")
        idle = Idle(
            step_back_after_days=_count(
                i.get("step_back_after_days", 14), "idle.step_back_after_days", MAX_DAYS
            ),
            restart_after_days=_count(
                i.get("restart_after_days", 30), "idle.restart_after_days", MAX_DAYS
            ),
        )
        _only(i, {f.name for f in dataclasses.fields(Idle)}, "idle.")
        _check_idle(idle, given={k.split("_after")[0] for k in i})
        calendar = _calendar(data["calendar"]) if "calendar" in data else Calendar()
        window = _window(data["window"], calendar) if "window" in data else Window()
        qualify = _rate(data, "qualify", "", 0.5)
        domain_cap = data.get("domain_cap")
        if domain_cap is not None:
            domain_cap = _count(domain_cap, "domain_cap", MAX_VOLUME, 1)
        recipient_domains = _recipient_domains(data.get("recipient_domains", {}))
        description = data.get("description", "")
        if not isinstance(description, str) or len(description) > 2000:
            raise ConfigError(
                f"description: expected text of at most 2000 characters, got {_show(description)}"
            )
        _only(data, set(TOP_LEVEL), "")
    except ConfigError as exc:
        raise ConfigError(f"policy {source}: {exc}") from None
    return PolicySpec(
        name,
        ceiling,
        float(growth),
        stages,
        health,
        idle,
        window,
        domain_cap,
        description,
        recipient_domains,
        calendar,
        qualify,
    )


def _check_idle(idle: Idle, given: set[str]) -> None:
    """Refuse idle rules that contradict each other (0 turns a rule off). The restart is
    checked first: a step-back at or after it never happens."""
    back, restart = idle.step_back_after_days, idle.restart_after_days
    if back and restart and back >= restart:
        was = {k: "" if k in given else ", the default" for k in ("step_back", "restart")}
        raise ConfigError(
            f"idle.step_back_after_days ({back}{was['step_back']}) is not below "
            f"idle.restart_after_days ({restart}{was['restart']}), "
            f"so the step-back would never happen (the restart comes first); give a smaller "
            f"step_back_after_days, or 0 to turn it off"
        )


def _check_rising(stages: tuple[Stage, ...]) -> None:
    """Refuse a volume that goes down. A warm-up only rises: ``daily = [200, 100]`` is a ramp
    written backwards (the mailbox would start at 200 a day), and a stage below the one before
    it would be climbed back up to by stepping back a stage."""
    before: tuple[int, Stage] | None = None
    for n, st in enumerate(stages, 1):
        if st.daily_from > st.daily_to:
            raise ConfigError(
                f"stage[{n}].daily: [{st.daily_from}, {st.daily_to}] goes down; a warm-up ramp "
                f"rises, from the first number to the second: [{st.daily_to}, {st.daily_from}]"
            )
        if before is not None and st.daily_from < before[1].daily_to:
            raise ConfigError(
                f"stage[{n}].daily: {st.daily_from} is below the {before[1].daily_to} a day "
                f"stage[{before[0]}] ends at; a warm-up only rises (to send less, lower "
                f"ceiling, or the mailbox's cap with 'warmup mailbox set ADDRESS --cap N')"
            )
        before = (n, st)


def _check_growth(growth: float, stages: tuple[Stage, ...], ceiling: int) -> None:
    """Refuse a growth factor under which the quota can never rise.

    The quota never exceeds ``int(growth_factor x the busiest of the last days)`` (nor goes
    below the first stage's volume), and a mailbox never sends more than its quota: unless
    that product rounds down above the first stage's volume, every mailbox stays there."""
    floor = stages[0].daily_from
    top = min(ceiling, max(max(st.daily_from, st.daily_to) for st in stages))
    if top <= floor or int(growth * floor) > floor:
        return
    least = math.ceil((floor + 1) / floor * 100) / 100
    raise ConfigError(
        f"growth_factor: {growth:g} x {floor} (the first stage's daily volume) rounds down to "
        f"{int(growth * floor)}, so the quota could never rise above it to reach the later "
        f"stages; give at least {least:g}"
    )


TOP_LEVEL = frozenset(
    {
        "name",
        "description",
        "ceiling",
        "growth_factor",
        "stage",
        "health",
        "idle",
        "window",
        "domain_cap",
        "recipient_domains",
        "calendar",
        "qualify",
    }
)


def _only(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse a key a table does not know. TOML puts every key written after ``[table]`` into
    that table, so a top-level key placed there (``domain_cap`` after ``[idle]``) would
    otherwise be ignored without a word: say where it belongs."""
    unknown = sorted(set(raw) - allowed)
    if not unknown:
        return
    key, table = unknown[0], where.split(".")[0].split("[")[0]
    header = f"[[{table}]]" if table == "stage" else f"[{table}]"
    hint = (
        f"; {key} is a top-level key: TOML reads every key after {header} as part of that "
        f"table, so move it above the first [table]"
        if key in TOP_LEVEL and where
        else ""
    )
    if not hint:
        import difflib  # only on the way to an error: the quota path reads policies

        near = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else f" (known: {', '.join(sorted(allowed))})"
    shown = key if key.isprintable() and len(key) <= 40 else _show(key, 40)
    raise ConfigError(f"{where}{shown}: unknown key{hint}")


_DOMAIN = compiled_later(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def _recipient_domains(raw: Any) -> RecipientDomains:
    if not isinstance(raw, dict):
        raise ConfigError("recipient_domains: expected a [recipient_domains] table")
    if len(raw) > 1000:
        raise ConfigError(f"recipient_domains: {len(raw)} entries; at most 1000")
    default: int | None = None
    caps: list[tuple[str, int]] = []
    for key, value in raw.items():
        if isinstance(value, dict) and value:  # qq.com = 50: TOML's dotted key, table qq
            dotted, inner = str(key), value
            while isinstance(inner, dict) and len(inner) == 1:
                sub, inner = next(iter(inner.items()))
                dotted += f".{sub}"
            raise ConfigError(
                f"recipient_domains.{dotted[:80]}: put a domain in quotes "
                f'("{dotted[:80]}" = {_show(inner, 20)}); unquoted, TOML reads its dots as tables'
            )
        where = f"recipient_domains.{json.dumps(str(key))[:80]}"
        cap = _count(value, where, MAX_VOLUME)
        if key == "default":
            default = cap
            continue
        domain = str(key).strip().lower()
        if not _DOMAIN.match(domain):
            raise ConfigError(
                f'{where}: expected a domain like "qq.com" (or default){_ace(domain)}'
            )
        if any(domain == d for d, _ in caps):  # "qq.com" and "QQ.com": which cap was meant?
            raise ConfigError(f"{where}: {domain} is given twice (domains are case-insensitive)")
        caps.append((domain, cap))
    if default == 0 and not any(cap for _, cap in caps):
        # Every send would be refused (75, "try later") for good, while quota and plan showed
        # the mailbox's quota: the same mistake as a domain_cap of 0.
        raise ConfigError(
            "recipient_domains.default: 0 lets no recipient domain be mailed, so every send "
            'would be refused; give at least 1, or name the domains it may mail ("qq.com" = 40), '
            "or leave default out to cap only the domains named"
        )
    return RecipientDomains(default, tuple(sorted(caps)))


def _ace(domain: str) -> str:
    """For an international domain name, how to write it: recipients are stored in their ASCII
    form (warmup sends without SMTPUTF8), so a cap must name that form to apply."""
    from warmup.addresses import IDNA_DEVIATIONS

    # ß, ς, ZWNJ, ZWJ: the codec (IDNA 2003) writes another domain than the registries' form
    if domain.isascii() or IDNA_DEVIATIONS.search(domain):
        return ""
    try:
        ascii_form = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return f"; write it as {ascii_form}" if _DOMAIN.match(ascii_form) else ""


def preset_names() -> list[str]:
    """The built-in presets' names."""
    return list(_preset_names())


@functools.cache
def _preset_names() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in PRESETS.iterdir() if p.name.endswith(".toml")))


def load_policy(ref: str) -> PolicySpec:
    """A preset by name (``default``, ``gentle``) or a TOML file by path.

    A preset's name is the preset even when the working directory holds a file of that name
    (``./exmail`` names the file): else a stray file would replace it, by directory."""
    if ref in _preset_names():
        return _preset(ref)
    if ref.endswith(".toml") or "/" in ref or Path(ref).is_file():
        path = home(ref, "policy file")
        # a file without a name line is named after the file, as 'mailbox add --policy' stores it
        return parse_policy_text(read_policy_file(ref), str(path), Path(ref).stem)
    return _preset(ref)


def read_policy_file(ref: str) -> str:
    """The text of the policy file ``ref`` (unchecked), or :class:`ConfigError` saying why not.

    Only a regular file is read, and at most :data:`MAX_FILE` bytes of it: ``/dev/zero`` read
    without end, and a named pipe blocked until a writer came (it is opened non-blocking)."""
    path = home(ref, "policy file")
    try:
        data = read_regular(
            path,
            f"policy file {ref}",
            MAX_FILE,
            "give a TOML file",
            "; a policy is a few dozen lines",
        )
        return data.decode("utf-8-sig")  # a BOM from a Windows editor: skipped
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, OSError) and missing(exc):
            raise missing_file(ref, "policy file", exc) from None
        why = f"policy file {ref}: cannot read it ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})"
        # A name too long for the system names nothing (64); a file not there was said above
        # (66), as a missing 'policy add' FILE or import log is.
        raise (NotFound if isinstance(exc, OSError) and names_nothing(exc) else ConfigError)(
            why
        ) from None


@functools.cache
def _preset(ref: str) -> PolicySpec:
    """A built-in preset, parsed once per process (it ships with warmup and never changes; a
    :class:`PolicySpec` is immutable, so every caller may share it)."""
    if ref not in _preset_names():
        raise ConfigError(
            f"policy {ref!r}: no such preset (presets: "
            f"{', '.join(preset_names())}) and no such file"
        )
    return parse_policy_text(preset_text(ref), ref)


def preset_text(name: str) -> str:
    """The TOML text of the built-in preset ``name`` (one of :func:`preset_names`)."""
    return (PRESETS / f"{name}.toml").read_text(encoding="utf-8")


def parse_policy_text(text: str, source: str, name: str | None = None) -> PolicySpec:
    """Parse and validate the TOML text of a policy (``source`` names it in errors; ``name``
    as for :func:`parse_policy`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy {source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"policy {source}: arrays or tables nested too deeply") from None
    return parse_policy(data, source, name)
