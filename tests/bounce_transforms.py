"""Meaning-preserving transformations of a bounce message, for tests/test_bounce_metamorphic.py.

Each imitates one way another bounce of the same MTA differs from ours: other addresses (so
other line breaks), other wrap widths, transfer encodings, line ends, header case and folding,
host names, IPs, dates and Message-IDs, another domain no table knows, another of a provider's
servers; and the form alone (issue #14): a text-only notice encoded, bare-CR line ends, the
delivery-status fields in another order or with another address type, a multi-line reply, other
charsets and RFC 2047 words, a forward as an attachment. A transformation is a pure function of the message's
bytes that returns the new bytes and the mapping of old to new values (addresses, Message-IDs),
or ``None`` where it does not apply (no wrapped text, no address to change). Its randomness is
seeded by the message itself. Where a rewrite would change the meaning (a list of one recipient
a line joined into one line), the transformation is narrowed, and says why.
"""

from __future__ import annotations

import base64
import email.charset
import email.header
import email.parser
import email.policy
import hashlib
import quopri
import random
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

from warmup.bounces import Bounce, parse_bounces
from warmup.bounces.formats import encoded_words, mail_codec
from warmup.words import undeclared_text

ROOT = Path(__file__).parent / "corpus"
# Every corpus with messages of MTAs and providers (attack/ holds hostile inputs, not bounces).
CORPORA = (
    "dsn",
    "baunsu",
    "bounceemail",
    "bounceparser",
    "crisp",
    "crossed",
    "flufl",
    "published",
    "vendors",
    "written",
    "languages",
    "nosuchuser",
)
_NOT_MESSAGES = {"README.md", "LICENSE", "expected.jsonl", "generate.py"}

Mapping = dict[str, str]
Result = tuple[bytes, Mapping] | None


def corpus_files() -> list[Path]:
    out: list[Path] = []
    for corpus in CORPORA:
        out += sorted(
            p for p in (ROOT / corpus).rglob("*") if p.is_file() and p.name not in _NOT_MESSAGES
        )
    return out


def _rng(raw: bytes, salt: str) -> random.Random:
    return random.Random(hashlib.sha256(salt.encode() + raw[:4096]).hexdigest())


# --------------------------------------------------------------------------- the raw MIME tree

_HEAD_END = re.compile(rb"\n\n")
_COMPAT = email.policy.compat32


class Leaf:
    """A leaf part of a message (LF line ends): where its header and body are, what it is."""

    def __init__(self, raw: bytes, start: int, body: int, end: int, top: bool) -> None:
        self.start, self.body, self.end, self.top = start, body, end, top
        head = email.parser.BytesHeaderParser(policy=_COMPAT).parsebytes(raw[start:body])
        self.ctype = head.get_content_type()
        self.cte = str(head.get("Content-Transfer-Encoding", "")).strip().lower()


