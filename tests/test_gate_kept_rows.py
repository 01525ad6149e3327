"""A SQLite gate keeps the rows its last reservation left and reads them again only when another
connection has committed since (``PRAGMA data_version``): what others write must be seen."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.gatekit import BOX, add_box, cli, policy_file
from warmup import Gate, NotAllowed, Suppressed
from warmup.gate import DuplicateSend
from warmup.ledger import open_ledger

NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)


def test_two_gates_taking_turns_never_exceed_the_quota(ledger_path, tmp_path):
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    with Gate(BOX, password="x") as one, Gate(BOX, password="x") as two:
        taken = []
        for i in range(8):
            gate = (one, two)[i % 2]
            try:
                gate.reserve([f"r{i}@example.com"], now=NOW + dt.timedelta(seconds=i))
                taken.append(i)
            except NotAllowed:
                pass
        assert taken == [0, 1, 2, 3, 4]
        # The same gate twice in a row (its kept rows), after the other one's last write.
        with pytest.raises(NotAllowed):
            one.reserve(["again@example.com"], now=NOW + dt.timedelta(seconds=20))


def test_a_pause_and_a_suppression_written_elsewhere_are_seen(ledger_path, tmp_path):
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, password="x") as gate:
        gate.reserve(["a@example.com"], now=NOW)
        gate.reserve(["b@example.com"], now=NOW + dt.timedelta(seconds=1))
        res = cli("suppress", "add", "c@example.com", "--reason", "asked")
        assert res.returncode == 0, res.stderr
        with pytest.raises(Suppressed):
            gate.reserve(["c@example.com"], now=NOW + dt.timedelta(seconds=2))
        res = cli("mailbox", "pause", BOX, "--reason", "checking")
        assert res.returncode == 0, res.stderr
        with pytest.raises(NotAllowed, match="paused"):
            gate.reserve(["d@example.com"], now=dt.datetime.now(dt.UTC))


def test_a_gate_used_again_after_release_forgets_its_kept_rows(ledger_path, tmp_path):
    """After release() (its connection given back: a closed gate is no longer used again) the
    gate's next connection may be the one the ledger just wrote on, whose own commits
    data_version does not count: the kept rows must not survive the release."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    ledger = open_ledger()
    gate = Gate(BOX, ledger=ledger, password="x")
    gate.reserve(["a@example.com"], now=NOW)
    gate.reserve(["b@example.com"], now=NOW + dt.timedelta(seconds=1))
    gate.release()
    ledger.add_event(gate.box, "pause", NOW + dt.timedelta(seconds=2), "checking")
    with pytest.raises(NotAllowed, match="paused"):
        gate.reserve(["c@example.com"], now=NOW + dt.timedelta(seconds=3))
    gate.close()
    ledger.close()


def test_a_send_stamped_ahead_counts_once_the_clock_reaches_it(ledger_path, tmp_path):
    """A send another clock stamped beyond CLOCK_SKEW ahead is not yet the last send; once the
    window reaches it, it paces the next reservation even though nobody has written since."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50, interval="60s")))
    with Gate(BOX, password="x") as ahead:
        ahead.reserve(["ahead@example.com"], now=NOW + dt.timedelta(minutes=10))
    with Gate(BOX, password="x") as gate:
        gate.reserve(["a@example.com"], now=NOW)
        gate.reserve(["b@example.com"], now=NOW + dt.timedelta(minutes=2))
        gate.reserve(["c@example.com"], now=NOW + dt.timedelta(minutes=4))
        # NOW + 5.5 min + 5 min of skew reaches the send at NOW + 10 min: 60 s after it.
        with pytest.raises(NotAllowed, match="pacing"):
            gate.reserve(["d@example.com"], now=NOW + dt.timedelta(minutes=5, seconds=30))


def test_a_slot_expired_by_the_reservation_reads_as_unknown(ledger_path, tmp_path):
    """A reservation relabels slots past the expiry (reserved -> unknown) before it reads this
    message's earlier slots: a resend of a message whose process died hears "may already have
    reached", not "is being sent right now"."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, password="x") as dead:  # its process dies: the slot is never settled
        dead.reserve(["a@example.com"], "<m1@corp.example>", now=NOW)
    with Gate(BOX, password="x") as gate:
        with pytest.raises(DuplicateSend, match="may already have reached a@example.com"):
            gate.reserve(["a@example.com"], "<m1@corp.example>", now=NOW + dt.timedelta(minutes=16))


def test_messages_of_one_then_several_recipients_each_read_their_own_slots(ledger_path, tmp_path):
    """The statement that reads the suppressed recipients, the earlier slots and data_version is
    kept per number of recipients: each count reads what its own recipients hold."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    res = cli("suppress", "add", "c@example.com", "--reason", "asked")
    assert res.returncode == 0, res.stderr
    with Gate(BOX, password="x") as gate:
        gate.reserve(["a@example.com"], "<m1@corp.example>", now=NOW)
        with pytest.raises(Suppressed) as refused:
            gate.reserve(
                ["b@example.com", "c@example.com"], "<m2@corp.example>", now=NOW + dt.timedelta(1)
            )
        assert list(refused.value.recipients) == ["c@example.com"]
        gate.reserve(["b@example.com", "d@example.com"], "<m3@corp.example>", now=NOW)
        with pytest.raises(DuplicateSend, match="d@example.com"):
            gate.reserve(["e@example.com", "d@example.com"], "<m3@corp.example>", now=NOW)
        with pytest.raises(DuplicateSend, match="a@example.com"):
            gate.reserve(["a@example.com"], "<m1@corp.example>", now=NOW)
        assert gate.reserve(["f@example.com"], "<m4@corp.example>", now=NOW).ids


def _rev(path) -> int:
    import sqlite3

    with sqlite3.connect(path) as con:
        return con.execute("SELECT rev FROM mailbox").fetchone()[0]


def test_a_reservation_on_a_past_day_bumps_the_rev_and_one_on_the_wall_clock_does_not(
    ledger_path, tmp_path
):
    """A reservation stamped on a day the wall clock has left (a test's or a script's clock)
    bumps the mailbox's rev: what it read of the days before today is no longer fixed. One
    stamped by the ledger's own clock is on its today (it need not ask it again), and so is one
    on another clock that reads the same day."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    start = _rev(ledger_path)
    with Gate(BOX, password="x") as gate:
        assert gate.clock is gate.ledger.clock  # the gate's default clock is its ledger's
        gate.reserve(["wall1@example.com"])
        gate.reserve(["wall2@example.com"])
        assert _rev(ledger_path) == start
        gate.reserve(["past@example.com"], now=NOW)  # a day the wall clock has left
        assert _rev(ledger_path) == start + 1
    own = lambda: dt.datetime.now(dt.UTC)  # noqa: E731 - another clock, the same day
    with Gate(BOX, password="x", clock=own) as gate:
        gate.reserve(["own@example.com"])
        assert _rev(ledger_path) == start + 1
