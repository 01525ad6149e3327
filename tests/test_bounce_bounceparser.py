"""A third, independent corpus: Mail::DeliveryStatus::BounceParser's test messages.

The Perl module's 1.543 distribution ships 126 real bounces and non-bounces (t/corpus/*.msg),
with what its test scripts (t/*.t) assert about many of them: is it a bounce, the addresses,
the standard reason (user_unknown, domain_error, over_quota, spam, ...). Nothing in warmup was
written against them. tests/corpus/bounceparser/README.md says where the files come from and
how expected.jsonl was made (scripts/bounceparser_expectations.py): every expectation says
whether it comes from a .t file (human-checked) or from running the module itself (an
outsider's opinion, used only where no .t says anything).

What is compared:

- *recipient found*: every address expected must be a recipient warmup reports, as the failed
  ``recipient`` or its ``original_recipient`` (as in tests/test_bounce_flufl.py).
- *hard/not-hard*, over the recipients found whose reason maps to one: user_unknown and
  domain_error are hard; over_quota, spam, user_disabled, message_too_large are not (a good
  address refused); BounceParser's "unknown" is not compared. "Hard" for warmup is
  ``kind == "hard"`` and no delay warning.
- *non-bounces* (auto-replies, challenge-response, spam sent to the bounce address, a delay
  warning): no counted bounce.
- *inventions*: an address reported in a bounce file that expects others is listed; each one
  must be documented in KNOWN_INVENTED.

Figures are printed (``pytest -s``), split by where the expectation comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bounce_scores import (
    Tally,
    by_address,
    check_documented,
    counted,
    invented,
    print_disagreements,
)

from warmup.bounces import parse_bounces

CORPUS = Path(__file__).parent / "corpus" / "bounceparser"
# The figures met (see the README); a regression fails. Far below issue #14's goals (98% / 97%)
# on hard/not-hard: most of the gap is the two references drawing lines elsewhere (below).
RECIPIENT_THRESHOLD = 0.97
HARD_THRESHOLD = 0.80
NON_BOUNCE_THRESHOLD = 8 / 11

# Untuned figures (main before any change for this corpus), kept to show the drift.
UNTUNED = {"recipient": (112, 115), "hard": (80, 107), "non_bounce": (8, 11)}

# (file, expected address) that warmup does not find -> why. Documentation; still counted.
KNOWN_MISSES: dict[tuple[str, str], str] = {
    (
        "data/misidentified-recipient.msg",
        "john.b@b.c",
    ): "an anonymised one-letter top-level domain ('b.c', 'a.b.c'), which no real address has: warmup's address check refuses it",
    (
        "data/quota.msg",
        "a@b.c",
    ): "an anonymised one-letter top-level domain ('b.c', 'a.b.c'), which no real address has: warmup's address check refuses it",
    (
        "data/warning-7.msg",
        "fred@mailgrp1.a.b.c",
    ): "an anonymised one-letter top-level domain ('b.c', 'a.b.c'), which no real address has: warmup's address check refuses it",
}

_SUSPEND = "BounceParser's user_unknown includes suspended/disabled accounts; warmup reads them as sisimai does (suspend: not hard, the address may come back)"
_RELAY = "BounceParser's domain_error includes 'relaying denied'; warmup reads it as sisimai does (norelaying: the server refused to relay, a misrouting, not a bad address)"
_DNS = "BounceParser's domain_error includes a malformed DNS reply; warmup reads a name-service error as a network error (soft), as sisimai does for the same wording (rhost-aol-06 is documented in the dsn test)"
_UNCONFIRMED = (
    "'user unknown'-like words, no SMTP stage stated and no known reporting MTA: warmup counts "
    "a block, not hard (sisimai's corpus labels most such relayed replies filtered; making the "
    "words decide lowers the dsn corpus 97.0% -> 92.6%)"
)

# (file, expected address) where warmup disagrees on hard/not-hard -> why.
KNOWN_HARD_MISSES: dict[tuple[str, str], str] = {
    ("data/att-via-sendmail.unknown.msg", "recipient@example.net"): _SUSPEND,
    ("data/deactivated-mailbox.msg", "recipient@example.net"): _SUSPEND,
    ("data/yahoo-via-sendmail.unknown.msg", "recipient@example.net"): _SUSPEND,
    ("data/polish-unknown.msg", "recipient@example.net"): "the .t says user_disabled for "
    "'5.2.1 Mailbox not available'; warmup reads 'mailbox not available' as an unknown address "
    "(hard): the words are ambiguous",
    ("data/postfix.msg", "bounce@dest.example.com"): _RELAY + " (the module's opinion)",
    ("data/postfix-orig.msg", "original@dest.example.com"): _RELAY + " (the module's opinion)",
    ("data/relaying-denied.msg", "a@example.com"): _RELAY,
    ("data/not-a-relay.msg", "a@example.com"): _RELAY + " ('you are trying to use me as a "
    "relay', 5.7.1)",
    ("data/rcpthosts.msg", "john.smith@example.com"): _RELAY + " (qmail's 'not in my list of "
    "allowed rcpthosts', 5.7.1)",
    ("data/malformed-dns.msg", "f.b@a.b.c"): _DNS,
    ("data/postfix-malformed.msg", "exampleuser@yyahoo.com"): _DNS,
    ("data/rcpt-dne.msg", "recipient@example.net"): "'does not exist' refused after end of DATA "
    "(stated): warmup reads a filter's mask, as for Japanese carriers in the dsn corpus",
    **{
        ("data/iis-multiple-bounce.msg", f"bounced{i}@example.net"): _UNCONFIRMED
        + " ('mailbox unavailable'; the module's opinion)"
        for i in (1, 2, 3, 4)
    },
}

# (file, address reported that is not expected) -> why.
KNOWN_INVENTED: dict[tuple[str, str], str] = {
    ("data/warning-2.msg", "c@example.co.uk"): "the DSN's second recipient record "
    "(Final-Recipient c@example.co.uk); the module, whose addresses are expected here, reports "
    "one",
    ("data/warning-9.msg", "gail.windy@example.net"): "sendmail's '(expanded from: "
    "<Gail.Windy@example.net>)': the address mailed, beside the alias target that failed",
}

# Non-bounces warmup counts -> why.
KNOWN_COUNTED_NON_BOUNCES: dict[str, str] = {
    "data/boxbe-cr.msg": "Boxbe's challenge-response comes as a DSN (Action: failed, 4.7.0 "
    "'Sender not pre-approved'): counted as a block (not hard)",
    "data/boxbe-cr2.msg": "the same Boxbe challenge-response DSN",
    "data/whitelist.msg": "a Postfix DSN of a real 550 'Your server requires confirmation' "
    "(a challenge at the SMTP level): counted as a block (not hard)",
}


def _rows() -> list[dict]:
    text = (CORPUS / "expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class Results:
    files: int = 0
    errors: list[str] = field(default_factory=list)
    recipient: dict[str, Tally] = field(default_factory=dict)  # by source, and "all"
    hard: dict[str, Tally] = field(default_factory=dict)
    non_bounce: Tally = field(default_factory=Tally)
    missed: set[tuple[str, str]] = field(default_factory=set)
    hard_missed: dict[tuple[str, str], str] = field(default_factory=dict)
    invented: set[tuple[str, str]] = field(default_factory=set)
    counted_non_bounces: dict[str, list[str]] = field(default_factory=dict)
    no_address: dict[str, list[str]] = field(default_factory=dict)
    split: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> warmup kind


def _tally(table: dict[str, Tally], source: str, good: bool) -> None:
    for key in ("all", source):
        table.setdefault(key, Tally()).add(good)


def _evaluate() -> Results:
    res = Results()
    for row in _rows():
        name, exp = row["file"], row["expected"]
        res.files += 1
        try:
            got = parse_bounces((CORPUS / name).read_bytes())
        except Exception as exc:  # parse_bounces never raises: this is the failure to show
            res.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if exp["kind"] == "not a bounce":
            counting = [b.recipient for b in got if counted(b)]
            res.non_bounce.add(not counting)
            if counting:
                res.counted_non_bounces[name] = counting
            continue
        expected = [a.lower() for a in exp["recipients"]]
        if not expected:
            res.no_address[name] = [f"{b.recipient} {b.kind}/{b.reason}" for b in got]
            continue
        found = by_address(got)
        for address in expected:
            bounce = found.get(address)
            _tally(res.recipient, exp["recipients_from"], bounce is not None)
            if bounce is None:
                res.missed.add((name, address))
                continue
            if exp["hard"] is None:
                continue
            ours = bounce.kind == "hard" and not bounce.delayed
            key = "delayed" if bounce.delayed else bounce.kind
            per = res.split.setdefault(exp["reason"], {})
            per[key] = per.get(key, 0) + 1
            _tally(res.hard, exp["reason_from"], ours == exp["hard"])
            if ours != exp["hard"]:
                res.hard_missed[(name, address)] = (
                    f"want {exp['reason']} ({exp['reason_from']}), got {bounce.kind}/"
                    f"{bounce.reason} delayed={bounce.delayed} by {bounce.rule} "
                    f"[{bounce.diagnostic[:100]}]"
                )
        res.invented |= invented(name, got, expected)
    return res


@pytest.fixture(scope="module")
def results() -> Results:
    res = _evaluate()
    print(f"\n[BounceParser corpus] {res.files} files, {len(res.errors)} exceptions")
    print(
        "  untuned (main before this corpus): "
        + ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in UNTUNED.items())
    )
    for what, table in (("recipient found", res.recipient), ("hard/not-hard", res.hard)):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(table.items()) if k != "all")
        print(f"  {what}: {table.get('all', Tally())} (by source of expectation: {parts})")
    print(f"  non-bounces counting nothing: {res.non_bounce}")
    print_disagreements(
        res.split,
        (res.missed, KNOWN_MISSES),
        (res.hard_missed, KNOWN_HARD_MISSES),
        (res.invented, KNOWN_INVENTED),
    )
    for name, got in sorted(res.counted_non_bounces.items()):
        why = KNOWN_COUNTED_NON_BOUNCES.get(name, "UNDOCUMENTED")
        print(f"    - non-bounce counted {name}: {got}: {why}")
    for name, got in sorted(res.no_address.items()):
        print(f"  bounce naming no expected address (informative): {name} -> {got}")
    return res


def test_corpus_present_and_complete() -> None:
    rows = _rows()
    assert len(rows) == 126
    assert all((CORPUS / row["file"]).is_file() for row in rows)
    assert len(list((CORPUS / "data").glob("*.msg"))) == 126


def test_no_exception(results: Results) -> None:
    assert not results.errors, results.errors


def test_recipient_found(results: Results) -> None:
    fig = results.recipient["all"]
    assert fig.rate >= RECIPIENT_THRESHOLD, f"{fig}; misses: {sorted(results.missed)}"


def test_every_recipient_miss_is_documented(results: Results) -> None:
    check_documented(results.missed, KNOWN_MISSES, "recipient misses")


def test_hard_agrees(results: Results) -> None:
    fig = results.hard["all"]
    assert fig.rate >= HARD_THRESHOLD, f"{fig}; misses: {results.hard_missed}"


def test_every_hard_miss_is_documented(results: Results) -> None:
    check_documented(
        results.hard_missed, KNOWN_HARD_MISSES, "hard/not-hard misses", results.hard_missed
    )


def test_no_undocumented_invented_recipient(results: Results) -> None:
    check_documented(results.invented, KNOWN_INVENTED, "recipients not expected")


def test_non_bounces_count_nothing(results: Results) -> None:
    assert results.non_bounce.total == 11
    assert results.non_bounce.rate >= NON_BOUNCE_THRESHOLD, results.counted_non_bounces
    assert sorted(results.counted_non_bounces) == sorted(KNOWN_COUNTED_NON_BOUNCES)
    # None of them suppresses the address.
    for name in results.counted_non_bounces:
        got = parse_bounces((CORPUS / name).read_bytes())
        assert all(b.kind != "hard" for b in got), (name, got)


# --------------------------------------------------------------------------- one per fix
# Each names the wording family it reads; all failed before the fix they go with.


def _kinds(name: str) -> list[tuple[str, str]]:
    return [(b.recipient, b.kind) for b in parse_bounces((CORPUS / "data" / name).read_bytes())]


@pytest.mark.parametrize(
    "name",
    [
        "nomailbox.msg",  # "550 ** No mail box available for this user **" at RCPT
        "user-unknown-bad.msg",  # "550 BAD_RECIPIENT - see http://..." at RCPT
    ],
)
def test_unknown_mailbox_wordings_at_rcpt_are_hard(name: str) -> None:
    assert _kinds(name) == [("recipient@example.net", "hard")]


@pytest.mark.parametrize(
    ("name", "recipient"),
    [
        # Lotus Domino's own notice: "User x (addr) not listed in Domino Directory"
        ("domino.unknown.msg", "recipient@example.net"),
        # Novell GroupWise Internet Agent: "undeliverable to the following: addr (user not found)"
        ("novell-with-rhs.msg", "recipient@example.net"),
    ],
)
def test_directory_verdicts_of_domino_and_groupwise(name: str, recipient: str) -> None:
    assert _kinds(name) == [(recipient, "hard")]


def test_message_size_exceeded_is_no_unknown_user() -> None:
    # "550 RCPT TO:<addr> max message size exceeded" with a 5.1.1 status: the words win.
    got = parse_bounces((CORPUS / "data" / "quota-4.msg").read_bytes())
    assert [(b.kind, b.reason) for b in got] == [("soft", "mesgtoobig")]


def test_virus_scanning_disclaimer_is_no_virus() -> None:
    # A relay's footer "scanned for all viruses ... by Messagelabs" folded into a 5.1.1 notice.
    assert _kinds("warning-1.msg") == [("example@example.com", "hard")]
