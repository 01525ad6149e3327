"""``warmup suppress add --from FILE`` with a long list: the list is checked and staged before the
ledger's write lock is taken, then written in one short step, all or nothing. What it says and
keeps is what it said and kept when it wrote the list under the lock: repeats (any case),
international domains, addresses suppressed already (their kind and reason kept), an address
taken back by 'suppress remove' (suppressed again); on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator

import pytest

from tests.conftest import ledger_digest
from tests.peakrss import peak_mib
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)

WHEN = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def _listed(run) -> list[tuple[str, str, str | None]]:
    res = run("suppress", "list", "--limit", "0", "--json")
    assert res.exit_code == 0, res.output
    return [(r["address"], r["kind"], r["reason"]) for r in json.loads(res.stdout)]


def test_a_list_of_repeats_old_and_taken_back_addresses_says_and_keeps_what_it_did(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
):
    from warmup import open_ledger

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.suppress(["hard@example.com"], "hard", "550 5.1.1 user unknown", WHEN) == 1
    finally:
        ledger.close()
    assert run("suppress", "add", "old@example.com", "back@example.com", "--reason", "earlier").exit_code == 0  # fmt: skip
    assert run("suppress", "remove", "back@example.com").exit_code == 0
    listed = tmp_path / "unsubscribed.txt"
    listed.write_text(
        "# from the CRM\n"
        "New@Example.com\n"
        "new@example.com\n"  # a repeat, in another case
        "old@example.com\n"  # suppressed already
        "OLD@example.com\n"  # and repeated
        "back@example.com\n"  # taken back: suppressed again
        "a@xn--bcher-kva.de\n"  # an international domain, as SMTP carries it
        "A@XN--BCHER-KVA.DE\n"
        "Hard <hard@example.com>\n"  # suppressed by a bounce: its kind and reason stay
        "c+news@example.org\n",
        encoding="utf-8",
    )
    res = run(
        "suppress", "add", "arg@example.com", "NEW@example.com", "--from", str(listed),
        "--reason", "unsubscribed",
    )  # fmt: skip
    assert (res.exit_code, res.output) == (
        0,
        "Suppressed 5 addresses (2 already were; 4 repeated).\n",
    )
    assert _listed(run) == [
        ("a@xn--bcher-kva.de", "manual", "unsubscribed"),
        ("arg@example.com", "manual", "unsubscribed"),
        ("back@example.com", "manual", "unsubscribed"),
        ("c+news@example.org", "manual", "unsubscribed"),
        ("hard@example.com", "hard", "550 5.1.1 user unknown"),
        ("new@example.com", "manual", "unsubscribed"),
        ("old@example.com", "manual", "earlier"),
    ]
    res = run("suppress", "list", "back@example.com")
    assert res.exit_code == 0 and res.stdout.startswith("ADDRESS"), res.output
    # the same list again: every address there already, each repeat still counted
    res = run("suppress", "add", "--from", str(listed), "--reason", "again")
    assert (res.exit_code, res.output) == (
        0,
        "Suppressed 0 addresses (6 already were; 3 repeated).\n",
    )
    res = run("suppress", "add", "--from", str(listed), "new2@example.com", "--reason", "x")
    assert (res.exit_code, res.output) == (
        0,
        "Suppressed 1 address (6 already were; 3 repeated).\n",
    )


_LEADS = "".join(f"lead{i}@example.com\n" for i in range(25_000))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "ok@example.com\na@Bücher.de\n",
            "line 2: address 'a@Bücher.de' has an international domain name; warmup sends "
            "without SMTPUTF8: write it as a@xn--bcher-kva.de",
        ),
        # staged 10,000 entries at a time (on PostgreSQL each batch a COPY, committed to the
        # TEMP table): a bad line below two batches
        (
            f"{_LEADS}*@example.com\nlast@example.com\n",
            "line 25001: '*@example.com' looks like a pattern: warmup suppresses exact "
            "addresses, not wildcards or domains; list each address to suppress",
        ),
    ],
    ids=["international-domain", "below-two-staged-batches"],
)
def test_a_bad_line_refuses_the_file_and_nothing_staged_is_kept(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
    text,
    said,
):
    assert run("suppress", "add", "seed@example.com", "--reason", "x").exit_code == 0
    listed = tmp_path / "list.txt"
    listed.write_text(text, encoding="utf-8")
    res = run("suppress", "add", "--from", str(listed), "--reason", "x")
    assert (res.exit_code, res.output) == (65, f"Error: {listed}: {said}\n")
    assert _listed(run) == [("seed@example.com", "manual", "x")]


def test_each_entry_keeps_the_first_of_an_address_and_leaves_out_one_taken_back_since(
    ledger_url,  # noqa: F811
):
    """The ledger's write of many entries (``suppress_each``): the first entry of an address
    given twice is kept (its reason, its mailbox), a removal made once its entry's send was
    recorded leaves it out (whatever the instants say), an older removal does not, and the
    count is of the new ones."""
    from warmup import api, open_ledger

    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, "sales@corp.example", "exmail")

        def send_id(rcpt: str, when: dt.datetime) -> int:
            api.record_send(ledger, "sales@corp.example", [rcpt], when)
            box = ledger.mailbox("sales@corp.example").id
            return ledger.first_send_ids([(box, rcpt, when)])[(box, rcpt, when)]

        assert ledger.suppress(["a@example.com", "b@example.com", "c@example.com"], "hard", "x", WHEN) == 3  # fmt: skip
        a_sent = send_id("a@example.com", WHEN + dt.timedelta(days=3))
        assert ledger.unsuppress("a@example.com", at=WHEN + dt.timedelta(days=2))
        assert ledger.unsuppress("b@example.com", at=WHEN + dt.timedelta(days=2))
        since = {
            "a@example.com": a_sent,  # recorded before its removal (dated after): left out
            "b@example.com": send_id("b@example.com", WHEN + dt.timedelta(days=1)),  # after it
            "d@example.com": send_id("d@example.com", WHEN),  # never removed
        }
        added = ledger.suppress_each(
            [
                ("a@example.com", "streak a", None),
                ("b@example.com", "streak b", None),
                ("c@example.com", "streak c", None),  # suppressed already
                ("d@example.com", "first d", None),
                ("d@example.com", "second d", None),
            ],
            "soft",
            WHEN + dt.timedelta(days=4),
            unless_taken_back=since,
        )
        assert added == 2
        rows = {r["address"]: (r["kind"], r["reason"]) for r in ledger.suppressions()}
        assert rows == {
            "b@example.com": ("soft", "streak b"),
            "c@example.com": ("hard", "x"),
            "d@example.com": ("soft", "first d"),
        }
        assert ledger.suppress_each([], "soft", WHEN) == 0
    finally:
        ledger.close()


def test_a_reason_the_client_encoding_cannot_carry_is_one_line_and_keeps_nothing(
    pg_url,  # noqa: F811
    run,
    tmp_path,
    monkeypatch,
):
    """A LATIN1 session and a Chinese reason: the staging's COPY fails as psycopg encodes its
    first row; said as the data error it is (65, one line), not as the COPY the failure
    cancelled (57014, "a statement timed out": 75), nothing kept, and the next list goes in."""
    url = pg_url.replace("options=", "options=-cclient_encoding%3DLATIN1%20")
    monkeypatch.setenv("WARMUP_DB", url)
    assert run("suppress", "add", "seed@example.com", "--reason", "x").exit_code == 0
    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"lead{i}@example.com\n" for i in range(12_000)), encoding="utf-8")
    res = run("suppress", "add", "--from", str(listed), "--reason", "退订")
    assert res.exit_code == 65, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output, res.output
    assert "'退订' has no form in the connection's client encoding (latin-1)" in res.output
    assert _listed(run) == [("seed@example.com", "manual", "x")]
    res = run("suppress", "add", "--from", str(listed), "--reason", "désabonné")
    assert (res.exit_code, res.output) == (0, "Suppressed 12000 addresses.\n")
    assert ("lead0@example.com", "manual", "désabonné") in _listed(run)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        # bytes that are no UTF-8 below a bad address: said first, as when the file was
        # decoded whole before any line was read
        (b"bad\nok@example.com\ncaf\xe9@example.com\n", "line 3: not UTF-8 text"),
        # a quote never closed below a bad address: said first, as when every row was parsed
        # before any address was checked
        (
            b'Email,Note\nbad,x\nann@example.com,"open\nrest@example.com,y\n',
            "line 3: a quote opened in this row is never closed",
        ),
        # a cell over the csv module's limit (131,072 characters) was a traceback
        (
            b'Email,Note\nann@example.com,"' + b"x" * 140_000 + b'"\nbo@example.com,x\n',
            "line 2: field larger than field limit (131072); close the quote that line opens, "
            "or shorten the cell",
        ),
    ],
    ids=["not-utf8-below-a-bad-line", "unclosed-quote-below-a-bad-line", "cell-over-the-limit"],
)
def test_what_refuses_a_file_is_said_in_the_order_a_whole_read_said_it(
    run, tmp_path, ledger_path, content, said
):
    assert run("suppress", "add", "seed@example.com", "--reason", "x").exit_code == 0
    before = ledger_digest(ledger_path)
    listed = tmp_path / "list.csv"
    listed.write_bytes(content)
    res = run("suppress", "add", "--from", str(listed), "--reason", "x")
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {listed}: {said}"), res.output
    assert res.output.count("\n") == 1
    assert ledger_digest(ledger_path) == before


@contextlib.contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement any engine runs within the block, and "COMMIT" at each commit."""
    import sqlalchemy as sa

    events: list[str] = []

    def statement(conn, cursor, sql, *_args) -> None:
        events.append(sql)

    def commit(conn) -> None:
        events.append("COMMIT")

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    sa.event.listen(sa.engine.Engine, "commit", commit)
    try:
        yield events
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", statement)
        sa.event.remove(sa.engine.Engine, "commit", commit)


