"""The everyday commands stay light: ``quota``, ``mailbox list`` and ``plan`` never import pandas or
matplotlib (those are for reports and notebooks), nor HTTP code (only a webhook needs it).
Checked in a fresh process, since this test session may have imported them already."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SH

BOX = "a@corp.example"
HEAVY = ("pandas", "matplotlib")
REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from warmup.cli import cli
try:
    cli(sys.argv[1:], prog_name="warmup")
except SystemExit as exc:
    code = exc.code
print("PROBE " + json.dumps({"code": code, "loaded": sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("pandas", "matplotlib") or m in ("urllib.request", "http.client"))}))
"""


@pytest.fixture
def seeded(ledger_path: Path) -> Path:
    import datetime as dt

    from tests.conftest import at
    from warmup import api, open_ledger

    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail", timezone=SH)
    day = dt.date(2026, 11, 10)
    api.record_send(ledger, BOX, ["r1@example.com", "r2@example.com"], at(day, 9))
    ledger.close()
    return ledger_path


def _probe(seeded: Path, probe: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``warmup ARGS`` under ``probe`` on the seeded ledger; it must succeed and load none
    of the probe's modules."""
    env = {**os.environ, "WARMUP_DB": str(seeded)}
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0][len("PROBE ") :])
    assert result["code"] in (0, None), proc.stdout + proc.stderr  # the command really ran
    assert result["loaded"] == [], f"{' '.join(args)} imported {result['loaded'][:5]}"
    return proc


@pytest.mark.parametrize(
    "args",
    [
        ["quota", BOX, "--json"],
        ["quota", BOX],
        ["mailbox", "list"],
        ["mailbox", "list", "--json"],
        ["plan", BOX, "--days", "10"],
    ],
    ids=lambda a: " ".join(a),
)
def test_command_does_not_import_pandas_or_matplotlib(seeded: Path, args: list[str]):
    proc = _probe(seeded, PROBE, args)
    if args[-1] == "--json":
        json.loads(proc.stdout[: proc.stdout.index("PROBE ")])


@pytest.mark.parametrize(
    "args", [["quota", BOX, "--json"], ["quota", "--json"], ["quota"]], ids=lambda a: " ".join(a)
)
def test_quota_does_not_import_sqlalchemy(seeded: Path, args: list[str]):
    """On a SQLite ledger whose schema is current, ``warmup quota`` answers on the driver alone
    (issue #15: SQLAlchemy's import was ~0.4-0.6 s of the command); it still keeps memos."""
    probe = PROBE.replace('("pandas", "matplotlib")', '("sqlalchemy", "sqlmodel", "psycopg")')
    proc = _probe(seeded, probe, [*args, "--at", "2026-11-20T10:00+08:00"])
    assert BOX in proc.stdout
    con = sqlite3.connect(seeded)
    assert con.execute("SELECT count(*) FROM walk_memo").fetchone()[0] == 1
    con.close()
