"""``warmup suppress add --from FILE`` with a long list: the list is checked and staged before the
ledger's write lock is taken, then written in one short step, all or nothing. What it says and
keeps is what it said and kept when it wrote the list under the lock: repeats (any case),
international domains, addresses suppressed already (their kind and reason kept), an address
taken back by 'suppress remove' (suppressed again); on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

from tests.pgkit import ledger_url  # noqa: F401  (the fixture)

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


def test_an_address_at_an_international_domain_as_written_refuses_the_file(
    ledger_url,  # noqa: F811
    run,
    tmp_path,
):
    assert run("suppress", "add", "seed@example.com", "--reason", "x").exit_code == 0
    listed = tmp_path / "list.txt"
    listed.write_text("ok@example.com\na@Bücher.de\n", encoding="utf-8")
    res = run("suppress", "add", "--from", str(listed), "--reason", "x")
    assert (res.exit_code, res.output) == (
        65,
        f"Error: {listed}: line 2: address 'a@Bücher.de' has an international domain name; "
        f"warmup sends without SMTPUTF8: write it as a@xn--bcher-kva.de\n",
    )
    assert _listed(run) == [("seed@example.com", "manual", "x")]


def test_each_entry_keeps_the_first_of_an_address_and_leaves_out_one_taken_back_since(
    ledger_url,  # noqa: F811
):
    """The ledger's write of many entries (``suppress_each``): the first entry of an address
    given twice is kept (its reason, its mailbox), a removal at or after an entry's instant
    leaves it out, an older removal does not, and the count is of the new ones."""
    from warmup import open_ledger

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.suppress(["a@example.com", "b@example.com", "c@example.com"], "hard", "x", WHEN) == 3  # fmt: skip
        assert ledger.unsuppress("a@example.com", at=WHEN + dt.timedelta(days=2))
        assert ledger.unsuppress("b@example.com", at=WHEN + dt.timedelta(days=2))
        since = {
            "a@example.com": WHEN + dt.timedelta(days=2),  # removed at its instant: left out
            "b@example.com": WHEN + dt.timedelta(days=3),  # removed before it: suppressed
            "d@example.com": WHEN,  # never removed
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
