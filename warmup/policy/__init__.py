"""Warm-up policies: TOML specs (:mod:`.spec`) and the pure evaluation engine (:mod:`.engine`)."""

from warmup.policy.engine import (
    Allowance,
    DayCounts,
    History,
    MailboxEvent,
    PlanDay,
    evaluate,
    project,
)
from warmup.policy.spec import PolicySpec, Stage, load_policy, parse_duration

__all__ = [
    "Allowance", "DayCounts", "History", "MailboxEvent", "PlanDay", "PolicySpec", "Stage",
    "evaluate", "load_policy", "parse_duration", "project",
]
