"""A template's parts rendered together in one Jinja2 render (warmup/outbox/template.py, for
speed) give what each part rendered alone by Jinja2 gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warmup.errors import DataError
from warmup.outbox.template import Template, fill, load_template, rows

TEMPLATES = {
    "plain": ('subject = "Hi {{ name }}"\ntext = "Hello {{ name }},\\n"\n'),
    "html": (
        'subject = "A question for {{ company }}"\n'
        'text = """Hello {{ name }},\n\nabout {{ company }}.\n"""\n'
        'html = """<p>Hello {{ name }} {{ raw|safe }} {{ "<i>" ~ name }}</p>\n"""\n'
    ),
    "set in one part, not seen in another": (
        "subject = \"{% set name = 'Boss' %}Hi {{ name }}\"\n"
        'text = "Dear {{ name }}"\n'
        "html = \"{% set company = 'X' %}<b>{{ company }}</b>\"\n"
    ),
    "trailing newlines": ('subject = "s\\n"\ntext = "two\\n\\n"\nhtml = "crlf\\r\\n"\n'),
    "loops and filters": (
        'subject = "{{ name|upper }}"\n'
        'text = "{% for c in name %}{{ c }}-{% endfor %}\\n{{ range(3)|list }}"\n'
        'html = "{% if name %}<{{ name|length }}>{% endif %}"\n'
    ),
    "whitespace control": (
        'subject = "  {{- name -}}  "\ntext = "  {{- name }}\\n  "\nhtml = "{{ name -}}\\n "\n'
    ),
}
ROWS = [
    {"email": "a@example.com", "name": "Ann <&>", "company": "Acme & Co", "raw": "<br>"},
    {"email": "b@example.com", "name": "王小明", "company": "公司", "raw": ""},
    {"email": "c@example.com", "name": "", "company": "'quoted' \"too\"", "raw": "&amp;"},
]


def alone(template: Template, fields: dict[str, str]) -> tuple[str, str, str | None]:
    html = template.html.render(fields) if template.html is not None else None
    return (
        " ".join(template.subject.render(fields).split()),
        template.text.render(fields),
        html,
    )


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_rendered_together_as_each_alone(tmp_path: Path, name: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATES[name], encoding="utf-8")
    template = load_template(path)
    assert template.together is not None
    for fields in ROWS:
        want = alone(template, fields)
        if not want[0]:  # a blank subject is refused (test_queue_rows.py)
            with pytest.raises(DataError, match="^line 2: the subject is empty"):
                fill(template, fields, "line 2")
            continue
        got = fill(template, fields, "line 2")
        assert (got.subject, got.text, got.html) == want


def test_a_field_holding_the_separator_is_rendered_part_by_part(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATES["html"], encoding="utf-8")
    template = load_template(path)
    fields = dict(ROWS[0], name=f"x{template.sep}y")
    # Rendered part by part, the separator's NULs are found in the part that holds them (a
    # NUL is refused in a body: test_a_nul_in_the_body_is_refused_naming_the_line).
    with pytest.raises(DataError, match="^line 2: the text part holds a NUL character"):
        fill(template, fields, "line 2")
    got = template.text.render(fields)
    assert template.sep in got


def test_a_missing_field_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATES["html"], encoding="utf-8")
    with pytest.raises(DataError, match=r"^leads.csv: line 7: 'company' is undefined"):
        fill(
            load_template(path),
            {"email": "a@example.com", "name": "A", "raw": ""},
            "leads.csv: line 7",
        )


@pytest.mark.parametrize(
    "text",
    [
        "{{ 1/0 }}",
        '{{ "a" + 1 }}',
        '{{ "%d" % name }}',
        "{{ name|wordwrap(0) }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    ],
)
def test_a_template_that_raises_is_a_data_error_naming_the_line(tmp_path: Path, text: str) -> None:
    """An expression of the template that fails in Python (not a Jinja2 error) is bad input
    like any other: one line naming the CSV line and the template, never a traceback."""
    path = tmp_path / "t.toml"
    path.write_text(f"subject = 'Hi'\ntext = '''{text}'''\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^leads.csv: line 3: template .*t.toml: ") as err:
        fill(load_template(path), {"email": "a@example.com", "name": "A"}, "leads.csv: line 3")
    assert "\n" not in str(err.value)


def test_a_short_row_is_refused_not_filled_with_empty_fields(tmp_path: Path) -> None:
    """A row with fewer cells than the header (a truncated line, a lost comma) would mail
    "Dear ," to its recipient: its missing fields are not empty cells."""
    path = tmp_path / "leads.csv"
    path.write_text("email,name,company\na@example.com,Ann,\nb@example.com\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == (
        f"{path}: line 3: fewer cells than the header has (no name, company); an empty "
        f"field is an empty cell: add the commas"
    )
    path.write_text("email,name,company\na@example.com,Ann,\n", encoding="utf-8")
    assert list(rows(path)) == [(2, {"email": "a@example.com", "name": "Ann", "company": ""})]


def test_a_csv_the_csv_module_refuses_is_a_data_error_naming_the_line(tmp_path: Path) -> None:
    """A cell over the csv module's field limit (a pasted page, an unclosed quote swallowing
    the rest of a big file) raised csv.Error: a traceback out of 'warmup queue add'."""
    path = tmp_path / "leads.csv"
    path.write_text(
        'email,name\na@example.com,Ann\nb@example.com,"' + "x" * 200_000 + '"\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == (
        f"{path}: line 3: field larger than field limit (131072); shorten the cell, or close "
        f"the quote it opens"
    )


def test_an_unclosed_quote_is_a_data_error_not_the_rest_of_the_file_in_one_cell(
    tmp_path: Path,
) -> None:
    """The csv module (not strict) ends an unclosed quoted cell at the end of the file: the
    rows after it became that cell, their recipients left out without a word, and the row's
    recipient mailed the rest of the file as its name."""
    path = tmp_path / "leads.csv"
    path.write_text(
        'email,name\na@example.com,Ann\nb@example.com,"Bob\nc@example.com,Cy\n', encoding="utf-8"
    )
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == (
        f"{path}: line 3: a quote opened in this row is never closed (it would take every "
        f"line after it as one cell); close it or remove it"
    )
    # a closed quoted cell over two lines, last in the file, is a cell
    path.write_text('email,name\na@example.com,"Ann\nSmith"\n', encoding="utf-8")
    assert list(rows(path)) == [(2, {"email": "a@example.com", "name": "Ann\nSmith"})]


def test_an_unclosed_quote_in_the_email_cell_is_that_error_alone(tmp_path: Path) -> None:
    """A quote opened at a row's first cell swallows the rest of the file into that one
    cell, so the row is short as well: it was named twice ("2 rows are wrong": fewer cells
    than the header, add the commas; then the quote), for one row and one mistake."""
    path = tmp_path / "leads.csv"
    path.write_text(
        'email,name\na@example.com,Ann\n"b@example.com,Bob\nc@example.com,Cy\n',
        encoding="utf-8",
    )
    got = []
    with pytest.raises(DataError) as err:
        got.extend(rows(path))
    assert got == [(2, {"email": "a@example.com", "name": "Ann"})]
    assert str(err.value) == (
        f"{path}: line 3: a quote opened in this row is never closed (it would take every "
        f"line after it as one cell); close it or remove it"
    )


def test_a_row_is_named_by_the_line_it_starts_on(tmp_path: Path) -> None:
    """A quoted cell holding a newline (an address block from Excel) spans lines: the row is
    where it starts, as an editor shows it, and blank lines count."""
    path = tmp_path / "leads.csv"
    path.write_text(
        'email,name\n\na@example.com,"Ann\nSmith"\n\nb@example.com,Bob\nc@example.com\n',
        encoding="utf-8",
    )
    got = rows(path)
    assert next(got) == (3, {"email": "a@example.com", "name": "Ann\nSmith"})
    assert next(got) == (6, {"email": "b@example.com", "name": "Bob"})
    with pytest.raises(DataError, match=rf"^{path}: line 7: fewer cells"):
        next(got)


@pytest.mark.parametrize(("name", "char"), [("Ann\x00", "U+0000"), ("Ann\x1b[2J", "U+001B")])
def test_a_control_character_in_the_subject_is_refused_naming_the_line(
    tmp_path: Path, name: str, char: str
) -> None:
    """A NUL or ESC from a cell was written raw into the Subject header (only whitespace is
    folded there): RFC 5322 forbids it, and servers refuse or mangle such mail. In the body,
    where the stdlib writes it too, an ESC is left as it is (a NUL is not: see below)."""
    path = tmp_path / "t.toml"
    path.write_text('subject = "Hi {{ name }}"\ntext = "{{ name }}"\n', encoding="utf-8")
    template = load_template(path)
    with pytest.raises(DataError) as err:
        fill(template, {"email": "a@example.com", "name": name}, "leads.csv: line 4")
    assert str(err.value) == (
        f"leads.csv: line 4: the subject holds the control character {char} (from a field of "
        f"the row); remove it from the CSV (nothing of the file was queued)"
    )
    got = fill(template, {"email": "a@example.com", "name": "Ann\tLee\r\n"}, "line 2")
    assert got.subject == "Hi Ann Lee"


@pytest.mark.parametrize("part", ["text", "html"])
def test_a_nul_in_the_body_is_refused_naming_the_line(tmp_path: Path, part: str) -> None:
    """A NUL from a cell went out raw in the body, under 'Content-Transfer-Encoding: 7bit'
    (RFC 2045 and RFC 5322 forbid a NUL in mail; servers refuse or truncate it)."""
    path = tmp_path / "t.toml"
    parts = {"subject": "Hi", "text": "x", part: "Dear {{ name }}"}
    path.write_text("".join(f'{k} = "{v}"\n' for k, v in parts.items()), "utf-8")
    template = load_template(path)
    with pytest.raises(DataError) as err:
        fill(template, {"email": "a@example.com", "name": "Ann\x00"}, "leads.csv: line 4")
    assert str(err.value) == (
        f"leads.csv: line 4: the {part} part holds a NUL character (from a field of the row); "
        f"remove it from the CSV (nothing of the file was queued)"
    )


def test_a_template_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    """Windows editors start a UTF-8 file with a BOM: tomllib refused it as 'Invalid
    statement (at line 1, column 1)', though the CSV beside it is read with its BOM."""
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATES["html"], encoding="utf-8-sig")
    got = fill(load_template(path), ROWS[1], "line 2")
    assert got.subject == "A question for 公司"


