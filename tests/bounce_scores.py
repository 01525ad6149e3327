"""Score the bounce parser against the corpus' reference answers (tests/corpus/dsn).

One :class:`Entry` per expected recipient (or per complaint / non-failure file), with whether
the parser found the recipient, agreed on hard/not-hard and on the reason. Shared by the corpus
test (tests/test_bounce_parse.py), the cross-validation folds (tests/test_bounce_folds.py) and
the parse bench (bench/bounce_parse.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warmup.bounces import Bounce, parse_bounces

CORPUS = Path(__file__).parent / "corpus" / "dsn"
SPECIAL = {"feedback", "vacation", "delivered"}
FEEDBACK_KINDS = ("complaint", "notice")


def counted(b: Bounce) -> bool:
    """A bounce that would count against a mailbox: a recipient, and no delay warning."""
    return bool(b.recipient) and not b.delayed


def by_address(got: Iterable[Bounce]) -> dict[str, Bounce]:
    """The first bounce naming each address, as its failed recipient or as the
    Original-Recipient beside it (an outside corpus may expect either: both name the failure)."""
    found: dict[str, Bounce] = {}
    for b in got:
        found.setdefault(b.recipient, b)
        if b.original_recipient:
            found.setdefault(b.original_recipient, b)
    return found


def invented(name: str, got: Iterable[Bounce], expected: Iterable[str]) -> set[tuple[str, str]]:
    """``(file, address)`` of each recipient reported that the corpus does not expect."""
    want = set(expected)
    return {
        (name, b.recipient)
        for b in got
        if b.recipient and b.recipient not in want and b.original_recipient not in want
    }


def check_documented(
    found: Iterable[tuple[str, str]],
    known: Mapping[tuple[str, str], str],
    what: str,
    detail: Mapping[tuple[str, str], str] | None = None,
) -> None:
    """Assert that every disagreement ``found`` with an outside corpus is documented in ``known``
    (a new one fails, with ``detail`` of it) and that every documented one still occurs (one
    fixed is removed from the table, so the table stays the list of what remains)."""
    found = set(found)
    new = sorted(found - set(known))
    assert not new, f"undocumented {what}: " + "; ".join(
        f"{k}: {detail[k]}" if detail else str(k) for k in new
    )
    stale = sorted(set(known) - found)
    assert not stale, f"documented {what} no longer occur, remove them: {stale}"


def print_disagreements(
    split: Mapping[str, Mapping[str, int]],
    missed: tuple[Iterable[tuple[str, str]], Mapping[tuple[str, str], str]],
    hard_missed: tuple[Mapping[tuple[str, str], str], Mapping[tuple[str, str], str]],
    invented: tuple[Iterable[tuple[str, str]], Mapping[tuple[str, str], str]],
) -> None:
    """Print (``pytest -s``) how warmup's kinds split each reason of an outside corpus, then
    each disagreement beside why it is documented: ``(found, known)`` pairs of recipient misses,
    hard/not-hard misses (with their detail) and addresses reported that are not expected."""
    for reason, per in sorted(split.items()):
        print(f"    {reason}: " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
    for key in sorted(missed[0]):
        print(f"    - recipient missed {key}: {missed[1].get(key, 'UNDOCUMENTED')}")
    for key, detail in sorted(hard_missed[0].items()):
        print(f"    - hard/not-hard {key}: {detail}")
        print(f"        {hard_missed[1].get(key, 'UNDOCUMENTED')}")
    for key in sorted(invented[0]):
        print(f"    - invented {key}: {invented[1].get(key, 'UNDOCUMENTED')}")


@dataclass
class Tally:
    """Agreement on one criterion of an outside corpus: how many of how many, printed as such."""

    ok: int = 0
    total: int = 0

    def add(self, good: bool) -> None:
        self.ok += good
        self.total += 1

    @property
    def rate(self) -> float:
        return self.ok / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.ok}/{self.total} = {self.rate:.1%}" if self.total else "-"


@dataclass(frozen=True)
class Entry:
    """One expected answer and how the parser fared on it."""

    file: str
    recipient: str
    special: bool  # a complaint or non-failure file (scored as one entry)
    found: bool | None  # recipient found (None: the reference names none, or special)
    hard_ok: bool
    reason_ok: bool
    detail: str


@dataclass
class Figures:
    """Raw counters for one criterion: every entry counts, nothing is excluded."""

    total: int = 0
    ok: int = 0
    missed: set[tuple[str, str]] = field(default_factory=set)
    misses: list[str] = field(default_factory=list)

    def add(self, good: bool, key: tuple[str, str], detail: str) -> None:
        self.total += 1
        self.ok += good
        if not good:
            self.missed.add(key)
            self.misses.append(detail)

    @property
    def rate(self) -> float:
        return self.ok / self.total if self.total else 0.0


def corpus_rows() -> list[tuple[str, list[dict]]]:
    """(file, expected entries) for every line of expected.jsonl."""
    rows = []
    for line in (CORPUS / "expected.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append((row["file"], row["expected"]))
    return rows


def score_file(name: str, expected: list[dict], got: list[Bounce]) -> list[Entry]:
    """Compare one file's parse with its expected entries."""
    reasons = {e["reason"] for e in expected}
    first = expected[0]["recipient"].lower() if expected else ""
    if reasons & SPECIAL:
        if "feedback" in reasons:
            # The reference's "feedback" is every ARF report; warmup counts the recipient's
            # complaints and records the others (auth-failure, not-spam) as notices, never
            # counted: both are the report read for what it is.
            good = bool(got) and all(b.kind in FEEDBACK_KINDS for b in got)
            reason_ok = good and all(b.reason == "feedback" for b in got)
        else:
            good = reason_ok = not got
        detail = f"{name} {sorted(reasons)} -> {got}"
        return [Entry(name, first, True, None, good, reason_ok, detail)]
    by_rcpt = {b.recipient: b for b in got}
    out = []
    for exp in expected:
        rcpt = exp["recipient"].lower()
        bounce = by_rcpt.get(rcpt) if rcpt else (got[0] if got else None)
        hard_ok = bounce is not None and (bounce.kind == "hard") == bool(exp["hard"])
        reason_ok = bounce is not None and bounce.reason == exp["reason"]
        detail = (
            f"{name}: {rcpt or '-'} want {exp['reason']} (hard={exp['hard']}), got "
            + (f"{bounce.reason}/{bounce.kind} by {bounce.rule}" if bounce else "nothing")
            + f" [{bounce.diagnostic[:120] if bounce else [b.recipient for b in got]}]"
        )
        found = (rcpt in by_rcpt) if rcpt else None
        out.append(Entry(name, rcpt, False, found, hard_ok, reason_ok, detail))
    return out


