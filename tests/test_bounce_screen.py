"""The literal screen in front of the bounce patterns (warmup/bounces/screen.py) never changes an
answer: a text it screens out is one the pattern cannot match (issue #14, parse speed)."""

from __future__ import annotations

import email
import email.policy
import importlib
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from warmup.bounces import parse_bounces, stage
from warmup.bounces.screen import Screened, required_literals
from warmup.bounces.wording import WORD_RULES, read_words

# The package exports a function of the same name as the module.
classify_module = importlib.import_module("warmup.bounces.classify")
SCREENED = {
    "throttle": classify_module._THROTTLE_TEXT,
    "not-throttle": classify_module._NOT_THROTTLE,
    "volume": classify_module._VOLUME,
    "after-data": stage.AFTER_DATA,
    "at-mail": stage.AT_MAIL,
} | {f"words.{r.name}": Screened(r.pattern) for r in WORD_RULES}


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\bspf\b|dkim", {"spf", "dkim"}),
        (r"user(?:name)? (?:is )?unknown", {"unknown"}),
        (r"(?:disabled|locked) (?:account|user)", {"disabled", "locked"}),
        (r"(?:in reply to|after) end of data|mail from", {" end of data", "mail from"}),
        (r"ab(?=c)c(?<!x)d", {"abcd"}),
        (r"x(?:yz)+w", {"yz"}),
        # What is not known to be required is not used: an optional part, a class, any char.
        (r"spam|(?:junk)?", None),
        (r"[ab]c|d.e", {"c", "d"}),
        (r"(?:a|)bcd", {"bcd"}),
    ],
)
def test_required_literals(pattern: str, literals: set[str] | None) -> None:
    found = required_literals(re.compile(pattern))
    assert (set(found) if found is not None else None) == literals


@pytest.mark.parametrize("pattern", [r"(?i)spam", r"(?i:spam)x", r"abc"])
def test_case_insensitive_literals_are_no_evidence(pattern: str) -> None:
    found = required_literals(re.compile(pattern, re.IGNORECASE if pattern == "abc" else 0))
    assert not found or found == {"x"}


def test_the_patterns_that_cost_most_are_screened() -> None:
    assert all(s.literals for s in SCREENED.values() if s is not stage.AT_MAIL)
    assert sum(r.literals is not None for r in WORD_RULES) == len(WORD_RULES)


def _pieces() -> list[str]:
    # Fragments of every literal and of the patterns' own text: texts built of them come close
    # to matching (a literal cut in two, a prefix without its words).
    out: set[str] = {" ", "\n", "-", ".", "550 5.1.1 ", "<a@b.example>: "}
    for s in SCREENED.values():
        for literal in s.literals:
            out.update({literal, literal[: len(literal) // 2], literal[len(literal) // 2 :]})
        out.update(re.findall(r"[a-z']{2,}", s.pattern.pattern))
    return sorted(out)


TEXTS = st.lists(st.sampled_from(_pieces()) | st.text(max_size=3), max_size=12).map("".join)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(SCREENED)), text=TEXTS)
def test_a_screened_pattern_answers_as_the_pattern(name: str, text: str) -> None:
    screened = SCREENED[name]
    got, want = screened.search(text), screened.pattern.search(text)
    assert (got and got.span()) == (want and want.span())


def _unscreened_read_words(text: str) -> object:
    """read_words's rules without its literal screen: the first rule that matches, except that
    a weak user-unknown wording gives way to a strong rule matching later in the list ("mailbox
    unavailable: sender blocked"); the oracle once returned the weak rule at once, and the
    property test failed on texts with both (found: 'host not foundnot listed in')."""
    bare = re.sub("recipient address rejected:", " ", text) if "address rejected:" in text else text
    weak = None
    for rule in WORD_RULES:
        if weak is not None and not rule.strong:
            continue
        if rule.pattern.search(text if rule.strong else bare):
            if rule.strong or rule.reason != "userunknown":
                return rule
            weak = rule
    return weak


@settings(max_examples=150, deadline=None)
@given(text=TEXTS)
@example(text="host not foundnot listed in")
def test_read_words_answers_as_without_the_screen(text: str) -> None:
    text = " ".join(text.lower().split())
    assert read_words(text) is _unscreened_read_words(text)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(r.name for r in WORD_RULES)), text=TEXTS)
