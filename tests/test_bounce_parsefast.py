"""The parser's shortcuts (issue #14, acceptance 4: parsing does not regress) give the answers of
the full path on every message of the corpora: a plain-text notice's "does it say anything" asked
of its words first (:func:`warmup.bounces.classify.says_nothing`), the last texts' words kept
(:func:`warmup.bounces.wording.read_words`), a message's "boundary" words counted before they
are searched (:func:`warmup.bounces.formats.first_containers`), an address's blanks found in one
search (``parse._address_like``)."""

from __future__ import annotations

import email
import email.policy
import importlib
import re
import sys
from pathlib import Path

import pytest

from warmup.bounces import formats, notices, parse_bounces
from warmup.bounces.classify import reason_of, says_nothing
from warmup.bounces.formats import MAX_CONTAINERS, first_containers
from warmup.bounces.wording import read_words

# The package exports functions of the same names as these modules.
classify_module = importlib.import_module("warmup.bounces.classify")
parse_module = importlib.import_module("warmup.bounces.parse")

CORPUS = Path(__file__).parent / "corpus"
# Every sample of every corpus: .eml, and the .msg and .txt messages of the corpora borrowed.
SAMPLES = sorted(p for ext in ("eml", "msg", "txt") for p in CORPUS.glob(f"*/**/*.{ext}"))


def _full_first_containers(raw: bytes | str) -> bytes | str:
    """first_containers as it was: every "boundary" searched for, case-insensitively."""
    word = re.compile(b"boundary" if isinstance(raw, bytes) else "boundary", re.IGNORECASE)
    ends = (b"\n", b"\r") if isinstance(raw, bytes) else ("\n", "\r")
    for n, m in enumerate(word.finditer(raw)):  # type: ignore[arg-type]
        if n == MAX_CONTAINERS:
            return raw[: max(raw.rfind(end, 0, m.start()) for end in ends) + 1]  # type: ignore[arg-type]
    return raw


def _full_says_nothing(diagnostic: str) -> bool:
    return reason_of("", "", diagnostic) == "undefined"


def _full_address_like(recipient: str) -> bool:
    return recipient.isprintable() and not any(c.isspace() for c in recipient)


def _texts(path: Path) -> list[str]:
    """The paragraphs of a sample's text parts: notices' words, with and without a reason."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
    out = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            text = payload.decode("utf-8", "replace")
            out += [p for p in re.split(r"\n\s*\n", text[:20_000]) if p.strip()][:12]
    return out


@pytest.fixture(scope="module")
def parsed() -> dict[Path, list[object]]:
    """Every sample parsed the fast way."""
    return {path: parse_bounces(path.read_bytes()) for path in SAMPLES}


def test_the_corpora_are_all_read() -> None:
    assert len(SAMPLES) > 1000
    assert {p.relative_to(CORPUS).parts[0] for p in SAMPLES} == {
        d.name for d in CORPUS.iterdir() if d.is_dir()
    }


def test_every_sample_parses_as_on_the_full_path(
    parsed: dict[Path, list[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every shortcut taken away at once: the full decision, no kept words, every "boundary"
    # searched, every character of an address tested.
    monkeypatch.setattr(notices, "says_nothing", _full_says_nothing)
    monkeypatch.setattr(classify_module, "read_words", read_words.__wrapped__)
    monkeypatch.setattr(formats, "first_containers", _full_first_containers)
    monkeypatch.setattr(parse_module, "_address_like", _full_address_like)
    differ = [
        path.relative_to(CORPUS).as_posix()
        for path in SAMPLES
        if parse_bounces(path.read_bytes()) != parsed[path]
    ]
    assert differ == []
    # Not an empty comparison: most samples are bounces, of every reason and kind.
    bounces = [b for found in parsed.values() for b in found]
    assert len(bounces) > 800
    assert len({(b.reason, b.rule, b.kind) for b in bounces}) > 60  # type: ignore[attr-defined]


def test_a_text_says_nothing_exactly_when_the_decision_finds_nothing(
    parsed: dict[Path, list[object]],
) -> None:
    texts = sorted(
        {b.diagnostic for found in parsed.values() for b in found}  # type: ignore[attr-defined]
        | {text for path in SAMPLES for text in _texts(path)}
    )
    answers = {text: says_nothing(text) for text in texts}
    wrong = [text[:80] for text in texts if answers[text] != _full_says_nothing(text)]
    assert wrong == []
    # Both answers are tested, many times each.
    assert sum(answers.values()) > 200
    assert len(answers) - sum(answers.values()) > 2000


def test_kept_words_are_the_words_read_again() -> None:
    texts = ["550 5.1.1 user unknown", "452 4.2.2 mailbox full", "hello", "550 5.1.1 user unknown"]
    for text in texts * 40:  # more texts than are kept: some are read anew
        assert read_words(text) is read_words.__wrapped__(text)
    assert read_words.cache_info().hits > 0


def test_a_printable_text_holds_no_blank_but_the_space() -> None:
    # _address_like looks for " " alone in a printable text: no other character is both.
    both = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable() and c.isspace()]
    assert both == [" "]


def test_no_character_but_the_word_s_letters_lowers_to_them() -> None:
    # first_containers counts "boundary" in the lower-cased text: every character the
    # case-insensitive pattern takes for one of its letters lowers to that letter alone.
    for c in map(chr, range(sys.maxunicode + 1)):
        if re.fullmatch("[boundary]", c, re.IGNORECASE):
            assert c.lower() in "boundary" and len(c.lower()) == 1, repr(c)


@pytest.mark.parametrize(
    "count", [0, 1, MAX_CONTAINERS - 1, MAX_CONTAINERS, MAX_CONTAINERS + 1, 40]
)
@pytest.mark.parametrize("word", ["boundary", "BOUNDARY", "BoUnDaRy"])
@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_containers_are_cut_as_before(count: int, word: str, end: str) -> None:
    text = "".join(f"Content-Type: multipart/mixed; {word}=b{i}{end}x{end}" for i in range(count))
    text = "İK header" + end + text + "body" + end
    assert first_containers(text) == _full_first_containers(text)
    raw = text.encode("utf-8")
    assert first_containers(raw) == _full_first_containers(raw)


@pytest.mark.parametrize(
    "recipient",
    [
        "",
        "kim@example.net",
        "kim @example.net",
        "kim\t@example.net",
        "kim\xa0@example.net",
        "kim\u3000@example.net",
        "kim\n@example.net",
        "kim\x1b[31m@example.net",
        "李@例子.中国",
    ],
)
def test_an_address_is_judged_as_before(recipient: str) -> None:
    assert parse_module._address_like(recipient) == _full_address_like(recipient)
