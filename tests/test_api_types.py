"""The Python API given a value of the wrong type: a TypeError (also a warmup UsageError, exit
64 if a front end let one through) whose one line names the parameter and the type it needs,
before anything is opened or written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ledger_digest
from warmup import Gate, Outbox, api, open_ledger
from warmup.errors import UsageError

BOX = "a@corp.example"


def _refused(call: Callable[[], Any]) -> str:
    with pytest.raises(TypeError) as err:
        call()
    assert isinstance(err.value, UsageError)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_each_entry_point_names_its_parameter_and_the_type_it_needs(ledger_path: Path) -> None:
    """``Gate(5)`` said "mailbox address: expected a str" (the ledger's words, no parameter of
    Gate's); ``Outbox.add(expires=hour)`` raised a UsageError that was no TypeError; a Gate's
    ``expiry=3600`` or ``timeout="5"``, ``api.plan(days="3")`` and ``api.suppress`` given one
    address as a str (each of its characters "malformed") failed later, or deep inside."""
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "x@example.com", "hi"
    msg.set_content("hi")
    before = ledger_digest(ledger_path)
    # what a script passes by mistake, typed Any: no type: ignore on each line
    five: Any = 5
    hour: Any = 3600
    no: Any = "no"
    one: Any = "x@example.com"
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: Gate(five, ledger=ledger), "address: expected a str, got int 5"),
        (
            lambda: Gate(BOX, ledger=ledger, expiry=hour),
            "expiry: expected a datetime.timedelta, got int 3600",
        ),
        (
            lambda: Gate(BOX, ledger=ledger, timeout="5"),
            "timeout: expected an int or a float, got str '5'",
        ),
        (
            lambda: Outbox(ledger).add(msg, mailbox=BOX, expires=hour),
            "expires: expected a datetime.timedelta, got int 3600",
        ),
        (lambda: api.quota(ledger, five), "address: expected a str, got int 5"),
        (lambda: api.plan(ledger, five, 3), "address: expected a str, got int 5"),
        (lambda: api.plan(ledger, BOX, "3"), "days: expected an int, got str '3'"),
        (lambda: api.pause(ledger, five, "why"), "address: expected a str, got int 5"),
        (lambda: api.pause_end(ledger, five, "3d"), "address: expected a str, got int 5"),
        (lambda: api.resume(ledger, five), "address: expected a str, got int 5"),
        (lambda: api.add_mailbox(ledger, five, "exmail"), "address: expected a str, got int 5"),
        (lambda: api.set_mailbox(ledger, five, cap=10), "address: expected a str, got int 5"),
        (lambda: api.remove_mailbox(ledger, five), "address: expected a str, got int 5"),
        (
            lambda: api.remove_mailbox(ledger, BOX, force=no),
            "force: expected a bool, got str 'no'",
        ),
        (
            lambda: api.suppress(ledger, one, "asked"),
            "recipients: expected a list or a tuple, got str 'x@example.com'; give ['x@example.com']",
        ),
        (
            lambda: api.record_send(ledger, BOX, one),
            "recipients: expected a list or a tuple, got str 'x@example.com'; give ['x@example.com']",
        ),
        (lambda: api.record_send(ledger, five, []), "address: expected a str, got int 5"),
        (
            lambda: api.record_bounce(ledger, five, "x@example.com"),
            "address: expected a str, got int 5",
        ),
    ]
    said = [_refused(call) for call, _ in cases]
    assert said == [text for _, text in cases]
    assert ledger_digest(ledger_path) == before
    ledger.close()


def test_a_gate_given_a_wrong_address_creates_no_ledger(tmp_path: Path) -> None:
    """The check comes before the ledger is opened: ``Gate(5, db=...)`` on a new path left an
    empty ledger behind."""
    missing = tmp_path / "new.db"
    five: Any = 5
    assert _refused(lambda: Gate(five, db=str(missing))) == "address: expected a str, got int 5"
    assert not missing.exists()


def test_a_timedelta_expiry_and_a_float_timeout_still_open_a_gate(ledger_path: Path) -> None:
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    with Gate(BOX, ledger=ledger, expiry=dt.timedelta(minutes=5), timeout=2.5) as gate:
        assert (gate.expiry, gate.timeout) == (dt.timedelta(minutes=5), 2.5)
    with Gate(BOX, ledger=ledger, timeout=3) as gate:
        assert gate.timeout == 3
    ledger.close()


def test_numpy_numbers_and_truth_values_are_taken_as_before(ledger_path: Path) -> None:
    """``api.plan(days=numpy.int64(3))`` (a pandas column's value), ``Gate(timeout=
    numpy.int64(30))`` and ``remove_mailbox(force=numpy.False_)`` worked before the type checks;
    they became "days: expected an int, got int64" (and "force: expected a bool, got bool
    np.False_"). A bool is still no int, numpy's neither."""
    np = pytest.importorskip("numpy")
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    assert len(api.plan(ledger, BOX, np.int64(3))) == 3
    with Gate(BOX, ledger=ledger, timeout=np.int64(30)) as gate:
        assert gate.timeout == 30
    with Gate(BOX, ledger=ledger, timeout=np.float32(2.5)) as gate:
        assert gate.timeout == 2.5
    api.add_mailbox(ledger, "b@corp.example", "exmail")
    api.remove_mailbox(ledger, "b@corp.example", force=np.False_)
    assert [b.address for b in ledger.mailboxes()] == [BOX]
    assert _refused(lambda: api.plan(ledger, BOX, np.True_)).startswith("days: expected an int")
    assert _refused(lambda: api.plan(ledger, BOX, True)) == "days: expected an int, got bool True"
    ledger.close()


def test_a_timeout_in_any_real_number_type_is_seconds_and_a_bool_is_refused(
    ledger_path: Path,
) -> None:
    """``Gate(timeout=Decimal("7.5"))`` (a value read from a config with Decimal parsing, a
    database's NUMERIC) was "timeout: expected an int or a float, got Decimal": a real number
    of seconds, as a Fraction already was. Each is kept as a float, the type socket timeouts
    and their arithmetic take; a bool is still no number of seconds."""
    from decimal import Decimal
    from fractions import Fraction

    np = pytest.importorskip("numpy")
    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    for given, seconds in (
        (Decimal("7.5"), 7.5),
        (Fraction(15, 2), 7.5),
        (np.float64(7.5), 7.5),
        (np.int32(7), 7.0),
        (7, 7.0),
    ):
        with Gate(BOX, ledger=ledger, timeout=given) as gate:
            assert (gate.timeout, type(gate.timeout)) == (seconds, float), given
    yes: Any = True
    assert _refused(lambda: Gate(BOX, ledger=ledger, timeout=yes)) == (
        "timeout: expected an int or a float, got bool True"
    )
    assert _refused(lambda: Gate(BOX, ledger=ledger, timeout=np.True_)).startswith(
        "timeout: expected an int or a float, got bool"
    )
    ledger.close()


def test_a_naive_now_is_refused_at_the_edge_as_a_value_error(ledger_path: Path) -> None:
    """``Gate.reserve(..., now=datetime(2026, 11, 20, 3))`` raised Python's bare "can't
    compare offset-naive and offset-aware datetimes" from deep in the policy walk (a TypeError
    naming nothing of the caller's), ``evaluate``/``project`` read a naive ``now`` as this
    machine's local time, and ``outbox.retry``/``overflow.configure`` wrote it as it was. Each
    says which parameter and what to give, as a ValueError (the type is right, the value is
    not) that is also warmup's exit-64 error, and writes nothing."""
    from warmup import evaluate, outbox
    from warmup.outbox import overflow
    from warmup.policy import History, load_policy, project

    ledger = open_ledger(str(ledger_path))
    api.add_mailbox(ledger, BOX, "exmail")
    aware = dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC)
    naive = dt.datetime(2026, 11, 20, 3)
    spec = load_policy("exmail")
    hist = History(mailbox=BOX, timezone="Asia/Shanghai")
    with Gate(BOX, ledger=ledger) as gate:
        held = gate.reserve(["held@example.com"], "<held@corp.example>", now=aware)
        before = ledger_digest(ledger_path)
        msg = EmailMessage()
        msg["To"], msg["Subject"] = "x@example.com", "hi"
        msg.set_content("hi")
        calls: list[Callable[[], Any]] = [
            lambda: gate.reserve(["x@example.com"], now=naive),
            lambda: gate.send(msg, now=naive),
            lambda: gate.allowance(naive),
            lambda: gate.preview(["x@example.com"], naive),
            lambda: held.settle("sent", now=naive),
            lambda: evaluate(spec, hist, naive),
            lambda: project(spec, hist, naive, 3),
            lambda: outbox.retry(ledger, 1, now=naive),
            lambda: overflow.configure(ledger, "outreach", "smtp.example.com", now=naive),
        ]
        for call in calls:
            with pytest.raises(ValueError) as err:
                call()
            assert isinstance(err.value, UsageError)
            assert (
                str(err.value)
                == "now: 2026-11-20T03:00:00 has no UTC offset (give e.g. +08:00 or Z)"
            )
        assert ledger_digest(ledger_path) == before
        held.settle("sent", now=aware)
    ledger.close()
