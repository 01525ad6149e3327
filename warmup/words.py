"""The small grammar of what warmup prints: counts with their nouns."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from warmup.lazyre import compiled_later

if TYPE_CHECKING:
    from warmup.oauth import Bearer


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 send``, ``2 sends``, ``0 sends``; ``nouns`` for a plural not made with -s
    (``plural(2, "mailbox", "mailboxes")``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def some(items: Sequence[str], most: int = 10) -> str:
    """The first ``most`` of ``items`` and how many more, for one line: a message may have
    thousands of recipients, a file thousands of rows."""
    more = f" and {len(items) - most:,} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def clock_offset_said(offset: dt.timedelta) -> str:
    """A ledger server's clock minus this host's (``offset``), as a person fixes it: "this
    host's clock is 20 min ahead of the ledger server's" (whole minutes from one; seconds
    below), or "... agrees with the ledger server's" within a second."""
    seconds = round(offset.total_seconds())
    if not seconds:
        return "this host's clock agrees with the ledger server's (to the second)"
    how = "behind" if seconds > 0 else "ahead of"
    size = abs(seconds)
    amount = f"{round(size / 60)} min" if size >= 60 else plural(size, "second")
    return f"this host's clock is {amount} {how} the ledger server's"


def byte_size(octets: int) -> str:
    """A byte size as people read it: ``100 MB``, ``25 MiB``, ``64 KiB``, ``998 bytes``; a
    size that is no whole number of those with its thousands grouped: ``26,214,401 bytes``
    (exact, so a message a byte over a limit is not shown as the limit). Python's
    ``100_000_000`` is a literal for code, not a size for whoever reads the error."""
    for unit, name in ((2**20, "MiB"), (10**6, "MB"), (2**10, "KiB"), (10**3, "kB")):
        if octets >= unit and octets % unit == 0:
            return f"{octets // unit:,} {name}"
    return f"{octets:,} {'byte' if octets == 1 else 'bytes'}"


def digits_fault(text: object) -> str | None:
    """Why ``text`` is no number warmup takes when its digits are not 0-9 (``'٣'``, a
    full-width ``'３'``): ``"digits must be 0-9: write '3'"``; else None. Python's int(),
    float() and re's ``\\d`` read every script's digits as numbers, so ``--smtp-port ٣`` was
    port 3 and a policy's interval ``"٥m"`` five minutes, each looking right to whoever wrote
    it and to nobody else."""
    if not isinstance(text, str) or text.isascii():
        return None
    if not any(c.isdecimal() and not c.isascii() for c in text):
        return None
    import unicodedata

    fixed = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    return f"digits must be 0-9: write {fixed!r}"


def whole_number_fault(text: object) -> str | None:
    """Why ``text``, given for a whole number, is none warmup takes: digits other than 0-9
    (:func:`digits_fault`), or a spelling only Python's int() reads (``'1_000'``, ``'+5'``,
    ``' 5'``: ``--days 1_000`` was 1000 days), with the number to write; else None (a text
    that is no number at all is left to the reader to refuse)."""
    fault = digits_fault(text)
    if fault or not isinstance(text, str) or _WHOLE.fullmatch(text):
        return fault
    try:
        number = int(text)
    except ValueError:
        return None
    return f"write a whole number with the digits 0-9 alone: write '{number}'"


_WHOLE = compiled_later(r"-?[0-9]+")


# What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (a mailbox ``=cmd|...@x.example``,
    a stored policy's stage name, a bounce's reason), with an apostrophe before it, as OWASP
    advises against CSV injection: the spreadsheet shows the text; anything else as it is.
    :func:`from_spreadsheet_text` takes the apostrophe off again."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def from_spreadsheet_text(cell: str) -> str:
    """A CSV cell as written before :func:`spreadsheet_text` guarded it: ``'=x@y.example`` is
    ``=x@y.example`` (what 'warmup suppress list --csv' wrote, read back by 'suppress add
    --from')."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START):
        return cell[1:]
    return cell


def printable(text: str) -> str:
    """``text`` with each character that is not printable (controls, escapes, bidirectional
    overrides, line breaks) replaced by U+FFFD: what the bounce parser keeps of a stranger's
    words (:func:`shown` shows text on a terminal instead)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def not_utf8(sample: bytes) -> str:
    """Why a file is refused as not UTF-8, and what to do, naming what it may be only where
    ``sample`` (its bytes from the start of the line that failed) gives evidence: Excel saves a
    CSV in the system's code page unless told 'CSV UTF-8' (GBK on Chinese Windows, Windows-1252
    on Western European Windows), and 'Unicode Text' in UTF-16; a workbook (.xlsx, .xls) or a
    gzip-compressed log is named by its first bytes."""
    import codecs

    if sample.startswith(b"\x1f\x8b"):  # gzip's magic: a rotated log, 'sent.csv.gz'
        return "not UTF-8 text (it is gzip-compressed); decompress it first (gunzip it)"
    if sample.startswith(b"PK\x03\x04"):
        what = " (it is a ZIP archive, as an Excel workbook (.xlsx) is)"
    elif sample.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2, Excel's old format
        what = " (it is an Excel 97-2003 workbook (.xls))"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        what = " (it is UTF-16, as Excel's 'Unicode Text' saves)"
    elif _looks_gbk(sample[:4096]):
        what = " (it looks like GBK/GB18030, as Excel's 'CSV' saves on Chinese Windows)"
    elif _looks_western(sample[:4096]):
        what = (
            " (it looks like Windows-1252/Latin-1, as Excel's 'CSV' saves on Western European "
            "Windows)"
        )
    else:
        what = ""
    return f"not UTF-8 text{what}; save it as 'CSV UTF-8 (comma delimited)'"


def undeclared_text(data: bytes, latin1: bool = True) -> str:
    """``data``, text in a charset nobody declared (a mail header in raw 8-bit, a part without
    a charset, an SMTP reply), decoded as what it most likely is: UTF-8 if it is valid UTF-8,
    GBK/GB18030 where it reads as Chinese (as older Chinese mail systems write it), else
    Latin-1 (or, not ``latin1``, UTF-8 with U+FFFD for what is not)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Judged by the bytes from the first that is not ASCII: Chinese after a long English
    # preamble is still Chinese.
    first = _HIGH_BYTE.search(data)
    if first is not None and _looks_gbk(data[first.start() : first.start() + 4096]):
        return data.decode("gb18030", "replace")
    return data.decode("latin-1") if latin1 else data.decode("utf-8", "replace")