@pytest.mark.parametrize("lines", [5_000, 25_000])  # one batch staged; several
def test_the_write_lock_is_held_for_one_statement_whatever_the_lists_length(run, tmp_path, lines):
    """Written under the write lock, 2,000 addresses a statement, a list of four million held
    it ~58 s: a send meanwhile waited, past the busy timeout (30 s) failed, exit 75. The list is
    staged first (a TEMP table takes no lock on the ledger), then written by one statement."""

    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"lead{i}@example.com\n" for i in range(lines)), encoding="utf-8")
    with _statements() as events:
        res = run("suppress", "add", "--from", str(listed), "--reason", "x")
    assert (res.exit_code, res.stdout) == (0, f"Suppressed {lines} addresses.\n"), res.output
    locked = [n for n, e in enumerate(events) if e == "BEGIN IMMEDIATE"]
    held = [[s.strip() for s in events[n + 1 : events.index("COMMIT", n)]] for n in locked]
    writes = [h for h in held if any(s.startswith("INSERT INTO suppression ") for s in h)]
    assert len(writes) == 1, held
    insert, *rest = writes[0]
    assert insert.startswith("INSERT INTO suppression ") and "SELECT" in insert, insert
    assert rest in ([], ["DROP TABLE suppression_stage"]), rest  # a small stage: dropped


