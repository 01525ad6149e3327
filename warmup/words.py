"""The small grammar of what warmup prints: counts with their nouns."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 send``, ``2 sends``, ``0 sends``; ``nouns`` for a plural not made with -s
    (``plural(2, "mailbox", "mailboxes")``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def printable(text: str) -> str:
    """``text`` with each character that is not printable (controls, escapes, bidirectional
    overrides, line breaks) shown as U+FFFD."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def not_utf8(sample: bytes) -> str:
    """Why a file is refused as not UTF-8, and what to do, guessing what it is from ``sample``
    (its bytes from the start of the line that failed): Excel saves a CSV in the system's code
    page (GBK on Chinese Windows) unless told 'CSV UTF-8', and 'Unicode Text' in UTF-16."""
    import codecs

    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        what = " (it is UTF-16, as Excel's 'Unicode Text' saves)"
    else:
        try:
            codecs.getincrementaldecoder("gb18030")().decode(sample[:4096], final=False)
            what = " (it looks like GBK/GB18030, as Excel's 'CSV' saves on Chinese Windows)"
        except UnicodeDecodeError:
            what = ""
    return f"not UTF-8 text{what}; save it as 'CSV UTF-8 (comma delimited)'"
