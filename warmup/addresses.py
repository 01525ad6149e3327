"""E-mail address checks shared by the CLI, the gate and the importer."""

from __future__ import annotations

import functools
import re
from pathlib import PurePath

from warmup.errors import DataError, expect
from warmup.lazyre import compiled_later

# Deliberately plain: what SMTP envelopes carry (RFC 5321 dot-atom local part, a dotted domain).
# Groups that capture nothing (no caller reads them): a third of its time on every address
# an import checks.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    # the top-level label: never all digits (RFC 3696 2: 'a@x.123' names no host), nor with a
    # hyphen at either end (RFC 1123); 'xn--p1ai' and the like are taken
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)

# The pattern of a bare address as normalize takes it (for a caller's fast path over many).
BARE_ADDRESS = _ADDRESS


# The names a CRM's or a mail tool's export gives its column of addresses (compared stripped and
# lower-cased), the likeliest first: "address" may be a postal one beside an "Email".
ADDRESS_COLUMNS = ("email", "e-mail", "email address", "e-mail address", "邮箱", "邮箱地址",
                   "电子邮件", "电子邮箱", "address", "mail")  # fmt: skip


def address_column(header: list[str]) -> int | None:
    """The index of the column of addresses in a CSV ``header``, if it names one."""
    names = [h.strip().lower() for h in header]
    return next((names.index(n) for n in ADDRESS_COLUMNS if n in names), None)


def delimiter(first_line: str) -> str:
    """The CSV delimiter of a file whose first line is ``first_line``: a comma, or the
    semicolon (Excel's in a locale whose decimal mark is the comma) or tab it holds more of,
    outside quoted cells (``"Nom, prénom";E-mail`` is two cells split by the semicolon)."""
    bare = _QUOTED.sub("", first_line)
    return max(",;\t", key=bare.count) if bare else ","


_QUOTED = compiled_later(r'"[^"]*(?:"|$)')


def check_closed(text: str, line: int, delim: str, path: PurePath) -> None:
    """The row starting at ``line`` has a cell over several lines: a quote it never closes
    would have swallowed every row after it into that cell (the csv module, not strict, ends
    the cell at the end of the file), and those rows would go unread, unsaid: recipients not
    mailed, addresses not suppressed."""
    import io

    check_tail_closed(
        "".join(io.StringIO(text, newline="").readlines()[line - 1 :]), line, delim, path
    )


def check_tail_closed(tail: str, line: int, delim: str, path: PurePath) -> None:
    """:func:`check_closed` of the file's ``tail``, its lines from ``line`` on (a reader that
    streams the file keeps only those)."""
    import csv
    import io

    try:
        next(csv.reader(io.StringIO(tail, newline=""), delimiter=delim, strict=True), None)
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise DataError(
                f"{path}: line {line}: a quote opened in this row is never closed (it would "
                f"take every line after it as one cell); close it or remove it"
            ) from None


# Excel's first line naming a CSV file's delimiter (sep=;): no header, and no address
SEP_LINE = compiled_later(r"sep=([,;\t|])\s*")


# What a user pastes from a mail client: "Sales" <sales@corp.example>, Sales <...>, <...>.
_NAMED = compiled_later(r'^(?:"(?:[^"\\\r\n]|\\.)*"|[^"<>\r\n]*?)\s*<([^<>]*)>$')


