"""Policy specs: every preset loads; bad files are refused naming the key at fault."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from warmup.errors import ConfigError, MissingFile
from warmup.policy.spec import load_policy, parse_duration, preset_names

GOOD = """
name = "mine"
ceiling = 300
growth_factor = 2.0

[[stage]]
name = "first"
days = 7
daily = 50
interval = ["5m", "10m"]

[[stage]]
name = "ramp"
days = 21
daily = [100, 200]
interval = "2m"

[[stage]]
name = "stable"
days = 0
daily = 300

[health]
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10

[window]
hours = ["08:00", "20:00"]
weekdays = ["mon", "tue", "wed", "thu", "fri"]
"""


def test_presets_are_found():
    assert {"default", "gentle"} <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads(name: str):
    spec = load_policy(name)
    assert spec.name == name
    assert spec.stages and spec.stages[-1].days == 0
    assert all(st.daily_to <= spec.ceiling for st in spec.stages)
    h = spec.health
    assert h.hold_above <= h.step_back_above <= h.pause_above
    assert all(st.interval_min <= st.interval_max for st in spec.stages)


def test_a_good_file_loads(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    spec = load_policy(str(path))
    assert (spec.name, spec.ceiling, spec.growth_factor) == ("mine", 300, 2.0)
    assert [(s.days, s.daily_from, s.daily_to) for s in spec.stages] == [
        (7, 50, 50),
        (21, 100, 200),
        (0, 300, 300),
    ]
    assert (spec.stages[0].interval_min, spec.stages[0].interval_max) == (300, 600)
    assert (spec.stages[1].interval_min, spec.stages[1].interval_max) == (120, 120)
    assert spec.window.weekdays == (0, 1, 2, 3, 4)
    assert spec.window.ranges == ((dt.time(8), dt.time(20)),)  # the one-range form
    assert [spec.stage_at(d)[1].name for d in (1, 7, 8, 28, 29, 400)] == [
        "first",
        "first",
        "ramp",
        "ramp",
        "stable",
        "stable",
    ]


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


BAD = [
    ("ceiling negative", _edit("ceiling = 300", "ceiling = -1"), "ceiling:"),
    ("ceiling a string", _edit("ceiling = 300", 'ceiling = "300"'), "ceiling:"),
    (
        "growth factor below 1",
        _edit("growth_factor = 2.0", "growth_factor = 0.9"),
        "growth_factor:",
    ),
    ("stage days 0 not last", _edit("days = 7", "days = 0"), "stage[1].days:"),
    ("daily of three", _edit("daily = 50", "daily = [1, 2, 3]"), "stage[1].daily:"),
    # said "from 0 to 1_000_000", and 0 is refused too
    (
        "daily negative",
        _edit("daily = [100, 200]", "daily = [100, -200]"),
        "stage[2].daily: expected a whole number from 1 to 1_000_000, got -200",
    ),
    (
        "interval in words",
        _edit('interval = ["5m", "10m"]', 'interval = "5 minutes"'),
        "stage[1].interval:",
    ),
    (
        "interval min above max",
        _edit('interval = ["5m", "10m"]', 'interval = ["10m", "5m"]'),
        "stage[1].interval:",
    ),
    (
        "hold_above as a percentage",
        _edit("hold_above = 0.03", "hold_above = 3"),
        "health.hold_above:",
    ),
    (
        "thresholds out of order",
        _edit("step_back_above = 0.05", "step_back_above = 0.02"),
        "health:",
    ),
    (
        "unknown top-level key",
        GOOD.replace("growth_factor = 2.0", "growth_factor = 2.0\ncolour = 1"),
        "colour: unknown key",
    ),
    (
        # A top-level key written after [idle] is part of [idle] in TOML: it was ignored.
        "top-level key after a table",
        GOOD + "\n[idle]\nrestart_after_days = 30\ndomain_cap = 120\n",
        "idle.domain_cap: unknown key; domain_cap is a top-level key: TOML reads every key "
        "after [idle] as part of that table",
    ),
    (
        "unknown health key",
        _edit("[health]\n", "[health]\npause_at = 0.2\n"),
        "health.pause_at: unknown key",
    ),
    (
        "unknown stage key",
        _edit("daily = 50", "daily = 50\nvolume = 50"),
        "stage[1].volume: unknown key",
    ),
    (
        "window hours reversed",
        _edit('hours = ["08:00", "20:00"]', 'hours = ["20:00", "08:00"]'),
        "window.hours:",
    ),
    (
        "window hour not a time",
        _edit('hours = ["08:00", "20:00"]', 'hours = ["8am", "20:00"]'),
        "window.hours:",
    ),
    ("weekday unknown", _edit('"fri"]', '"fry"]'), "window.weekdays:"),
    ("no stages", GOOD[: GOOD.index("[[stage]]")], "stage:"),
    ("not TOML", "name = ", "not valid TOML"),
    # Values that parsed and then crashed every command of the mailbox (issue #10 item 9).
    (
        "window of a million days",
        _edit("[health]\n", "[health]\nwindow_days = 1000000\n"),
        "health.window_days:",
    ),
    # A window of 0 days was read as 1, silently: the file said something else than it did.
    (
        "window of 0 days",
        _edit("[health]\n", "[health]\nwindow_days = 0\n"),
        "health.window_days: expected a whole number from 1 to",
    ),
    (
        "interval of a trillion hours",
        _edit('interval = "2m"', 'interval = "1000000000000h"'),
        "stage[2].interval:",
    ),
    (
        "interval of 400 digits",
        _edit('interval = "2m"', f'interval = "{"9" * 400}m"'),
        "stage[2].interval:",
    ),
    (
        "growth factor 1e308",
        _edit("growth_factor = 2.0", "growth_factor = 1e308"),
        "growth_factor:",
    ),
    (
        "arrays nested 5000 deep",
        _edit('name = "mine"', 'name = "mine"\ndescription = ' + "[" * 5000 + "]" * 5000),
        "nested too deeply",
    ),
    ("stage of a million days", _edit("days = 21", "days = 1000000"), "stage[2].days:"),
    ("ceiling of 10^17", _edit("ceiling = 300", "ceiling = 99999999999999999"), "ceiling:"),
    ("daily of 10^17", _edit("daily = 300", "daily = 99999999999999999"), "stage[3].daily:"),
    (
        "idle of a billion days",
        GOOD + "[idle]\nrestart_after_days = 1000000000\n",
        "idle.restart_after_days:",
    ),
    ("name with a line break", _edit('name = "mine"', 'name = "mine\\nStatus: ok"'), "name:"),
    # Lenient parsing took "Tuesdayyy" as Tuesday and "8:5" as 08:05 (or was it 08:50?).
    ("a weekday with extra letters", _edit('"tue"', '"Tuesdayyy"'), "window.weekdays:"),
    ("a two-letter weekday", _edit('"tue"', '"tu"'), "window.weekdays:"),
    ("a one-digit minute", _edit('"08:00", "20:00"', '"8:5", "20:00"'), "window.hours"),
    ("an hour with a sign", _edit('"08:00", "20:00"', '"+8:00", "20:00"'), "window.hours"),
    ("a time with seconds", _edit('"08:00", "20:00"', '"08:00:00", "20:00"'), "window.hours"),
    (
        "one recipient domain twice, in two cases",
        GOOD + '[recipient_domains]\n"qq.com" = 0\n"QQ.com" = 500\n',
        'recipient_domains."QQ.com": qq.com is given twice',
    ),
    (
        # Unquoted, TOML reads qq.com as a table qq holding com: the error showed {'com': 50}.
        "a recipient domain without quotes",
        GOOD + "[recipient_domains]\nqq.com = 50\n",
        'recipient_domains.qq.com: put a domain in quotes ("qq.com" = 50)',
    ),
    # A day counts toward warm-up only when it sends, so a day of quota 0 never does: these
    # policies loaded and then held every mailbox on warm-up day 1 forever, at quota 0.
    ("a stage of 0 a day", _edit("daily = 50", "daily = 0"), "stage[1].daily: 0 a day"),
    ("a ramp from 0", _edit("daily = [100, 200]", "daily = [0, 200]"), "stage[2].daily: 0 a day"),
    (
        "a ceiling of 0",
        _edit("ceiling = 300", "ceiling = 0"),
        "ceiling: expected a whole number from 1",
    ),
    (
        "a domain cap of 0",
        _edit("growth_factor = 2.0", "growth_factor = 2.0\ndomain_cap = 0"),
        "domain_cap: expected a whole number from 1",
    ),
    # The ramp's end was never reached: an open-ended (or one-day) stage sent its start forever.
    (
        "a ramp in the open-ended stage",
        _edit("daily = 300", "daily = [300, 500]"),
        "stage[3].daily: a ramp needs a stage of 2 days or more",
    ),
    # The quota never exceeds growth_factor x the busiest of the last 7 days, rounded down, and a
    # mailbox never sends more than its quota: 1 x 50 (or 1.01 x 50 = 50.5) kept every mailbox
    # at 50 a day for good, whatever the stages said.
    (
        "a growth factor of 1 under a ramp",
        _edit("growth_factor = 2.0", "growth_factor = 1"),
        "growth_factor: 1 x 50 (the first stage's daily volume) rounds down to 50",
    ),
    (
        "a growth factor that rounds down to no growth",
        _edit("growth_factor = 2.0", "growth_factor = 1.01"),
        "give at least 1.02",
    ),
    # hold_above > pause_above was refused, the same for complaints was not: the hold line
    # above the pause line never held anything, the mailbox paused first.
    (
        "complaint thresholds out of order",
        _edit("[health]\n", "[health]\ncomplaint_hold_above = 0.5\ncomplaint_pause_above = 0.1\n"),
        "health: expected complaint_hold_above <= complaint_pause_above",
    ),
    # The errors said what was wrong, not what to write instead.
    (
        "window hours across midnight",
        _edit('hours = ["08:00", "20:00"]', 'hours = ["22:00", "06:00"]'),
        "window.hours: 22:00-06:00: the end must be after the start; across midnight, "
        "write two ranges: [['00:00', '06:00'], ['22:00', '24:00']]",
    ),
    # A typo was named but not corrected: the user had to look up the key it meant.
    (
        "a misspelt health key names the nearest",
        _edit("hold_above = 0.03", "hold_abve = 0.03"),
        "health.hold_abve: unknown key; did you mean hold_above?",
    ),
    (
        "a misspelt top-level key names the nearest",
        _edit("ceiling = 300", "ceiling = 300\nceilng = 200"),
        "ceilng: unknown key; did you mean ceiling?",
    ),
    (
        "a misspelt stage key names the nearest",
        _edit("days = 7", "days = 7\ndayz = 7"),
        "stage[1].dayz: unknown key; did you mean days?",
    ),
    (
        "an unknown key like no known one lists them",
        _edit("[health]\n", "[health]\nzzz = 1\n"),
        "health.zzz: unknown key (known: complaint_hold_above, ",
    ),
    # A key with a line break in it (TOML allows quoted keys) split the one-line error.
    ("an unknown key with a line break", _edit("[health]\n", '[health]\n"a\\nb" = 1\n'), "'a\\nb'"),
    # A ramp written backwards loaded: the new mailbox started at the top of it.
    (
        "a ramp that goes down",
        _edit("daily = [100, 200]", "daily = [200, 100]"),
        "stage[2].daily: [200, 100] goes down; a warm-up ramp rises, from the first number "
        "to the second: [100, 200]",
    ),
    # A stage below the one before it: stepping back a stage climbed back up to more.
    (
        "a stage below the one before it",
        _edit("daily = 300", "daily = 150"),
        "stage[3].daily: 150 is below the 200 a day stage[2] ends at",
    ),
    # Loaded, then every send was refused with 75 for good while quota and plan said "ok 50".
    (
        "a recipient-domain default of 0 and no domain above 0",
        GOOD + '[recipient_domains]\ndefault = 0\n"qq.com" = 0\n',
        "recipient_domains.default: 0 lets no recipient domain be mailed",
    ),
    # The restart is checked first: a step-back at 40 days after a restart at 30 never came.
    (
        "an idle step-back after the restart",
        GOOD + "[idle]\nstep_back_after_days = 40\nrestart_after_days = 30\n",
        "idle.step_back_after_days (40) is not below idle.restart_after_days (30)",
    ),
    (
        "an idle step-back on the restart's day",
        GOOD + "[idle]\nstep_back_after_days = 30\n",
        "idle.step_back_after_days (30) is not below idle.restart_after_days (30, the default)",
    ),
    (
        "an international recipient domain",
        GOOD + '[recipient_domains]\n"b\u00fccher.de" = 5\n',
        "write it as xn--bcher-kva.de",
    ),
    # float() and re's \d read every script's digits: "٥m" was five minutes, "٠٨:00" 8 o'clock
    (
        "an interval in Arabic-Indic digits",
        _edit('interval = "2m"', 'interval = "٥m"'),
        "stage[2].interval: '٥m': digits must be 0-9: write '5m'",
    ),
    (
        "an interval in full-width digits",
        _edit('interval = ["5m", "10m"]', 'interval = ["5m", "１０m"]'),
        "stage[1].interval: '１０m': digits must be 0-9: write '10m'",
    ),
    (
        "a window hour in Arabic-Indic digits",
        _edit('"08:00", "20:00"', '"٠٨:00", "20:00"'),
        "window.hours: '٠٨:00': digits must be 0-9: write '08:00'",
    ),
    # A stage is shown by its name alone (quota, plan, report, the plot's coloured bands): a
    # blank one was an empty STAGE column, two of one name ran together as one stage.
    ("a blank stage name", _edit('name = "ramp"', 'name = ""'), "stage[2].name: blank"),
    ("a stage name of spaces", _edit('name = "ramp"', 'name = "  "'), "stage[2].name: blank"),
    (
        "two stages of one name",
        _edit('name = "stable"', 'name = "ramp"'),
        "stage[3].name: 'ramp' names stage[2] already",
    ),
]


@pytest.mark.parametrize(
    ("text", "key"), [(t, k) for _, t, k in BAD], ids=[case for case, _, _ in BAD]
)
def test_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, key: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy(str(path))
    message = str(err.value)
    assert key in message
    assert str(path) in message
    assert "\n" not in message and len(message) < 300 + len(str(path))
    assert err.value.exit_code == 78


def test_a_cap_on_a_domain_idna_2003_rewrites_never_names_another_domain(tmp_path: Path):
    """Python's "idna" codec (IDNA 2003) writes straße.example as strasse.example, another
    domain than the xn--strae-oqa.example registries and mail servers use: the hint said "write it
    as strasse.example", a cap for someone else's domain."""
    path = tmp_path / "bad.toml"
    path.write_text(GOOD + '[recipient_domains]\n"stra\u00dfe.example" = 5\n')
    with pytest.raises(ConfigError) as err:
        load_policy(str(path))
    assert "expected a domain" in str(err.value)
    assert "strasse" not in str(err.value)