_HIGH_BYTE = compiled_later(rb"[\x80-\xff]")
# CJK ideographs: Extension A, the Unified block, Compatibility, the supplementary planes. Tested
# by code point: the same class as a regex costs ~2.5 ms to compile at every start of warmup.
_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def _ideograph(text: str) -> bool:
    """Whether ``text`` begins with a CJK ideograph."""
    if not text:
        return False
    point = ord(text[0])
    return any(low <= point <= high for low, high in _IDEOGRAPHS)


def _looks_gbk(sample: bytes) -> bool:
    """Chinese text in GBK is characters of two bytes, a lead of 0x81..0xfe and a trail of
    0x40..0xfe, that decode to CJK ideographs. Its common characters (GB2312's) have a high
    trail; some (镕 is e9 46: 'F') an ASCII one. A lone high byte between ASCII ones (Latin-1's
    ``J\\xf6rg``) also decodes, taking the next ASCII letter as its trail, but that is no
    evidence of Chinese: the ideographs of two high bytes must outnumber those with an ASCII
    trail, or match them where the text is no Western European one."""
    import codecs

    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    high = low = 0  # ideographs with a high trail byte, with an ASCII one
    word = False  # two ideographs in a row, one with a high trail
    after, last_high = -1, False  # where the last ideograph ended, and its trail's kind
    i, n = 0, len(sample) - 1  # a lead byte cut by the end of the sample has no trail
    while i < n:
        lead = sample[i]
        if lead < 0x81 or lead == 0xFF:
            i += 1
            continue
        trail = sample[i + 1]
        if 0x30 <= trail <= 0x39:  # GB18030's four bytes: not GBK's ideographs
            i += 4
            continue
        if _ideograph(sample[i : i + 2].decode("gb18030", "replace")):
            word = word or (after == i and (trail >= 0x80 or last_high)) or _alone(sample, i)
            after, last_high = i + 2, trail >= 0x80
            if last_high:
                high += 1
            else:
                low += 1
        i += 2
    if high > 0 and high >= low and _looks_western(sample):
        # Two accented letters in a row also decode as one ideograph (Portuguese 'ção' in
        # Latin-1 is e7 e3: 玢): text that reads as Western European is Chinese only where two
        # ideographs follow each other, as Chinese words do ("用户", "退信", "朱镕基"), or one
        # stands as a word of its own (a one-character name "张", "男" in a gender column),
        # which two accented letters inside a Western word never do.
        return word
    return high > low or (high > 0 and high == low)