def test_remove_from_a_long_list_streams_it_in_bounded_memory(ledger_path, tmp_path):
    """'suppress remove --from FILE' held the whole list (the addresses, a list of them, a set,
    a dict: 300,000 took ~45 MiB more than 3,000 did, and four million ~600 MiB), while 'add
    --from' staged it as it read it. Now it is staged the same way: its peak is within a few
    MiB of a short list's, whatever the length."""
    many = 300_000
    listed = tmp_path / "many.txt"
    listed.write_text("".join(f"lead{i}@example.com\n" for i in range(many)), encoding="utf-8")
    short = tmp_path / "short.txt"
    short.write_text("".join(f"lead{i}@example.com\n" for i in range(3_000)), encoding="utf-8")
    said, _ = peak_mib("suppress", "add", "--from", str(listed), "--reason", "x", timeout=300)
    assert said == f"Suppressed {many} addresses.\n"
    said, base = peak_mib("suppress", "remove", "--from", str(short), timeout=300)
    assert said == "Took back 3000 addresses.\n"
    said, peak = peak_mib("suppress", "remove", "--from", str(listed), timeout=300)
    assert said == f"Took back {many - 3_000} addresses (3000 were not suppressed).\n"
    assert peak - base < 20, f"peak RSS {peak:.0f} MiB vs {base:.0f} MiB for 3,000 lines"