@pytest.mark.parametrize(
    ("weekdays", "hours", "days", "start"),
    [
        ('["Mon", "tues", "Thursday"]', '["8:00", "20:00"]', (0, 1, 3), dt.time(8)),
        ('["FRI", "saturday"]', '["09:30", "24:00"]', (4, 5), dt.time(9, 30)),
    ],
)
def test_weekday_names_and_hours_that_are_read(tmp_path: Path, weekdays, hours, days, start):
    path = tmp_path / "ok.toml"
    path.write_text(
        GOOD.replace('["mon", "tue", "wed", "thu", "fri"]', weekdays).replace(
            '["08:00", "20:00"]', hours
        )
    )
    spec = load_policy(str(path))
    assert spec.window.weekdays == days
    assert spec.window.ranges[0][0] == start


def test_a_growth_factor_of_1_is_fine_for_a_flat_policy(tmp_path: Path):
    path = tmp_path / "flat.toml"
    path.write_text(
        'name = "flat"\nceiling = 80\ngrowth_factor = 1\n'
        '[[stage]]\nname = "flat"\ndays = 0\ndaily = 80\n'
    )
    assert load_policy(str(path)).growth_factor == 1.0


def test_thresholds_message_names_the_three_keys(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(_edit("pause_above = 0.10", "pause_above = 0.04"))
    with pytest.raises(ConfigError, match="hold_above <= step_back_above <= pause_above"):
        load_policy(str(path))


def test_unreadable_and_unknown_references(tmp_path: Path):
    with pytest.raises(MissingFile, match="cannot read"):  # not there: 66, not 78
        load_policy(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such preset") as err:
        load_policy("turbo")
    assert "default" in str(err.value) and "gentle" in str(err.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("10m", 600),
        ("90s", 90),
        ("45s", 45),
        ("0s", 0),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1h0m30s", 3630),
        ("1.5m", 90),
        (" 2M ", 120),
        ("0.5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "5",
        "m",
        "5 minutes",
        "5min",
        "m5",
        "5m x",
        "-5m",
        "1h 30m",
        "5m5",
        "five m",
        "5x",
    ],
)
def test_parse_duration_refuses(text: str):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("5d", "'5d': days are no unit here; write hours, minutes or seconds ('24h' at most"),
        ("99999999d", "'99999999d': days are no unit here"),
        ("2 days", "'2 days': days are no unit here"),
        ("2m-5m", '\'2m-5m\' is a range; write it as a list: ["2m", "5m"]'),
        ("90s to 3m", '\'90s to 3m\' is a range; write it as a list: ["90s", "3m"]'),
    ],
)
def test_a_duration_in_days_or_as_a_range_is_told_how_to_write_it(text: str, said: str):
    """'99999999d' (days: outbox expiry's unit, not an interval's) and '2m-5m' were called
    "not a duration like '5m'", which left the user guessing what was wrong with them."""
    with pytest.raises(ValueError) as exc:
        parse_duration(text)
    assert str(exc.value).startswith(said)