def normalize(address: str, what: str = "address", *, limits: bool = True, one: str = "") -> str:
    """The address lower-cased and stripped, or :class:`DataError` naming it.

    The forms a user pastes from a mail client are taken: in angle brackets, after a display
    name (quoted or not), any case (addresses are stored lower-cased, so lookups agree).
    ``limits=False``: a lookup of an address the ledger may hold already (written before the
    64-octet limit below, or from a parsed DSN), or a record of what was mailed (a log's
    recipient, a bounce's): only the 254 in all are checked, and a domain's ``xn--`` label
    that is no IDNA A-label is taken as it is (see :func:`_bad_a_label`). ``one``: what the
    single address of an option that takes one is (``--reply-to``: "the address replies go
    to"), said to a list pasted into it instead of "give each on its own", which only an
    option given once per address (``--to``) can follow.
    """
    if address is not None and not isinstance(address, str):
        expect(address, str, what)  # a script's mailbox=5: said here, not as int.strip()
    text = (address or "").strip()
    named = _NAMED.match(text) if "<" in text else None  # its pattern needs a "<"
    text = (named.group(1) if named else text).strip()
    # RFC 5321's limits (4.5.3.1.1, 4.5.3.1.3): a server may refuse longer, so no mailbox has
    # such an address. What the pattern takes is ASCII: its characters are octets.
    if len(text) > 254:
        raise DataError(
            f"{what} {address[:80]!r}... is too long: {len(text)} characters, and SMTP allows "
            f"at most 254"
        )
    if _ADDRESS.match(text):
        if limits and len(local := text.rpartition("@")[0]) > 64:
            raise DataError(
                f"{what} {address!r} is too long: its part before the '@' has {len(local)} "
                f"characters, and SMTP allows at most 64"
            )
        if limits and (bad := _bad_a_label(text)):
            raise DataError(
                f"{what} {address!r} has a domain label {bad!r} that is no valid international "
                f"name (an xn-- label must decode as IDNA to one); check the domain's spelling"
            )
    else:
        if _idna_deviates(text):
            raise DataError(
                f"{what} {address!r} has an international domain name with ß, ς or a "
                f"zero-width joiner, which IDNA 2003 (Python's) writes as another domain; warmup "
                f"sends without SMTPUTF8: write the domain in its xn-- form (IDNA 2008)"
            )
        ascii_form = _idna(text)
        if ascii_form:
            raise DataError(
                f"{what} {address!r} has an international domain name; warmup sends without "
                f"SMTPUTF8: write it as {ascii_form}"
            )
        if _utf8_local(text):
            raise DataError(
                f"{what} {address!r} has a name before the '@' that is not ASCII, which only "
                f"SMTPUTF8 can carry; warmup sends without SMTPUTF8: give an ASCII address "
                f"instead"
            )
        several = [p.strip() for p in re.split(r"[,;]", text) if p.strip()]
        # a pasted To line names them too: "A <a@x.example>, B <b@x.example>"
        bare = [(m.group(1).strip() if (m := _NAMED.match(p)) else p) for p in several]
        if len(several) > 1 and all(_ADDRESS.match(p) for p in bare):
            # "expected name@domain.tld" for a list of them: which one was wrong?
            tail = f"; it takes one: {one}" if one else ": give each on its own"
            raise DataError(f"{what} {address!r} is {len(several)} addresses in one{tail}")
        if text.startswith("@") and _ADDRESS.match(f"x{text}"):
            # "@example.com" (as `suppress list @DOMAIN` takes it): a whole domain is no address
            raise DataError(
                f"{what} {address!r} is a domain, not an address: give each address at it "
                f"(name@{text[1:]})"
            )
        raise DataError(f"malformed {what} {address!r}: expected name@domain.tld")
    return text.lower()


def _utf8_local(text: str) -> bool:
    """``张三@qq.com``: well formed (RFC 6531) but for its non-ASCII part before the '@'."""
    local, _, domain = text.rpartition("@")
    if not local or local.isascii() or any(c in local for c in ' <>,;"@\r\n\t'):
        return False
    domain = _idna(f"x@{domain}") or f"x@{domain}"
    return bool(_ADDRESS.match(domain))


# A run of characters without the separators a list of addresses is written with: one with an
# '@' inside is shaped like an address (as warmup.headers.addresses_like, linear in a long run).
_WORD = compiled_later(r'[^\s<>,;"]+')


def count_addresses(text: str) -> int:
    """How many addresses ``text`` seems to name (a list of them, as a To line holds), for a
    refusal to say what is wrong: not a check of any of them."""
    return sum("@" in word[1:-1] for word in _WORD.findall(text or ""))


def several_in_one(cell: str, what: str, unit: str = "row") -> DataError | None:
    """The refusal of a file's cell that holds a list of addresses (a To line copied from a mail
    client, ``A <a@x.example>, B <b@x.example>``): each is a ``unit`` of its own. None when it
    seems to hold one or none: the reader's own refusal says what is wrong then."""
    found = count_addresses(cell)
    if found < 2:
        return None
    return DataError(
        f"{what} {cell!r} holds {found} addresses; put one {what} per {unit} (a {unit} for each)"
    )


