"""A message as the upstream server can take it: 8-bit data only where the server said so.

Most messages are ASCII and go as they are (one ``isascii`` a message, which deciding on
``BODY=8BITMIME`` took already). Of the others:

- a header section in raw UTF-8 goes as it is with ``SMTPUTF8`` (RFC 6531) when the server
  offers it, so the bytes a client wrote (and any signature over them) are kept; otherwise its
  fields become RFC 2047 words, as :func:`warmup.outgoing.prepare` writes the same message given
  to ``warmup send`` (:func:`warmup.headers.decode_utf8_fields`);
- an 8-bit body goes as it is with ``BODY=8BITMIME`` when the server offers 8BITMIME (RFC 6152);
  otherwise each 8-bit part is re-encoded, quoted-printable for text and base64 for anything
  else (or text holding NUL), since a client must not send 8-bit data to such a server.

Only a message that needs it is parsed and written again; its Message-ID does not change.

What 8-bit text is left (a body under 8BITMIME, raw UTF-8 headers under SMTPUTF8) is declared
UTF-8 where it declares no charset (:func:`declared`): no Content-Type, or a text/* one
without ``charset=``, the message's or a MIME part's. A client reads such text as us-ascii
(RFC 2045) and showed mojibake. A message carrying a DKIM-Signature goes as it came, the
signature intact.
"""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
import re
from email import quoprimime
from email.message import Message

from warmup import headers

# The empty line after the header section, with line ends as warmup.smtp.dot_stuff reads them.
_EOL = rb"(?:\r\n|\n|\r(?!\n))"
_BLANK = re.compile(_EOL + _EOL)
_SEVEN_BIT = ("7bit", "quoted-printable", "base64")


def for_server(data: bytes, *, eightbitmime: bool, smtputf8: bool) -> tuple[bytes, str]:
    """``data`` as a server offering (or not) 8BITMIME and SMTPUTF8 may take it, and the
    MAIL FROM parameters that declare it (``""``, or `` BODY=8BITMIME`` and/or `` SMTPUTF8``)."""
    if data.isascii():
        return data, ""
    blank = _BLANK.search(data)
    end = blank.start() if blank else len(data)
    raw_head = not data[:end].isascii()
    fix_head = raw_head and not smtputf8
    fix_body = not eightbitmime and not data[end:].isascii()
    if fix_head or fix_body:
        try:
            data = _rewritten(data, fix_head, fix_body)
        except Exception:
            # The email package cannot write every message it parses (a multipart without
            # its boundary under a raw UTF-8 Subject raised UnicodeEncodeError). The slots
            # are reserved by now: an exception here settled them 'unknown' though nothing
            # left, and the relay's client, told 451, paid a slot per retry. Sent as it came.
            pass
        blank = _BLANK.search(data)
        raw_head = not data[: blank.start() if blank else len(data)].isascii()
    if not data.isascii():
        data = declared(data)
    params = " BODY=8BITMIME" if eightbitmime and not data.isascii() else ""
    # SMTPUTF8 only where offered: a header left raw (not UTF-8) is no reason to name it.
    return data, params + (" SMTPUTF8" if raw_head and smtputf8 else "")


def _rewritten(data: bytes, fix_head: bool, fix_body: bool) -> bytes:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if fix_head:
        # Not strict: a header the gate or relay let through is sent, never refused after
        # its slot was reserved (one in another charset was refused before, or queued so).
        headers.decode_utf8_fields(msg, strict=False)
    if fix_body:
        for part in msg.walk():
            if part is not msg and not fix_head:
                # A MIME part's header (an attachment's raw UTF-8 file name, an attached
                # message's Subject) is body data: 8-bit there needs 8BITMIME as much.
                headers._decode_utf8_fields(part, False, False)
            _seven_bit(part)
        if "MIME-Version" not in msg:  # RFC 2045: without it, nothing says a body is encoded
            msg["MIME-Version"] = "1.0"
    return msg.as_bytes(policy=headers.SMTP)


def _seven_bit(part: Message) -> None:
    """Re-encode ``part``'s 8-bit payload quoted-printable (text) or base64 (anything else)."""
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if part.is_multipart():  # its parts are re-encoded: the container is 7-bit now
        if cte not in _SEVEN_BIT:
            part.replace_header("Content-Transfer-Encoding", "7bit")
        # A preamble or epilogue is for readers without MIME, which every MIME reader ignores
        # (RFC 2046 5.1.1): an 8-bit one is dropped rather than sent 8-bit.
        if part.preamble and not part.preamble.isascii():
            part.preamble = None
        if part.epilogue and not part.epilogue.isascii():
            part.epilogue = ""
        return
    if cte == "base64":
        return
    if cte == "quoted-printable":
        raw = part.get_payload()
        if not isinstance(raw, str) or raw.isascii():
            return
        # declared quoted-printable but holding raw 8-bit bytes (a script that named the
        # encoding without applying it): encoded now, its escapes kept as they decode
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or payload.isascii():
        return
    if part.get_content_maintype() == "text" and b"\0" not in payload:
        if part.get_param("charset") is None and _utf8(payload):
            # Read as the default us-ascii once encoded: every non-ASCII character lost.
            part.set_param("charset", "utf-8")
        encoded, cte = (
            quoprimime.body_encode(payload.decode("latin-1"), eol="\n"),
            "quoted-printable",
        )
    else:
        encoded, cte = base64.encodebytes(payload).decode("ascii"), "base64"
    part.set_payload(encoded)
    if "Content-Transfer-Encoding" in part:
        part.replace_header("Content-Transfer-Encoding", cte)
    else:
        part["Content-Transfer-Encoding"] = cte


