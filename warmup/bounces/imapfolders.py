"""The folders of a bounce sync (:mod:`warmup.bounces.imap`) on the IMAP server: their names as
IMAP carries them (modified UTF-7, quoted: :func:`quote`) and as a user may give them
(:func:`check_folder`), a ``--folder`` or ``--move-to`` checked against the server before
anything is read (:func:`check_readable`, :func:`check_move_to`; a refusal lists the server's
folders), and the reports read moved to another folder (:func:`move`).
"""

from __future__ import annotations

import base64
import imaplib
import re

from warmup.bounces.imapconn import number, reason, searched, server_text
from warmup.errors import NotFound, Unavailable, UsageError
from warmup.words import printable


def quote(folder: str) -> str:
    """``folder`` as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3): imaplib sends
    ASCII only, and a name like "退信" is how Exmail users file their bounces."""
    name = _utf7(folder)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_folder(folder: str, option: str = "--folder") -> None:
    """Refuse a folder name no IMAP command can carry (:class:`UsageError`, exit 64): empty,
    or with a control character (a CR LF would end the command and start another), or not
    text: bytes that were no UTF-8 in argv (a GBK terminal's "退信") arrive as surrogates, which
    no modified UTF-7 carries."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in folder):
        raise UsageError(
            f"{option} {folder!r}: not an IMAP folder name (bytes that are not UTF-8); "
            f"give the name from a terminal whose locale is UTF-8"
        )
    if not folder or any(ord(c) < 0x20 or ord(c) == 0x7F for c in folder):
        raise UsageError(
            f"{option} {folder!r}: not an IMAP folder name (empty or control characters)"
        )


def same_folder(folder: str) -> str:
    """``folder`` as the server tells folders apart: INBOX is the one name in any case
    (RFC 3501 5.1)."""
    return "INBOX" if folder.upper() == "INBOX" else folder


def _from_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 as text (a part that is none kept as it is)."""

    def one(m: re.Match[str]) -> str:
        if not m.group(1):
            return "&"
        data = m.group(1).replace(",", "/")
        try:
            return base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-16-be")
        except ValueError:  # binascii.Error, UnicodeDecodeError
            return m.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", one, name)


def _utf7(text: str) -> str:
    """IMAP's modified UTF-7: printable ASCII as itself ("&" as "&-"), runs of anything else
    as "&" + base64 of their UTF-16BE with "," for "/" and no padding + "-"."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = "".join(run).encode("utf-16-be")
            out.append(
                "&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-"
            )
            run.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def check_readable(imap: imaplib.IMAP4, folder: str) -> None:
    """Refuse a ``--folder`` the server does not have before anything is read or recorded. One
    its LIST names, whose STATUS it refuses ([UNAVAILABLE]), is given right: the server's
    trouble (:class:`Unavailable`), not "does not exist; did you mean 'INBOX'?", exit 64."""
    typ, data = imap.status(quote(folder), "(UIDVALIDITY)")
    if typ == "OK":
        return
    names = _folders(imap)
    if names and not _absent(folder, names):
        raise Unavailable(
            f"IMAP refused to read folder {folder!r}, which it lists ({server_text(data)}); "
            f"run the sync again later (or ask the server's administrator)"
        )
    raise NotFound(
        f"IMAP folder {folder!r} does not exist or cannot be read ({server_text(data)})"
        f"{_known(names, folder)}; check --folder"
    )


def gone(imap: imaplib.IMAP4, folder: str) -> bool:
    """Whether the server's folders (LIST) no longer include ``folder`` (renamed or deleted
    since the sync checked it); False when the server will not list them."""
    names = _folders(imap)
    return bool(names) and _absent(folder, names)


def _absent(folder: str, names: list[str]) -> bool:
    """Whether ``folder`` is not among ``names``, the server's folders."""
    return same_folder(folder) not in {same_folder(n) for n in names}


def _known(names: list[str], folder: str) -> str:
    """``"; did you mean 'Bounces'?; the server's folders: 'INBOX', '退信'"`` for a refusal of
    ``folder``, one of the server's folders ``names``: nothing in warmup lists them, and a name
    like "退信" is "&kABP4Q-" on the wire. Empty if the server will not list them."""
    from warmup.config import nearest

    if not names:
        return ""
    close = nearest(folder, names)
    meant = f"; did you mean {_name(close)}?" if close else ""
    return f"{meant}; the server's folders: {_listed(names)}"


_LISTED = re.compile(rb'\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.*)', re.IGNORECASE)


