"""A CSV of leads with bad rows, no rows or a blank subject (queue add, import): every bad row
named in one run, nothing queued. Each test fails on the code before its fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.gatekit import cli

BOX = "a@corp.example"


def _box() -> None:
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0


def _template(tmp_path: Path) -> Path:
    path = tmp_path / "t.toml"
    path.write_text('subject = "Hi {{ name }}"\ntext = "Hello"\n')
    return path


def _refused(csv: Path, tpl: Path, wrong: int) -> list[str]:
    """``queue add`` of ``csv`` through ``tpl``, refused whole (65) for ``wrong`` rows: the lines
    of stderr, its first checked."""
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65, res.stderr
    out = res.stderr.splitlines()
    assert out[0] == (
        f"Error: {csv}: {wrong} rows are wrong; nothing of the file was queued. Fix them and "
        f"queue it again:"
    ), out
    return out


def _queued(ledger_path: Path) -> int:
    with sqlite3.connect(ledger_path) as con:
        return int(con.execute("SELECT count(*) FROM outbox").fetchone()[0])


def test_every_bad_row_is_named_in_one_run(tmp_path: Path, ledger_path: Path) -> None:
    """Only the first bad row was named: a file with N bad rows took N runs (~23 s each on
    100,000 rows). Now the first 20, then how many more, and still nothing queued."""
    _box()
    lines = ["email,name"]
    for i in range(60):
        if i in (3, 4):
            lines.append(f"bad{i},x")  # a malformed address
        elif i == 10:
            lines.append(f"short{i}@example.com")  # a cell missing
        elif i >= 30:
            lines.append(f"x{i}@,y")  # 30 more malformed addresses
        else:
            lines.append(f"ok{i}@example.com,n{i}")
    csv = tmp_path / "leads.csv"
    csv.write_text("\n".join(lines) + "\n")
    tpl = _template(tmp_path)
    out = _refused(csv, tpl, 33)
    assert out[1] == f"  {csv}: line 5: malformed recipient 'bad3': expected name@domain.tld"
    assert out[2] == f"  {csv}: line 6: malformed recipient 'bad4': expected name@domain.tld"
    assert out[3].startswith(f"  {csv}: line 12: fewer cells than the header has (no name)")
    assert out[4] == f"  {csv}: line 32: malformed recipient 'x30@': expected name@domain.tld"
    assert len(out) == 1 + 20 + 1 and out[-1] == "  and 13 more rows"
    assert "nothing of the file was queued)" not in "\n".join(out)  # said once, at the top
    assert _queued(ledger_path) == 0


def test_one_bad_row_is_still_one_line(tmp_path: Path, ledger_path: Path) -> None:
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,name\nok@example.com,A\nbad,B\n")
    tpl = _template(tmp_path)
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65
    assert (
        res.stderr == f"Error: {csv}: line 3: malformed recipient 'bad': expected name@domain.tld\n"
    )
    assert _queued(ledger_path) == 0


def test_a_csv_of_a_header_alone_is_refused(tmp_path: Path, ledger_path: Path) -> None:
    """'Queued 0 messages', exit 0: the wrong file (or an export cut short) looked done."""
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,name\n\n")
    tpl = _template(tmp_path)
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: {csv}: no rows below its header; nothing to queue (one recipient a row)\n"
    )


def test_an_import_of_a_header_alone_is_refused(tmp_path: Path) -> None:
    """As 'suppress add --from' refuses a file with no addresses: not 'Imported 0', exit 0."""
    log = tmp_path / "sent.csv"
    log.write_text("mailbox,recipient,sent_at\n")
    res = cli("import", str(log))
    assert res.returncode == 65, res.stderr
    assert res.stderr.endswith(
        f"Error: {log}: no rows below its header; nothing to import (the rows follow the "
        f"header, one send a line)\n"
    )
    (tmp_path / "h.csv").write_text("email\n")
    res = cli("suppress", "add", "--from", str(tmp_path / "h.csv"), "--reason", "x")
    assert res.returncode == 65 and "no addresses in it" in res.stderr


def test_a_blank_subject_is_refused_naming_the_row(tmp_path: Path, ledger_path: Path) -> None:
    """A subject of one field, empty in a row, was queued with an empty Subject."""
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,company\na@example.com,Acme\nb@example.com, \n")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "{{ company }}"\ntext = "Hello"\n')
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: {csv}: line 3: the subject is empty (template {tpl} renders it blank for this "
        f"row); fill the row's fields or fix the template (nothing of the file was queued)\n"
    )
    assert _queued(ledger_path) == 0


def test_a_blank_text_or_html_part_is_refused_naming_the_row(
    tmp_path: Path, ledger_path: Path
) -> None:
    """A text or HTML part of one field, empty in a row, was queued as a message with nothing
    in it (a mail client shows the HTML part when there is one), while a blank subject was
    refused: both parts are refused alike, naming the row, nothing of the file queued."""
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,note,page\na@example.com,Hi,<p>Hi</p>\nb@example.com, ,<p>Hi</p>\n")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "Offer"\ntext = "{{ note }}"\n')
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: {csv}: line 3: the text is empty (template {tpl} renders it blank for this "
        f"row); fill the row's fields or fix the template (nothing of the file was queued)\n"
    )
    csv.write_text("email,note,page\na@example.com,Hi,<p>Hi</p>\nb@example.com,Hi,\n")
    tpl.write_text('subject = "Offer"\ntext = "{{ note }}"\nhtml = "{{ page }}"\n')
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: {csv}: line 3: the HTML part is empty (template {tpl} renders it blank for "
        f"this row); fill the row's fields or fix the template (nothing of the file was "
        f"queued)\n"
    )
    assert _queued(ledger_path) == 0


def test_two_exports_joined_are_queued_as_one(tmp_path: Path, ledger_path: Path) -> None:
    """'cat october.csv november.csv', each saved by Excel with its BOM, as 'import' reads it:
    the second header was a row, "malformed recipient '\\ufeffemail'", exit 65, nothing
    queued. A line repeating the header is skipped."""
    _box()
    one = "\ufeffemail,name\r\na@example.com,Ann\r\n".encode()
    csv = tmp_path / "leads.csv"
    csv.write_bytes(one + one.replace(b"a@", b"b@").replace(b"Ann", b"Bo"))
    res = cli(
        "queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(_template(tmp_path))
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"Queued 2 messages to mailbox {BOX}.\n"
    assert _queued(ledger_path) == 2


def test_a_column_the_template_lacks_is_said_once(tmp_path: Path, ledger_path: Path) -> None:
    """Every row lacks it alike: one line, not twenty the same."""
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,name\na@example.com,A\nb@example.com,B\n")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "For {{ company }}"\ntext = "Hello"\n')
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65
    assert res.stderr.startswith(f"Error: {csv}: line 2: 'company' is undefined")
    assert len(res.stderr.splitlines()) == 1


def test_every_bad_eml_is_named_in_one_run(tmp_path: Path, ledger_path: Path) -> None:
    """'queue add --eml' stopped at the first bad file (too big, a NUL, no recipient): N bad
    files took N runs. Now each is named, one line each, and still nothing queued."""
    _box()
    ok = tmp_path / "ok.eml"
    ok.write_bytes(b"To: a@example.com\r\nSubject: s\r\n\r\nhi\r\n")
    big = tmp_path / "big.eml"
    with big.open("wb") as f:
        f.truncate(26 * 1024 * 1024)  # over the 25 MiB providers take
    nul = tmp_path / "nul.eml"
    nul.write_bytes(b"To: b@example.com\r\nSubject: s\r\n\r\nhi\x00there\r\n")
    nobody = tmp_path / "nobody.eml"
    nobody.write_bytes(b"Subject: s\r\n\r\nhi\r\n")
    files = [ok, big, nul, nobody]
    res = cli("queue", "add", "--mailbox", BOX, *(a for p in files for a in ("--eml", str(p))))
    assert res.returncode == 65, res.stderr
    out = res.stderr.splitlines()
    assert out[0] == (
        "Error: 3 messages are wrong; nothing was queued. Fix them and queue them again:"
    ), out
    assert [line.split(": ")[0] for line in out[1:]] == [f"  {big}", f"  {nul}", f"  {nobody}"]
    assert "25 MiB" in out[1] or "26,214,400" in out[1] or "MiB" in out[1], out[1]
    assert "NUL" in out[2], out[2]
    assert "Traceback" not in res.stderr
    assert _queued(ledger_path) == 0


def test_rows_too_big_once_encoded_are_all_named_in_one_run(
    tmp_path: Path, ledger_path: Path
) -> None:
    """Two rows whose text fits the limit as characters but not once encoded (base64 of
    UTF-8): the first one stopped the run, the second found only by the next. Both named,
    after the row errors the reading finds, nothing queued."""
    _box()
    wide = "é" * 125_000  # 80 times: 10 M characters, 20 MB of UTF-8, ~26 MiB of base64
    csv = tmp_path / "leads.csv"
    csv.write_text(
        f"email,name,body\nok@example.com,A,hi\nbig1@example.com,B,{wide}\nbad,C,x\n"
        f"big2@example.com,D,{wide}\n",
        encoding="utf-8",
    )
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "Hi {{ name }}"\ntext = "{{ body * 80 }}"\n')
    out = _refused(csv, tpl, 3)
    assert sorted(line.split(": ")[1] for line in out[1:]) == ["line 3", "line 4", "line 5"]
    assert _queued(ledger_path) == 0


def test_rows_all_wrong_the_same_way_are_one_line(tmp_path: Path, ledger_path: Path) -> None:
    """A template at fault for every row (an attribute it may not read, a subject that is
    always blank) was the same line 20 times, then "and 280 more rows": the one mistake said
    once now, with the first row it was found on. Rows wrong in several ways are still each
    named (above)."""
    _box()
    csv = tmp_path / "leads.csv"
    csv.write_text("email,name\n" + "".join(f"r{i}@example.com,n\n" for i in range(300)))
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "{{ \'\'.__class__ }}"\ntext = "Hello"\n')
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert (res.returncode, res.stderr) == (
        65,
        f"Error: {csv}: 300 rows are wrong, each the same way (lines 2-21 and 280 more): "
        f"template {tpl}: access to attribute '__class__' of 'str' object is unsafe; nothing "
        f"of the file was queued\n",
    )
    assert _queued(ledger_path) == 0
    csv.write_text("email,name\na@example.com,A\nb@example.com\nc@example.com,C\nd@example.com\n")
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.returncode == 65 and len(res.stderr.splitlines()) == 5, res.stderr  # two ways
    tpl.write_text('subject = "Hi {{ name }}"\ntext = "Hello"\n')  # two rows short alike
    res = cli("queue", "add", "--mailbox", BOX, "--csv", str(csv), "--template", str(tpl))
    assert res.stderr == (
        f"Error: {csv}: 2 rows are wrong, each the same way (lines 3, 5): fewer cells than the "
        f"header has (no name); an empty field is an empty cell: add the commas; nothing of "
        f"the file was queued\n"
    )


def test_a_row_wrong_another_way_past_the_first_twenty_is_named(
    tmp_path: Path, ledger_path: Path
) -> None:
    """30 rows with a blank subject and one with a bad address after them: the 20 named said
    the subject, then "and 11 more rows", and the bad address was seen only once the subjects
    were filled, in a second run. A row wrong a way none named is, is named too."""
    _box()
    csv = tmp_path / "leads.csv"
    rows = "".join(f"r{i}@example.com,\n" for i in range(30))
    csv.write_text(f"email,name\n{rows}bad@@example.com,x\nr99@,\n")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "{{ name }}"\ntext = "Hello"\n')
    out = _refused(csv, tpl, 32)
    assert all("the subject is empty" in line for line in out[1:21]), out
    assert out[21:] == [
        f"  {csv}: line 32: malformed recipient 'bad@@example.com': expected name@domain.tld",
        "  and 11 more rows",  # line 33's address: wrong as line 32's is, not named again
    ], out
    assert _queued(ledger_path) == 0
