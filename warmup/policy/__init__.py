"""Warm-up policies: TOML specs (:mod:`.spec`), the day-by-day walk where the rules live
(:mod:`.walk`), and the answers drawn from it (:mod:`.engine`: today's allowance, every past day,
the days ahead)."""

from warmup.policy.engine import (
    Allowance,
    DayVerdict,
    PlanDay,
    evaluate,
    project,
    timeline,
    walk_timeline,
)
from warmup.policy.spec import PolicySpec, Stage, load_policy, parse_duration
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState

__all__ = [
    "Allowance",
    "DayCounts",
    "DayVerdict",
    "History",
    "MailboxEvent",
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
