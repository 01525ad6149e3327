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
from itertools import islice
from typing import Any

from warmup.errors import DataError
from warmup.files import DataFile, read_head
from warmup.headers import MESSAGE_LIMIT, size_error
from warmup.outbox.inputerrors import Collector
from warmup.words import byte_size

PARTS = ("subject", "text", "html")
MAX_TEMPLATE = 1_000_000  # bytes
MAX_CSV = 100_000_000  # bytes: millions of rows, years of any plan's sends


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


def load_template(path: DataFile) -> Template:
    """Read and compile a template file, or :class:`DataError` naming what is wrong in it."""
    import jinja2
    from jinja2 import nodes

    try:
        raw = read_head(path, MAX_TEMPLATE)
    except OSError as exc:
        raise DataError(f"template {path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_TEMPLATE:
        raise DataError(
            f"template {path}: larger than {byte_size(MAX_TEMPLATE)}; a template is a subject and "
            f"a body or two: give its TOML file"
        )
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"template {path}: not a TOML file ({exc})") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise DataError(f"template {path}: arrays or tables nested too deeply") from None
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
    sources = (data["subject"], data["text"], data.get("html"), sep.join(scoped))
    for tpl, source in zip((*parts, together), sources, strict=True):
        if tpl is not None:  # what may yield without end: a loop, a macro (calling itself)
            found = tpl.environment.parse(source).find_all((nodes.For, nodes.Macro))
            tpl.looped = next(iter(found), None) is not None
    return Template(*parts, str(path), together, sep, dict(parts[0].globals))


def _bounded_environment() -> type:
    """A Jinja2 environment class that refuses to build what no message could hold.

    The templates are the user's own: this is robustness, not security. In a plain
    environment ``{{ "a" * 10**9 }}``, ``{{ "x"|center(10**9) }}`` or ``{% for i in
    range(10**9) %}`` took gigabytes (or hours) rendering one row, before the size check after
    rendering could refuse it. Jinja2's sandbox routes what makes big values through the
    environment: :meth:`call_binop` for the operators in ``intercepted_binops`` (``*``, ``**``,
    ``%``, ``+``), :meth:`call` for every method and global called; ``~`` and the filters that
    pad or repeat are checked here too. Each refuses the size it is asked for (a width, a
    count, a format's field) before it is built; ``range`` loops share one budget of
    :data:`MESSAGE_LIMIT` items a render, and the output of a template with loops is cut off
    at that size (:func:`_render`). A template of fields and filters renders as fast as in a
    plain environment; one doing ``~`` and ``%`` in a loop for every row takes ~1.5x as long.
    """
    from jinja2.sandbox import SandboxedEnvironment

    budget = [MESSAGE_LIMIT]  # range items a render may still loop over; shared by both envs

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "%", "+"])
        code_generator_class = _concat_checked()

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            # Not the sandbox's range (at most 100,000 items): a loop of short items is what
            # a message may hold. Ranges draw on the render's budget instead.
            self.globals["range"] = self.range
            for name, check in _FILTER_CHECKS.items():
                self.filters[name] = _guarded(self.filters[name], check)

        @staticmethod
        def checked_concat(parts: tuple[Any, ...]) -> tuple[Any, ...]:
            size = sum(len(x) for x in parts if isinstance(x, str))
            if size > MESSAGE_LIMIT:
                raise _too_big(f"a concatenation of {size:_} characters")
            return parts

        @staticmethod
        def fresh() -> None:
            budget[0] = MESSAGE_LIMIT

        @staticmethod
        def range(*args: int) -> _Range:
            rng = range(*args)
            if len(rng) > MESSAGE_LIMIT:
                raise _too_big(f"a range of {len(rng):_} items")
            return _Range(rng, budget)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            target = getattr(obj, "__wrapped__", obj)  # the sandbox's str.format wrapper
            owner = getattr(target, "__self__", None)
            name = getattr(target, "__name__", "")
            if isinstance(owner, str):
                if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
                    _width(name, "tabsize" if name == "expandtabs" else "width", args, kwargs)
                elif name == "replace":
                    _replacement(owner, *args, **kwargs)
                elif name == "join" and args:
                    args = (_joinable(args[0], owner), *args[1:])
                elif name in ("format", "format_map"):
                    _format_fields(owner, [*args, *kwargs.values(), *_values(args, name)])
            elif isinstance(owner, list) and name == "extend" and args:
                items = list(args[0])
                if len(owner) + len(items) > MESSAGE_LIMIT:
                    raise _too_big(f"a list of {len(owner) + len(items):_} items")
                args = (items,)
            elif name == "generate_lorem_ipsum":
                _width("lipsum", "n", args, kwargs, per=800)  # up to 100 words a paragraph
            return super().call(context, obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                    if sized and len(seq) * n > MESSAGE_LIMIT:
                        raise _too_big(f"a repetition of {len(seq) * n:_} items")
            elif (
                operator == "**"
                and isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right > 0
                and abs(left).bit_length() * right > 8 * MESSAGE_LIMIT
            ):
                raise _too_big(f"{left} ** {right} has more digits than", tail="")
            elif operator == "+" and isinstance(left, str | list | tuple):
                if isinstance(right, str | list | tuple) and len(left) + len(right) > MESSAGE_LIMIT:
                    raise _too_big(f"a sum of {len(left) + len(right):_} items")
            elif operator == "%" and isinstance(left, str):
                _percent_fields(left, right if isinstance(right, tuple) else (right,))
            return super().call_binop(context, operator, left, right)

    return Bounded


def _concat_checked() -> type:
    """Jinja2's code generator, with ``a ~ b`` checked by the environment's ``checked_concat``
    before it is joined (``{% set ns.s = ns.s ~ ns.s %}`` in a loop doubles a string each time)."""
    from jinja2.compiler import CodeGenerator, optimizeconst

    class Checked(CodeGenerator):
        @optimizeconst
        def visit_Concat(self, node: Any, frame: Any) -> None:  # Jinja2 3.1's, checked
            if frame.eval_ctx.volatile:
                func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
            elif frame.eval_ctx.autoescape:
                func_name = "markup_join"
            else:
                func_name = "str_join"
            self.write(f"{func_name}(environment.checked_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write(")))")

    return Checked