def _alone(sample: bytes, i: int) -> bool:
    """Whether the two high bytes at ``i`` stand as a word of their own: neither neighbour is
    a letter or another high byte (``,张,`` or ``"张 <a@b>"``, where Western text's accented
    letters sit inside words: 'ção', 'Müßig')."""
    if sample[i + 1] < 0x80:
        return False
    before = sample[i - 1 : i] if i > 0 else b" "
    after = sample[i + 2 : i + 3] or b" "
    return all(b[0] < 0x80 and not b.isalpha() for b in (before, after))


# The letters of Western European languages in Windows-1252 (À..þ but × and ÷, and Š, Œ, Ž),
# and typographic quotes and dashes, the euro, a no-break space, guillemets, degree, pound,
# section and acute accent: what Western text holds besides ASCII. Not ÿ: a lone 0xff is more
# often stray bytes than a word.
_WESTERN_LETTERS = frozenset(
    [chr(c) for c in range(0xC0, 0xFF) if c not in (0xD7, 0xF7)] + list("ŠšŒœŽž")
)
_WESTERN_SIGNS = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u20ac\xa0\xab\xbb\xb0\xa3\xa7\xb4"
)


def _looks_western(sample: bytes) -> bool:
    """Western European text in Windows-1252 (a superset of Latin-1's letters) is mostly
    ASCII whose few high bytes are accented letters (ö, é, ß) or typographic punctuation."""
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    high = {c for c in text if c >= "\x80"}
    return bool(high & _WESTERN_LETTERS) and high <= _WESTERN_LETTERS | _WESTERN_SIGNS


