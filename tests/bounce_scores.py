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
from typing import ClassVar

import pytest

from warmup.bounces import Bounce, parse_bounces
from warmup.bounces.classify import words_text
from warmup.bounces.wording import WORD_RULES, fold

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


def expected_rows(corpus: Path) -> list[dict]:
    """The lines of an outside corpus's expected.jsonl, one a file."""
    text = (corpus / "expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_files(corpus: Path, names: Iterable[str]) -> tuple[dict[str, list[Bounce]], list[str]]:
    """Parse each named file of an outside corpus: its bounces by name, and each exception as
    one line (parse_bounces never raises: an exception is the failure to show, and the file
    then counts as parsed to nothing)."""
    parsed: dict[str, list[Bounce]] = {}
    errors = []
    for name in names:
        try:
            parsed[name] = parse_bounces((corpus / name).read_bytes())
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            parsed[name] = []
    return parsed, errors


@dataclass
class OutsideResults:
    """How warmup fared on an outside corpus whose every expectation names one source: the
    recipients found, hard/not-hard over those found, and each disagreement by (file, address)."""

    files: int = 0
    errors: list[str] = field(default_factory=list)
    recipient: Tally = field(default_factory=Tally)
    hard: Tally = field(default_factory=Tally)
    missed: set[tuple[str, str]] = field(default_factory=set)
    hard_missed: dict[tuple[str, str], str] = field(default_factory=dict)
    invented: set[tuple[str, str]] = field(default_factory=set)
    split: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> warmup kind
    # Where the labels also name warmup's kind and sisimai's reason (:meth:`compare_reason`).
    kind: Tally = field(default_factory=Tally)
    reason: Tally = field(default_factory=Tally)
    reason_missed: dict[tuple[str, str], str] = field(default_factory=dict)

    def compare(
        self,
        name: str,
        address: str,
        bounce: Bounce | None,
        want_hard: bool | None,
        reason: str,
        reason_from: str,
    ) -> None:
        """Count one expected recipient: found or not, then (``want_hard`` not None) whether
        warmup agrees on hard/not-hard. "Hard" for warmup is ``kind == "hard"`` and no delay
        warning."""
        self.recipient.add(bounce is not None)
        if bounce is None:
            self.missed.add((name, address))
            return
        key = "delayed" if bounce.delayed else bounce.kind
        per = self.split.setdefault(reason, {})
        per[key] = per.get(key, 0) + 1
        if want_hard is None:
            return
        ours = bounce.kind == "hard" and not bounce.delayed
        self.hard.add(ours == want_hard)
        if ours != want_hard:
            self.hard_missed[(name, address)] = (
                f"want {reason} ({reason_from}), got {bounce.kind}/{bounce.reason} "
                f"delayed={bounce.delayed} by {bounce.rule} [{bounce.diagnostic[:110]}]"
            )

    def compare_reason(
        self, name: str, address: str, bounce: Bounce | None, kind: str | None, reason: str | None
    ) -> None:
        """Count one found recipient whose label names warmup's ``kind`` (hard, soft, block) and
        the ``reason`` in sisimai's vocabulary: whether warmup agrees on each (a delay warning
        is kind "delayed"). A recipient not found, or a label without them, counts nothing."""
        if bounce is None or kind is None or reason is None:
            return
        ours = "delayed" if bounce.delayed else bounce.kind
        self.kind.add(ours == kind)
        self.reason.add(bounce.reason == reason)
        if (ours, bounce.reason) != (kind, reason):
            self.reason_missed[(name, address)] = (
                f"want {kind}/{reason}, got {ours}/{bounce.reason} by {bounce.rule}"
            )

    def report(self, title: str, untuned: Mapping[str, tuple[int, int]], checks: type) -> None:
        """Print (``pytest -s``) the figures, the untuned ones beside them, and every
        disagreement beside why ``checks`` (an :class:`OutsideCorpusChecks`) documents it."""
        print(f"\n[{title}] {self.files} files, {len(self.errors)} exceptions")
        print(
            "  untuned (main before this corpus): "
            + ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in untuned.items())
        )
        print(f"  recipient found: {self.recipient}")
        print(f"  hard/not-hard: {self.hard}")
        if self.kind.total:
            print(f"  kind: {self.kind}")
            print(f"  reason: {self.reason}")
            for key, detail in sorted(self.reason_missed.items()):
                print(f"    - kind/reason {key}: {detail}")
        print_disagreements(
            self.split,
            (self.missed, checks.KNOWN_MISSES),
            (self.hard_missed, checks.KNOWN_HARD_MISSES),
            (self.invented, checks.KNOWN_INVENTED),
        )