def _too_big(what: str, tail: str = ", more than") -> Exception:
    """The error refusing ``what`` (raised by Jinja2's render, named with the row by
    :func:`fill`)."""
    from jinja2.exceptions import SecurityError

    return SecurityError(f"{what}{tail} a message of {byte_size(MESSAGE_LIMIT)} could hold")


def _big_int(n: Any, per: int = 1) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n * per > MESSAGE_LIMIT


def _width(name: str, param: str, args: Any, kwargs: Any, per: int = 1) -> None:
    """Refuse ``name(param=n)`` whose result takes ``n * per`` characters or more."""
    n = args[0] if args else kwargs.get(param)
    if _big_int(n, per):
        raise _too_big(f"{name}({param}={n:_})")


def _replacement(s: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    s, old, new = (x if isinstance(x, str) else str(x) for x in (s, old, new))
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    size = len(s) + n * (len(new) - len(old))
    if size > MESSAGE_LIMIT:
        raise _too_big(f"a replacement of {size:_} characters")


def _joinable(items: Any, sep: Any) -> list[Any]:
    """``items`` as a list, or refused when joined by ``sep`` they make too much text."""
    items = list(items)
    size = len(sep if isinstance(sep, str) else "") * max(len(items) - 1, 0)
    size += sum(len(x) for x in items if isinstance(x, str))
    if size > MESSAGE_LIMIT:
        raise _too_big(f"a join of {size:_} characters")
    return items


def _field_width(digits: str) -> None:
    n = int(digits) if len(digits) <= 18 else 10**18
    if n > MESSAGE_LIMIT:
        raise _too_big(f"a field {n:_} wide")


def _format_fields(fmt: str, values: list[Any]) -> None:
    """Refuse ``fmt.format(*values)`` with a field wider (or more precise) than a message."""
    import string

    try:
        specs = [spec for _, _, spec, _ in string.Formatter().parse(fmt) if spec]
    except ValueError:  # str.format says what is wrong itself
        return
    for spec in specs:
        for digits in re.findall(r"\d+", spec):
            _field_width(digits)
        big = next((v for v in values if _big_int(v)), None) if "{" in spec else None
        if big is not None:  # "{:>{}}": the width is one of the values
            _field_width(str(big))


_WIDE = re.compile(r"%(?:\([^)]*\))?[^a-zA-Z%(]*[*0-9]")
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_fields(fmt: str, values: Any) -> None:
    """Refuse ``fmt % values`` with a field wider (or more precise) than a message."""
    if not _WIDE.search(fmt):  # "%s": nothing to check
        return
    for m in _PERCENT.finditer(fmt):
        for got in m.groups():
            if got == "*":
                big = next((v for v in values if _big_int(v)), None)
                if big is not None:
                    _field_width(str(big))
            elif got:
                _field_width(got)


def _values(args: Any, name: str) -> list[Any]:
    mapping = args[0] if name == "format_map" and args else None
    return list(mapping.values()) if isinstance(mapping, dict) else []


def _batch(value: Any, *args: Any, **kwargs: Any) -> None:
    if (args[1:] or [kwargs.get("fill_with")])[0] is not None:  # fills the last batch up
        _width("batch", "linecount", args, kwargs)


# Filters whose result a small argument can make huge: a check of (value, *args, **kwargs)
# before the filter runs; one that returns a value gives the filter that value instead.
_FILTER_CHECKS: dict[str, Any] = {
    "center": lambda v, *a, **k: _width("center", "width", a, k),
    "indent": lambda v, *a, **k: _width("indent", "width", a, k),
    "slice": lambda v, *a, **k: _width("slice", "slices", a, k),
    "tojson": lambda v, *a, **k: _width("tojson", "indent", a, k, per=MESSAGE_LIMIT // 100),
    "batch": _batch,
    "format": lambda v, *a, **k: _percent_fields(v, a or (k,)) if isinstance(v, str) else None,
    "replace": lambda v, *a, **k: _replacement(v, *a, **k),
    "join": lambda v, *a, **k: _joinable(v, (a or [k.get("d", "")])[0]) if not a[1:] else None,
}


def _guarded(func: Any, check: Any) -> Any:
    """``func`` (a Jinja2 filter) that runs ``check`` on its arguments first."""
    import functools

    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)  # keeps jinja_pass_arg: the context is still passed first
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = check(*args[skip:], **kwargs)
        if value is not None:
            args = (*args[:skip], value, *args[skip + 1 :])
        return func(*args, **kwargs)

    return guarded


class _Range:
    """``range`` as a template sees it (``len``, indexing, ``|list``, its repr), whose
    iteration draws its length from the render's budget: loops in loops end there, not after
    hours."""

    def __init__(self, rng: range, budget: list[int]) -> None:
        self.rng, self.budget = rng, budget

    def __len__(self) -> int:
        return len(self.rng)

    def __getitem__(self, i: Any) -> Any:
        return self.rng[i]

    def __contains__(self, x: object) -> bool:
        return x in self.rng

    def __iter__(self) -> Iterator[int]:
        self.budget[0] -= len(self.rng)
        if self.budget[0] < 0:
            raise _too_big("loops over more range items in all than", tail="")
        return iter(self.rng)

    def __reversed__(self) -> Iterator[int]:
        return reversed(self.rng)

    def __repr__(self) -> str:
        return repr(self.rng)

    __str__ = __repr__


def _scoped(source: str) -> str:
    """A part in a scope of its own (a ``set`` in one is not seen by another), without the
    one trailing newline Jinja2 drops from a template (``keep_trailing_newline``)."""
    for end in ("\r\n", "\n", "\r"):
        if source.endswith(end):
            source = source[: -len(end)]
            break
    return f"{{% with %}}{source}{{% endwith %}}"


def rows(path: DataFile) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, fields) of each data row of the CSV (UTF-8, header row first); the
    recipient column is ``email``. A bad row is :class:`DataError`."""
    for line, got in _rows(path):
        if isinstance(got, DataError):
            raise got
        yield line, got


def filled(template: Template, path: DataFile) -> Iterator[Rendered]:
    """The message of each good row of the CSV at ``path`` (:func:`rows`, :func:`fill`);
    the bad ones (a cell too many or too few, a bad address, a field the template lacks) are
    :class:`DataError` together once the file has been read to its end (the first
    :data:`~warmup.outbox.inputerrors.ROW_ERRORS` named, the others counted: one run finds
    them all, memory stays flat), before anything is queued: ``Outbox.add_many`` names them
    with the good rows' own faults (too big once encoded). A file with no rows is
    :class:`DataError` too."""
    bad = Collector()
    found = 0
    try:
        for line, got in _rows(path):
            found += 1
            try:
                if isinstance(got, DataError):
                    raise got
                message = fill(template, got, f"{path}: line {line}")
            except DataError as exc:
                if isinstance(exc, _EveryRow) and not bad:
                    raise  # the template and the header disagree: said once, not 20 times
                bad.add(str(exc), str(path))
                if isinstance(exc, _EveryRow):
                    break
                continue
            # after a bad row too: the caller checks it as a message (its size once encoded)
            # and names it with these, queueing none of them
            yield message
    except DataError as exc:  # the file itself (an unclosed quote): the rows so far with it
        if not bad:
            raise
        bad.add(str(exc))
    bad.check()
    if not found:
        raise DataError(f"{path}: no rows below its header; nothing to queue (one recipient a row)")


class _EveryRow(DataError):
    """A row's error every row would have: a name the template uses and the header lacks."""