def _leaves(raw: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[Leaf]:
    end = len(raw) if end is None else end
    if raw[start : start + 1] == b"\n":
        body = start + 1  # a part without headers
    else:
        m = _HEAD_END.search(raw, start, end)
        if m is None:
            return
        body = m.end()
    head = email.parser.BytesHeaderParser(policy=_COMPAT).parsebytes(raw[start:body])
    boundary = head.get_boundary()
    if head.get_content_maintype() == "multipart" and boundary and depth < 5:
        delim = re.compile(rb"^--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*$", re.M)
        marks = list(delim.finditer(raw, body, end))
        for a, b in zip(marks, marks[1:], strict=False):
            if a.group(1):
                break
            yield from _leaves(raw, a.end() + 1, max(a.end() + 1, b.start() - 1), depth + 1)
        return
    yield Leaf(raw, start, body, end, depth == 0)


def _edit(raw: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for start, end, new in sorted(edits, reverse=True):
        raw = raw[:start] + new + raw[end:]
    return raw


def _decoded(raw: bytes, leaf: Leaf) -> bytes | None:
    body = raw[leaf.body : leaf.end]
    if leaf.cte == "base64":
        try:
            return base64.b64decode(body)
        except ValueError:
            return None
    if leaf.cte == "quoted-printable":
        return quopri.decodestring(body)
    return None


def _encoded(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data)
    return quopri.encodestring(data)


def _lf(transform: Callable[[bytes, random.Random], Result]) -> Callable[[bytes], Result]:
    """``transform`` applied to the message with LF line ends, its CRLF ends restored after."""

    def run(raw: bytes) -> Result:
        crlf = raw.count(b"\r\n") * 2 > raw.count(b"\n")
        done = transform(raw.replace(b"\r\n", b"\n"), _rng(raw, transform.__name__))
        if done is None:
            return None
        new, mapping = done
        return (new.replace(b"\n", b"\r\n") if crlf else new), mapping

    run.__name__ = transform.__name__
    return run


def _replace_everywhere(raw: bytes, pattern: re.Pattern[bytes], new: Callable) -> bytes:
    """``pattern`` replaced in the raw message and inside its base64 / quoted-printable parts."""
    edits = []
    for leaf in _leaves(raw):
        data = _decoded(raw, leaf)
        if data is not None and pattern.search(data):
            edits.append((leaf.body, leaf.end, _encoded(pattern.sub(new, data), leaf.cte)))
    return pattern.sub(new, _edit(raw, edits))


_WRITTEN = ("", "7bit", "8bit")  # a part's transfer encodings that write its text as it is
_STATUS = ("message/delivery-status",)
_STATUS_OR_TEXT = ("message/delivery-status", "text/plain")


def _substituted(
    raw: bytes,
    pattern: re.Pattern[bytes],
    repl: Callable[[re.Match[bytes]], bytes],
    ctypes: tuple[str, ...] = _STATUS,
) -> Result:
    """``pattern`` replaced by ``repl`` in each part of ``ctypes`` written as it is (not in
    base64 or quoted-printable); None where nothing changed."""
    edits = []
    for leaf in _leaves(raw):
        if leaf.ctype in ctypes and leaf.cte in _WRITTEN:
            body = raw[leaf.body : leaf.end]
            new = pattern.sub(repl, body)
            if new != body:
                edits.append((leaf.body, leaf.end, new))
    return (_edit(raw, edits), {}) if edits else None


# --------------------------------------------------------------------------- transformations

_ANONYMOUS = re.compile(r"(?:^|\.)(?:example|libsisimai|invalid|test|localhost|localdomain)\b")


def _addresses(raw: bytes, local_len: int, change_domain: bool) -> Result:
    """(a) Every failed recipient replaced by another address, everywhere it occurs. A domain
    is changed only where it is anonymised (example.jp): a provider's domain (gmail.com) says
    who answered, and its tables read it (warmup/bounces/providers.py)."""
    found = [b.recipient for b in parse_bounces(raw) if b.recipient and "@" in b.recipient]
    mapping: Mapping = {}
    for i, address in enumerate(dict.fromkeys(found)):
        local, _, domain = address.rpartition("@")
        if change_domain:
            if not _ANONYMOUS.search(domain):
                continue
            domain = "d.example" if len(domain) > 12 else "mail.much-longer-domain-name.example"
        local = (f"addr{i}x" + "recipientname" * 8)[:local_len] if local_len > 8 else f"u{i}"
        mapping[address] = f"{local}@{domain}"
    # Only an address written out: AOL's notice names a screen name alone ("kim" for
    # kim@aol.com), which a rewrite of the address leaves as it is.
    text = b"\n".join([raw] + [d for leaf in _leaves(raw) if (d := _decoded(raw, leaf))])
    mapping = {a: n for a, n in mapping.items() if a.encode().lower() in text.lower()}
    if not mapping:
        return None
    pattern = re.compile(b"|".join(re.escape(a.encode()) for a in mapping), re.IGNORECASE)
    encoded = {a.encode().lower(): n.encode() for a, n in mapping.items()}
    return _replace_everywhere(raw, pattern, lambda m: encoded[m.group(0).lower()]), mapping


def longer_addresses(raw: bytes, rng: random.Random) -> Result:
    return _addresses(raw, 40, False)


def shorter_addresses(raw: bytes, rng: random.Random) -> Result:
    return _addresses(raw, 2, False)


def other_domains(raw: bytes, rng: random.Random) -> Result:
    return _addresses(raw, 12, True)


# The domains a provider or vendor table of warmup/bounces/ knows (providers.py, vendors.py,
# notifications.py), and the big providers', whose own formats the parser reads: a host under
# one of them says who answered or who reported.
_PROVIDER_DOMAINS = """
    gmail.com googlemail.com google.com yahoo.com yahoo.co.jp ymail.com rocketmail.com aol.com
    hotmail.com outlook.com live.com msn.com office365.com icloud.com me.com mac.com qq.com
    163.com 126.com 188.com yeah.net aliyun.com orange.fr wanadoo.fr laposte.net
    secureserver.net cox.net cox.com charter.net spectrum.net rr.com twc.com facebook.com
    facebookmail.com i.ua email.ua mimecast.com messagelabs.com symanteccloud.com mail.ru
    bk.ru inbox.ru list.ru yandex.ru ya.ru rambler.ru gmx.de gmx.net web.de docomo.ne.jp
    ezweb.ne.jp au.com softbank.ne.jp zoho.com googlegroups.com naver.com daum.net hanmail.net
    sohu.com sina.com sina.cn vtext.com vzwpix.com amazonses.com amazonaws.com
"""
_PROVIDER_HOST = re.compile(
    rb"(?<![@\w.-])((?:[A-Za-z0-9-]+\.)+(?:"
    + b"|".join(re.escape(d.encode()) for d in _PROVIDER_DOMAINS.split())
    + rb"))(?![\w-]|\.\w)",
    re.IGNORECASE,
)
_NEUTRAL = "neutral-mail.example"
_READ_AS_DOMAIN = re.compile(r"(?:[a-z0-9][a-z0-9-]*\.)+[a-z]{2,24}")


def _domain_pattern(domain: str) -> re.Pattern[bytes]:
    """``domain`` as a whole domain or the end of a host name (mx.domain), not inside a label."""
    return re.compile(rb"(?<![\w-])" + re.escape(domain.encode()) + rb"(?![\w-]|\.\w)", re.I)


def _reporting_host(raw: bytes) -> str:
    """The Reporting-MTA's host name, or the domain of the report's From address."""
    m = re.search(
        rb"^Reporting-MTA:[ \t]*(?:dns[ \t]*;)?[ \t]*([A-Za-z0-9.-]+\.[A-Za-z]{2,})",
        raw,
        re.I | re.M,
    )
    if m:
        return m.group(1).decode().lower().rstrip(".")
    head = raw[: raw.find(b"\n\n")]
    m = re.search(rb"^From:[^\n]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})", head, re.I | re.M)
    return m.group(1).decode().lower() if m else ""


def neutral_domains(raw: bytes, rng: random.Random) -> Result:
    """(a) Every failed recipient's domain, and the reporting host, moved to a domain no table
    knows (n0.neutral-mail.example, reporter.neutral-mail.example), everywhere they occur, as a
    domain and at the end of a host name. Not applied where a table of warmup/bounces/ names
    one of them (_PROVIDER_DOMAINS): there the parse legitimately depends on the domain
    (GoDaddy's IB codes mean something only from GoDaddy, "unknown user" from a Japanese
    carrier is a filter's mask, QQ's "mailbox unavailable" its directory's verdict), and
    ``provider_hosts`` below keeps those domains and changes the rest. Amazon SES's JSON and
    Verizon's SMS gateways are such tables too (notifications.py takes SES's format only from
    SES; vendors.py reads vtext.com's "no such user" as its directory's). Nor where a domain is
    none the parser reads as one (the anonymised "a.b.c", whose last label has one letter):
    moved to a real name, its address is found in a text where it was not before, and what the
    text says of it is read where nothing was."""
    found = [b.recipient for b in parse_bounces(raw) if b.recipient and "@" in b.recipient]
    domains = list(dict.fromkeys(a.rpartition("@")[2] for a in found))
    reporter = _reporting_host(raw)
    moved = {d: f"n{i}.{_NEUTRAL}" for i, d in enumerate(domains)}
    if reporter and not any(reporter == d or reporter.endswith("." + d) for d in domains):
        moved[reporter] = f"reporter.{_NEUTRAL}"
    if not domains or any(_PROVIDER_HOST.search(f"x.{d}".encode()) for d in moved):
        return None
    if not all(_READ_AS_DOMAIN.fullmatch(d) for d in domains):
        return None
    done = raw
    for old, new in sorted(moved.items(), key=lambda kv: -len(kv[0])):
        done = _replace_everywhere(done, _domain_pattern(old), lambda m, n=new: n.encode())

    def mapped(value: str) -> str:
        for old, new in sorted(moved.items(), key=lambda kv: -len(kv[0])):
            value = _domain_pattern(old).sub(new.encode(), value.encode()).decode()
        return value

    mapping = {a: mapped(a) for a in found}
    mapping.update({b.message_id: mapped(b.message_id) for b in parse_bounces(raw)})
    return (done, mapping) if done != raw else None


def provider_hosts(raw: bytes, rng: random.Random) -> Result:
    """(a, f) A provider's domain left in place, the rest changed: the failed recipients' local
    parts, and every host name under a provider's domain (mx1.secureserver.net,
    gmail-smtp-in.l.google.com) given another first label, as another of the provider's
    servers would be named. The provider is still the provider; its codes and sentences
    still read as its own."""
    seen: dict[bytes, bytes] = {}

    def new(m: re.Match[bytes]) -> bytes:
        host = m.group(1).lower()
        seen.setdefault(host, b"in-%d-%02d." % (len(seen), rng.randrange(99)) + host)
        return seen[host]

    found = [b.recipient for b in parse_bounces(raw) if b.recipient and "@" in b.recipient]
    at_provider = [a for a in found if _PROVIDER_HOST.search(b"x." + a.rpartition("@")[2].encode())]
    done = _replace_everywhere(raw, _PROVIDER_HOST, new)
    mapping: Mapping = {}
    if at_provider:
        moved = _addresses(done, 14, False)
        if moved is not None:
            done, mapping = moved
    if not seen and not mapping:
        return None
    return done, mapping


def _text_leaves(raw: bytes) -> list[Leaf]:
    return [
        leaf
        for leaf in _leaves(raw)
        if leaf.ctype == "text/plain" and leaf.cte in ("", "7bit", "8bit")
    ]


# Lines that start with an address are records of a list (one recipient a line); a line with
# columns is a table's row. Joined with its neighbours, each would be one record no longer: that
# changes the meaning.
_RECORD = re.compile(r"^\s*<?[\w.+-]+@")
_COLUMNS = re.compile(r"\S(?: {3,}|\t)\S")


def _wrapped(lines: list[str]) -> int:
    """The width a run of lines was wrapped at (greedily, continuation lines indented alike),
    0 if it is no wrapped paragraph (nor a list or a table, whose lines are no wrapping)."""
    if len(lines) < 2 or len({ln[: len(ln) - len(ln.lstrip())] for ln in lines[1:]}) != 1:
        return 0
    if sum(bool(_RECORD.match(ln)) for ln in lines) > 1 or any(map(_COLUMNS.search, lines)):
        return 0
    width = max(len(ln) for ln in lines)
    if width < 60:
        return 0
    for line, after in zip(lines, lines[1:], strict=False):
        word = after.split()[0] if after.split() else ""
        if not word or len(line) + 1 + len(word) <= width:
            return 0
    return width


def _rewrapped(raw: bytes, delta: int) -> Result:
    """(b) The wrapped paragraphs of the notification's text re-wrapped ``delta`` columns wider,
    continuation lines indented as the original indents them. A paragraph is wrapped when each
    line is as full as a greedy wrap at its longest line leaves it."""
    edits = []
    for leaf in _text_leaves(raw):
        text = raw[leaf.body : leaf.end].decode("utf-8", "surrogateescape")
        out, changed = [], False
        for para in re.split(r"(\n[ \t]*\n)", text):
            lines = para.split("\n")
            width = _wrapped(lines)
            if not width:
                out.append(para)
                continue
            first = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            rest = lines[1][: len(lines[1]) - len(lines[1].lstrip())]
            out.append(
                textwrap.fill(
                    " ".join(" ".join(ln.split()) for ln in lines),
                    width=width + delta,
                    initial_indent=first,
                    subsequent_indent=rest,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
            changed = True
        if changed:
            edits.append((leaf.body, leaf.end, "".join(out).encode("utf-8", "surrogateescape")))
    return (_edit(raw, edits), {}) if edits else None


def narrower_text(raw: bytes, rng: random.Random) -> Result:
    return _rewrapped(raw, -22)


def wider_text(raw: bytes, rng: random.Random) -> Result:
    return _rewrapped(raw, 30)


def longer_addresses_narrower_text(raw: bytes, rng: random.Random) -> Result:
    """(a) then (b): a longer address moves the line breaks of the text around it."""
    done = _addresses(raw, 40, False)
    if done is None:
        return None
    wrapped = _rewrapped(done[0], -15)
    return (wrapped[0], done[1]) if wrapped else None


_FIELD = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*(?:\n[ \t]+.*)*)", re.M)


def dsn_refolded(raw: bytes, rng: random.Random) -> Result:
    """(b) The delivery-status fields unfolded and folded again at another width (Postfix folds
    a long Diagnostic-Code at 78 columns, others at 72 or not at all)."""
    width = rng.choice((40, 50, 64))
    indent = rng.choice(("    ", "\t", " "))

    def fold(m: re.Match[bytes]) -> bytes:
        value = b" ".join(m.group(2).split())
        text = m.group(1) + b": " + value
        if len(text) <= width:
            return text
        lines = textwrap.wrap(
            text.decode("utf-8", "surrogateescape"),
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        return "\n".join(lines).encode("utf-8", "surrogateescape")

    return _substituted(raw, _FIELD, fold)


def _set_cte(head: bytes, cte: str, top: bool = False) -> bytes:
    """``head`` (a part's header, or with ``top`` the message's, up to and with its blank line)
    saying ``Content-Transfer-Encoding: cte``; the message's saying it is MIME too."""
    line = f"Content-Transfer-Encoding: {cte}\n".encode()
    old = re.search(rb"^content-transfer-encoding:[^\n]*\n", head, re.I | re.M)
    if old:
        return head[: old.start()] + line + head[old.end() :]
    if top and not re.search(rb"^mime-version:", head, re.I | re.M):
        line = b"MIME-Version: 1.0\n" + line
    return head[:-1] + line + b"\n"


def reencoded(raw: bytes, ctypes: tuple[str, ...], cte: str) -> Result:
    """(c) The parts of ``ctypes`` in 7bit/8bit re-encoded as ``cte``."""
    edits = []
    for leaf in _leaves(raw):
        if leaf.ctype not in ctypes or leaf.cte not in ("", "7bit", "8bit") or leaf.top:
            continue
        head = _set_cte(raw[leaf.start : leaf.body], cte)
        edits.append((leaf.start, leaf.end, head + _encoded(raw[leaf.body : leaf.end], cte)))
    return (_edit(raw, edits), {}) if edits else None


def text_base64(raw: bytes, rng: random.Random) -> Result:
    return reencoded(raw, ("text/plain",), "base64")


def text_qp(raw: bytes, rng: random.Random) -> Result:
    return reencoded(raw, ("text/plain",), "quoted-printable")


def status_base64(raw: bytes, rng: random.Random) -> Result:
    return reencoded(raw, ("message/delivery-status",), "base64")


def status_qp(raw: bytes, rng: random.Random) -> Result:
    return reencoded(raw, ("message/delivery-status",), "quoted-printable")


def crlf_lf(raw: bytes) -> Result:
    """(d) LF line ends as CRLF, CRLF ones (and a mix) as LF."""
    lf = raw.replace(b"\r\n", b"\n")
    return (lf if lf != raw else lf.replace(b"\n", b"\r\n")), {}


def _field_case(raw: bytes, change: Callable[[bytes], bytes]) -> Result:
    """(e) The delivery-status field names (in its part, or pasted into a text) in another
    case."""
    return _substituted(raw, _DSN_NAMES, lambda m: change(m.group(1)) + b":", _STATUS_OR_TEXT)


_DSN_NAMES = re.compile(
    rb"^(Reporting-MTA|Received-From-MTA|Arrival-Date|Original-Envelope-Id|Original-Recipient|"
    rb"Final-Recipient|Action|Status|Remote-MTA|Diagnostic-Code|Last-Attempt-Date|"
    rb"Will-Retry-Until|X-Actual-Recipient|X-Postfix-[A-Za-z-]+):",
    re.M | re.I,
)


def fields_lower(raw: bytes, rng: random.Random) -> Result:
    return _field_case(raw, bytes.lower)


def fields_upper(raw: bytes, rng: random.Random) -> Result:
    return _field_case(raw, bytes.upper)


def headers_case_folded(raw: bytes, rng: random.Random) -> Result:
    """The report's own header names in upper case, and its Subject folded (RFC 5322 2.2.3)."""
    end = raw.find(b"\n\n")
    if end < 0:
        return None
    head = re.sub(
        rb"^([A-Za-z][A-Za-z0-9-]*):", lambda m: m.group(1).upper() + b":", raw[:end], flags=re.M
    )
    head = re.sub(rb"^(SUBJECT:[ \t]*\S+(?: \S+){1,2}) ", rb"\1\n\t", head, count=1, flags=re.M)
    return head + raw[end:], {}


_IP = re.compile(
    rb"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
    rb"(?!\d|\.\d)"
)


def other_ips(raw: bytes, rng: random.Random) -> Result:
    """(f) Every IPv4 address replaced consistently by another."""
    seen: dict[bytes, bytes] = {}

    def new(m: re.Match[bytes]) -> bytes:
        if m.group(0) not in seen:
            seen[m.group(0)] = rng.choice((b"10.%d.%d.%d", b"203.0.113.%d%d%d")) % (
                rng.randrange(1, 10),
                rng.randrange(0, 10),
                rng.randrange(1, 10),
            )
        return seen[m.group(0)]

    done = _replace_everywhere(raw, _IP, new)
    return (done, {}) if seen else None


_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ?)?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
    rb"Oct|Nov|Dec) \d{4} \d\d:\d\d(?::\d\d)?(?: [+-]\d{4})?"
)


def other_dates(raw: bytes, rng: random.Random) -> Result:
    """(f) Every RFC 5322 date (the report's, the DSN's, the original's) another one."""
    when = rng.choice((b"Sat, 3 Mar 2029 07:08:09 +0100", b"Wed, 21 Nov 2035 23:59:01 -0800"))
    done = _DATE.sub(when, raw)
    return (done, {}) if done != raw else None


_HOST = re.compile(
    rb"(?<![@\w.-])((?:[A-Za-z0-9-]+\.)+(?:example|libsisimai)\.(?:jp|com|net|org)|"
    rb"(?:[A-Za-z0-9-]+\.)+invalid)(?![\w-]|\.\w)"
)


def other_hosts(raw: bytes, rng: random.Random) -> Result:
    """(f) Host names of anonymised domains (mx.example.jp) replaced consistently by others:
    not a provider's (mx.google.com names who answered, and its tables read it)."""
    seen: dict[bytes, bytes] = {}

    def new(m: re.Match[bytes]) -> bytes:
        host = m.group(1).lower()
        seen.setdefault(host, b"relay-%d.h%d." % (len(seen), rng.randrange(99)) + host)
        return seen[host]

    done = _replace_everywhere(raw, _HOST, new)
    return (done, {}) if seen else None


_MID = re.compile(rb"^(Message-ID:[ \t]*)(<[^>\n]*>)", re.I | re.M)


def other_message_ids(raw: bytes, rng: random.Random) -> Result:
    """(f) The report's own Message-ID, and the returned original's, others."""
    before = {b.message_id for b in parse_bounces(raw) if b.message_id}
    mapping: Mapping = {}
    for i, mid in enumerate(sorted(before)):
        mapping[mid] = f"<{rng.randrange(10**12)}.{i}.metamorphic@other-host.example.net>"
    done = raw
    if mapping:
        ids = {m.strip("<>").encode().lower(): n.strip("<>").encode() for m, n in mapping.items()}
        pattern = re.compile(b"|".join(re.escape(m) for m in ids), re.I)
        done = _replace_everywhere(raw, pattern, lambda m: ids[m.group(0).lower()])
    end = done.find(b"\n\n")
    if end > 0:
        head = _MID.sub(
            rb"\1<report.%d@reporter.example.org>" % rng.randrange(10**9), done[:end], count=1
        )
        done = head + done[end:]
    return (done, mapping) if done != raw else None


def original_not_returned(raw: bytes, rng: random.Random) -> Result:
    """(g) A DSN that returns no original, or only its headers (RFC 3464 lets the reporting MTA
    leave it out; many return headers only, some nothing): the returned message or its headers
    replaced by a line of text. Only a report with a delivery-status part: its records, not the
    original's To, name the recipients. A Message-ID found only in what was dropped is gone
    (mapped to ""); what the report says of the recipients must not change."""
    leaves = list(_leaves(raw))
    if not any(leaf.ctype == "message/delivery-status" for leaf in leaves):
        return None
    dropped = [
        leaf
        for leaf in leaves
        if not leaf.top and leaf.ctype in ("message/rfc822", "text/rfc822-headers")
    ]
    if not dropped:
        return None
    line = rng.choice((b"(the original is not returned)\n", b"Headers withheld.\n"))
    new = _edit(
        raw, [(leaf.start, leaf.end, b"Content-Type: text/plain\n\n" + line) for leaf in dropped]
    )
    # A Message-ID is kept where a part still shows it (the notice may quote the original's
    # fields) or the report replies to it (In-Reply-To, References); the report's own
    # Message-ID and the text outside its parts say nothing of it.
    head = email.parser.BytesHeaderParser(policy=_COMPAT).parsebytes(new)
    replied = " ".join(str(head.get(name, "")) for name in ("In-Reply-To", "References"))
    kept = b"\n".join(new[leaf.start : leaf.end] for leaf in _leaves(new) if not leaf.top).lower()
    kept += replied.lower().encode("utf-8", "surrogateescape")
    mapping: Mapping = {
        b.message_id: ""
        for b in parse_bounces(raw)
        if b.message_id and b.message_id.strip("<>").lower().encode() not in kept
    }
    return new, mapping


# --------------------------------------------------------------------------- form (issue #14)


def _top_reencoded(raw: bytes, cte: str) -> Result:
    """(c) A notice that is one text part, no multipart (qmail's, Exim's, a Chinese provider's
    in base64 from its web mail), sent in ``cte``: its own header says so."""
    leaves = list(_leaves(raw))
    if len(leaves) != 1 or not leaves[0].top or leaves[0].ctype != "text/plain":
        return None
    if leaves[0].cte not in _WRITTEN:
        return None
    head = raw[: leaves[0].body]
    return _set_cte(head, cte, top=True) + _encoded(raw[len(head) :], cte), {}


def notice_base64(raw: bytes, rng: random.Random) -> Result:
    return _top_reencoded(raw, "base64")


def notice_qp(raw: bytes, rng: random.Random) -> Result:
    return _top_reencoded(raw, "quoted-printable")


def headers_part_base64(raw: bytes, rng: random.Random) -> Result:
    """(c) The returned original's headers (text/rfc822-headers) and any HTML alternative in
    base64: every part but the message/* ones RFC 2046 5.2 keeps unencoded."""
    return reencoded(raw, ("text/rfc822-headers", "text/html"), "base64")


# Charsets a notice comes in: a rewrite takes one at random among those that write its words.
CHARSETS = (
    "gb2312",
    "gbk",
    "gb18030",
    "big5",
    "iso-2022-jp",
    "shift_jis",
    "euc-jp",
    "euc-kr",
    "koi8-r",
    "windows-1251",
    "iso-8859-5",
    "iso-8859-1",
    "windows-1252",
    "iso-8859-15",
    "utf-8",
)


def _writes(charset: str, text: str) -> bool:
    """Whether RFC 2047 words in ``charset`` write ``text`` (EUC-JP's are ISO-2022-JP)."""
    codec = email.charset.Charset(charset).output_codec or charset
    try:
        text.encode(codec)
    except UnicodeError:
        return False
    return True


_CHARSET_PARAM = re.compile(rb'charset\s*=\s*"?([^";\s]+)"?', re.I)


def transcoded(
    raw: bytes, rng: random.Random, cte: str | None, charsets: tuple[str, ...] = CHARSETS
) -> Result:
    """(h) Each text part written in a non-ASCII charset (or UTF-8) with non-ASCII text put in
    another charset that writes the same text (GB2312 as GBK, Big5 or UTF-8; KOI8-R as
    Windows-1251; ISO-2022-JP as Shift_JIS), its label changed; sent 8-bit (ISO-2022-JP 7-bit)
    or, with ``cte``, in that encoding."""
    edits = []
    for leaf in _leaves(raw):
        if leaf.ctype != "text/plain":
            continue
        head = raw[leaf.start : leaf.body]
        data = _decoded(raw, leaf) if leaf.cte in ("base64", "quoted-printable") else None
        data = raw[leaf.body : leaf.end] if data is None else data
        if data.isascii() and b"\x1b" not in data:
            continue
        m = _CHARSET_PARAM.search(head)
        codec = mail_codec(m.group(1).decode("ascii", "replace")) if m else None
        if codec is None:
            continue
        try:
            text = data.decode(codec)
        except (UnicodeError, LookupError):
            continue
        if text.isascii():
            continue
        fits = []
        for cs in charsets:
            if mail_codec(cs) == codec:
                continue
            try:
                fits.append((cs, text.encode(cs)))
            except UnicodeError:
                continue
        if not fits:
            continue
        cs, body = rng.choice(fits)
        head = head[: m.start(1)] + cs.encode() + head[m.end(1) :] if m else head
        use = cte or ("7bit" if cs == "iso-2022-jp" else "8bit")
        head = _set_cte(head, use, top=leaf.top)
        encoded = body if use in ("7bit", "8bit") else _encoded(body, use)
        edits.append((leaf.start, leaf.end, head + encoded))
    return (_edit(raw, edits), {}) if edits else None


def other_charset(raw: bytes, rng: random.Random) -> Result:
    return transcoded(raw, rng, None)


def other_charset_base64(raw: bytes, rng: random.Random) -> Result:
    return transcoded(raw, rng, "base64")


_ENCODED_HEADER = re.compile(rb"^(Subject|From):[ \t]*(.*(?:\n[ \t]+.*)*)", re.I | re.M)


def encoded_word_headers(
    raw: bytes, rng: random.Random, charsets: tuple[str, ...] = CHARSETS
) -> Result:
    """(h) The report's Subject and the display name of its From written as RFC 2047
    encoded-words, in a charset that writes them (UTF-8, GB2312, Big5, ISO-2022-JP, KOI8-R,
    Windows-1251...), base64 or quoted-printable, folded as RFC 2047 6 allows."""
    end = raw.find(b"\n\n")
    if end < 0:
        return None
    head = raw[:end]

    def encode(text: str) -> bytes | None:
        fits = [cs for cs in charsets if _writes(cs, text)]
        if not fits:
            return None
        cs = rng.choice(fits)
        charset = email.charset.Charset(cs)
        charset.header_encoding = rng.choice((email.charset.BASE64, email.charset.QP))
        try:
            done = email.header.Header(text, charset, header_name="Subject").encode(
                linesep="\n", maxlinelen=76
            )
        except (UnicodeError, LookupError):
            return None
        return done.encode("ascii")

    def sub(m: re.Match[bytes]) -> bytes:
        name = m.group(1)
        value = b" ".join(m.group(2).split()).decode("utf-8", "surrogateescape")
        if not value.isascii():
            return m.group(0)
        value = encoded_words(value)
        if name.lower() == b"from":
            found = re.match(r'\s*"?([^"<]*?)"?\s*(<[^<>]*>)\s*$', value)
            if not found or not found.group(1).strip():
                return m.group(0)
            words = encode(found.group(1).strip())
            return (
                m.group(0)
                if words is None
                else name + b": " + words + b" " + found.group(2).encode()
            )
        words = encode(value) if value.strip() else None
        return m.group(0) if words is None else name + b": " + words

    new = _ENCODED_HEADER.sub(sub, head)
    return (new + raw[end:], {}) if new != head else None


def _status_blocks(raw: bytes, edit: Callable[[list[bytes]], list[bytes] | None]) -> Result:
    """Each block (per-message fields, one recipient's record) of each delivery-status part
    written as it is, ``edit``-ed: ``edit`` takes its fields (each with its continuation lines)
    and returns the new ones, or None to leave it."""
    edits = []
    for leaf in _leaves(raw):
        if leaf.ctype != "message/delivery-status" or leaf.cte not in ("", "7bit", "8bit"):
            continue
        body = raw[leaf.body : leaf.end]
        out, changed = [], False
        for block in re.split(rb"(\n[ \t]*\n)", body):
            fields = re.findall(rb"^[^ \t\n][^\n]*(?:\n[ \t]+[^\n]*)*", block, re.M)
            if fields and b"\n".join(fields) == block.strip(b"\n"):
                new = edit(fields)
                if new is not None and new != fields:
                    lead = block[: len(block) - len(block.lstrip(b"\n"))]
                    trail = block[len(block.rstrip(b"\n")) :]
                    out.append(lead + b"\n".join(new) + trail)
                    changed = True
                    continue
            out.append(block)
        if changed:
            edits.append((leaf.body, leaf.end, b"".join(out)))
    return (_edit(raw, edits), {}) if edits else None


def status_fields_reordered(raw: bytes, rng: random.Random) -> Result:
    """(e) The fields of each delivery-status block in another order (RFC 3464 2.2: the order
    is free, and MTAs differ: Exchange writes Action before Final-Recipient, qmail's
    converters Status last)."""

    def shuffled(fields: list[bytes]) -> list[bytes] | None:
        if len(fields) < 2:
            return None
        new = fields[:]
        while new == fields:
            rng.shuffle(new)
        return new

    return _status_blocks(raw, shuffled)


_TYPED = re.compile(
    rb"^((?:Final|Original)-Recipient|X-Actual-Recipient)(:[ \t]*)rfc822[ \t]*;[ \t]*", re.I | re.M
)


def _address_type(raw: bytes, new: bytes) -> Result:
    """(e) The address type of each recipient field written ``new`` ("RFC822;", or none at
    all, as some MTAs write it), in a delivery-status part or pasted into a text."""
    return _substituted(raw, _TYPED, lambda m: m.group(1) + b": " + new, _STATUS_OR_TEXT)


def address_type_upper(raw: bytes, rng: random.Random) -> Result:
    return _address_type(raw, b"RFC822; ")


def address_type_none(raw: bytes, rng: random.Random) -> Result:
    return _address_type(raw, b"")


_RECIPIENT_FIELD = re.compile(
    rb"^(Final|Original)-Recipient:[ \t]*(?:[\w-]+[ \t]*;)?[ \t]*(.*)", re.I | re.S
)


def final_recipient_withheld(raw: bytes, rng: random.Random) -> Result:
    """(e) A record that names its recipient by Original-Recipient alone (RFC 3464 2.3.2
    requires Final-Recipient; some MTAs and gateways write only the address given at RCPT):
    Final-Recipient renamed Original-Recipient where the record has none, dropped where the
    record's Original-Recipient is the same address. Not where an X-Actual-Recipient could
    then name another."""

    def withheld(fields: list[bytes]) -> list[bytes] | None:
        named = {}
        for f in fields:
            m = _RECIPIENT_FIELD.match(f)
            if m:
                named[m.group(1).lower()] = b" ".join(m.group(2).split()).strip(b"<>").lower()
        final = named.get(b"final")
        if (
            not final
            or b"@" not in final
            or any(f[:19].lower() == b"x-actual-recipient:" for f in fields)
        ):
            return None
        if not re.match(rb"[\w.+-]+@[\w-]+(?:\.[\w-]+)+$", final):
            return None
        if b"original" in named:
            if named[b"original"] != final:
                return None
            return [f for f in fields if not f.lower().startswith(b"final-recipient:")]
        return [
            b"Original-Recipient:" + f[16:] if f.lower().startswith(b"final-recipient:") else f
            for f in fields
        ]

    return _status_blocks(raw, withheld)


def forwarded(raw: bytes, rng: random.Random) -> Result:
    """(i) The whole report forwarded as an attachment by a colleague (RFC 2046 5.2.1: a
    multipart/mixed with a note, then the report as message/rfc822), as mail clients forward
    it to the mailbox that sent the original."""
    end = raw.find(b"\n\n")
    head = raw[:end] if end > 0 else raw
    m = re.search(rb"^To:[ \t]*([^\n]*)", head, re.I | re.M)
    to = m.group(1) if m else b"sales@corp.example"
    m = re.search(rb"^Subject:[ \t]*([^\n]*)", head, re.I | re.M)
    subject = m.group(1) if m else b""
    boundary = b"fwd-%d" % rng.randrange(10**6)
    report = raw[raw.index(b"\n") + 1 :] if raw.startswith(b"From ") else raw
    return (
        b"From: Colleague <colleague@corp.example>\nTo: " + to + b"\n"
        b"Subject: Fwd: " + subject + b"\nDate: Mon, 4 Mar 2030 09:00:00 +0000\n"
        b"Message-ID: <fwd@corp.example>\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n'
        b"--"
        + boundary
        + b"\nContent-Type: text/plain\n\nForwarded as an attachment, see below.\n\n"
        b"--"
        + boundary
        + b"\nContent-Type: message/rfc822\n\n"
        + report.rstrip(b"\n")
        + b"\n\n--"
        + boundary
        + b"--\n",
        {},
    )


def cr_only(raw: bytes) -> Result:
    """(d) Every line ended by a bare CR (old Mac mail clients, some gateways)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r"), {}


def dsn_folded_narrow(raw: bytes, rng: random.Random) -> Result:
    """(b) The delivery-status fields folded far narrower (24 columns), the value of a long
    field started on its own continuation line ("Diagnostic-Code:" / "  smtp; 550 ..."):
    RFC 5322 lets a fold stand at any blank."""

    def fold(m: re.Match[bytes]) -> bytes:
        value = b" ".join(m.group(2).split()).decode("utf-8", "surrogateescape")
        if len(value) + len(m.group(1)) + 2 <= 24:
            return m.group(1) + b": " + value.encode("utf-8", "surrogateescape")
        lines = textwrap.wrap(value, width=24, break_long_words=False, break_on_hyphens=False)
        return (
            m.group(1)
            + b":\n"
            + "\n".join("  " + ln for ln in lines).encode("utf-8", "surrogateescape")
        )

    return _substituted(raw, _FIELD, fold)


_DIAGNOSTIC = re.compile(
    rb"^(Diagnostic-Code:[ \t]*[\w-]+[ \t]*;[ \t]*)(.*(?:\n[ \t]+.*)*)", re.I | re.M
)
_ASCII_HEAD = re.compile(r"^[\x20-\x7e]*?(?=\S*[^\x00-\x7f])")


def diagnostic_charset(
    raw: bytes, rng: random.Random, charsets: tuple[str, ...] = (*CHARSETS, "raw-utf-8", "raw-gbk")
) -> Result:
    """(h) A Diagnostic-Code with non-ASCII words ("550 MI:IMF 发信人电子邮件地址不合规范",
    8-bit UTF-8 as RFC 6533 allows, or RFC 2047 words) written another way: its non-ASCII
    words as RFC 2047 encoded-words in a charset that writes them (GB2312, GBK, Big5,
    ISO-2022-JP, KOI8-R, Windows-1251, UTF-8; B or Q), or in raw 8-bit UTF-8 or GBK (what
    Chinese MTAs send, declared nowhere). Not a diagnostic whose address is what is encoded."""

    def sub(m: re.Match[bytes]) -> bytes:
        value = b" ".join(m.group(2).split())
        if value.isascii() and b"=?" not in value or b"<=?" in value:
            return m.group(0)
        text = encoded_words(undeclared_text(value))
        head = _ASCII_HEAD.match(text)
        if head is None or text.isascii():
            return m.group(0)
        ascii_part, rest = text[: head.end()], text[head.end() :]
        forms = [cs for cs in charsets if cs.startswith("raw-") or _writes(cs, rest)]
        if not forms:
            return m.group(0)
        form = rng.choice(forms)
        if form.startswith("raw-"):
            try:
                return m.group(1) + text.encode(form[4:])
            except UnicodeError:
                return m.group(0)
        charset = email.charset.Charset(form)
        charset.header_encoding = rng.choice((email.charset.BASE64, email.charset.QP))
        words = email.header.Header(rest, charset).encode(linesep="\n ", maxlinelen=900)
        return m.group(1) + ascii_part.encode() + words.encode("ascii")

    return _substituted(raw, _DIAGNOSTIC, sub)


_ONE_LINE_REPLY = re.compile(rb"^([245]\d\d)([ ])((?:[245]\.\d{1,3}\.\d{1,3} )?+)(.{12,})$", re.S)


def multiline_reply(raw: bytes, rng: random.Random) -> Result:
    """(b) A one-line SMTP reply in a Diagnostic-Code sent as a multi-line one (RFC 5321
    4.2.1: "550-5.1.1 first words" / "550 5.1.1 the rest", each code repeated, as Gmail and
    Exchange Online write theirs), folded at the line break."""

    def sub(m: re.Match[bytes]) -> bytes:
        value = b" ".join(m.group(2).split())
        reply = _ONE_LINE_REPLY.match(value)
        if reply is None:
            return m.group(0)
        code, _, status, text = reply.groups()
        words = text.split(b" ")
        if len(words) < 4:
            return m.group(0)
        cut = rng.randrange(2, len(words) - 1)
        first, rest = b" ".join(words[:cut]), b" ".join(words[cut:])
        return m.group(1) + code + b"-" + status + first + b"\n    " + code + b" " + status + rest

    return _substituted(raw, _DIAGNOSTIC, sub)


TRANSFORMS: dict[str, Callable[[bytes], Result]] = {
    "a longer-addresses": _lf(longer_addresses),
    "a shorter-addresses": _lf(shorter_addresses),
    "a other-domains": _lf(other_domains),
    "b narrower-text": _lf(narrower_text),
    "b wider-text": _lf(wider_text),
    "ab longer-addresses-narrower-text": _lf(longer_addresses_narrower_text),
    "b refolded-dsn": _lf(dsn_refolded),
    "c text-base64": _lf(text_base64),
    "c text-qp": _lf(text_qp),
    "c status-base64": _lf(status_base64),
    "c status-qp": _lf(status_qp),
    "d crlf-lf": crlf_lf,
    "e fields-lower": _lf(fields_lower),
    "e fields-upper": _lf(fields_upper),
    "e headers-case-folded": _lf(headers_case_folded),
    "f other-ips": _lf(other_ips),
    "f other-dates": _lf(other_dates),
    "f other-hosts": _lf(other_hosts),
    "f other-message-ids": _lf(other_message_ids),
    "a neutral-domains": _lf(neutral_domains),
    "af provider-hosts": _lf(provider_hosts),
    "g original-not-returned": _lf(original_not_returned),
    "b folded-narrow-dsn": _lf(dsn_folded_narrow),
    "b multiline-reply": _lf(multiline_reply),
    "c notice-base64": _lf(notice_base64),
    "c notice-qp": _lf(notice_qp),
    "c headers-part-base64": _lf(headers_part_base64),
    "d cr": cr_only,
    "e status-fields-reordered": _lf(status_fields_reordered),
    "e address-type-upper": _lf(address_type_upper),
    "e address-type-none": _lf(address_type_none),
    "e final-recipient-withheld": _lf(final_recipient_withheld),
    "h other-charset": _lf(other_charset),
    "h other-charset-base64": _lf(other_charset_base64),
    "h encoded-word-headers": _lf(encoded_word_headers),
    "h diagnostic-charset": _lf(diagnostic_charset),
    "i forwarded": _lf(forwarded),
}


def verdicts(bounces: list[Bounce], mapping: Mapping | None = None) -> list[tuple[str, ...]]:
    """What must not change: per bounce, recipient (mapped), kind, reason, status, Message-ID
    (mapped)."""
    m = mapping or {}
    return sorted(
        (
            m.get(b.recipient, b.recipient),
            b.kind,
            b.reason,
            b.status,
            m.get(b.message_id, b.message_id),
        )
        for b in bounces
    )