def score_hand_labels(rows: list[dict], parsed: dict[str, list[Bounce]]) -> OutsideResults:
    """Score an outside corpus whose every file was labelled by hand (expected.jsonl: ``kind``,
    ``recipients``, ``hard``, ``reason`` and, where the label names them, ``bounce_kind``).
    Only files of kind "bounce" are compared: each recipient found or not; hard/not-hard where
    ``hard`` is not null; warmup's kind and reason where ``bounce_kind`` is given; and every
    address reported that the label does not expect."""
    res = OutsideResults()
    for row in rows:
        name = row["file"]
        res.files += 1
        if row["kind"] != "bounce":
            continue
        got = parsed[name]
        found = by_address(got)
        reason = row["reason"] or "not stated"
        for address in row["recipients"]:
            bounce = found.get(address)
            res.compare(name, address, bounce, row["hard"], reason, "hand label")
            if "bounce_kind" in row:
                res.compare_reason(name, address, bounce, row["bounce_kind"], row["reason"])
        res.invented |= invented(name, got, row["recipients"])
    return res


class OutsideCorpusChecks:
    """The checks every outside corpus with :class:`OutsideResults` passes. A test module
    subclasses it as ``Test...``: where the corpus is, its title and size, the figures met and
    untuned, the documented disagreements, and ``score`` (expected.jsonl's rows and the parsed
    files in, the results out); pytest runs these methods once per subclass."""

    CORPUS: ClassVar[Path]
    FILES: ClassVar[int]
    SUFFIX: ClassVar[str] = ".eml"
    TITLE: ClassVar[str]
    # Untuned figures (main before any change for the corpus), kept to show the drift.
    UNTUNED: ClassVar[Mapping[str, tuple[int, int]]]
    # The figures met (see the corpus's README); a regression fails.
    RECIPIENT_THRESHOLD: ClassVar[float]
    HARD_THRESHOLD: ClassVar[float]
    # (file, expected address) that warmup does not find -> why. Documentation; still counted.
    KNOWN_MISSES: ClassVar[Mapping[tuple[str, str], str]] = {}
    # (file, expected address) where warmup disagrees on hard/not-hard -> why.
    KNOWN_HARD_MISSES: ClassVar[Mapping[tuple[str, str], str]] = {}
    # (file, address reported that the corpus does not expect) -> why.
    KNOWN_INVENTED: ClassVar[Mapping[tuple[str, str], str]] = {}

    @staticmethod
    def score(rows: list[dict], parsed: dict[str, list[Bounce]]) -> OutsideResults:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def results(cls) -> OutsideResults:
        rows = expected_rows(cls.CORPUS)
        parsed, errors = parse_files(cls.CORPUS, [row["file"] for row in rows])
        res = cls.score(rows, parsed)
        res.errors = errors
        res.report(cls.TITLE, cls.UNTUNED, cls)
        return res

    def test_corpus_present_and_complete(self) -> None:
        rows = expected_rows(self.CORPUS)
        assert len(rows) == self.FILES
        assert all((self.CORPUS / row["file"]).is_file() for row in rows)
        assert len(list((self.CORPUS / "data").glob(f"*{self.SUFFIX}"))) == self.FILES

    def test_no_exception(self, results: OutsideResults) -> None:
        assert not results.errors, results.errors

    def test_recipient_found(self, results: OutsideResults) -> None:
        fig = results.recipient
        assert fig.rate >= self.RECIPIENT_THRESHOLD, f"{fig}; misses: {sorted(results.missed)}"

    def test_every_recipient_miss_is_documented(self, results: OutsideResults) -> None:
        check_documented(results.missed, self.KNOWN_MISSES, "recipient misses")

    def test_hard_agrees(self, results: OutsideResults) -> None:
        fig = results.hard
        assert fig.rate >= self.HARD_THRESHOLD, f"{fig}; misses: {results.hard_missed}"

    def test_every_hard_miss_is_documented(self, results: OutsideResults) -> None:
        check_documented(
            results.hard_missed,
            self.KNOWN_HARD_MISSES,
            "hard/not-hard misses",
            results.hard_missed,
        )

    def test_no_undocumented_invented_recipient(self, results: OutsideResults) -> None:
        check_documented(results.invented, self.KNOWN_INVENTED, "recipients not expected")


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
    # The rule that decided, to the line of a word rule that matched (:func:`rule_line`); "" for
    # a special file or a recipient not found.
    rule: str = ""