@example(
    name="user-unknown", text="550 5.1.1 <a@b.example>: recipient address rejected: user unknown"
)
def test_a_rule_searched_line_by_line_answers_as_its_whole_pattern(name: str, text: str) -> None:
    rule = next(r for r in WORD_RULES if r.name == name)
    text = " ".join(text.lower().split())
    assert rule.matches(text) == (rule.pattern.search(text) is not None)


def test_the_rules_of_many_lines_are_searched_line_by_line_on_the_corpus() -> None:
    # The big rules are split (their lines each behind literals of their own) and give every
    # diagnostic of the corpora the answer of the whole pattern.
    from warmup.bounces.wording import fold

    split = {r.name for r in WORD_RULES if r.parts}
    assert {"user-unknown", "mailbox-disabled", "mailbox-full", "host-unknown"} <= split
    texts = [
        fold(b.diagnostic)
        for path in sorted((Path(__file__).parent / "corpus").glob("**/*.eml"))
        for b in parse_bounces(path.read_bytes())
    ]
    assert len(texts) > 500
    for rule in WORD_RULES:
        for text in texts:
            assert rule.matches(text) == (rule.pattern.search(text) is not None), (rule.name, text)


def test_a_block_whose_lines_are_no_patterns_alone_is_searched_whole() -> None:
    from warmup.bounces.wording import _parts

    assert _parts("(?:user\nunknown)") == ()  # a group opened on one line, closed on the next
    assert _parts("(a)x\n\\1") == ()  # a back-reference to another line's group
    assert _parts("one line") == ()
    assert [p.pattern for *_, p in _parts("mailbox full\nover ?quota")] == [
        "mailbox full",
        "over ?quota",
    ]


# The code patterns as first written (look-behind first); classify's and notices' forms put it
# after the first digit, which lets the engine skip to the next candidate digit.
_WRITTEN = {
    "status": r"(?<![\d.])(?<![A-Za-z_]-)([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])",
    "reply-status": r"(?<![\d.])([245]\d\d)[\s-]+#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])",
    "code": r"(?<![\d.])[45]\d\d[ -]|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}",
}
_REWRITTEN = {
    "status": classify_module._STATUS_RE,
    "reply-status": classify_module._REPLY_STATUS_RE,
    "code": importlib.import_module("warmup.bounces.notices")._CODE_RE,
}
CODE_TEXTS = st.lists(
    st.sampled_from(["2", "4", "5", "0", "1", ".", "-", " ", "a", "x-", "#", "\n", "550", "5.1.1"]),
    max_size=20,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(_WRITTEN)), text=CODE_TEXTS)
@example(name="status", text="x-5.1.1 then 4.2.2")
@example(name="status", text="1.5.1.1 5.1.10")
@example(name="reply-status", text="1550 5.1.1 550-5.1.1")
@example(name="code", text=".550 4.4.7")
def test_code_patterns_match_as_written(name: str, text: str) -> None:
    got, want = _REWRITTEN[name].search(text), re.search(_WRITTEN[name], text)
    assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))


