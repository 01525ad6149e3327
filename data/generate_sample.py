"""Generate ``data/sample.csv``: three mailboxes over 60 days that follow the default policy.

Deterministic (fixed seed and dates): running it again writes the same file byte for byte.

- ``sales@corp.example`` (Tencent Exmail, Asia/Shanghai) ramps cleanly from week 1 to stable
  (a verified list: 0.4% bounces);
- ``outreach@corp.example`` (Alibaba Mail, Asia/Shanghai) mails a stale list on days 22-23: the
  bounce rate holds the ramp and pauses the mailbox; two paused mornings later the operator
  resumes it (a ``resume`` event row) and it ramps again from the stage before;
- ``partners@corp.example`` (Google Workspace, Europe/Berlin) goes idle on days 31-46, so the
  policy steps it back a stage when it sends again.

Each morning the generator asks the policy (``warmup.api.quota_for``, on a scratch ledger that it
fills as it goes) what the mailbox may send, and sends 85-100% of it, so the sample never breaks
the plan. Usage: ``python data/generate_sample.py [OUT.csv]`` (default: next to this file).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from warmup import api
from warmup.ledger import BounceIn, EventIn, SendIn, open_ledger

SEED = 20261129
POLICY = "default"  # the stories below are told in the default policy's terms
FIRST_DAY = dt.date(2026, 9, 30)
DAYS = 60
MAILBOXES = (  # address, provider, time zone, story
    ("sales@corp.example", "exmail", "Asia/Shanghai", "clean"),
    ("outreach@corp.example", "aliyun", "Asia/Shanghai", "spike"),
    ("partners@corp.example", "gmail", "Europe/Berlin", "idle"),
)
SPIKE_DAYS = (22, 23)  # 1-based days on which the stale list goes out
IDLE_DAYS = range(31, 47)  # 16 idle days: more than the policy's 14, so it steps back
DOMAINS = (
    ("example.com", 0.40),
    ("example.net", 0.25),
    ("example.org", 0.20),
    ("mail.example", 0.15),
)
STALE_DOMAIN = "old-list.example"  # 35% of its recipients bounce
BOUNCE_RATE = {"clean": 0.004, "spike": 0.012, "idle": 0.012}  # otherwise
HEADER = (
    "mailbox",
    "recipient",
    "sent_at",
    "bounce_kind",
    "bounce_status",
    "bounced_at",
    "provider",
    "timezone",
    "event",
    "reason",
    "policy",
)


def _bounce(rng: random.Random, rate: float, complaints: bool) -> tuple[str, str] | None:
    """(kind, status) if this recipient bounces (probability ``rate``); a complaint (1%) where
    ``complaints`` (only the stale list complains: one complaint holds a ramp for a week)."""
    if rng.random() < rate:
        return rng.choices(
            (("hard", "5.1.1"), ("soft", "4.2.2"), ("block", "5.7.1")), weights=(0.65, 0.25, 0.10)
        )[0]
    if complaints and rng.random() < 0.01:
        return "complaint", ""
    return None


def generate(out: Path) -> int:
    """Simulate, write the CSV to ``out``; the number of data rows written."""
    rng = random.Random(SEED)
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="warmup-sample-") as tmp:
        ledger = open_ledger(str(Path(tmp) / "sample.db"))
        for address, provider, tz, story in MAILBOXES:
            box = api.add_mailbox(ledger, address, provider, timezone=tz, policy=POLICY)
            zone, paused_mornings, first = ZoneInfo(tz), 0, True
            for k in range(1, DAYS + 1):
                day = FIRST_DAY + dt.timedelta(days=k - 1)
                if story == "idle" and k in IDLE_DAYS:
                    continue
                morning = dt.datetime.combine(day, dt.time(9), zone)
                allowance = api.quota_for(ledger, box, morning)
                if allowance.status == "paused":
                    paused_mornings += 1
                    if paused_mornings < 2:
                        continue
                    resume_at = morning - dt.timedelta(minutes=30)  # cleaned list, resumed
                    # into the ledger as the sends go: api.resume refuses a date after the
                    # machine's clock, and the sample's days are fixed
                    ledger.record(box, events=[EventIn("resume", resume_at, "stale list removed")])
                    rows.append(
                        (
                            address,
                            "",
                            resume_at.isoformat(),
                            "",
                            "",
                            "",
                            "",
                            "",
                            "resume",
                            "stale list removed",
                            "",
                        )
                    )
                    allowance = api.quota_for(ledger, box, morning)
                stale = story == "spike" and k in SPIKE_DAYS
                n = int(allowance.remaining * rng.uniform(0.85, 1.0))
                sends = []
                for i in range(n):
                    at = morning + dt.timedelta(seconds=i * 9 * 3600 // max(n, 1))
                    on_stale = stale and rng.random() < 0.6
                    domain = (
                        STALE_DOMAIN
                        if on_stale
                        else rng.choices([d for d, _ in DOMAINS], weights=[w for _, w in DOMAINS])[
                            0
                        ]
                    )
                    rcpt = f"{address.split('@')[0][:3]}{k:02d}{i:03d}@{domain}"
                    bounce = _bounce(rng, 0.35 if on_stale else BOUNCE_RATE[story], on_stale)
                    row = [address, rcpt, at.isoformat(), "", "", "", "", "", "", "", ""]
                    got = None
                    if bounce:
                        kind, status = bounce
                        when = at + dt.timedelta(minutes=7)
                        got = BounceIn(rcpt, kind, when, f"sample:{rcpt}", status=status or None)
                        row[3:6] = [kind, status, when.isoformat()]
                    if first:  # the first row registers the mailbox on import, with its policy
                        row[6:8], row[10], first = [provider, tz], POLICY, False
                    sends.append(SendIn(rcpt, at, source="sample", bounce=got))
                    rows.append(tuple(row))
                ledger.record(box, sends=sends)
        ledger.close()
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sample.csv")
    print(f"wrote {generate(target)} rows to {target}")
