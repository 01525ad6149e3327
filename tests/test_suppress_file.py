"""``warmup suppress add --from FILE``: an unsubscribe list or a CRM's export of addresses never to
mail again, suppressed in one command (before it, one argument an address: ``xargs`` split a
10,000-line list over several commands, and a BOM on the first line was refused as part of the
address). Every line is checked before any address is kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ledger_digest

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL

BOX = "a@corp.example"


def _suppressed(run) -> list[str]:
    import json

    res = run("suppress", "list", "--json")
    assert res.exit_code == 0, res.output
    return sorted(r["address"] for r in json.loads(res.output))


def test_a_list_one_address_a_line_with_a_bom_crlf_comments_and_repeats(run, tmp_path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    listed = tmp_path / "unsubscribed.txt"
    listed.write_bytes(
        "\ufeffone@example.com\r\n# asked by phone\r\n\r\nTwo@Example.COM\r\n"
        "one@example.com\r\n  three@example.com  \r\n".encode()
    )
    res = run("suppress", "add", "four@example.com", "--from", str(listed), "--reason", "asked")
    assert res.exit_code == 0, res.output
    assert res.output == "Suppressed 4 addresses (1 repeated).\n"
    assert _suppressed(run) == [
        "four@example.com",
        "one@example.com",
        "three@example.com",
        "two@example.com",
    ]


@pytest.mark.parametrize(
    ("text", "sep"),
    [
        ('Name,Email,Status\nAnn,ann@example.com,unsubscribed\n"Doe, Bo",bo@example.com,x\n', ","),
        ("Nom;E-mail\nAnn;ann@example.com\nBo;bo@example.com\n", ";"),
        ("姓名\t邮箱\nAnn\tann@example.com\nBo\tbo@example.com\n", "tab"),
        # a comma inside a quoted header cell is no separator
        ('"Nom, prénom";E-mail\n"Doe, Ann";ann@example.com\nBo;bo@example.com\n', ";"),
        # a blank line or a comment above the header is not the header
        ("\n# unsubscribed, March\nEmail,Name\nann@example.com,Ann\nbo@example.com,Bo\n", ","),
        # Excel's delimiter line above the header, as 'import' and 'queue add --csv' read it:
        # "no column of addresses among 'sep=', ''", exit 65
        ("sep=;\nNom;E-mail\nAnn;ann@example.com\nBo;bo@example.com\n", ";"),
        ("sep=,\r\nEmail\r\nann@example.com\r\nbo@example.com\r\n", ","),
        # a quoted cell over several lines is one cell, its lines no rows of their own
        ('Email,Note\nann@example.com,"called\nbo@example.com asked too"\nbo@example.com,x\n', ","),
        # a BOM and CRLF, a blank line and a '#' line inside the cell
        ('\ufeffEmail,Note\r\nann@example.com,"one\r\n\r\n# two"\r\nbo@example.com,x\r\n', ","),
        ('sep=;\r\nNote;E-mail\r\n"Ann\r\nDoe";ann@example.com\r\nBo;bo@example.com\r\n', ";"),
        # breaks the csv module does not count as line ends (str.splitlines does)
        ('Email,Note\nann@example.com,"one\u2028two\x0bthree"\nbo@example.com,x\n', ","),
    ],
    ids=[
        "comma",
        "semicolon",
        "tab-chinese-header",
        "quoted-comma-header",
        "comment-above",
        "excel-sep-line",
        "excel-sep-line-one-column",
        "cell-over-lines",
        "cell-over-lines-bom-crlf-blank-comment",
        "cell-over-lines-excel-sep-line",
        "cell-over-lines-unicode-breaks",
    ],
)
def test_a_csv_export_is_read_by_its_column_of_addresses(run, tmp_path, text, sep):
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    res = run("suppress", "add", "--from", str(export), "--reason", "crm export")
    assert res.exit_code == 0, res.output
    assert _suppressed(run) == ["ann@example.com", "bo@example.com"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"ok@example.com\nnot an address\n", "line 2: "),
        (b"ok@example.com\n*@example.org\n", "line 2: '*@example.org' looks like a pattern"),
        (b"ok@example.com\nbad\xff@example.com\n", "line 2: "),
        (b"Name,Phone\nAnn,123\n", "line 1: no column of addresses among 'name', 'phone'"),
        (b"# nothing but a comment\n\n", "no addresses in it"),
        (b"sep=,\n", "no addresses in it"),
        # Only the first 'email' column was read: b@ was not suppressed, and nothing said so.
        (
            b"Email,Name,Email\na@example.com,Ann,b@example.com\n",
            "line 1: column 'email' appears twice in the header",
        ),
        # a contact without an address: "malformed address ''", a cell the user cannot see
        (b"Name,Email\nAnn,ann@example.com\nBo,\n", "line 3: its 'email' cell is empty"),
        (b"Name,Email\nAnn,ann@example.com\nBo\n", "line 3: its 'email' cell is empty"),
        # The lines were handed to the csv module without their ends: the cell read as
        # 'ann@example.com', an address the file does not give, suppressed.
        (
            b'Name,Email\n"Ann","ann@exam\nple.com"\n',
            "line 2: malformed address 'ann@exam\\nple.com'",
        ),
        # a row is named by the line it starts on, as 'import' and 'queue add --csv' name it
        (b'Email,Note\nbad,"one\ntwo"\nok@example.com,x\n', "line 2: malformed address 'bad'"),
        (b'Note,Email\n"one\ntwo\nthree",bad\n', "line 2: malformed address 'bad'"),
        (b'Note,Email\n"one\ntwo",ann@example.com\nx,bad\n', "line 4: malformed address 'bad'"),
        # bo@ was taken into ann's note, to the end of the file: not suppressed, and unsaid
        (
            b'Email,Note\nann@example.com,"called\nbo@example.com,x\n',
            "line 2: a quote opened in this row is never closed",
        ),
    ],
    ids=[
        "not-an-address",
        "pattern",
        "not-utf8",
        "no-address-column",
        "empty",
        "only-sep-line",
        "column-twice",
        "empty-cell",
        "short-row",
        "address-over-two-lines",
        "cell-over-lines-bad-row-starting",
        "cell-over-lines-bad-row-ending",
        "cell-over-lines-bad-row-after",
        "quote-never-closed",
    ],
)
def test_a_bad_line_refuses_the_file_naming_it_and_keeps_nothing(
    run, tmp_path, ledger_path, content, said
):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    listed = tmp_path / "list.txt"
    listed.write_bytes(content)
    res = run("suppress", "add", "first@example.com", "--from", str(listed), "--reason", "x")
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {listed}: {said}"), res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    "export",
    [
        b"email\none@example.com\n",
        b"\xef\xbb\xbfEmail\r\none@example.com\r\n",
        b"Name,Email\nAnn,one@example.com\n",
        b"\xef\xbb\xbfName,Email\r\nAnn,one@example.com\r\n",
    ],
    ids=["list", "list-bom", "csv", "csv-bom"],
)
def test_two_exports_joined_are_read_as_one(run, tmp_path, export):
    """'cat october.csv november.csv > both.csv', as 'import' reads it: the second file's
    header (its BOM before it, from Excel) was read as an address, "malformed address
    '\\ufeffemail'", exit 65, nothing suppressed. A line repeating the header is skipped."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    joined = tmp_path / "both.csv"
    joined.write_bytes(export + export.replace(b"one@", b"two@"))
    res = run("suppress", "add", "--from", str(joined), "--reason", "unsubscribed")
    assert res.exit_code == 0, res.output
    assert res.output == "Suppressed 2 addresses.\n"
    assert _suppressed(run) == ["one@example.com", "two@example.com"]


