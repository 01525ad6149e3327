"""E-mail address checks shared by the CLI, the gate and the importer."""

from __future__ import annotations

import re

from warmup.errors import DataError

# Deliberately plain: what SMTP envelopes carry (RFC 5321 dot-atom local part, a dotted domain).
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$"
)


# What a user pastes from a mail client: "Sales" <sales@corp.example>, Sales <...>, <...>.
_NAMED = re.compile(r'^(?:"(?:[^"\\\r\n]|\\.)*"|[^"<>\r\n]*?)\s*<([^<>]*)>$')


def normalize(address: str, what: str = "address") -> str:
    """The address lower-cased and stripped, or :class:`DataError` naming it.

    The forms a user pastes from a mail client are taken: in angle brackets, after a display
    name (quoted or not), any case (addresses are stored lower-cased, so lookups agree).
    """
    text = (address or "").strip()
    named = _NAMED.match(text)
    text = (named.group(1) if named else text).strip()
    if len(text) > 254 or not _ADDRESS.match(text):
        raise DataError(f"malformed {what} {address!r}: expected name@domain.tld")
    return text.lower()


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()
