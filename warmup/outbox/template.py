"""Messages from a CSV of recipients and a template (``warmup queue add --csv --template``).

The template is a TOML file with Jinja2 templates as values::

    subject = "A question for {{ company }}"
    text = \"\"\"Hello {{ name }},
    ...\"\"\"
    html = \"\"\"<p>Hello {{ name }},</p> ...\"\"\"    # optional: a text + HTML message

Each CSV row is one message to the address in its ``email`` column; every column is a field of
the templates. The HTML part is autoescaped (a ``<`` in a field is shown, not interpreted); a field
the templates use that the CSV lacks is an error naming the CSV line (StrictUndefined; an empty
cell is a value). Every row is rendered and checked before anything is
queued, so a bad row leaves nothing of the file queued.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from warmup.errors import DataError
from warmup.headers import MESSAGE_LIMIT, size_error

PARTS = ("subject", "text", "html")
MAX_TEMPLATE = 1_000_000  # bytes


@dataclass(frozen=True)
class Template:
    subject: Any
    text: Any
    html: Any | None
    source: str
    # The parts as one template, each in its own scope, the HTML in an autoescape block, joined
    # by ``sep`` (random, with NUL bytes): one render a row instead of three, a third of the time.
    together: Any | None = None
    sep: str = ""
    names: dict[str, Any] = field(default_factory=dict)  # the globals (range, ...), as one dict


def load_template(path: Path) -> Template:
    """Read and compile a template file, or :class:`DataError` naming what is wrong in it."""
    import jinja2

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"template {path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_TEMPLATE:
        raise DataError(f"template {path}: larger than {MAX_TEMPLATE} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"template {path}: not a TOML file ({exc})") from None
    unknown = sorted(set(data) - set(PARTS))
    if unknown:
        raise DataError(
            f"template {path}: unknown key {unknown[0]!r}; a template has subject, text and "
            f"optionally html"
        )
    for part in ("subject", "text"):
        if not isinstance(data.get(part), str):
            raise DataError(f'template {path}: {part} = "..." is missing')
    if "html" in data and not isinstance(data["html"], str):
        raise DataError(f"template {path}: html must be a string")
    env = _bounded_environment()
    plain = env(undefined=jinja2.StrictUndefined, autoescape=False)
    html = env(undefined=jinja2.StrictUndefined, autoescape=True)
    try:
        parts = (
            plain.from_string(data["subject"]),
            plain.from_string(data["text"]),
            html.from_string(data["html"]) if "html" in data else None,
        )
    except jinja2.TemplateSyntaxError as exc:
        raise DataError(f"template {path}: line {exc.lineno}: {exc.message}") from None
    sep = f"\x00{secrets.token_hex(8)}\x00"
    scoped = [_scoped(data["subject"]), _scoped(data["text"])]
    if "html" in data:
        scoped.append(f"{{% autoescape true %}}{_scoped(data['html'])}{{% endautoescape %}}")
    try:
        together = plain.from_string(sep.join(scoped))
    except jinja2.TemplateSyntaxError:
        together = None  # e.g. a part closing a block of another: each part alone, then
    return Template(*parts, str(path), together, sep, dict(parts[0].globals))


def _bounded_environment() -> type:
    """A Jinja2 environment class whose ``*`` and ``**`` refuse a result no message could hold.

    The templates are the user's own: this is robustness, not security. In a plain
    environment ``{{ "a" * 10**9 }}`` built a gigabyte string (``{{ 9 ** 1_000_000_000 }}`` a
    number taking minutes) before the size check after rendering could refuse it. Jinja2's
    sandbox calls :meth:`call_binop` for the operators in ``intercepted_binops`` only (none by
    default). What else it adds (checks on attributes and calls) costs nothing measurable on
    ``queue add`` of 20,000 rows; its bounded ``range`` is not taken.
    """
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**"])

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            # Python's range, not the sandbox's (at most 100,000 items): a loop of short
            # items is what a message may hold, and the size check after rendering bounds it.
            self.globals["range"] = range

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                    if sized and len(seq) * n > MESSAGE_LIMIT:
                        raise SecurityError(
                            f"a repetition of {len(seq) * n:_} items, more than a message of "
                            f"{MESSAGE_LIMIT:_} bytes could hold"
                        )
            elif (
                operator == "**"
                and isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right > 0
                and abs(left).bit_length() * right > 8 * MESSAGE_LIMIT
            ):
                raise SecurityError(
                    f"{left} ** {right} has more digits than a message of {MESSAGE_LIMIT:_} "
                    f"bytes could hold"
                )
            return super().call_binop(context, operator, left, right)

    return Bounded


def _scoped(source: str) -> str:
    """A part in a scope of its own (a ``set`` in one is not seen by another), without the
    one trailing newline Jinja2 drops from a template (``keep_trailing_newline``)."""
    for end in ("\r\n", "\n", "\r"):
        if source.endswith(end):
            source = source[: -len(end)]
            break
    return f"{{% with %}}{source}{{% endwith %}}"


def rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, fields) of each data row of the CSV (UTF-8, header row first); the
    recipient column is ``email``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        from warmup.words import not_utf8

        bad = exc.object  # without its BOM, if it has one: exc.start is a place in it
        start = bad.rfind(b"\n", 0, exc.start) + 1
        line = bad.count(b"\n", 0, start) + 1
        raise DataError(f"{path}: line {line}: {not_utf8(bad[start:])}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    while True:
        line = reader.line_num + 1  # where the row starts (a quoted cell may hold newlines)
        try:
            fields = next(reader, None)
        except csv.Error as exc:  # a cell over the field limit: an unclosed quote, often
            raise DataError(
                f"{path}: line {line}: {exc}; shorten the cell, or close the quote it opens"
            ) from None
        if fields is None:
            break
        if not fields:  # a blank line
            continue
        if not header:
            header = [h.strip() for h in fields]  # 'email, name': the column is 'name'
            if "email" not in header:
                raise DataError(
                    f"{path}: line {line}: no 'email' column (found {', '.join(header)}); "
                    f"name the recipients' column email"
                )
            twice = next((h for h in header if h and header.count(h) > 1), None)
            if twice is not None:  # a row's dict would keep the last and drop the other
                raise DataError(
                    f"{path}: line {line}: column {twice!r} appears twice in the header; keep one"
                )
            continue
        if len(fields) > len(header):
            raise DataError(f"{path}: line {line}: more cells than the header has")
        if len(fields) < len(header):  # a short row: its last fields are missing, not empty
            raise DataError(
                f"{path}: line {line}: fewer cells than the header has "
                f"(no {', '.join(header[len(fields) :])}); an empty field is an empty cell: "
                f"add the commas"
            )
        yield line, dict(zip(header, fields, strict=True))
    if not header:
        raise DataError(
            f"{path}: line 1: no 'email' column (found nothing); name the recipients' column email"
        )


@dataclass(frozen=True)
class Rendered:
    """One row's message before it is written: the recipient (normalized), the subject (one
    line), the text and the optional HTML, and ``where`` its row is (in messages). The outbox
    writes its bytes directly (:mod:`warmup.outbox.mime`); :meth:`message` is the same as an
    ``EmailMessage``."""

    rcpt: str
    subject: str
    text: str
    html: str | None
    where: str = ""

    def message(self) -> EmailMessage:
        """The message as an ``EmailMessage``: To, Subject, text and optional HTML parts."""
        msg = EmailMessage()
        msg["To"] = self.rcpt
        msg["Subject"] = self.subject
        msg.set_content(self.text)
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html")
        return msg


def fill(template: Template, fields: dict[str, str], where: str) -> Rendered:
    """The templates rendered for one row (``where`` names the row in errors)."""
    import jinja2

    from warmup import addresses

    try:
        rcpt = addresses.normalize(fields["email"], "recipient")
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    # The environment's globals merged in once per row, shared by the three parts:
    # Template.render copies the globals' ChainMap twice per call (most of its time).
    scope = {**template.names, **fields}
    try:
        got = _render(template.together, scope).split(template.sep) if template.together else []
        if len(got) != 2 + (template.html is not None):  # a field holding sep: each alone
            got = [_render(t, scope) for t in (template.subject, template.text, template.html) if t]
        subject, text = " ".join(got[0].split()), got[1]
        html = got[2] if template.html is not None else None
    except jinja2.UndefinedError as exc:
        raise DataError(
            f"{where}: {exc.message} in template {template.source}; add the column or fix "
            f"the template (nothing of the file was queued)"
        ) from None
    except jinja2.TemplateError as exc:
        raise DataError(f"{where}: template {template.source}: {exc}") from None
    except RecursionError:
        raise DataError(
            f"{where}: template {template.source}: it recurses without end (nothing of the "
            f"file was queued)"
        ) from None
    except Exception as exc:  # the template's own expression failed: 1/0, "a" + 1, "%d" % name
        raise DataError(
            f"{where}: template {template.source}: {type(exc).__name__}: {exc}; fix the "
            f"template or the row (nothing of the file was queued)"
        ) from None
    size = len(subject) + len(text) + len(html or "")
    if size > MESSAGE_LIMIT:  # before it is encoded: a loop in the template, a huge field
        raise DataError(f"{where}: {size_error(size)} (nothing of the file was queued)")
    found = _HEADER_CONTROL.search(subject)  # its whitespace is folded to spaces already
    if found:
        raise DataError(
            f"{where}: the subject holds the control character U+{ord(found[0]):04X} (from a "
            f"field of the row); remove it from the CSV (nothing of the file was queued)"
        )
    for part, body in (("text", text), ("html", html or "")):
        if _NUL.search(body):  # it went out raw, under 'Content-Transfer-Encoding: 7bit'
            raise DataError(
                f"{where}: the {part} part holds a NUL character (from a field of the row); "
                f"remove it from the CSV (nothing of the file was queued)"
            )
    return Rendered(rcpt, subject, text, html, where)


# What a message cannot carry raw: a control character in the Subject header (its whitespace
# is folded to spaces already), a NUL anywhere (RFC 5322 text, 8BITMIME).
_HEADER_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NUL = re.compile("\x00")


def _render(template: Any, scope: dict[str, Any]) -> str:
    """What ``template.render(scope)`` returns, ``scope`` already holding the globals."""
    from jinja2.runtime import new_context

    env = template.environment
    return "".join(
        template.root_render_func(new_context(env, template.name, template.blocks, scope, True))
    )


def render(template: Template, fields: dict[str, str], where: str) -> EmailMessage:
    """One message for one row (``where`` names the row in errors): To, Subject, text and
    optional HTML parts."""
    return fill(template, fields, where).message()
