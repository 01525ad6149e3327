"""A second, independent corpus: flufl.bounce's test messages (tests/corpus/flufl).

flufl.bounce (Mailman's bounce detector, Apache-2.0) ships 117 real bounces collected from
mailing lists since 2001, with the addresses its detectors must find in each and, for some,
whether the failure is temporary. Nothing in warmup was tuned on them before; its answers
are compared with flufl's as an outsider's opinion (see tests/corpus/flufl/README.md for
where the files and expectations come from).

What is compared, and what is not:

- *recipient found*: every address flufl expects must be a recipient warmup reports — as the
  failed ``recipient`` or as the ``original_recipient`` (flufl takes a DSN's
  Original-Recipient, the address mailed; warmup reports the Final-Recipient and keeps the
  Original-Recipient beside it: both name the same failure).
- *temporary/permanent*: flufl says temporary or permanent; warmup says delayed/soft vs
  hard/block. Permanent is not hard (a refused or full mailbox fails permanently without the
  address being bad), so only what is comparable is compared: a failure flufl calls temporary
  must be a delay or soft for warmup (never hard nor block), one it calls permanent must be no
  delay warning. How warmup splits flufl's permanent failures is printed, not asserted.
- *inventions*: an address warmup reports that flufl does not expect is listed; every one
  must be documented in KNOWN_INVENTED (a new one fails).
- *non-bounces*: flufl's non-bounce samples must yield no counted bounce.

Figures are printed (``pytest -s``) and repeated in assertion messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bounce_scores import by_address, counted, invented

from warmup.bounces import Bounce, parse_bounces

CORPUS = Path(__file__).parent / "corpus" / "flufl"
RECIPIENT_THRESHOLD = 0.97
TEMPORARY_THRESHOLD = 0.97

# (file, expected address) that warmup does not find -> why. Documentation; still counted.
KNOWN_MISSES: dict[tuple[str, str], str] = {
    (
        "data/microsoft_03.txt",
        "userx@example.com",
    ): "the failed address is also the notice's X-Original-To, which is the mailbox the notice "
    "was delivered to (ours) and never taken as a failed recipient",
    (
        "data/yale_01.txt",
        "userx@yale.edu",
    ): "Yale's notice names only the local part 'userx'; flufl's Yale-only detector adds the "
    "domains, warmup invents no address",
    (
        "data/yale_01.txt",
        "userx@cs.yale.edu",
    ): "Yale's notice names only the local part 'userx' (see userx@yale.edu)",
}

# (file, address warmup reports that flufl does not expect) -> why.
KNOWN_INVENTED: dict[tuple[str, str], str] = {
    ("data/llnl_01.txt", "lastnamenumber@llnl.gov"): "LLNL's notice explains its address form "
    "with an example address in free text",
    ("data/llnl_01.txt", "user4@example.gov"): "LLNL's notice suggests a colleague's address",
    **{
        ("data/yale_01.txt", a): "Yale's notice explains its directory with example addresses"
        for a in (
            "name@directory.yale.edu",
            "mike.fox@yale.edu",
            "michael.j.fox@yale.edu",
            "name@yale.edu",
            "name@cs.yale.edu",
        )
    },
}


def _rows() -> list[dict]:
    text = (CORPUS / "expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class Results:
    files: int = 0
    errors: list[str] = field(default_factory=list)
    expected: int = 0
    found: int = 0
    missed: set[tuple[str, str]] = field(default_factory=set)
    invented: set[tuple[str, str]] = field(default_factory=set)
    temporary_total: int = 0
    temporary_ok: int = 0
    temporary_misses: list[str] = field(default_factory=list)
    temporary_split: dict[str, int] = field(default_factory=dict)
    permanent_split: dict[str, int] = field(default_factory=dict)
    non_bounces: dict[str, list[Bounce]] = field(default_factory=dict)
    no_address: dict[str, list[Bounce]] = field(default_factory=dict)

    @property
    def recipient_rate(self) -> float:
        return self.found / self.expected if self.expected else 0.0

    @property
    def temporary_rate(self) -> float:
        return self.temporary_ok / self.temporary_total if self.temporary_total else 0.0


def _evaluate() -> Results:
    res = Results()
    for row in _rows():
        name = row["file"]
        res.files += 1
        try:
            got = parse_bounces((CORPUS / name).read_bytes())
        except Exception as exc:  # parse_bounces never raises: this is the failure to show
            res.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if row["kind"] == "not a bounce":
            res.non_bounces[name] = got
            continue
        if row["kind"] != "bounce":
            res.no_address[name] = got
            continue
        expected = [a.lower() for a in row["recipients"]]
        found = by_address(got)
        for address in expected:
            res.expected += 1
            bounce = found.get(address)
            if bounce is None:
                res.missed.add((name, address))
                continue
            res.found += 1
            if row["temporary"] is None:
                continue
            res.temporary_total += 1
            key = "delayed" if bounce.delayed else bounce.kind
            if row["temporary"]:
                ok = bounce.delayed or bounce.kind == "soft"
                res.temporary_split[key] = res.temporary_split.get(key, 0) + 1
            else:
                ok = not bounce.delayed
                res.permanent_split[key] = res.permanent_split.get(key, 0) + 1
            res.temporary_ok += ok
            if not ok:
                res.temporary_misses.append(
                    f"{name} {address}: flufl temporary={row['temporary']}, warmup "
                    f"{bounce.kind}/{bounce.reason} delayed={bounce.delayed}"
                )
        res.invented |= invented(name, got, expected)
    return res


@pytest.fixture(scope="module")
def results() -> Results:
    res = _evaluate()
    print(f"\n[flufl.bounce corpus] {res.files} files, {len(res.errors)} exceptions")
    print(
        f"  recipient found: {res.found}/{res.expected} = {res.recipient_rate:.1%} "
        f"(misses: {len(res.missed)}, documented: {len(res.missed & set(KNOWN_MISSES))})"
    )
    print(
        f"  temporary vs permanent (comparable part): {res.temporary_ok}/"
        f"{res.temporary_total} = {res.temporary_rate:.1%}"
    )
    for word, split in (("temporary", res.temporary_split), ("permanent", res.permanent_split)):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(split.items()))
        print(f"    flufl's {word} failures, as warmup reads them: {counts}")
    print(
        f"  addresses reported that flufl does not expect: {len(res.invented)} "
        f"(documented: {len(res.invented & set(KNOWN_INVENTED))})"
    )
    for name, got in sorted(res.non_bounces.items()):
        print(f"  not a bounce: {name} -> {[b.recipient for b in got]}")
    for name, got in sorted(res.no_address.items()):
        # The returned original's only To: is warmup's last resort (one recipient per send):
        # for a mailing list's message that is the list. Informative only.
        print(f"  bounce naming no address (informative): {name} -> {[b.recipient for b in got]}")
    for (name, address), why in sorted(KNOWN_MISSES.items()):
        print(f"    - missed {name} {address}: {why}")
    return res


def test_corpus_present_and_complete() -> None:
    assert (CORPUS / "expected.jsonl").is_file(), f"flufl corpus not found at {CORPUS}"
    rows = _rows()
    assert len(rows) == 117
    assert all((CORPUS / row["file"]).is_file() for row in rows)


def test_no_exception(results: Results) -> None:
    assert not results.errors, results.errors


def test_recipient_found(results: Results) -> None:
    assert results.recipient_rate >= RECIPIENT_THRESHOLD, (
        f"recipient found {results.found}/{results.expected} = {results.recipient_rate:.1%}; "
        f"misses: {sorted(results.missed)}"
    )


def test_every_miss_is_documented(results: Results) -> None:
    assert not results.missed - set(KNOWN_MISSES), sorted(results.missed - set(KNOWN_MISSES))


def test_known_misses_are_still_real(results: Results) -> None:
    stale = sorted(set(KNOWN_MISSES) - results.missed)
    assert not stale, f"known misses now found, remove them: {stale}"


def test_no_undocumented_invented_recipient(results: Results) -> None:
    # Trust nothing unverified: an address in a notice's prose is no failed recipient.
    new = sorted(results.invented - set(KNOWN_INVENTED))
    assert not new, f"recipients flufl does not expect: {new}"
    stale = sorted(set(KNOWN_INVENTED) - results.invented)
    assert not stale, f"documented inventions gone, remove them: {stale}"


def test_temporary_agrees(results: Results) -> None:
    assert results.temporary_total >= 11
    assert results.temporary_rate >= TEMPORARY_THRESHOLD, results.temporary_misses


def test_non_bounces_count_nothing(results: Results) -> None:
    assert sorted(results.non_bounces) == ["data/groupwise_03.txt", "data/qmail_08.txt"]
    for name, got in results.non_bounces.items():
        assert not any(counted(b) for b in got), f"{name}: {got}"


# --------------------------------------------------------------------------- one per fix
# Each names the format it reads; all failed before the fix they go with.


def _recipients(name: str) -> list[str]:
    return [b.recipient for b in parse_bounces((CORPUS / "data" / name).read_bytes())]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # usa.net: "The following mail has been returned ... Intended recipient: ..."
        ("simple_02.txt", ["userx@example.net"]),
        # airmail.net: "|--- Failed addresses follow: ---|"
        ("simple_04.txt", ["userx@example.com"]),
        # sina.com: "邮件无法发送到您指定的地址中" (mail cannot be sent to the address given)
        ("sina_01.txt", ["userx@sina.com", "usery@sina.com"]),
    ],
)
def test_daemon_notice_wording(name: str, expected: list[str]) -> None:
    assert _recipients(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # "-------- Returned Mail --------": the returned copy's To/From are no recipients
        ("bounce_02.txt", ["userx@example.com"]),
        # "---- START OF RETURNED MESSAGE ----", and an address in single quotes
        ("bounce_03.txt", ["userx@example.uk"]),
        # "Original message details:" with "* From:"/"* To:" lines; "addr...User" (no blank)
        ("simple_45.txt", ["subscriber@earthlink.net"]),
    ],
)
def test_returned_copy_markers(name: str, expected: list[str]) -> None:
    assert _recipients(name) == expected


def test_exchange_x400_smtp_attribute() -> None:
    # "dda:SMTP=userx@example.COM": the attribute name is not part of the address.
    assert _recipients("microsoft_04.txt") == ["userx@example.com"]


@pytest.mark.parametrize("name", ["groupwise_01.txt", "groupwise_02.txt", "microsoft_01.txt"])
def test_exchange_echo_of_original_is_no_recipient(name: str) -> None:
    # "Your message / To: list@... Cc: ... / did not reach the following recipient(s): addr"
    got = _recipients(name)
    assert len(got) == 1 and got[0].startswith("userx@"), got


def test_exim_undisclosed_address() -> None:
    # "an undisclosed address / (generated from userx@example.com)": the address mailed.
    assert _recipients("simple_16.txt") == ["userx@example.com"]


def test_aol_screen_name() -> None:
    assert _recipients("aol_01.txt") == ["screenname@aol.com"]


def test_screen_names_believed_only_from_aol() -> None:
    raw = (CORPUS / "data" / "aol_01.txt").read_bytes()
    forged = raw.replace(b"<MAILER-DAEMON@AOL.com>", b"<MAILER-DAEMON@example.net>")
    assert forged != raw
    assert "screenname@aol.com" not in _recipients_of(forged)


def _recipients_of(raw: bytes) -> list[str]:
    return [b.recipient for b in parse_bounces(raw)]


@pytest.mark.parametrize(
    "name",
    [
        "simple_21.txt",  # "This is just a warning ... We will continue to attempt delivery"
        "simple_22.txt",  # "could not be delivered ... Delivery attempts will continue"
        "simple_35.txt",  # "postponed ... We will continue to try to deliver your message"
    ],
)
def test_delay_warnings_in_words(name: str) -> None:
    got = parse_bounces((CORPUS / "data" / name).read_bytes())
    assert got and all(b.delayed for b in got), got