def test_a_template_nested_too_deeply_is_a_data_error(tmp_path: Path) -> None:
    """tomllib recurses once per nested array: a RecursionError traceback, exit 1."""
    path = tmp_path / "t.toml"
    path.write_text("x = " + "[" * 3000 + "]" * 3000 + '\nsubject = "s"\ntext = "t"\n')
    with pytest.raises(DataError, match="nested too deeply"):
        load_template(path)


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    """Two 'name' (or 'email') columns: every row's first value was dropped without a word and
    the message went out with the other; import refuses such a header, so does queue add.
    Excel's trailing empty columns (no name) are not columns named twice."""
    path = tmp_path / "leads.csv"
    path.write_text("email,name,company,name\na@example.com,Ann,Acme,Bob\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == f"{path}: line 1: column 'name' appears twice in the header; keep one"
    path.write_text("email,name,,\na@example.com,Ann,,\n", encoding="utf-8")
    assert list(rows(path)) == [(2, {"email": "a@example.com", "name": "Ann", "": ""})]


def test_a_gbk_csv_is_refused_saying_what_it_looks_like(tmp_path: Path) -> None:
    """Excel's 'CSV' on Chinese Windows is GBK: the error names the line and the format to
    save it in, not just 'not UTF-8'."""
    path = tmp_path / "leads.csv"
    path.write_bytes("email,name\na@example.com,Ann\nb@example.com,王小明\n".encode("gbk"))
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == (
        f"{path}: line 3: not UTF-8 text (it looks like GBK/GB18030, as Excel's 'CSV' saves on "
        f"Chinese Windows); save it as 'CSV UTF-8 (comma delimited)'"
    )


@pytest.mark.parametrize(
    ("name", "encoding", "said"),
    [
        ("Jörg", "latin-1", " (it looks like Windows-1252/Latin-1, as Excel's 'CSV' saves on "
                            "Western European Windows)"),
        ("Müßig “Renée”", "cp1252", " (it looks like Windows-1252/Latin-1"),
        ("张三", "gbk", " (it looks like GBK/GB18030"),
        # GBK's second byte may be ASCII (0x40-0x7e): 镕 is e9 46 ('F'), 珺 ac 42, 昇 95 4e
        ("朱镕基", "gbk", " (it looks like GBK/GB18030"),
        ("张珺", "gbk", " (it looks like GBK/GB18030"),
        ("李昇", "gbk", " (it looks like GBK/GB18030"),
        ("Jörg Conceição", "cp1252", " (it looks like Windows-1252/Latin-1"),
    ],
)  # fmt: skip
def test_a_code_page_csv_is_named_by_its_evidence(
    tmp_path: Path, name: str, encoding: str, said: str
) -> None:
    """A Latin-1 'Jörg' was said to look like GBK ('\\xf6r' decodes as one GBK character):
    a Chinese code page named for a European file. What is named must fit the bytes."""
    path = tmp_path / "leads.csv"
    path.write_bytes(f"email,name\na@example.com,{name}\n".encode(encoding))
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value).startswith(f"{path}: line 2: not UTF-8 text{said}"), err.value
    assert str(err.value).endswith("; save it as 'CSV UTF-8 (comma delimited)'")