# What a terminal acts on instead of showing: C0 and C1 controls and DEL (an escape sequence
# retitles the window or clears the screen, a CR overwrites the line), and the bidirectional
# controls that make text read in another order than it is stored. Other format characters
# (a zero-width joiner in an emoji or an Indic word) are text.
_UNSHOWN = compiled_later("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """``text`` as a terminal should show text that came from elsewhere (a bounce's recipient
    or diagnostic, a file name, a ledger row): every control character visible as an escape
    (``\\x1b``, ``\\u202e``), nothing else changed. :func:`printable` cleans what the bounce
    parser keeps instead."""
    return _UNSHOWN.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )


def masked(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (a password, an access token a server quoted back) replaced by
    ``***``: as it is, as the repr of its bytes shows it (imaplib's errors carry a reply that
    way: ``\\`` doubled), and with its whitespace folded (an SMTP reply is, before it is said)."""
    if not secret:
        return text
    escaped = "".join(
        _REPR_ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}")
        for b in secret.encode("utf-8", "surrogatepass")
    )
    forms = {secret, escaped, escaped.replace("'", "\\'"), " ".join(secret.split())}
    for form in sorted(forms - {""}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


_REPR_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\"}


def scrubbed(text: str, secret: str | Bearer | None) -> str:
    """``text`` with ``secret`` replaced by ``***`` in every form a server may quote it back in.

    A password as :func:`masked` finds it, and base64 that holds it: AUTH PLAIN's
    ``^@user^@password`` and AUTH LOGIN's password, as smtplib sends them (a run under 8
    characters, a password of up to 5, when it decodes to exactly that: :func:`_short_runs_away`). For an OAuth login
    (a :class:`~warmup.oauth.Bearer`): the access token in memory, any ``auth=Bearer TOKEN``,
    and the XOAUTH2 response as SMTP and IMAP send it, base64 of ``user=ADDRESS^Aauth=Bearer
    TOKEN^A^A`` (whole or cut short), whichever token it carried (a cached one refused and
    replaced since is no longer in memory). Only the secret as it is was masked: a server
    quoting the response as it came put a token or password anyone can decode in the error,
    and in doctor's report. A password of 8 characters or more quoted back cut short (the
    first so many characters of an AUTH line) is masked too: :func:`echoed_away`."""
    if secret is None:
        return text
    if isinstance(secret, str):
        password = secret
        # IMAP's LOGIN carries it as a quoted string, a quote or backslash escaped (imaplib's
        # _quote): a server quoting the command back says it so, the longer form first.
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        if quoted != password:
            text = masked(text, quoted)
        # base64 first: a short password as it is may stand inside its own base64 (``pw`` in
        # ``dTpwdw``, ``u:pw``), and masked there first, the run no longer decodes
        text = _decoded_away(text, lambda said: password in said)
        return echoed_away(_short_runs_away(text, password), password)
    token = secret.held()
    text = _BEARER_TOKEN.sub(r"\1***", masked(text, token))
    return _decoded_away(
        text, lambda said: "auth=bearer " in said.lower() or bool(token and token in said)
    )


# RFC 6750's b64token, after the scheme as XOAUTH2 writes it
_BEARER_TOKEN = compiled_later(r"(auth=Bearer )[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_BASE64_RUN = compiled_later(r"[A-Za-z0-9+/]{8,}={0,2}")


# A run of base64 too short for :data:`_BASE64_RUN` (a password of up to 5 characters is at
# most 8 base64 characters, with its padding), standing alone: not inside a longer word.
_SHORT_RUN = compiled_later(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{2,7}={0,2}(?![A-Za-z0-9+/=])")


def _short_runs_away(text: str, password: str) -> str:
    """``text`` with each short run of base64 (:data:`_SHORT_RUN`) that decodes to exactly
    what a login sends ``password`` as replaced by ``***``: AUTH LOGIN's ``password`` and AUTH
    PLAIN's ``^@user^@password`` (or ``user:password``, basic authentication's). Exactly, not
    "holds": a short run decodes to 1 to 5 bytes, and an ordinary word ("Error", "denied")
    holding a 1-character password by chance must stay as it is."""
    import base64  # errors only: not on a send's way

    def scrub(m: re.Match[str]) -> str:
        run = m.group(0).rstrip("=")
        if len(run) % 4 == 1:
            return m.group(0)
        try:
            said = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        except ValueError:
            return m.group(0)
        whole = said.decode("utf-8", "replace")
        sent = whole == password or whole.endswith((f"\0{password}", f":{password}"))
        return "***" if sent else m.group(0)

    return _SHORT_RUN.sub(scrub, text)


def _decoded_away(text: str, holds: Callable[[str], bool]) -> str:
    """``text`` with each run of base64 whose decoding ``holds`` a secret replaced by ``***``
    (a run cut short is decoded as far as it goes)."""
    import base64  # errors only: not on a send's way

    def scrub(m: re.Match[str]) -> str:
        run = m.group(0).rstrip("=")
        run = run[: len(run) - 1] if len(run) % 4 == 1 else run + "=" * (-len(run) % 4)
        try:
            said = base64.b64decode(run).decode("utf-8", "replace")
        except ValueError:
            return m.group(0)
        return "***" if holds(said) else m.group(0)

    return _BASE64_RUN.sub(scrub, text)


# The fewest characters of a secret :func:`echoed_away` takes for it: a word holding a shorter
# piece may be any word.
ECHOED_LEAST = 8


def echoed_away(text: str, secret: str | None, least: int = ECHOED_LEAST) -> str:
    """``text`` with each word that holds ``secret``, or any piece of it ``least`` characters
    long, replaced by ``***``: as it is, percent-encoded, or in base64 (either alphabet, at any
    offset in the run), whole or cut short. For a server that quotes back what it was sent (an
    HTTP endpoint its form, ``refresh_token=1%2F%2F0g...``; an SMTP server its AUTH line, cut at
    so many characters): :func:`masked` alone finds only the secret as it is, whole. A secret
    shorter than ``least`` is only :func:`masked`: a word holding it may be any word."""
    text = masked(text, secret)
    if not secret or len(secret) < least:
        return text
    import base64  # errors only: not on a send's way
    from urllib.parse import unquote, unquote_plus

    raw = secret.encode()
    forms = [secret]
    for offset in range(3):  # the characters of a base64 run that depend on the secret alone
        start, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(b"\0" * offset + raw)[start:end].decode())
    pieces = {form[i : i + least] for form in forms for i in range(len(form) - least + 1)}

    def holds(said: str) -> bool:
        # the fewer Python steps: each window of ``said`` looked up, or each piece searched for
        if len(said) - least < len(pieces):
            return any(said[i : i + least] in pieces for i in range(len(said) - least + 1))
        return any(piece in said for piece in pieces)

    def held(word: str) -> bool:
        if "%" not in word:
            return holds(word)
        return holds(word) or holds(unquote(word)) or holds(unquote_plus(word))

    # a shorter word holds no piece, decoded or not (decoding only shortens)
    words = re.compile(rf"\S{{{least},}}")
    return words.sub(lambda m: "***" if held(m[0]) else m[0], text)