def score_corpus(rows: Iterable[tuple[str, list[dict]]] | None = None) -> list[Entry]:
    """Parse every corpus file and score it."""
    entries: list[Entry] = []
    for name, expected in rows if rows is not None else corpus_rows():
        got = parse_bounces((CORPUS / name).read_bytes())
        entries.extend(score_file(name, expected, got))
    return entries


def fold_of(name: str, k: int) -> int:
    """The cross-validation fold of a corpus file: a stable hash of its name, not its order."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % k


@dataclass
class Summary:
    """Agreement figures over a set of entries."""

    recipient: Figures = field(default_factory=Figures)
    hard: Figures = field(default_factory=Figures)
    # hard/not-hard over the recipients found (a recipient miss counted once, as such)
    hard_found: Figures = field(default_factory=Figures)
    reason: Figures = field(default_factory=Figures)
    special: Figures = field(default_factory=Figures)

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Summary:
        s = cls()
        for e in entries:
            key = (e.file, e.recipient)
            if e.special:
                s.special.add(e.hard_ok, key, e.detail)
            else:
                if e.found is not None:
                    s.recipient.add(e.found, key, e.detail)
                s.hard.add(e.hard_ok, key, e.detail)
                if e.found is not False:
                    s.hard_found.add(e.hard_ok, key, e.detail)
            s.reason.add(e.reason_ok, key, e.detail)
        return s