@pytest.mark.parametrize(
    ("idle", "caps", "expected"),
    [
        ("step_back_after_days = 0\nrestart_after_days = 10", "", (0, 10)),  # 0: off
        ("step_back_after_days = 40\nrestart_after_days = 0", "", (40, 0)),
        ("step_back_after_days = 0\nrestart_after_days = 0", "", (0, 0)),
        ("", 'default = 0\n"qq.com" = 40', (14, 30)),  # only qq.com may be mailed
    ],
)
def test_idle_rules_turned_off_and_a_default_of_0_beside_a_named_domain_load(
    tmp_path: Path, idle: str, caps: str, expected: tuple[int, int]
):
    path = tmp_path / "ok.toml"
    path.write_text(GOOD + f"[idle]\n{idle}\n[recipient_domains]\n{caps}\n")
    spec = load_policy(str(path))
    assert (spec.idle.step_back_after_days, spec.idle.restart_after_days) == expected


@pytest.mark.parametrize(
    ("old", "said"),
    [
        ("ceiling = 300\n", "ceiling: missing; add a line such as ceiling = 300"),
        ("growth_factor = 2.0\n", "growth_factor: missing; add a line such as growth_factor = 2.0"),
        ("days = 7\n", "stage[1].days: missing; add a line such as days = 7"),
        ("daily = 50\n", "stage[1].daily: missing; add a line such as daily = 50"),
    ],
)
def test_a_missing_key_is_refused_saying_what_to_add(
    run, ledger_path: Path, tmp_path: Path, old: str, said: str
):
    """A file without a key it needs said only "KEY: missing": what line to add, and where a
    whole policy is to copy from. (A file without ``name = ...`` is stored: NAME, on the
    command line, names it; tests/test_policies.py.)"""
    path = tmp_path / "careful.toml"
    path.write_text(_edit(old, ""))
    res = run("policy", "add", "careful", str(path))
    assert res.exit_code == 78
    assert res.output == (
        f"Error: policy {path}: {said} ('warmup policy show default' prints a whole policy)\n"
    )
    assert not ledger_path.exists()  # nothing stored, not even a new ledger


def test_a_file_without_a_name_line_is_named_after_the_file(tmp_path: Path):
    """A policy file is named where it is stored (``policy add NAME``, or ``--policy mine.toml``
    as ``mine``): one without ``name = ...`` was refused ("name: missing"); one that has the
    line is still held to it (printable text)."""
    path = tmp_path / "careful.toml"
    path.write_text(_edit('name = "mine"\n', ""))
    assert load_policy(str(path)).name == "careful"
    path.write_text(_edit('name = "mine"', "name = 5"))
    with pytest.raises(ConfigError, match="name: expected"):
        load_policy(str(path))