def test_bytes_that_fit_no_code_page_name_none(tmp_path: Path) -> None:
    """Bytes that are neither GBK's Chinese nor Western letters name no encoding."""
    path = tmp_path / "leads.csv"
    path.write_bytes(b"email,name\na@example.com,\x81\x8d\x81\n")
    with pytest.raises(DataError) as err:
        list(rows(path))
    assert str(err.value) == (
        f"{path}: line 2: not UTF-8 text; save it as 'CSV UTF-8 (comma delimited)'"
    )


def test_header_names_are_read_without_their_surrounding_spaces(tmp_path: Path) -> None:
    """'email, name' (a space after the comma, as people type a CSV): the column was ' name',
    and a template's {{ name }} 'undefined; add the column', over a header that has it.
    import strips its header's names; so does queue add (the cells are kept as they are)."""
    path = tmp_path / "leads.csv"
    path.write_text("email, name ,company\na@example.com, Ann,Acme\n", encoding="utf-8")
    assert list(rows(path)) == [(2, {"email": "a@example.com", "name": " Ann", "company": "Acme"})]
    path.write_text(" email ,name\na@example.com,Ann\n", encoding="utf-8")
    assert list(rows(path)) == [(2, {"email": "a@example.com", "name": "Ann"})]


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ('"a" * 30_000_000', "a repetition of 30_000_000 items, more than a message of "),
        ('"ab" * 10**9', "a repetition of 2_000_000_000 items"),
        ("[name] * 10**9", "a repetition of 1_000_000_000 items"),
        ("10**9 * name", "a repetition of 9_000_000_000 items"),
        ("9 ** 1_000_000_000", "9 ** 1000000000 has more digits than a message of "),
    ],
)
def test_a_template_repeating_past_any_message_is_refused_before_it_is_built(
    tmp_path: Path, expr: str, said: str
) -> None:
    """``{{ "a" * 10**9 }}`` built a gigabyte string (``9 ** 1_000_000_000`` a number taking minutes)
    before the size check after rendering refused it: refused as the operator runs."""
    path = tmp_path / "t.toml"
    path.write_text(f"subject = 's'\ntext = '{{{{ {expr} }}}}'\n", encoding="utf-8")
    template = load_template(path)
    with pytest.raises(DataError) as err:
        fill(template, {"email": "a@example.com", "name": "Ann Lee A"}, "line 2")
    assert str(err.value).startswith(f"line 2: template {path}: {said}"), err.value