def test_no_address_and_no_file_is_a_usage_error(run):
    res = run("suppress", "add", "--reason", "x")
    assert res.exit_code == 64, res.output
    assert "give the addresses to suppress, or --from FILE" in res.output


def _piped(ledger_path, **stdin) -> subprocess.CompletedProcess[bytes]:
    """``... | warmup suppress add --from - --reason piped`` in a real process, standard input
    given as ``input=`` bytes or a ``stdin=`` file."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "warmup",
            "--db",
            str(ledger_path),
            "suppress",
            "add",
            "--from",
            "-",
            "--reason",
            "piped",
        ],  # fmt: skip
        capture_output=True,
        check=False,
        timeout=120,
        **stdin,
    )


def test_the_list_may_come_on_standard_input(ledger_path, tmp_path):
    """``crm-export | warmup suppress add --from - --reason ...`` in a real process."""
    proc = _piped(ledger_path, input=b"email\nann@example.com\nbo@example.com\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Suppressed 2 addresses.\n"


@pytest.mark.parametrize(
    "text",
    [
        '"email"\n"ann@example.com"\n"bo@example.com"\n',  # csv.QUOTE_ALL, one column
        '"Ann@Example.com"\r\n"bo@example.com"\r\n',  # a list whose lines are quoted
    ],
    ids=["quoted-one-column-csv", "quoted-lines"],
)
def test_a_one_column_export_whose_cells_are_quoted_is_read(run, tmp_path, text):
    """An export of one column that quotes every cell (as csv.QUOTE_ALL and several CRMs write
    it) was refused at its first line: 'malformed address '"email"''; the quotes are the CSV's,
    not the address's."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    res = run("suppress", "add", "--from", str(export), "--reason", "crm export")
    assert (res.exit_code, res.output) == (0, "Suppressed 2 addresses.\n")
    assert _suppressed(run) == ["ann@example.com", "bo@example.com"]


