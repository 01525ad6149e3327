"""A suppression list exported and imported again: ``suppress list --csv`` writes what
``suppress add --from`` reads back (the table's header line was refused as "malformed address
'ADDRESS  KIND  REASON  SINCE'", and the JSON's first line '['), on both backends."""

from __future__ import annotations

import csv
import io

from tests.pgkit import ledger_url  # noqa: F401  (the fixture)


def test_suppress_list_csv_is_read_back_by_suppress_add_from(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
    monkeypatch,
):
    listed = ["a@example.com", "B <b@example.org>", "c+news@example.net"]
    assert run("suppress", "add", *listed, "--reason", "asked, twice: 退订").exit_code == 0
    res = run("suppress", "list", "--limit", "0", "--csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["address", "kind", "reason", "since"]
    assert [r[:3] for r in rows[1:]] == [
        [a, "manual", "asked, twice: 退订"]
        for a in ("a@example.com", "b@example.org", "c+news@example.net")
    ]
    export = tmp_path / "suppressed.csv"
    export.write_text(res.stdout, encoding="utf-8")
    # into an empty ledger: the same addresses, suppressed
    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "other.db"))
    res = run("suppress", "add", "--from", str(export), "--reason", "imported")
    assert (res.exit_code, res.stdout) == (0, "Suppressed 3 addresses.\n"), res.output
    again = list(csv.reader(io.StringIO(run("suppress", "list", "--csv").stdout)))
    assert [r[0] for r in again] == [r[0] for r in rows]
    # a cut listing says so on stderr, never in the CSV
    cut = run("suppress", "list", "--limit", "1", "--csv")
    assert cut.stdout.splitlines()[1:] == ["a@example.com,manual,imported," + again[1][3]]
    assert run("suppress", "list", "--csv", "--json").exit_code == 64


def test_suppress_list_csv_guards_formula_cells_and_reads_them_back(run, tmp_path, monkeypatch):
    """A cell a spreadsheet would run as a formula (an address or a reason starting with '=',
    '+', '-', '@') gets a leading apostrophe, as 'report --format csv' writes it (CSV
    injection: the reason is often a stranger's words); 'suppress add --from' takes the
    apostrophe off again, so the export still suppresses the same addresses."""
    formula = '=HYPERLINK("http://evil.example","x")'
    odd = ["=cmd@example.com", "-x@example.com", "+y@example.com", "a@example.com"]
    assert run("suppress", "add", "--reason", formula, "--", *odd).exit_code == 0
    res = run("suppress", "list", "--limit", "0", "--csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert [r[:3] for r in rows[1:]] == [
        [a, "manual", "'" + formula]
        for a in ("'+y@example.com", "'-x@example.com", "'=cmd@example.com", "a@example.com")
    ]
    export = tmp_path / "suppressed.csv"
    export.write_text(res.stdout, encoding="utf-8")
    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "other.db"))
    assert run("suppress", "add", "--from", str(export), "--reason", "imported").exit_code == 0
    again = list(csv.reader(io.StringIO(run("suppress", "list", "--csv").stdout)))
    assert [r[0] for r in again] == [r[0] for r in rows]


def test_an_export_holding_addresses_past_smtp_limits_reads_back(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
    monkeypatch,
):
    """A hard bounce recorded for a recipient with 65 characters before its '@' (as the log or
    the DSN named it; some servers take it), or a domain label no IDNA name, suppresses it as
    given; 'suppress list --csv' exports it, and 'suppress add --from' refused the whole export
    ("SMTP allows at most 64"), exit 65: no list could move to another ledger."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    long_one, odd = "x" * 65 + "@example.com", "y@xn--zz.example"
    for rcpt in (long_one, odd, "ok@example.com"):
        res = run("record", "bounce", box, "--to", rcpt, "--kind", "hard")
        assert res.exit_code == 0, res.output
    res = run("suppress", "list", "--limit", "0", "--csv")
    export = tmp_path / "suppressed.csv"
    export.write_text(res.stdout, encoding="utf-8")
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert sorted(r[0] for r in rows[1:]) == sorted([long_one, odd, "ok@example.com"])
    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "other.db"))
    res = run("suppress", "add", "--from", str(export), "--reason", "moved")
    assert (res.exit_code, res.stdout) == (0, "Suppressed 3 addresses.\n"), res.output
    again = list(csv.reader(io.StringIO(run("suppress", "list", "--csv").stdout)))
    assert [r[0] for r in again] == [r[0] for r in rows]
    # typed by hand, an address past the limits is still told (a typo, most often)
    res = run("suppress", "add", "z" * 65 + "@example.com", "--reason", "r")
    assert res.exit_code == 65 and "at most 64" in res.output
