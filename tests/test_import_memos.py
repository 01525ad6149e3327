"""An import ends by keeping every mailbox's walk memo."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.test_import import write


def test_one_mailbox_whose_policy_is_gone_leaves_the_others_memos_kept(run, tmp_path, ledger_path):
    # keep_walks: "a mailbox that cannot be walked now (its policy gone) is left for the next
    # question to explain" -- the others' memos should still be kept.
    policy = policy_file(tmp_path / "gone.toml")
    res = run("mailbox", "add", "z@corp.example", "--provider", "exmail", "--policy", str(policy))
    assert res.exit_code == 0, res.output
    engine = sa.create_engine(f"sqlite:///{ledger_path}")
    with engine.begin() as conn:  # a preset a newer warmup wrote, unknown to this one
        conn.execute(
            sa.text("UPDATE mailbox SET provider = 'newer' WHERE address = 'z@corp.example'")
        )
    engine.dispose()
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    lines = [
        f"a@corp.example,r{k}-{i}@example.com,{today - dt.timedelta(days=k)}T09:{i:02d}:00+08:00,,,,exmail,,,"
        for k in range(20, 0, -1)
        for i in range(10)
    ]
    res = run("import", str(write(tmp_path / "log.csv", *lines)))
    assert res.exit_code == 0, res.output
    engine = sa.create_engine(f"sqlite:///{ledger_path}")
    with engine.connect() as conn:
        kept = (
            conn.execute(
                sa.text(
                    "SELECT m.address FROM walk_memo w JOIN mailbox m ON m.id = w.mailbox_id "
                    "WHERE w.rev = m.rev"
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert kept == ["a@corp.example"]