def _utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_LAST_EOL = re.compile(_EOL + rb"\Z")
_FIRST_EOL = re.compile(_EOL)
_DECLARATION = b"Content-Type: text/plain; charset=utf-8"
_CHARSET = b"charset=utf-8"
_FOLD_AT = 78  # a line's length past which the charset goes on a line of its own (RFC 5322)


def declared(data: bytes) -> bytes:
    """``data`` with its 8-bit text that declares no charset (:func:`warmup.headers.undeclared_texts`)
    declared UTF-8 where it is UTF-8: ``charset=utf-8`` added to a ``text/*`` Content-Type
    without one, the message's own or a MIME part's; a message (or part) with no Content-Type
    given ``Content-Type: text/plain; charset=utf-8`` after its header fields, and
    ``MIME-Version: 1.0`` (the message) and ``Content-Transfer-Encoding: 8bit`` (an 8-bit body)
    where it has none. Everything else is left byte for byte: the other parameters, fields,
    parts and bodies.

    Such text is us-ascii (RFC 2045 5.2), so a recipient's client may show its UTF-8 (or, as a
    fallback, a raw UTF-8 Subject over a body of the message's own) as mojibake. Only UTF-8 is
    declared: 8-bit text in another charset is refused before anything is reserved
    (:func:`warmup.headers.check_message`), and one queued before that goes as it came. A part
    is declared only for non-ASCII text (ASCII is us-ascii already); the message's own text is
    for its raw UTF-8 header too. A message with a DKIM-Signature goes byte for byte: a
    parameter or field added under the signature breaks it."""
    try:
        found, end = headers.fields(data)
    except headers.MalformedHeader:
        return data
    if not found or any(f.name == "dkim-signature" for f in found):
        return data
    edits = []
    for text in headers.undeclared_texts(data, found, end):
        decoded = _decoded(text.body, text.encoding)
        if decoded is None or not _utf8(decoded) or (not text.top and decoded.isascii()):
            continue
        edits.append(_with_charset(data, text) if text.field else _with_type(data, text))
    for at, added in sorted(edits, reverse=True):
        data = data[:at] + added + data[at:]
    return data


def _decoded(body: bytes, cte: str) -> bytes | None:
    """``body`` as its Content-Transfer-Encoding ``cte`` decodes it (raw 8-bit bytes as they
    are); None when it cannot be."""
    try:
        if cte == "quoted-printable" and body.isascii():
            return quopri.decodestring(body)
        if cte == "base64" and body.isascii():
            return base64.b64decode(body)
    except ValueError:
        return None
    return body


def _with_charset(data: bytes, text: headers.Text) -> tuple[int, bytes]:
    """Where and what to add to ``text``'s Content-Type for ``charset=utf-8``: at the end of
    its value, after a ``;`` (one there already kept), on a line of its own when the field's
    last line would grow past 78 characters."""
    assert text.field is not None
    raw = data[text.field.start : text.field.end]
    value = raw.rstrip(b"\r\n")
    eol = raw[len(value) :] or b"\r\n"
    value = value.rstrip(b" \t")
    last = max(value.rfind(b"\n"), value.rfind(b"\r")) + 1
    sep = b"" if value.endswith(b";") else b";"
    added = sep + b" " + _CHARSET
    if len(value) - last + len(added) > _FOLD_AT:
        added = sep + eol + b" " + _CHARSET
    return text.field.start + len(value), added


def _with_type(data: bytes, text: headers.Text) -> tuple[int, bytes]:
    """Where and what to add to ``text``'s header section, which has no Content-Type:
    ``Content-Type: text/plain; charset=utf-8`` and what else it lacks, after its fields."""
    head = data[text.start : text.head_end]
    last = _LAST_EOL.search(head)
    after = _FIRST_EOL.match(data, text.head_end)
    eol = last[0] if last else after[0] if after else b"\r\n"
    added = [b"MIME-Version: 1.0"] if text.top and "mime-version" not in text.names else []
    added.append(_DECLARATION)
    if "content-transfer-encoding" not in text.names and not text.body.isascii():
        added.append(b"Content-Transfer-Encoding: 8bit")
    lines = b"".join(line + eol for line in added)
    return text.head_end, lines if last or not head else eol + lines