def _rows(path: DataFile) -> Iterator[tuple[int, dict[str, str] | DataError]]:
    """:func:`rows`, a bad row yielded as its :class:`DataError` (the reading goes on); what
    makes the whole file unreadable is raised."""
    try:
        raw = read_head(path, MAX_CSV)
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_CSV:  # read whole, '--csv /dev/zero' filled memory until the kernel killed it
        raise DataError(f"{path}: larger than {byte_size(MAX_CSV)}; split it into several files")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        from warmup.words import not_utf8

        bad = exc.object  # without its BOM, if it has one: exc.start is a place in it
        start = bad.rfind(b"\n", 0, exc.start) + 1
        line = bad.count(b"\n", 0, start) + 1
        raise DataError(f"{path}: line {line}: {not_utf8(bad[start:])}") from None
    from warmup import addresses

    first = next((x for x in text.splitlines() if x.strip()), "")
    # 'sep=;' first: the line that tells Excel the file's delimiter, not the header
    sep = addresses.SEP_LINE.fullmatch(first)
    delim = sep[1] if sep else addresses.delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header: list[str] = []
    alias: int | None = None  # the column read as ``email`` when another name is its
    spans: int | None = None  # the line of the last row read, when a cell of it spans lines
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
        # an unclosed quote takes the rest of the file: only the last row can hold one
        spans = line if any("\n" in f or "\r" in f for f in fields) else None
        if not fields or not any(f.strip() for f in fields):
            # a blank line, or Excel's row of cleared cells (',,')
            continue
        if sep:  # the 'sep=' line
            sep = None
            continue
        if not header:
            header = [h.strip() for h in fields]  # 'email, name': the column is 'name'
            column = addresses.address_column(header)
            if column is None:
                # a cell with a character no one sees (a zero-width space pasted with it, a
                # second BOM) shown escaped: 'email\u200b', not an 'email' said to be missing
                found = ", ".join(h if h.isprintable() else repr(h) for h in header)
                raise DataError(
                    f"{path}: line {line}: no 'email' column (found {found}); "
                    f"name the recipients' column email"
                )
            # a CRM's 'Email' or 'E-mail' (or '邮箱'): its cells are the recipients, which the
            # template reads as email too
            alias = column if "email" not in header else None
            twice = next((h for h in header if h and header.count(h) > 1), None)
            if twice is not None:  # a row's dict would keep the last and drop the other
                raise DataError(
                    f"{path}: line {line}: column {twice!r} appears twice in the header; keep one"
                )
            continue
        again = [f.strip().lstrip("\ufeff").strip() for f in fields]
        while again and not again[-1]:
            again.pop()
        if again == [h for h in header if h] or again == header:
            continue  # the header again: two exports joined (cat a.csv b.csv), each its BOM
        if len(fields) != len(header) and spans is not None:
            # a quote never closed makes this last row the wrong width too: that, not the width
            addresses.check_closed(text, spans, delim, path)
        if len(fields) > len(header):
            yield line, DataError(f"{path}: line {line}: more cells than the header has")
            continue
        if len(fields) < len(header):  # a short row: its last fields are missing, not empty
            yield (
                line,
                DataError(
                    f"{path}: line {line}: fewer cells than the header has "
                    f"(no {', '.join(header[len(fields) :])}); an empty field is an empty "
                    f"cell: add the commas"
                ),
            )
            continue
        row = dict(zip(header, fields, strict=True))
        if alias is not None:
            row["email"] = fields[alias]
        yield line, row
    if not header:  # in import's words: "no 'email' column (found nothing)" read as a typo
        raise DataError(
            f"{path}: line 1: the file is empty; its first line must be the header "
            f"(email[,...]) and the rows follow it"
        )
    if spans is not None:
        addresses.check_closed(text, spans, delim, path)


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
    except DataError as exc:  # a list of them is no "malformed" address: one per row
        exc = addresses.several_in_one(fields["email"], "recipient") or exc
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
        raise _EveryRow(
            f"{where}: {exc.message} in template {template.source}; "
            f"{_unnamable(exc.message or '', fields)} (nothing of the file was queued)"
        ) from None
    except jinja2.TemplateError as exc:  # e.g. what no message could hold, refused unbuilt
        raise DataError(
            f"{where}: template {template.source}: {exc} (nothing of the file was queued)"
        ) from None
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
    if not subject:  # a blank field ("{{ company }}" of an empty cell): a message no one opens
        raise DataError(
            f"{where}: the subject is empty (template {template.source} renders it blank for "
            f"this row); fill the row's fields or fix the template (nothing of the file was "
            f"queued)"
        )
    # The text and HTML alike: "{{ note }}" of an empty cell was queued as a message with
    # nothing in it (mail clients show the HTML part when there is one), as --body "" was.
    for part, body in (("text", text), ("HTML part", html)):
        if body is not None and not body.strip():
            raise DataError(
                f"{where}: the {part} is empty (template {template.source} renders it blank "
                f"for this row); fill the row's fields or fix the template (nothing of the file "
                f"was queued)"
            )
    size = len(subject) + len(text) + len(html or "")
    if size > MESSAGE_LIMIT:  # before it is encoded: a loop in the template, a huge field
        raise DataError(f"{where}: {size_error(size)} (nothing of the file was queued)")
    # Its whitespace is folded to spaces already. An encoded word ('=?utf-8?q?=1B?=') is ASCII
    # and written as is, then decoded by every mail client: checked as they will read it.
    found = _HEADER_CONTROL.search(subject) or (
        "=?" in subject and _HEADER_CONTROL.search(_decoded(subject))
    )
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


