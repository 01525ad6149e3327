"""Provider presets and the words of the policy's reasons (issue #12)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import SH, at
from warmup.policy import DayCounts, History, evaluate, load_policy
from warmup.policy.spec import preset_names
from warmup.policy.walk import percent
from warmup.providers import providers

BOX = "a@corp.example"
TODAY = dt.date(2026, 11, 16)


@pytest.mark.parametrize(
    ("provider", "preset"),
    [
        ("exmail", "exmail"),
        ("gmail", "gmail"),
        ("m365", "m365"),
        ("netease", "netease"),
        ("aliyun", "aliyun"),
        ("zoho", "zoho"),
    ],
)
def test_a_mailbox_added_without_policy_gets_its_providers_preset(run, provider, preset):
    assert run("mailbox", "add", BOX, "--provider", provider).exit_code == 0
    assert json.loads(run("mailbox", "show", BOX, "--json").output)["policy"] == preset
    listed = {p["name"]: p for p in json.loads(run("providers", "--json").output)}
    assert listed[provider]["policy"] == preset


def test_every_provider_policy_is_a_preset_and_default_still_loads():
    names = set(preset_names())
    assert {"default", "exmail", "gmail", "m365", "netease", "aliyun", "zoho"} <= names
    assert {p.policy for p in providers().values()} <= names
    assert load_policy("gmail").ceiling == 2000  # Google Workspace: 2,000 messages a day
    assert load_policy("m365").ceiling == 10000  # Exchange Online: 10,000 recipients a day
    # exmail is the seed's schedule, today's default plus the CN calendar
    exmail, default = load_policy("exmail"), load_policy("default")
    assert exmail.stages == default.stages and exmail.health == default.health


def hist(days) -> History:
    return History(mailbox=BOX, timezone=SH, days=tuple(days))


def test_a_rate_kept_by_value_is_worded_as_worked_out():
    # percent keeps its words by value (the worker words the sender's rates before each pool
    # message): asked again, in any order, of equal values, it says what it works out
    from warmup.policy.rules import _percent

    lines = [(0.03, 0.05, 0.10), (0.001, 0.003), (0.05,)]
    rates = [0.0, 0, 1, 1.0, 0.05, 0.05049, 0.0123, 0.00049, 1 / 3, 7 / 2800]
    for _ in range(2):
        for rate in rates:
            for ls in lines:
                for digits in (1, 2):
                    assert percent(rate, ls, digits) == _percent(rate, ls, digits)


def test_a_rate_just_above_the_line_prints_enough_digits():
    assert percent(0.05049, (0.03, 0.05, 0.10)) == "5.05%"  # "5.0%" would not be above 5%
    assert percent(0.05, (0.03, 0.05, 0.10)) == "5.0%"
    assert percent(0.0123, (0.03,)) == "1.2%"
    days = [DayCounts(TODAY - dt.timedelta(days=k), 300) for k in range(40, 7, -1)]
    days += [DayCounts(TODAY - dt.timedelta(days=k), 300) for k in range(7, 1, -1)]
    days += [DayCounts(TODAY - dt.timedelta(days=1), 1000, hard=141)]  # 141/2800 = 5.036%
    a = evaluate(load_policy("default"), hist(days), at(TODAY))
    (why,) = [r for r in a.reasons if "(141/2800)" in r]
    shown = float(why.split("bounce rate ")[1].split("%")[0])
    assert shown == 5.04 and "above 5% steps back a stage" in why


def test_bounces_below_the_sample_size_are_flagged_but_not_held():
    days = [DayCounts(TODAY - dt.timedelta(days=1), 19, hard=10)]
    a = evaluate(load_policy("default"), hist(days), at(TODAY))
    assert a.status == "ok"
    assert any(
        r.startswith("warning: 10 bounces in 19 sends (52.6%, above 3%)") and "needs 20" in r
        for r in a.reasons
    )