def named(address: str, what: str = "address", one: str = "") -> tuple[str, str]:
    """(display name, address as given) of what a user pastes, checked as :func:`normalize`
    checks it (``one`` as there): ``Li, Wei <li@example.cn>`` is one address named "Li, Wei"
    (joined into a To header as it is, it read as two: "Li" and "Wei <li@example.cn>")."""
    normalize(address, what, one=one)
    text = (address or "").strip()
    found = _NAMED.match(text)
    if not found:
        return "", text
    name = text[: text.rindex("<")].strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return name, found.group(1).strip()


def lookup(address: str, what: str = "address") -> str:
    """``address`` as the ledger keeps it, to look it up (not to send to): :func:`normalize`
    with ``limits=False``, and an international domain in its ASCII form (``a@bücher.de`` is
    ``a@xn--bcher-kva.de``), as :func:`normalize_domain` takes ``@bücher.de``. Refused with
    "write it as ...", the address asked about was the one a lookup can find."""
    if isinstance(address, str):
        text = address.strip()
        named = _NAMED.match(text) if "<" in text else None
        ascii_form = _idna((named.group(1) if named else text).strip())
        if ascii_form:
            return normalize(ascii_form, what, limits=False)
    return normalize(address, what, limits=False)


def normalize_domain(domain: str) -> str:
    """``@domain.tld`` as addresses at it are stored (lower case, an international name in its
    ASCII form: a lookup, not a new address), or :class:`DataError` naming what was given."""
    text = (domain or "").strip()
    probe = f"x{text}"  # the domain of an address, checked as normalize checks one
    try:
        return normalize(_idna(probe) or probe, limits=False)[1:]
    except DataError:
        raise DataError(f"malformed domain {domain!r}: expected @domain.tld") from None


# The characters IDNA 2003 (Python's "idna" codec) maps to others where IDNA 2008 (registries,
# mail servers, browsers) keeps them: ß, final sigma, ZWNJ, ZWJ. Encoded by the codec, straße.de
# became strasse.de, another domain than xn--strae-oqa.de: never offered, never looked up.
IDNA_DEVIATIONS = compiled_later("[\u00df\u03c2\u200c\u200d]")


def _idna_deviates(text: str) -> bool:
    """Whether the domain of ``text`` (an address) holds a character IDNA 2003 rewrites."""
    return bool(IDNA_DEVIATIONS.search(text.rpartition("@")[2]))


def _bad_a_label(text: str) -> str | None:
    """The first label of the domain of ``text`` (an address) that starts ``xn--`` but is no
    IDNA A-label, lower-cased; else None. ``x@xn--zz.com`` was taken, suppressed and mailed:
    no registry issues such a name, so it is a typo or a broken conversion, and its address
    can never be looked up by the domain a user reads."""
    domain = text.rpartition("@")[2].lower()
    if "xn--" not in domain:  # every address but a few: no split
        return None
    return next((x for x in domain.split(".") if x[:4] == "xn--" and not _a_label(x)), None)


@functools.lru_cache(maxsize=1024)
def _a_label(label: str) -> bool:
    """Whether ``xn--...`` (lower case) is an IDNA A-label: its Punycode decodes, to text that
    is not ASCII (``xn--abc-`` is "abc", written "abc"), encodes back to the same label, and
    that IDNA's nameprep keeps as it is (no control, no upper case, nothing it maps to other
    text) — ß, ς, ZWNJ and ZWJ aside, which IDNA 2008 keeps and 2003 maps
    (:data:`IDNA_DEVIATIONS`: ``xn--strae-oqa`` is straße)."""
    from encodings.idna import nameprep

    payload = label[4:].encode("ascii")
    try:
        text = payload.decode("punycode")
        if text.isascii() or text.encode("punycode") != payload:
            return False
        kept = IDNA_DEVIATIONS.sub("a", text)
        return bool(nameprep(kept) == kept)
    except UnicodeError:
        return False


def _idna(text: str) -> str | None:
    """``local@xn--...``: the ASCII form of an address whose domain only is not ASCII (None
    for a domain IDNA 2003 would write as another one: :data:`IDNA_DEVIATIONS`)."""
    local, _, domain = text.rpartition("@")
    if not local or not local.isascii() or domain.isascii() or _idna_deviates(text):
        return None
    try:
        ascii_form = f"{local}@{domain.encode('idna').decode('ascii')}".lower()
    except UnicodeError:
        return None
    fits = len(ascii_form) <= 254 and len(local) <= 64  # as normalize would take it
    return ascii_form if fits and _ADDRESS.match(ascii_form) else None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()