def _unnamable(message: str, fields: dict[str, str]) -> str:
    """What to do about an undefined name: a column whose name a template cannot write as
    is ('first-name' reads as first - name, 'company.name' as an attribute) when the name is
    its start or its form as a name ('First Name' for first_name, as a CRM exports it); a
    column named the same but for its capitals ('Company' for company: names are
    case-sensitive); else add the column or fix the template."""
    m = re.match(r"'([^']*)' is undefined", message)
    if m is None:
        return "add the column or fix the template"
    used = m[1]
    for column in fields:
        if column.isidentifier():
            continue
        name = re.sub(r"[^\w]+", "_", column).strip("_")
        if name.casefold() == used.casefold():  # 'First Name', used as {{ first_name }}
            return (
                f"column {column!r} is not a name a template can use: rename it {used} in "
                f"the CSV, as the template calls it"
            )
        if re.split(r"[^\w]", column)[0] == used:
            return (
                f"column {column!r} is not a name a template can use: rename it {name} in "
                f"the CSV and the template"
            )
    for column in fields:
        if column.isidentifier() and column != used and column.casefold() == used.casefold():
            return (
                f"the CSV's column is {column!r} (a name's capitals count): write "
                f"{{{{ {column} }}}} in the template, or rename the column {used}"
            )
    return "add the column or fix the template"


