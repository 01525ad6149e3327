"""Cross-validation over the repository's bounce corpus: does agreement hold on every part?

The rules are fixed (nothing is trained), so the folds measure how evenly they generalise over
the samples: a rule fitted to a few messages shows up as one weak fold. The corpus files are
split into K folds by a stable hash of their name (never their order), the figures of every fold
are printed (``pytest -s``) and each fold must reach THRESHOLD for recipients found, hard/not-hard
(over the recipients found) and complaint / non-failure files. Reason agreement (sisimai's finer vocabulary) is printed
for information. Figures are copied into bench/RESULTS.md, section "Bounce classifier".

Hash folds put samples of one MTA family on both sides, so they flatter rules written from that
family. :func:`test_leave_one_family_out` prints the harder estimate: the figures of each
family (the sample's MTA or provider, :func:`bounce_scores.family_of`) on its own, their mean
with every family weighted alike (a held-out set mixes families otherwise than this one), the
worst families, and the same figures counting an answer right only where the rule that gave it
(to the line of a word rule) also answers right in another family: what would be left if each
family's own rules had been written without it. Printed, not asserted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest
from bounce_scores import (
    Entry,
    Figures,
    Summary,
    corpus_rows,
    crossed_confirmations,
    family_of,
    fold_of,
    rule_line,
    score_corpus,
)

from warmup.bounces import parse_bounces

K = 5
THRESHOLD = 0.95


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return score_corpus()


@pytest.fixture(scope="module")
def folds(entries: list[Entry]) -> list[Summary]:
    parts: list[list[Entry]] = [[] for _ in range(K)]
    for e in entries:
        parts[fold_of(e.file, K)].append(e)
    summaries = [Summary.of(part) for part in parts]
    print(f"\n[bounce folds] k={K}, split by sha256(file name)")
    print(
        "  fold  files  recipient found     hard (raw)          hard (found)        "
        "complaint/non-bounce  reason"
    )
    for i, (part, s) in enumerate(zip(parts, summaries, strict=True)):
        files = len({e.file for e in part})
        print(
            f"  {i}     {files:<5}  {_fig(s.recipient):18}  {_fig(s.hard):18}  "
            f"{_fig(s.hard_found):18}  {_fig(s.special):20}  {_fig(s.reason)}"
        )
    for name in ("recipient", "hard", "hard_found", "special", "reason"):
        worst = min(getattr(s, name).rate for s in summaries if getattr(s, name).total)
        print(f"  worst fold, {name}: {worst:.1%}")
    return summaries


def _fig(f: Figures) -> str:
    return f"{f.ok}/{f.total} {f.rate:.1%}" if f.total else "-"


def test_folds_split_every_file_once() -> None:
    names = [name for name, _ in corpus_rows()]
    sizes = [sum(fold_of(n, K) == i for n in names) for i in range(K)]
    assert sum(sizes) == len(names) and min(sizes) >= len(names) // (2 * K), sizes
    assert fold_of(names[0], K) == fold_of(names[0], K)


@pytest.mark.slow
@pytest.mark.parametrize("fold", range(K))
def test_every_fold_agrees(folds: list[Summary], fold: int) -> None:
    s = folds[fold]
    # hard/not-hard over the recipients found: a recipient the parser missed is a "recipient
    # found" miss, not also a hard/not-hard one (the raw figure, counting it twice, is printed).
    for name, fig in (
        ("recipient found", s.recipient),
        ("hard/not-hard", s.hard_found),
        ("complaint/non-bounce", s.special),
    ):
        assert fig.total == 0 or fig.rate >= THRESHOLD, (
            f"fold {fold} {name}: {fig.ok}/{fig.total} = {fig.rate:.1%} < {THRESHOLD:.0%}; "
            f"misses: {fig.misses}"
        )


def test_rule_line_is_the_line_the_rule_read() -> None:
    """A multi-line reply folded into one keeps each continuation line's code ("550-5.7.1"),
    which the rules read without: the line named is the one that matched that text, not none."""
    said = (
        "550-5.7.1 [192.0.2.1 13] Messages with multiple 550-5.7.1 addresses in From: header "
        "are not accepted."
    )
    raw = (
        "From: MAILER-DAEMON@mx.example.net\nTo: a@example.net\nSubject: Undelivered Mail\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="B"\n\n--B\nContent-Type: text/plain\n\nNot delivered.\n\n'
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; kim@example.org\nAction: failed\nStatus: 5.7.1\n"
        f"Diagnostic-Code: smtp; {said}\n\n--B--\n"
    )
    (bounce,) = parse_bounces(raw.encode())
    assert bounce.rule == "words.not-rfc-compliant", bounce.steps
    assert rule_line(bounce) == "words.not-rfc-compliant#0"


# Rules that read a code by its standard's table (RFC 3463's status, RFC 5321's reply): written
# from the standard, not from any family's samples, so never "alone" in one.
_STANDARD_RULES = ("status.", "reply.")


def unconfirmed(entries: list[Entry], also: Iterable[tuple[str, str]] = ()) -> set[tuple[str, str]]:
    """(rule, family) of each rule that decides right (hard/not-hard) in no family but that one
    (:func:`bounce_scores.rule_line`: a word rule to the line that matched); ``also``: more
    (rule, family) where the rule decides right (:func:`bounce_scores.crossed_confirmations`)."""
    families: dict[str, set[str]] = {}
    for e in entries:
        if e.rule and e.hard_ok:
            families.setdefault(e.rule, set()).add(family_of(e.file))
    for rule, family in also:
        families.setdefault(rule, set()).add(family)
    return {
        (e.rule, family_of(e.file))
        for e in entries
        if e.rule
        and not e.rule.startswith(_STANDARD_RULES)
        and not families.get(e.rule, set()) - {family_of(e.file)}
    }


def supported_elsewhere(entries: list[Entry], also: Iterable[tuple[str, str]] = ()) -> list[Entry]:
    """``entries`` with hard/not-hard and reason counted right only where the rule that decided
    also decides right for an entry of another family (or reads a standard's code table): an
    answer resting on a rule no other family confirms counts as a miss. ``also``: as
    :func:`unconfirmed`'s."""
    alone = unconfirmed(entries, also)
    return [
        replace(e, hard_ok=False, reason_ok=False) if (e.rule, family_of(e.file)) in alone else e
        for e in entries
    ]


def by_family(entries: list[Entry]) -> dict[str, Summary]:
    parts: dict[str, list[Entry]] = {}
    for e in entries:
        parts.setdefault(family_of(e.file), []).append(e)
    return {family: Summary.of(part) for family, part in sorted(parts.items())}


def _mean(summaries: list[Summary], name: str) -> str:
    rates = [getattr(s, name).rate for s in summaries if getattr(s, name).total]
    return f"{sum(rates) / len(rates):.1%} over {len(rates)} families" if rates else "-"


def test_leave_one_family_out(entries: list[Entry]) -> None:
    """Print the leave-one-family-out estimate (module docstring). Asserts only its bookkeeping:
    every entry is in exactly one family."""
    plain = by_family(entries)
    alone = by_family(supported_elsewhere(entries))
    assert sum(s.reason.total for s in plain.values()) == len(entries)
    print(f"\n[bounce families] {len(plain)} families, by file name prefix")
    print(
        "  family                 recipient found   hard/not-hard (found)   reason            "
        "| rule confirmed elsewhere: hard/not-hard, reason"
    )
    for family, s in plain.items():
        a = alone[family]
        print(
            f"  {family:22} {_fig(s.recipient):17} {_fig(s.hard_found):23} {_fig(s.reason):17} "
            f"| {_fig(a.hard_found):17} {_fig(a.reason)}"
        )
    names = (("recipient", "recipient found"), ("hard_found", "hard/not-hard"))
    for label, table in (("as parsed", plain), ("rule confirmed elsewhere", alone)):
        print(f"  family mean, {label}:")
        for name, title in (*names, ("reason", "reason"), ("special", "complaint/non-bounce")):
            print(f"    {title}: {_mean(list(table.values()), name)}")
    pooled = Summary.of(supported_elsewhere(entries))
    print(
        f"  pooled, rule confirmed elsewhere: hard/not-hard {_fig(pooled.hard_found)}, "
        f"reason {_fig(pooled.reason)}"
    )
    # The same, counting each crossed fixture (tests/corpus/crossed: one family's wording in
    # another MTA's notice, written by us) as an answer of its MTA's family: apart, since our
    # own writing raises it.
    crossed = crossed_confirmations()
    written = by_family(supported_elsewhere(entries, crossed))
    pooled = Summary.of(supported_elsewhere(entries, crossed))
    print(
        f"  rule confirmed elsewhere or by a crossed fixture ({len(crossed)}): family mean "
        f"hard/not-hard {_mean(list(written.values()), 'hard_found')}, reason "
        f"{_mean(list(written.values()), 'reason')}; pooled {_fig(pooled.hard_found)}, "
        f"{_fig(pooled.reason)}"
    )
    for name, title in names:
        worst = sorted(
            (getattr(s, name).rate, f) for f, s in plain.items() if getattr(s, name).total
        )[:5]
        print(f"  worst families, {title}: " + ", ".join(f"{f} {r:.0%}" for r, f in worst))
    lonely: dict[str, list[str]] = {}
    for rule, family in sorted(unconfirmed(entries)):
        lonely.setdefault(family, []).append(rule)
    print("  rules no other family confirms:")
    for family, rules in sorted(lonely.items()):
        print(f"    {family}: {', '.join(rules)}")
    print("  hard/not-hard misses:")
    for e in entries:
        if not e.hard_ok and not e.special and e.found is not False:
            print(f"    - {family_of(e.file)}: {e.detail}")