_AT_RCPT_WRITTEN = re.compile(
    r"in reply to rcpt to|after rcpt to|rcpt to command|>>> rcpt to:?\s*<[^>]*>\s*<<<|"
    r"\b(?:in|out): rcpt to:?\s*<[^>]*>(?:\s+[a-z]+=\S*)*\s*(?:in|out): [45]\d\d\b|"
    r"does not like recipient|\[rcpt_to\]|smtp:rcpt\b|has rejected address|"
    r"need rcpt|no valid recipients|recipient address rejected|"
    r"(?:^|[\s:;])[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?<[^<>\s]+@[^<>\s]+>:|"
    r"\(000c05a6\)"
)
RCPT_TEXTS = st.lists(
    st.sampled_from(
        [
            "550",
            "450",
            "5.1.1",
            " ",
            ":",
            ";",
            "x",
            "-",
            "<a@b>",
            "<a@b>:",
            "<>",
            "@",
            ">>> ",
            "<<<",
        ]
        + ["rcpt to:", "rcpt to command", "need rcpt", "smtp:rcpt", "(000c05a6)", "after "]
        + ["in: ", "out: ", " orcpt=rfc822;a@b"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=RCPT_TEXTS)
@example(text="550 <a@b>:")
@example(text="x550 <a@b>: ;450 5.1.1 <a@b>:")
@example(text="x550 <a@b>:")
@example(text="in: rcpt to:<a@b> orcpt=rfc822;a@b out: 550 x")
def test_at_rcpt_answers_as_written(text: str) -> None:
    assert stage.at_rcpt(text) is bool(_AT_RCPT_WRITTEN.search(text))


_formats = importlib.import_module("warmup.bounces.formats")
# As written: at the start of any line ("^"), not after its newline.
_RETURNED_WRITTEN = re.compile(
    "^" + _formats._RETURNED_RE.pattern.removeprefix("\\n"), re.IGNORECASE | re.MULTILINE
)


def _split_returned_as_written(text: str) -> tuple[str, str]:
    for m in _RETURNED_WRITTEN.finditer(text):
        if _formats._TRANSCRIPT_RE.search(m.group(0)) or m.start() < 20:
            continue
        return text[: m.start()], text[m.start() :]
    return text, ""


SPLIT_TEXTS = st.lists(
    st.sampled_from(
        [
            "\n",
            "\n\n",
            " ",
            "\t",
            "-",
            "----- ",
            "x" * 9,
            "Original message follows",
            "ORIGINAL MESSAGE -",
        ]
        + ["Transcript of session follows", "Content-Type: message/rfc822", "[returned message]"]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=SPLIT_TEXTS)
@example(
    text="Original message follows\n------ Transcript of session follows\nxx\n-- original message -"
)
def test_split_returned_answers_as_written(text: str) -> None:
    assert _formats.split_returned(text) == _split_returned_as_written(text)


def test_header_addresses_are_those_of_get_all() -> None:
    names = ("From", "To", "Return-Path", "Reply-To", "Sender", "Delivered-To", "Cc")
    corpus = sorted((Path(__file__).parent / "corpus").glob("*/**/*.eml"))
    assert len(corpus) > 300
    seen = 0
    for path in corpus:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        want = {a for n in names for v in msg.get_all(n, []) for a in _formats.addresses(str(v))}
        assert _formats.header_addresses(msg, names) == want, path.name
        seen += bool(want)
    assert seen > 250


_message = importlib.import_module("warmup.bounces.message")
HEADER_TEXTS = st.lists(
    st.sampled_from(
        ["From: a@b.example\n", "To: <c@d.example>,\n", " e@f.example\n", "\tx\n", "\n", "\r\n"]
        + ["\r", "Subject: hi\r\n", "not a header\n", ": no name\n", "Reply-To: g@h.example"]
        + ["----- original message -----\n", "[x]\n", "body line\n", "From g@h Mon\n"]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=HEADER_TEXTS)
@example(text="From: a@b.example\n\nTo: c@d.example\n")
@example(text="From: a@b.example\r\rTo: c@d.example\n\n")
def test_the_returned_headers_are_read_as_from_the_whole_copy(text: str) -> None:
    # the lines after a marker line, less the blank ones before the headers (Exim's, qmail's)
    marked = text[:1] in "-[" or not re.match(r"[!-9;-~]+:", text)
    whole = text.split("\n", 1)[-1].lstrip("\r\n") if marked else text
    cut = _message.header_block(_message.skip_marker(text))
    assert cut.items() == _message.header_block(whole).items()


def test_an_ascii_text_is_not_screened_for_the_other_scripts_words() -> None:
    """A line whose literals are all in another script (Chinese, Russian, Korean) cannot match
    an ASCII text: it is skipped there unscreened; a line with ASCII literals among them keeps
    those; and a text in that script is screened for all of them."""
    from warmup.bounces.wording import _parts

    parts = _parts("用户不存在|нет такого пользователя\nmailbox full|信箱已满")
    assert [(literals, ascii) for literals, ascii, _ in parts] == [
        (("нет такого пользователя", "用户不存在"), ()),
        (("mailbox full", "信箱已满"), ("mailbox full",)),
    ]
    rule = next(r for r in WORD_RULES if r.name == "user-unknown")
    assert rule.ascii_literals is not None and rule.literals is not None
    assert set(rule.ascii_literals) == {x for x in rule.literals if x.isascii()}
    assert rule.matches("550 no such user here") and rule.matches("550 нет такого пользователя")