def _folders(imap: imaplib.IMAP4) -> list[str]:
    """The names of the folders a sync could read (LIST, decoded from modified UTF-7), or
    none if the server will not say."""
    try:
        typ, data = imap.list()
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        return []
    if typ != "OK":
        return []
    names = []
    for item in data:
        line, name = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        m = _LISTED.match(line) if isinstance(line, bytes) else None
        if m is None or b"\\noselect" in m.group(1).lower():
            continue
        raw = name if isinstance(name, bytes) else m.group(2).strip()
        if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) > 1:
            raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
        names.append(printable(_from_utf7(raw.decode("utf-8", "replace"))))
    return names


def _listed(names: list[str], most: int = 12) -> str:
    shown = ", ".join(_name(n) for n in names[:most])
    return shown if len(names) <= most else f"{shown}, ... ({len(names)} folders)"


def _name(folder: str, most: int = 60) -> str:
    """A server's folder name as a refusal quotes it: a name may be hundreds of characters,
    and twelve of them made the one line kilobytes long."""
    return repr(folder if len(folder) <= most else folder[: most - 3] + "...")


def check_move_to(imap: imaplib.IMAP4, folder: str) -> None:
    """Refuse a ``--move-to`` folder the server does not have, or a server that cannot move
    messages, before anything is read: MOVE to it would be refused after the bounces were
    recorded (and was once reported as done)."""
    if _move_command(imap) is None:
        raise Unavailable(
            f"the IMAP server cannot move messages (it offers neither MOVE nor UIDPLUS); "
            f"sync without --move-to and file the reports in {folder!r} by hand"
        )
    typ, data = imap.status(quote(folder), "(MESSAGES)")
    if typ != "OK":
        raise NotFound(
            f"IMAP folder {folder!r} does not exist or cannot be written ({server_text(data)})"
            f"{_known(_folders(imap), folder)}; create it, or check --move-to"
        )


def _move_command(imap: imaplib.IMAP4) -> str | None:
    """How this server moves messages: ``"MOVE"`` (RFC 6851), else ``"UIDPLUS"`` (COPY, then
    \\Deleted and UID EXPUNGE of just those: RFC 4315), else None (a plain EXPUNGE would also
    remove whatever else the user marked deleted). Asked after login: Dovecot, for one, names
    MOVE only then."""
    typ, data = imap.capability()
    said = b" ".join(x for x in data if isinstance(x, bytes)) if typ == "OK" else b""
    words = set(said.decode("ascii", "replace").upper().split())
    return next((c for c in ("MOVE", "UIDPLUS") if c in words), None)


def move(imap: imaplib.IMAP4, uids: list[int], folder: str, move_to: str) -> int:
    """Move the reports ``uids`` of the selected ``folder`` to ``move_to``; how many this
    moved. Those no longer in ``folder`` (another sync, or a mail client's rule, moved them
    since they were read) are left alone: a server refuses a move naming them
    (``[EXPUNGEISSUED]``). :class:`Unavailable` if the server refuses the others: their bounces
    are recorded already."""
    refused = _move_once(imap, uids, move_to)
    if refused is None:
        return len(uids)
    left = _still_there(imap, uids)
    if left is not None and len(left) < len(uids):
        if not left:
            return 0
        if _move_once(imap, left, move_to) is None:
            return len(left)
    raise Unavailable(
        f"IMAP refused to move {len(uids)} report(s) from {folder!r} to "
        f"{move_to!r} ({refused}); their bounces are recorded, the reports "
        f"stay where they were until a sync moves them"
    )


def _move_once(imap: imaplib.IMAP4, uids: list[int], move_to: str) -> str | None:
    """Move ``uids`` to ``move_to``: None if done, else the server's words refusing it."""
    which = ",".join(map(str, uids))
    how = _move_command(imap)
    steps: list[tuple[str, tuple[str, ...]]]
    if how == "MOVE":
        steps = [("MOVE", (which, quote(move_to)))]
    else:
        steps = [
            ("COPY", (which, quote(move_to))),
            ("STORE", (which, "+FLAGS.SILENT", r"(\Deleted)")),
            ("EXPUNGE", (which,)),
        ]
    for command, args in steps:
        try:
            typ, data = imap.uid(command, *args)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:  # a BAD: imaplib raises it
            typ, data = "BAD", [reason(exc).encode()]
        if typ != "OK":
            return server_text(data)
    return None


def _still_there(imap: imaplib.IMAP4, uids: list[int]) -> list[int] | None:
    """Which of ``uids`` the selected folder still holds (None if the server will not say)."""
    try:
        # No charset: imaplib drops a None argument, but typeshed types them all as str.
        typ, data = imap.uid("SEARCH", None, "UID " + ",".join(map(str, uids)))  # type: ignore[arg-type]
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        return None
    if typ != "OK":
        return None
    wanted = set(uids)
    # Every line: reading only the first left the reports of the others where they were, and
    # the position passed them for good.
    found = {n for x in searched(data).split() if x.isdigit() and (n := number(x)) is not None}
    return sorted(found & wanted)