def family_of(name: str) -> str:
    """The MTA or provider family of a corpus file: its name without the sample number
    ("eml/lhost-postfix-17.eml" -> "lhost-postfix"; sisimai names its samples so: ``lhost-*``
    by the reporting MTA, ``rhost-*`` by the receiving provider, ``arf``, ``rfc3464``...)."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".eml")
    return stem.rsplit("-", 1)[0] if stem[-1:].isdigit() else stem


_WORD_RULES = {rule.name: rule for rule in WORD_RULES}


def rule_line(bounce: Bounce) -> str:
    """``bounce.rule``, and for a word rule the number of the pattern line that matched its
    diagnostic ("words.user-unknown#12"): a rule of forty lines is forty wordings, each written
    from some source; the line is what a family may be alone in using."""
    rule = _WORD_RULES.get(bounce.rule.removeprefix("words."))
    if rule is None or not rule.parts:
        return bounce.rule
    text = words_text(fold(bounce.diagnostic))  # as the rules read it
    for i, (*_, line) in enumerate(rule.parts):
        if line.search(text):
            return f"{bounce.rule}#{i}"
    return bounce.rule


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
        rule = rule_line(bounce) if bounce is not None else ""
        out.append(Entry(name, rcpt, False, found, hard_ok, reason_ok, detail, rule))
    return out


def score_corpus(rows: Iterable[tuple[str, list[dict]]] | None = None) -> list[Entry]:
    """Parse every corpus file and score it."""
    entries: list[Entry] = []
    for name, expected in rows if rows is not None else corpus_rows():
        got = parse_bounces((CORPUS / name).read_bytes())
        entries.extend(score_file(name, expected, got))
    return entries


CROSSED = Path(__file__).parent / "corpus" / "crossed"


def crossed_rows() -> list[dict]:
    """The lines of tests/corpus/crossed/expected.jsonl: one wording written in another MTA's
    notice (its README), with the answer expected and the rule that should give it."""
    return expected_rows(CROSSED)


def crossed_family(name: str) -> str:
    """The family a crossed fixture counts as: its notice's MTA ("exim-gmail-...eml" ->
    "lhost-exim", as :func:`family_of` names the shared samples)."""
    return "lhost-" + name.split("-", 1)[0]


def crossed_confirmations() -> set[tuple[str, str]]:
    """(rule line, family) of each crossed fixture parsed as expected: the rule that decided (to
    the line, :func:`rule_line`) answers right in that MTA's family too."""
    out = set()
    for row in crossed_rows():
        got = parse_bounces((CROSSED / row["file"]).read_bytes())
        if [(b.recipient, b.kind, b.reason) for b in got] == [
            (row["recipient"], row["kind"], row["reason"])
        ]:
            out.add((rule_line(got[0]), crossed_family(row["file"])))
    return out


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