# What a message cannot carry raw: a control character in the Subject header (its whitespace
# is folded to spaces already), a NUL anywhere (RFC 5322 text, 8BITMIME).
_HEADER_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NUL = re.compile("\x00")


def _decoded(subject: str) -> str:
    """The Subject as a mail client reads it: its RFC 2047 encoded words decoded."""
    import email.policy

    return str(email.policy.SMTP.header_factory("Subject", subject))


def _render(template: Any, scope: dict[str, Any]) -> str:
    """What ``template.render(scope)`` returns, ``scope`` already holding the globals."""
    from jinja2.runtime import new_context

    env = template.environment
    env.fresh()
    pieces = template.root_render_func(
        new_context(env, template.name, template.blocks, scope, True)
    )
    if not getattr(template, "looped", True):  # as many pieces as the template has
        text = "".join(pieces)
        if len(text) > MESSAGE_LIMIT:
            from jinja2.exceptions import SecurityError

            raise SecurityError(str(size_error(len(text))))
        return text
    out: list[str] = []
    size = 0
    while chunk := list(islice(pieces, 8)):  # counted in C: a few chunks for most templates
        size += sum(map(len, chunk))
        if size > MESSAGE_LIMIT:  # a loop of short pieces: stopped here, not at gigabytes
            from jinja2.exceptions import SecurityError

            raise SecurityError(str(size_error()))
        out += chunk
    return "".join(out)


def render(template: Template, fields: dict[str, str], where: str) -> EmailMessage:
    """One message for one row (``where`` names the row in errors): To, Subject, text and
    optional HTML parts."""
    return fill(template, fields, where).message()
