"""A message's content key: what makes a message queued again (a script re-run, an .eml queued
twice) the same message as before, for :meth:`warmup.Outbox.add_many` to leave it out of a
campaign that has it already (``Ledger.enqueue``).

The key is a digest of the message as the caller gave it, without what the sending library or
warmup change from one run to the next: the envelope recipients (a set), every header but
Date and Message-ID (and their Resent- forms), a multipart's boundary left out of its
Content-Type (``email.generator`` draws a random one each time it writes a message), and each
part's content decoded (its transfer encoding aside). Of From and Sender (and their Resent-
forms) only the display name counts: the worker sets their address to the mailbox that sends
the message, so a script that picks a pool's member at random each run sends the same message.
A part's Content-ID counts as its place among the message's Content-IDs, and so does each
``cid:`` naming it in a text part: a script draws an inline image's with ``make_msgid`` at
each run, as Python's email examples do. Everything else — a subject, a word of the
body, one recipient more or less — makes it another message: a follow-up step to the same lead
is queued.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Sequence
from email.message import Message

# Fields a library writes afresh each time it builds the same message.
PER_RUN = frozenset({"date", "message-id", "resent-date", "resent-message-id"})
# Fields whose address is the sending mailbox's when the message goes (its display name kept).
SENDERS = frozenset({"from", "sender", "resent-from", "resent-sender"})
_BOUNDARY = re.compile(r"""\s*;\s*boundary\s*=\s*(?:"[^"]*"|[^;\s]*)""", re.IGNORECASE)


def content_key(msg: Message, envelope: Sequence[str]) -> str:
    """The content key of ``msg`` sent to ``envelope`` (normalized addresses): hex SHA-256."""
    h = hashlib.sha256()

    def put(data: bytes) -> None:  # length-prefixed: no two sequences of items read alike
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)

    for rcpt in sorted(set(envelope)):
        put(rcpt.encode())
    # each Content-ID as its place (a NUL: in no id, and refused in a message)
    cids: dict[str, str] = {}
    for part in msg.walk():
        for name, value in part.raw_items():
            if name.lower() == "content-id":
                cids.setdefault(_cid(value), f"\0{len(cids)}")
    named = sorted(  # the longest first: an id that begins another is not replaced in it
        ((_utf8(f"cid:{c}"), _utf8(f"cid:{t}")) for c, t in cids.items() if c),
        key=lambda pair: -len(pair[0]),
    )
    for part in msg.walk():
        put(b"part")
        for name, value in part.raw_items():
            name = name.lower()
            if name in PER_RUN:
                continue
            text = " ".join(str(value).split())
            if name == "content-type":
                text = _BOUNDARY.sub("", text)
            elif name in SENDERS:
                text = email.utils.parseaddr(text)[0]
            elif name == "content-id":
                text = cids[_cid(value)]
            put(_utf8(f"{name}:{text}"))
        if not part.is_multipart():
            body = part.get_payload(decode=True)
            body = body if isinstance(body, bytes) else b""
            if named and part.get_content_maintype() == "text":
                for cid, token in named:
                    body = body.replace(cid, token)
            put(body)
    return h.hexdigest()


def _cid(value: object) -> str:
    """A Content-ID field's id, as a ``cid:`` URL names it (no angle brackets)."""
    return "".join(str(value).split()).strip("<>")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
