"""Warm-up policies: TOML specs (:mod:`.spec`), the pure evaluation engine (:mod:`.engine`) and
its day-by-day walks, past and ahead (:mod:`.timeline`)."""

from warmup.policy.engine import (
    Allowance,
    DayCounts,
    History,
    MailboxEvent,
    PlanDay,
    evaluate,
)
from warmup.policy.spec import PolicySpec, Stage, load_policy, parse_duration

__all__ = [
    "Allowance", "DayCounts", "History", "MailboxEvent", "PlanDay", "PolicySpec", "Stage",
    "evaluate", "load_policy", "parse_duration", "project",
]


def __getattr__(name: str) -> object:
    if name == "project":  # the day-by-day walks load only for plans and reports
        from warmup.policy.timeline import project

        return project
    raise AttributeError(f"module 'warmup.policy' has no attribute {name!r}")