def test_suppress_list_answers_for_one_address_or_a_domain_and_stops_at_its_limit(run):
    """'is lead@x suppressed?' meant listing every suppression (200,000 of them: 12 s, 200,000
    lines) and grepping. An ADDRESS (as a mail client shows it, any case) or @DOMAIN narrows the
    list; --limit (1000) bounds it, with a line on stderr saying how many there are."""
    import json

    added = ["A@Example.com", "b@example.com", "c@other.example", "x@sub.example.com"]
    assert run("suppress", "add", *added, "--reason", "asked").exit_code == 0

    def listed(*args: str) -> list[str]:
        res = run("suppress", "list", *args, "--json")
        assert res.exit_code == 0, res.output
        return [s["address"] for s in json.loads(res.stdout)]

    assert listed("@EXAMPLE.com") == ["a@example.com", "b@example.com"]  # not sub.example.com
    assert listed("Lead <a@example.COM>") == ["a@example.com"]
    assert listed("z@example.com") == [] and listed("@nowhere.example") == []
    res = run("suppress", "list", "z@example.com")
    assert (res.exit_code, res.stdout) == (0, "z@example.com is not suppressed.\n")
    res = run("suppress", "list", "--limit", "2")
    assert res.exit_code == 0
    assert [line.split()[0] for line in res.stdout.splitlines()[1:]] == ["a@example.com", "b@example.com"]  # fmt: skip
    assert "Showing the first 2 (by address) of 4; --limit 0 shows all" in res.stderr
    assert len(listed("--limit", "0")) == 4
    res = run("suppress", "list", "not an address")
    assert res.exit_code == 65 and "malformed address 'not an address'" in res.output


