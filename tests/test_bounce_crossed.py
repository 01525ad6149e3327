"""Crossed fixtures (tests/corpus/crossed, sources in its README): a wording that one family of
the shared samples alone exercised, written in another MTA's notice, is read the same there."""

from __future__ import annotations

import pytest
from bounce_scores import (
    CROSSED,
    crossed_family,
    crossed_rows,
    family_of,
    rule_line,
    score_corpus,
)

from warmup.bounces import parse_bounces

ROWS = {row["file"]: row for row in crossed_rows()}


def test_every_crossed_file_is_expected() -> None:
    assert sorted(p.name for p in CROSSED.glob("*.eml")) == sorted(ROWS)
    assert len(ROWS) >= 15


@pytest.mark.parametrize("name", sorted(ROWS))
def test_crossed_wording_is_read_alike(name: str) -> None:
    row = ROWS[name]
    got = parse_bounces((CROSSED / name).read_bytes())
    assert [(b.recipient, b.kind, b.reason, b.rule) for b in got] == [
        (row["recipient"], row["kind"], row["reason"], row["rule"])
    ], [b.steps for b in got]


@pytest.fixture(scope="module")
def shared_lines() -> dict[str, set[str]]:
    """Rule line -> the families of the shared samples whose answers it gave."""
    lines: dict[str, set[str]] = {}
    for e in score_corpus():
        if e.rule:
            lines.setdefault(e.rule, set()).add(family_of(e.file))
    return lines


@pytest.mark.parametrize("name", sorted(n for n, row in ROWS.items() if row["alone_in"]))
def test_each_crosses_the_line_of_another_family(
    name: str, shared_lines: dict[str, set[str]]
) -> None:
    """The fixture is read by the very line of the rule that the family named in its row uses
    in the shared samples, and is written in another MTA's notice than that family's."""
    row = ROWS[name]
    (bounce,) = parse_bounces((CROSSED / name).read_bytes())
    assert row["alone_in"] in shared_lines.get(rule_line(bounce), set()), rule_line(bounce)
    assert crossed_family(name) != row["alone_in"]


@pytest.mark.parametrize(
    "name", ["sendmail-glued-reply-code.eml", "sendmail-plain-glued-reply-code.eml"]
)
def test_a_reply_code_glued_to_the_address_keeps_the_transcript_stage(name: str) -> None:
    """ "<<< 550-kim@... is not an active address" right after ">>> RCPT To:<kim@...>": the
    code's dash glued to the address is no second address that ends kim's block before the
    reply (its stage unknown, a filter's mask) nor a failed recipient of its own."""
    got = parse_bounces((CROSSED / name).read_bytes())
    assert [b.recipient for b in got] == [ROWS[name]["recipient"]], [b.steps for b in got]
    assert "SMTP stage RCPT" in got[0].steps[0], got[0].steps
