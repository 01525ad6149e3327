"""Every duration option (``--expires``, ``--sync-every``, ``--timeout``) reads and refuses
alike: one line naming the option and what to write, exit 64, the ledger untouched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import ledger_digest

BOX = "sales@corp.example"

# Each duration option, and the command around it (the value goes last).
OPTIONS = {
    "queue add --expires": ["queue", "add", "--mailbox", BOX, "--eml", "m.eml", "--expires"],
    "queue retry --expires": ["queue", "retry", "1", "--expires"],
    "run --sync-every": ["run", "--once", "--no-sync", "--sync-every"],
    "run --timeout": ["run", "--once", "--no-sync", "--timeout"],
    "send --timeout": ["send", BOX, "--to", "a@example.com", "--body", "x", "--timeout"],
    "bounces sync --timeout": ["bounces", "sync", BOX, "--timeout"],
    "doctor --timeout": ["doctor", BOX, "--timeout"],
}


@pytest.fixture
def ledger(run, tmp_path: Path, ledger_path: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.eml").write_text(f"From: {BOX}\nTo: x@example.com\nSubject: Hi\n\nHi\n")
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    return ledger_path


@pytest.mark.parametrize("value", ["0", "0s", "-5m", "soon", "nan", "400d", "1e3"])
@pytest.mark.parametrize("option", OPTIONS)
def test_a_bad_duration_is_a_usage_error_saying_what_to_write(run, ledger, option, value):
    """'run --sync-every 0' exited 64 but '--sync-every 0s' 65, and '--timeout 0s' said "not a
    number of seconds" though '0s' is what the other options take."""
    before = ledger_digest(ledger)
    res = run(*OPTIONS[option], value)
    assert res.exit_code == 64, res.output
    (line,) = res.output.splitlines()
    flag = option.split()[-1]
    assert line.startswith(f"Error: Invalid value for '{flag}': {value!r} is "), line
    assert "write a number and a unit (s, m, h, d, w)" in line, line
    assert ledger_digest(ledger) == before


def test_a_timeout_takes_a_duration_as_the_other_options_do():
    """'--timeout 2m' was "not a number of seconds"; a bare number stays seconds."""
    import click

    from warmup.cli.common import EVERY, EXPIRY, SECONDS

    assert SECONDS.convert("2m", None, None) == 120.0
    assert SECONDS.convert("90", None, None) == 90.0
    assert SECONDS.convert(60.0, None, None) == 60.0  # the default
    assert EXPIRY.convert("1d12h", None, None) == dt.timedelta(hours=36)
    assert str(EXPIRY.convert("72h", None, None)) == "72h"  # a warning quotes it as typed
    assert EVERY.convert("90s", None, None) == dt.timedelta(seconds=90)
    with pytest.raises(click.BadParameter):
        EXPIRY.convert("90", None, None)  # minutes or seconds? a unit says
