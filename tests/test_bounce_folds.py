"""Cross-validation over the repository's bounce corpus: does agreement hold on every part?

The rules are fixed (nothing is trained), so the folds measure how evenly they generalise over
the samples: a rule fitted to a few messages shows up as one weak fold. The corpus files are
split into K folds by a stable hash of their name (never their order), the figures of every fold
are printed (``pytest -s``) and each fold must reach THRESHOLD for recipients found, hard/not-hard
(over the recipients found) and complaint / non-failure files. Reason agreement (sisimai's finer vocabulary) is printed
for information. Figures are copied into bench/RESULTS.md, section "Bounce classifier".
"""

from __future__ import annotations

import pytest
from bounce_scores import Entry, Figures, Summary, corpus_rows, fold_of, score_corpus

K = 5
THRESHOLD = 0.95


@pytest.fixture(scope="module")
def folds() -> list[Summary]:
    entries = score_corpus()
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