@pytest.mark.parametrize("lines", [5_000, 25_000])  # one batch staged; several
def test_remove_holds_the_write_lock_for_two_statements_whatever_the_lists_length(
    run, tmp_path, lines
):
    """'suppress remove --from' deleted 500 addresses a statement under the write lock, the
    list read whole first; staged as 'add --from' stages it, the lock is held for two
    statements: the removals remembered, the suppressions deleted."""

    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"lead{i}@example.com\n" for i in range(lines)), encoding="utf-8")
    assert run("suppress", "add", "--from", str(listed), "--reason", "x").exit_code == 0
    with _statements() as events:
        res = run("suppress", "remove", "--from", str(listed), "kept@example.com")
    assert (res.exit_code, res.stdout) == (
        0,
        f"Took back {lines} addresses (1 was not suppressed).\n",
    ), res.output
    assert any(e.strip().startswith("CREATE TEMPORARY TABLE suppression_stage") for e in events)
    locked = [n for n, e in enumerate(events) if e == "BEGIN IMMEDIATE"]
    held = [[s.strip() for s in events[n + 1 : events.index("COMMIT", n)]] for n in locked]
    writes = [h for h in held if any(s.startswith("DELETE FROM suppression ") for s in h)]
    assert len(writes) == 1, held
    statements = [s.split()[:3] for s in writes[0] if not s.startswith("SELECT")]
    assert statements[:2] == [
        ["INSERT", "INTO", "suppression_removal"],
        ["DELETE", "FROM", "suppression"],
    ], writes[0]
    assert statements[2:] in ([], [["DROP", "TABLE", "suppression_stage"]]), writes[0]
    assert run("suppress", "list", "--limit", "0", "--json").stdout == "[]\n"


def test_a_list_taken_back_remembers_each_suppression_it_ended(
    ledger_url,  # noqa: F811
):
    """Each address taken back from a list is remembered as a lone one is: its kind, reason,
    mailbox and when it was suppressed, the ledger's highest send id; an address given twice
    (or not suppressed) once (or not at all); on SQLite and PostgreSQL."""
    import sqlalchemy as sa

    from warmup import api, open_ledger
    from warmup.ledger.schema import SUPPRESSION_REMOVAL

    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, "sales@corp.example", "exmail")
        api.record_send(ledger, "sales@corp.example", ["a@example.com"], WHEN)
        box = ledger.mailbox("sales@corp.example").id
        assert ledger.suppress_each([("a@example.com", "550 unknown", box)], "hard", WHEN) == 1
        later = WHEN + dt.timedelta(hours=1)
        assert ledger.suppress(["b@example.com"], "manual", "asked", later) == 1
        took = ledger.unsuppress_many(
            iter(["b@example.com", "a@example.com", "b@example.com", "c@example.com"]),
            at=WHEN + dt.timedelta(days=1),
        )
        assert tuple(took) == (4, 3, 2)
        assert ledger.suppressions() == []
        with ledger.read() as conn:
            rows = conn.execute(
                sa.select(
                    SUPPRESSION_REMOVAL.c.address,
                    SUPPRESSION_REMOVAL.c.kind,
                    SUPPRESSION_REMOVAL.c.reason,
                    SUPPRESSION_REMOVAL.c.mailbox_id,
                    SUPPRESSION_REMOVAL.c.suppressed_at,
                    SUPPRESSION_REMOVAL.c.removed_at,
                    SUPPRESSION_REMOVAL.c.last_send_id,
                ).order_by(SUPPRESSION_REMOVAL.c.address)
            ).all()
        sent = ledger.first_send_ids([(box, "a@example.com", WHEN)])[(box, "a@example.com", WHEN)]
        removed = WHEN + dt.timedelta(days=1)
        assert [tuple(r) for r in rows] == [
            ("a@example.com", "hard", "550 unknown", box, WHEN, removed, sent),
            ("b@example.com", "manual", "asked", None, later, removed, sent),
        ]
        assert ledger.last_removal("b@example.com") == {
            "kind": "manual",
            "reason": "asked",
            "removed_at": removed,
        }
        assert tuple(ledger.unsuppress_many(iter([]))) == (0, 0, 0)
    finally:
        ledger.close()
