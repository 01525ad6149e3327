"""Warm-up policies: TOML specs (:mod:`.spec`), calendars and sending windows (:mod:`.calendar`),
the day-by-day walk where the rules live (:mod:`.walk`), and the answers drawn from it
(:mod:`.engine`: today's allowance and every past day; :mod:`.plan`: the days ahead).

The plan's names are imported on first use (PEP 562): ``warmup quota`` and ``warmup send`` never
project days ahead."""

from typing import TYPE_CHECKING

from warmup.policy.engine import (
    Allowance,
    DayVerdict,
    evaluate,
    timeline,
    walk_timeline,
)
from warmup.policy.inputs import DayCounts, History, MailboxEvent, WalkState
from warmup.policy.spec import PolicySpec, Stage, load_policy, parse_duration

if TYPE_CHECKING:  # explicit re-exports ("X as X"): what __getattr__ below provides
    from warmup.policy.plan import MailboxPlan as MailboxPlan
    from warmup.policy.plan import Plan as Plan
    from warmup.policy.plan import PlanDay as PlanDay
    from warmup.policy.plan import project as project

_PLAN = ("MailboxPlan", "Plan", "PlanDay", "project")

__all__ = [
    "Allowance",
    "DayCounts",
    "DayVerdict",
    "History",
    "MailboxEvent",
    "MailboxPlan",
    "Plan",
    "PlanDay",
    "PolicySpec",
    "Stage",
    "WalkState",
    "evaluate",
    "load_policy",
    "parse_duration",
    "project",
    "timeline",
    "walk_timeline",
]


def __getattr__(name: str) -> object:
    if name in _PLAN:
        from warmup.policy import plan

        return getattr(plan, name)
    raise AttributeError(f"module 'warmup.policy' has no attribute {name!r}")