def test_repetition_a_message_can_hold_still_renders(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        'subject = "{{ 3 * 4 }} {{ 2 ** 10 }} {{ 1.5 * 2 }}"\n'
        "text = \"{{ '-' * 20 }}{{ [name] * 2 }}{{ 2 * name }}{{ (-2) ** 3 }}{{ 2 ** -1 }}\"\n",
        encoding="utf-8",
    )
    got = fill(load_template(path), {"email": "a@example.com", "name": "Ann"}, "line 2")
    assert (got.subject, got.text) == ("12 1024 3.0", "-" * 20 + "['Ann', 'Ann']AnnAnn-80.5")


def _within_768_mib(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with at most 768 MiB of address space (warmup with Jinja2 loaded takes
    ~100): a template that builds gigabytes fails here, fast, instead of taking the shared
    machine's memory; ``timeout`` stands for a template that runs for minutes."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))

    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
        check=False,
    )


FILL = """
import sys
from pathlib import Path
from warmup.errors import DataError
from warmup.outbox.template import fill, load_template
try:
    fill(load_template(Path(sys.argv[1])), {"email": "a@example.com", "name": "Ann"}, "line 2")
except DataError as exc:
    print(exc)
else:
    print("rendered")
"""


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ('{{ "x"|center(10**9) }}', "center(width=1_000_000_000)"),
        ('{{ "x".center(10**9) }}', "center(width=1_000_000_000)"),
        ('{{ "x".ljust(10**9) }}', "ljust(width=1_000_000_000)"),
        ('{{ "x".zfill(10**9) }}', "zfill(width=1_000_000_000)"),
        ('{{ "x"|indent(10**9, true) }}', "indent(width=1_000_000_000)"),
        ('{{ "%1000000000s"|format(name) }}', "a field 1_000_000_000 wide"),
        ('{{ "%1000000000s" % name }}', "a field 1_000_000_000 wide"),
        ('{{ "%*s" % (10**9, name) }}', "a field 1_000_000_000 wide"),
        ('{{ "{:>1000000000}".format(name) }}', "a field 1_000_000_000 wide"),
        ('{{ "{:>{}}".format(name, 10**9) }}', "a field 1_000_000_000 wide"),
        ('{{ ("x" * 20000000).replace("", "y" * 20000000) }}', "a replacement of "),
        ('{{ ("x" * 20000000)|replace("", "y" * 20000000) }}', "a replacement of "),
        ('{{ ([("x" * 10000)] * 10000)|join }}', "a join of "),
        ('{{ "".join([("x" * 10000)] * 10000) }}', "a join of "),
        ("{{ lipsum(10**9) }}", "lipsum(n=1_000_000_000)"),
        ("{{ range(10**9)|slice(10**9)|list }}", "a range of 1_000_000_000 items"),
        ("{{ [1, 2]|slice(10**9)|list }}", "slice(slices=1_000_000_000)"),
        ("{% for i in range(10**9) %}{{ i }}{% endfor %}", "a range of 1_000_000_000 items"),
        ("{% for i in range(10**9) %}{% endfor %}", "a range of 1_000_000_000 items"),
        (
            "{% for i in range(5000000) %}{% for j in range(5000000) %}{% endfor %}{% endfor %}",
            "loops over more range items in all than a message",
        ),
        ("{% for i in range(10**7) %}{{ name * 1000 }}{% endfor %}", "the message is over"),
        ('{{ "{:.1000000000f}".format(1.5) }}', "a field 1_000_000_000 wide"),
        ("{{ [1]|tojson(10**9) }}", "tojson(indent=1_000_000_000)"),
        ("{{ [1]|batch(10**9, 0)|list }}", "batch(linecount=1_000_000_000)"),
        (
            '{% set ns = namespace(s="xx") %}{% for i in range(40) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            "a concatenation of ",
        ),
        (
            '{% set ns = namespace(s="xx") %}{% for i in range(40) %}'
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
            "a sum of ",
        ),
        (
            '{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) or "" }}{% endfor %}',
            "a list of ",
        ),
    ],
)
def test_a_template_building_gigabytes_is_refused_before_it_is_built(
    tmp_path: Path, expr: str, said: str
) -> None:
    """``{{ "x"|center(10**9) }}``, ``{% for i in range(10**9) %}`` and their kin took
    gigabytes (or ran for hours) rendering one row; the size check came after. Refused as they
    run, in a process that could not have had the gigabytes."""
    path = tmp_path / "t.toml"
    path.write_text(f"subject = 's'\ntext = '''{expr}'''\n", encoding="utf-8")
    res = _within_768_mib(["-c", FILL, str(path)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"line 2: template {path}: "), res.stdout
    assert said in res.stdout, res.stdout
    assert "MemoryError" not in res.stdout


def test_bounded_calls_a_message_can_hold_still_render(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        "subject = 's'\ntext = '''{{ name|center(9) }}|{{ name.rjust(5) }}|{{ '%5s' % name }}|"
        "{{ '%*d' % (4, 7) }}|{{ '{:>6}'.format(name) }}|{{ '{:,}'.format(10**12) }}|"
        "{{ name.replace('n', 'N') }}|{{ ['a', 'b']|join('-') }}|{{ '+'.join(name) }}|"
        "{% for i in range(3) %}{{ i }}{% endfor %}|{{ [1, 2, 3]|slice(2)|list }}'''\n",
        encoding="utf-8",
    )
    got = fill(load_template(path), {"email": "a@example.com", "name": "Ann"}, "line 2")
    assert got.text == (
        "   Ann   |  Ann|  Ann|   7|   Ann|1,000,000,000,000|ANN|a-b|A+n+n|012|[[1, 2], [3]]"
    )


def test_queue_add_of_a_template_building_gigabytes_exits_65_in_one_line(
    tmp_path: Path, ledger_path: Path
) -> None:
    from warmup import api
    from warmup.ledger import open_ledger

    ledger = open_ledger(str(ledger_path))
    try:
        api.add_mailbox(ledger, "sales@corp.example", "exmail")
    finally:
        ledger.close()
    leads = tmp_path / "leads.csv"
    leads.write_text("email,name\na@example.com,Ann\n", encoding="utf-8")
    tpl = tmp_path / "t.toml"
    tpl.write_text("subject = 's'\ntext = '''{{ \"x\"|center(10**9) }}'''\n", encoding="utf-8")
    args = ["queue", "add", "--mailbox", "sales@corp.example", "--csv", str(leads)]
    res = _within_768_mib(["-m", "warmup", *args, "--template", str(tpl)])
    assert res.returncode == 65, res.stderr
    assert res.stderr.startswith(f"Error: {leads}: line 2: template {tpl}: "), res.stderr
    assert "center(width=1_000_000_000)" in res.stderr
    assert len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Name,Email\nAnn,ann@example.com\n", "Email"),
        ("Nom;E-mail;Ville\nAnn;ann@example.com;Lyon\n", "E-mail"),
        ("姓名\t邮箱\nAnn\tann@example.com\n", "邮箱"),
        ("email,Address\nann@example.com,1 Main St\n", "email"),
        # the comma inside the quoted header cell is no separator: the ';' are
        ('"Nom, prénom";E-mail\n"Doe, Ann";ann@example.com\n', "E-mail"),
    ],
    ids=[
        "Email",
        "semicolon-E-mail",
        "tab-chinese",
        "email-beside-a-postal-address",
        "quoted-comma-in-header",
    ],
)
def test_a_crm_export_is_read_by_its_column_of_addresses(tmp_path: Path, text, name) -> None:
    """A CRM's export names the column 'Email' or 'E-mail' (or '邮箱'), and Excel in a locale
    whose decimal mark is the comma separates with ';': both were refused ("no 'email'
    column"). The recipients are read from that column, which the template reads as ``email``
    as well as by its own name; an 'email' column is preferred to a (postal) 'Address'."""
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    [(line, fields)] = list(rows(path))
    assert line == 2
    assert fields["email"] == fields[name] == "ann@example.com"
    tpl_file = tmp_path / "t.toml"
    tpl_file.write_text('subject = "Hi"\ntext = "For {{ email }}"\n', encoding="utf-8")
    done = fill(load_template(tpl_file), fields, "row")
    assert done.rcpt == "ann@example.com" and done.text.startswith("For ann@example.com")