def test_a_list_that_is_not_there_is_a_missing_input(run, tmp_path):
    """A ``--from`` path naming no file exited 65 (bad data); it is an input file that is not
    there: 66 (EX_NOINPUT), nothing kept."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("suppress", "add", "--from", str(tmp_path / "gone.txt"), "--reason", "asked")
    assert res.exit_code == 66, res.output
    assert "gone.txt: cannot read it (No such file or directory); check the path" in res.output
    assert _suppressed(run) == []


def test_suppress_list_of_a_domain_names_the_domain_given_and_takes_an_international_one(run):
    """'suppress list @bücher.de' was refused as "address 'x@bücher.de' has an international
    domain name ... write it as x@xn--bcher-kva.de", and '@bad' as "malformed address 'x@bad'":
    an address nobody typed. A domain is looked up as its addresses are kept (ASCII form)."""
    import json

    assert run("suppress", "add", "a@xn--bcher-kva.de", "--reason", "asked").exit_code == 0
    res = run("suppress", "list", "@Bücher.de", "--json")
    assert res.exit_code == 0, res.output
    assert [s["address"] for s in json.loads(res.stdout)] == ["a@xn--bcher-kva.de"]
    res = run("suppress", "list", "@bad")
    assert (res.exit_code, res.output) == (
        65,
        "Error: malformed domain '@bad': expected @domain.tld\n",
    )


def test_one_address_at_an_international_domain_is_looked_up_and_taken_back_as_written(run):
    """'@bücher.de' listed its addresses, but 'suppress list a@bücher.de' (is it suppressed?)
    and 'suppress remove a@bücher.de' were refused, exit 65, "warmup sends without SMTPUTF8:
    write it as a@xn--bcher-kva.de": a lookup sends nothing, and the ASCII form is the one the
    ledger keeps (a bounce's recipient too)."""
    import json

    assert run("suppress", "add", "a@xn--bcher-kva.de", "--reason", "asked").exit_code == 0
    for asked in ("a@Bücher.de", "Käufer <a@bücher.de>"):
        res = run("suppress", "list", asked, "--json")
        assert res.exit_code == 0, res.output
        assert [s["address"] for s in json.loads(res.stdout)] == ["a@xn--bcher-kva.de"]
    res = run("suppress", "remove", "a@bücher.de")
    assert (res.exit_code, res.output) == (0, "a@xn--bcher-kva.de may be mailed again.\n")
    res = run("suppress", "list", "a@bücher.de")
    assert res.exit_code == 0 and res.output.startswith("a@xn--bcher-kva.de is not suppressed.")
    assert res.output.endswith("('suppress remove'); it was manual: asked.\n"), res.output


def test_a_file_too_large_for_a_list_is_refused_before_it_is_read_whole(run, tmp_path):
    """The file was read whole: 'suppress add --from /dev/zero' (or a multi-gigabyte log named
    by mistake) took memory until the kernel killed warmup. A sparse file one byte over the
    limit costs no disk."""
    big = tmp_path / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(100_000_001)
    before = ledger_digest(tmp_path / "ledger.db")
    res = run("suppress", "add", "--from", str(big), "--reason", "x")
    assert res.exit_code == 65, res.output
    assert res.output.strip() == (
        f"Error: {big}: larger than 100 MB; a list of addresses is smaller: split "
        f"it into several files"
    )
    assert ledger_digest(tmp_path / "ledger.db") == before


def test_a_list_too_large_on_standard_input_says_its_limit_as_people_read_a_size(
    ledger_path, tmp_path
):
    """``... | warmup suppress add --from -`` past the limit said "larger than 100_000_000
    bytes": a Python literal, not a size whoever piped the list reads."""
    big = tmp_path / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(100_000_001)
    with open(big, "rb") as stdin:
        proc = _piped(ledger_path, stdin=stdin)
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr.decode() == (
        "Error: standard input: larger than 100 MB; a list of addresses is smaller: split it "
        "into several files\n"
    )


@pytest.mark.parametrize(
    ("octets", "said"),
    [
        (100_000_000, "100 MB"),
        (25 * 2**20, "25 MiB"),
        (65_536, "64 KiB"),
        (2_000, "2 kB"),
        (998, "998 bytes"),
        (1, "1 byte"),
        (25 * 2**20 + 1, "26,214,401 bytes"),  # exact: a byte over the limit is not the limit
    ],
)
def test_a_byte_size_is_said_as_people_read_it(octets, said):
    from warmup.words import byte_size

    assert byte_size(octets) == said


@pytest.mark.parametrize("typed", ["@example.com", "@Corp.Example"])
def test_a_domain_given_as_an_address_is_said_to_be_a_domain(run, ledger_path, typed):
    """`suppress list @DOMAIN` takes a domain, so people type `suppress add @DOMAIN` too: it
    was "malformed address", which says nothing of why; now it says a domain is no address and
    how to write one, exit 65, nothing kept."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("suppress", "add", typed, "--reason", "x")
    assert res.exit_code == 65, res.output
    assert res.output == (
        f"Error: address {typed!r} is a domain, not an address: give each address at it "
        f"(name@{typed[1:]})\n"
    )
    assert ledger_digest(ledger_path) == before


def test_removing_an_address_not_suppressed_is_a_note_exit_0_and_writes_nothing(run, ledger_path):
    """'suppress remove' of an address never suppressed (or taken back already) exited 64, a
    usage error, though the command was used right and what it asked for holds: a script
    taking a list back failed on its second run. Now: exit 0, a note, the ledger as it was."""
    assert run("suppress", "add", "kept@example.com", "--reason", "asked").exit_code == 0
    assert run("suppress", "remove", "kept@example.com").exit_code == 0
    before = ledger_digest(ledger_path)
    for asked, address in [
        ("never@example.com", "never@example.com"),
        ("Kept <KEPT@example.com>", "kept@example.com"),
    ]:
        res = run("suppress", "remove", asked)
        said = f"{address} was not suppressed; nothing taken back.\n"
        assert (res.exit_code, res.stdout, res.stderr) == (0, said, "")
    assert ledger_digest(ledger_path) == before
    res = run("-q", "suppress", "remove", "never@example.com")
    assert (res.exit_code, res.output) == (0, "")


def test_remove_from_a_file_takes_the_list_back_in_one_go_and_again_is_a_count(
    run, tmp_path, ledger_url
):
    """'suppress remove' took one ADDRESS, while 'suppress add --from FILE' took a list and
    'suppress list --csv' wrote one: taking 300 back meant 300 commands. Now --from FILE, the
    same file 'add --from' reads (the CSV 'suppress list --csv' writes): those suppressed taken
    back, the others counted and said (exit 0: they may be mailed, as asked), on SQLite and
    PostgreSQL alike."""
    listed = tmp_path / "asked.txt"
    listed.write_text("ann@example.com\nbo@example.com\ncy@example.com\nkept@example.com\n")
    assert run("suppress", "add", "--from", str(listed), "--reason", "asked").exit_code == 0
    exported = run("suppress", "list", "--csv").stdout  # kept's row: one never suppressed
    back = tmp_path / "back.csv"
    back.write_text(
        exported.replace("kept@example.com", "never@example.com")
        + "ann@example.com,manual,asked,again\n"
    )
    res = run("suppress", "remove", "--from", str(back))
    assert (res.exit_code, res.stdout, res.stderr) == (
        0,
        "Took back 3 addresses (1 was not suppressed; 1 repeated).\n",
        "",
    )
    assert _suppressed(run) == ["kept@example.com"]
    res = run("suppress", "list", "bo@example.com")
    assert res.exit_code == 0 and "Taken back" in res.output and "asked." in res.output
    again = run("suppress", "remove", "--from", str(back))
    assert (again.exit_code, again.stdout) == (
        0,
        "Took back 0 addresses (4 were not suppressed; 1 repeated).\n",
    )
    assert _suppressed(run) == ["kept@example.com"]


def test_remove_from_a_file_with_a_bad_line_names_it_and_takes_nothing_back(
    run, tmp_path, ledger_path
):
    assert run("suppress", "add", "a@example.com", "b@example.com", "--reason", "x").exit_code == 0
    before = ledger_digest(ledger_path)
    listed = tmp_path / "list.txt"
    listed.write_text("a@example.com\nnot an address\nb@example.com\n")
    res = run("suppress", "remove", "--from", str(listed))
    assert res.exit_code == 65, res.output
    assert res.output == (
        f"Error: {listed}: line 2: malformed address 'not an address': expected name@domain.tld\n"
    )
    assert ledger_digest(ledger_path) == before
    res = run("suppress", "remove")
    assert res.exit_code == 64 and "give the addresses to take back, or --from FILE" in res.output


def test_remove_from_standard_input_in_a_real_process(ledger_path):
    """``crm-export | warmup suppress remove --from -``, as ``add --from -`` reads it."""
    assert _piped(ledger_path, input=b"email\nann@example.com\nbo@example.com\n").returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "warmup", "--db", str(ledger_path), "suppress", "remove"]
        + ["--from", "-"],
        input=b"Email\nbo@example.com\nzed@example.com\n",
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Took back 1 address (1 was not suppressed).\n"
    assert proc.stderr == b""
