"""``warmup db copy`` against a target someone else writes to, and a target that is the source
under another name.

The copy checked that its target was empty in one transaction and wrote in another: a host (or a
second copy) that wrote the target in between made the copy die of a duplicate id with a
traceback (PostgreSQL), or had its rows deleted by a copy that was never given --force (SQLite).
And the check that the target is not the source compared URLs, so a relative sqlite:/// URL or a
hard link to the source "copied" the ledger onto itself. A copy refused after creating its
target left that new, empty ledger behind.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

from tests import forkcli
from tests.pgkit import PgSchema, waiting_for_lock
from warmup import api
from warmup.ledger import open_ledger

BOX = "sales@corp.example"
OTHER = "other@corp.example"


def test_a_copy_into_a_postgresql_ledger_written_meanwhile_is_refused_in_one_line(tmp_path):
    """A host adds a mailbox to the (empty) target while the copy starts: the copy waits for it,
    then sees the target is no longer empty and refuses (78), the host's row kept; it used to
    find it empty, collide on mailbox id 1 and die with a traceback (exit 1)."""
    src = tmp_path / "a.db"
    source = open_ledger(str(src))
    api.add_mailbox(source, BOX, "exmail")
    source.close()
    schema = PgSchema("cpy")
    target = open_ledger(schema.url)
    env = {
        **os.environ,
        "WARMUP_DB": str(src),
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "PGAPPNAME": "copier",
    }
    try:
        with target.write() as conn:
            target.add_mailbox(OTHER, "exmail", "Asia/Shanghai", "exmail", conn=conn)
            copier = subprocess.Popen(
                [*forkcli.WARMUP, "db", "copy", "--to", schema.url, "--quiet"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not waiting_for_lock(
                schema.url, "copier"
            ):  # the copy waits for this host: commit
                assert copier.poll() is None, copier.communicate()
        out, err = copier.communicate(timeout=60)
        assert (copier.returncode, out) == (78, ""), err
        assert err.endswith(
            "is not empty (1 mailbox); copy into an empty one, or add --force to replace its "
            "contents\n"
        ), err
        assert "Traceback" not in err and len(err.splitlines()) == 1, err
        assert [m.address for m in target.mailboxes()] == [OTHER]
    finally:
        target.close()
        schema.drop()


def test_a_copy_onto_the_source_under_another_name_is_refused(run, tmp_path, monkeypatch):
    """A relative sqlite:/// URL, a symlink or a hard link to the source is the source: refused
    (78) like its own path, the ledger untouched; the URL comparison let the relative URL and
    the hard link through ("Copied ... verified", the ledger deleted and rewritten in place).
    Refused once opened, the hard link had a WAL of its own started beside the source's, and
    an empty 'hard.db-wal' was left behind: now refused before it is opened, nothing made."""
    src = tmp_path / "a.db"
    source = open_ledger(str(src))
    api.add_mailbox(source, BOX, "exmail")
    source.close()
    (tmp_path / "sym.db").symlink_to(src)
    os.link(src, tmp_path / "hard.db")
    monkeypatch.chdir(tmp_path)
    for to in ("sqlite:///a.db", "./a.db", str(tmp_path / "sym.db"), str(tmp_path / "hard.db")):
        for force in (["--force"], []):
            res = run("--db", str(src), "db", "copy", "--to", to, *force)
            assert res.exit_code == 78, (to, res.output)
            said = "Error: --to names the ledger being copied; give another ledger URL\n"
            assert res.output == said
            assert sorted(p.name for p in tmp_path.glob("*.db*")) == ["a.db", "hard.db", "sym.db"]
    ledger = open_ledger(str(src))
    try:
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()


def test_a_copy_onto_the_same_postgresql_schema_under_another_host_name_is_refused(run, pg_url):
    """localhost for 127.0.0.1 is the same server, database and schema: the URLs differ, so the
    copy went ahead and, with --force, deleted the very rows it was copying."""
    source = open_ledger(pg_url)
    api.add_mailbox(source, BOX, "exmail")
    source.close()
    alias = pg_url.replace("@127.0.0.1:", "@localhost:", 1)
    assert alias != pg_url, pg_url
    res = run("--db", pg_url, "db", "copy", "--to", alias, "--force")
    assert (res.exit_code, res.output) == (
        78,
        "Error: --to names the ledger being copied; give another ledger URL\n",
    )
    ledger = open_ledger(pg_url)
    try:
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()
    other = PgSchema()  # another schema of the same database is another ledger
    try:
        res = run("--db", pg_url, "db", "copy", "--to", other.url)
        assert res.exit_code == 0, res.output
    finally:
        other.drop()


def test_a_copy_onto_the_same_schema_reached_through_a_longer_search_path_is_refused(run, pg_url):
    """``search_path=empty,ledger``: the first schema holds no table, so every statement reads
    and writes the ledger's, as the migrations' lock knows; the check compared
    ``current_schema()`` (the empty one), took it for another ledger, and ``db copy --to`` it
    said "not empty; add --force", then with --force deleted and wrote again the very rows it
    was copying ("Copied ... verified"), where README promises a refusal even with --force."""
    from tests.pgkit import PgSchema, with_schema

    source = open_ledger(pg_url)
    api.add_mailbox(source, BOX, "exmail")
    source.close()
    empty = PgSchema()
    try:
        ledger_schema = pg_url.rsplit("search_path%3D", 1)[1]
        alias = with_schema(empty.server, f"{empty.name},{ledger_schema}")
        alias = alias.replace(empty.server, pg_url.split("?", 1)[0], 1)
        for force in ((), ("--force",)):
            res = run("--db", pg_url, "db", "copy", "--to", alias, *force)
            assert (res.exit_code, res.output) == (
                78,
                "Error: --to names the ledger being copied; give another ledger URL\n",
            )
    finally:
        empty.drop()
    ledger = open_ledger(pg_url)
    try:
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()


def test_a_refused_copy_leaves_no_new_target_behind(run, tmp_path):
    """A copy refused after it created its target (the source has a table this warmup does not
    know) said "Created a new ledger at ..." and left that empty ledger, and the folder made for
    it, behind: a later copy to it then went into a ledger the user never meant to make."""
    src = tmp_path / "a.db"
    source = open_ledger(str(src))
    api.add_mailbox(source, BOX, "exmail")
    source.close()
    with sqlite3.connect(src) as con:  # what a later warmup's migration could add
        con.execute("CREATE TABLE zz_later (id INTEGER PRIMARY KEY)")
    con.close()
    target = tmp_path / "new" / "t.db"
    res = run("--db", str(src), "db", "copy", "--to", str(target))
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: ledger {src} has table(s) zz_later that 'warmup db copy' does not know; "
        f"upgrade warmup\n"
    )
    assert not (tmp_path / "new").exists(), list((tmp_path / "new").iterdir())


def test_a_copy_to_a_ledger_of_a_newer_warmup_names_that_ledger(run, tmp_path):
    """The refusal of a ledger a newer warmup upgraded said "this ledger": in a copy, two
    ledgers are in play, and the user went to upgrade (or inspect) the wrong one."""
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    for path in (src, dst):
        ledger = open_ledger(str(path))
        api.add_mailbox(ledger, BOX, "exmail")
        ledger.close()
    with sqlite3.connect(dst) as con:
        con.execute(
            "INSERT INTO warmup_migrations (name, applied_at) VALUES ('m099_future', ?)",
            ("2027-01-01 00:00:00",),
        )
    con.close()
    before = dst.read_bytes()
    res = run("--db", str(src), "db", "copy", "--to", str(dst), "--force")
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: ledger {dst} was upgraded by a newer warmup (migration m099_future, which "
        f"this version does not know); upgrade warmup to use it\n"
    )
    assert dst.read_bytes() == before


def test_a_hard_link_of_another_ledger_is_an_existing_target(run, tmp_path):
    """``--to`` a hard link of another ledger: opened under that second name, it got a WAL and
    an index of its own beside the other name's, which whoever uses the ledger by its other
    name never reads. Empty, it was written through that name without a word (exit 0); holding
    rows, refused, its '-wal' and '-shm' left behind while the ledger was in use. Now it
    counts as a target that holds rows, told before it is opened: refused (78, one line,
    nothing made, the ledger as it was) unless --force, which replaces its contents as for
    any target."""
    src, empty, used = tmp_path / "a.db", tmp_path / "empty.db", tmp_path / "used.db"
    for path, box in ((src, BOX), (used, OTHER)):
        ledger = open_ledger(str(path))
        api.add_mailbox(ledger, box, "exmail")
        ledger.close()
    assert run("--db", str(empty), "db", "migrate").exit_code == 0
    os.link(empty, tmp_path / "empty-link.db")
    os.link(used, tmp_path / "used-link.db")
    in_use = sqlite3.connect(used)  # a worker, say, on the ledger under its own name
    try:
        assert in_use.execute("SELECT address FROM mailbox").fetchall() == [(OTHER,)]
        files = sorted(p.name for p in tmp_path.iterdir())
        for name in ("empty-link.db", "used-link.db"):
            before = (tmp_path / name).read_bytes()
            res = run("--db", str(src), "db", "copy", "--to", str(tmp_path / name))
            assert (res.exit_code, res.output) == (
                78,
                f"Error: ledger {tmp_path / name} is one file under 2 names (hard links), "
                f"another ledger perhaps: it is not opened under a second name to see whether "
                f"it is empty; copy into a new file, or add --force to replace its contents\n",
            )
            assert (tmp_path / name).read_bytes() == before
            assert sorted(p.name for p in tmp_path.iterdir()) == files
    finally:
        in_use.close()
    res = run("--db", str(src), "db", "copy", "--to", str(tmp_path / "empty-link.db"), "--force")
    assert res.exit_code == 0, res.output
    ledger = open_ledger(str(empty))  # by its other name: the copy is there
    try:
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()
    assert not (tmp_path / "empty-link.db-wal").exists()