def test_excel_s_rows_of_empty_cells_are_blank_lines(tmp_path: Path) -> None:
    """Excel saves rows whose cells were cleared (not deleted) as ',,': each was refused as
    "malformed recipient ''", and with it the whole campaign. A row of empty cells is a blank
    line; a row with a field but no recipient is still refused."""
    leads = tmp_path / "l.csv"
    leads.write_bytes(
        b"email,name,company\r\nx@example.com,A,B\r\n,,\r\n , ,\r\ny@example.com,C,D\r\n,,\r\n,,\r\n"
    )
    assert [(line, f["email"]) for line, f in rows(leads)] == [
        (2, "x@example.com"),
        (5, "y@example.com"),
    ]
    leads.write_bytes(b"email,name,company\r\nx@example.com,A,B\r\n,Bob,\r\n")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "hi {{ name }}"\ntext = "t"\n')
    template = load_template(tpl)
    with pytest.raises(DataError, match="line 3: malformed recipient ''"):
        for line, fields in rows(leads):
            fill(template, fields, f"{leads}: line {line}")


def test_excel_s_sep_line_names_the_delimiter(tmp_path: Path) -> None:
    """'sep=;' on the first line is how a file tells Excel its delimiter (and what Excel
    writes for some locales): it was read as the header, "no 'email' column (found sep=;)"."""
    leads = tmp_path / "l.csv"
    leads.write_bytes(b"\xef\xbb\xbfsep=;\r\nemail;name\r\nx@example.com;A, B\r\n")
    assert list(rows(leads)) == [(3, {"email": "x@example.com", "name": "A, B"})]


@pytest.mark.parametrize(
    ("head", "shown"),
    [(b"email\xe2\x80\x8b", r"'email\u200b'"), (b"\xef\xbb\xbfemail", r"'\ufeffemail'")],
)
def test_a_header_cell_with_an_invisible_character_is_shown_escaped(
    tmp_path: Path, head: bytes, shown: str
) -> None:
    """A zero-width space pasted after 'email', or a second BOM (a file saved as UTF-8 with
    BOM twice), made "no 'email' column (found email, name); name the recipients' column
    email": the column the user sees named email, said to be missing."""
    leads = tmp_path / "l.csv"
    leads.write_bytes(b"\xef\xbb\xbf" + head + b",name\nx@example.com,A\n")
    with pytest.raises(DataError) as err:
        list(rows(leads))
    assert str(err.value) == (
        f"{leads}: line 1: no 'email' column (found {shown}, name); name the recipients' "
        f"column email"
    )
