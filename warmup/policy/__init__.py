"""Warm-up policies: TOML specs (:mod:`.spec`), calendars and sending windows (:mod:`.calendar`),
the day-by-day walk where the rules live (:mod:`.walk`), and the answers drawn from it
(:mod:`.engine`: today's allowance and every past day; :mod:`.plan`: the days ahead)."""

from warmup.policy.engine import (
    Allowance,
    DayVerdict,
    evaluate,
    timeline,
    walk_timeline,
)
from warmup.policy.inputs import DayCounts, History, MailboxEvent, WalkState
from warmup.policy.plan import MailboxPlan, Plan, PlanDay, project
from warmup.policy.spec import PolicySpec, Stage, load_policy, parse_duration

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
