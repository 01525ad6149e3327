"""The machine's zone is the one ``$TZ`` names, as the C library reads it: a mailbox added
without ``--timezone`` counts its days in it, and a time typed over mailboxes of several zones
is read in it. ``TZ=PRC`` (China's hosts), ``TZ=CST-8`` or ``TZ=/usr/share/zoneinfo/...`` was
UTC, eight hours off, without a word; a ``TZ`` naming no zone was the system's, not UTC as the
C library takes it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADDED, ledger_digest


@pytest.mark.parametrize(
    ("tz", "zone"),
    [
        ("PRC", "PRC"),  # a zone's name without a '/', as many Chinese hosts set it
        ("Japan", "Japan"),
        (":Asia/Tokyo", "Asia/Tokyo"),
        ("/usr/share/zoneinfo/Asia/Tokyo", "Asia/Tokyo"),  # a file of the system's zones
        ("CST-8", "Etc/GMT-8"),  # POSIX, one fixed offset: UTC+08:00
        ("<+08>-8", "Etc/GMT-8"),
        ("UTC+8", "Etc/GMT+8"),  # POSIX counts westward: UTC-08:00, as the C library reads it
        ("UTC0", "UTC"),
    ],
)
def test_a_mailbox_added_without_a_zone_takes_the_one_tz_names(run, monkeypatch, tz, zone):
    monkeypatch.setenv("TZ", tz)
    res = run("mailbox", "add", "a@corp.example", "--provider", "gmail")  # no preset zone
    assert res.exit_code == 0, res.output
    listed = json.loads(run("mailbox", "list", "--json").stdout)
    assert [m["timezone"] for m in listed] == [zone]


def test_a_time_over_several_zones_is_read_in_the_zone_tz_names(run, monkeypatch):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    add = ("mailbox", "add", "b@corp.example", "--provider", "gmail", "--timezone", "Europe/Berlin")
    assert run(*add).exit_code == 0
    monkeypatch.setenv("TZ", "PRC")
    res = run("quota", "--json", "--at", "2026-06-11T09:00:00")
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        "Note: --at 2026-06-11T09:00:00 has no UTC offset and the mailboxes are in several "
        "zones: read in this machine's zone, PRC (= 2026-06-11T01:00:00Z).\n"
    )


@pytest.mark.parametrize("tz", ["garbage", "CET-1CEST,M3.5.0,M10.5.0/3", "IST-5:30", "Factory"])
def test_a_tz_naming_no_zone_is_a_config_error_when_one_is_needed(
    run, monkeypatch, ledger_path, tz
):
    assert run("mailbox", "add", *ADDED, "a@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    monkeypatch.setenv("TZ", tz)
    res = run("mailbox", "add", *ADDED, "b@corp.example", "--provider", "gmail")
    assert res.exit_code == 78
    assert res.stdout == ""
    assert res.stderr == (
        f"Error: TZ={tz!r} names no time zone warmup can use; set TZ to an IANA name "
        "(e.g. TZ=Asia/Shanghai), or unset it to use the system's zone\n"
    )
    assert ledger_digest(ledger_path) == before
    # a zone given, or a mailbox's own, needs none of the machine's
    given = run(
        "mailbox", "add", *ADDED, "b@corp.example", "--provider", "gmail", "--timezone", "UTC"
    )
    assert given.exit_code == 0, given.output
    assert run("quota", "a@corp.example", "--at", "2026-06-11T09:00:00").exit_code == 0


def test_a_zone_file_given_is_named_at_fault_whatever_tz_says(run, monkeypatch):
    """``--timezone localtime`` is refused naming the option; with ``TZ`` naming no zone, the
    hint that names this machine's zone made it the TZ error instead."""
    monkeypatch.setenv("TZ", "garbage")
    add = ("mailbox", "add", "a@corp.example", "--provider", "gmail", "--timezone", "localtime")
    res = run(*add)
    assert res.exit_code == 64
    assert res.stderr == "Error: --timezone: unknown time zone 'localtime'; name the zone itself\n"


def test_an_import_registers_a_mailbox_in_the_zone_tz_names(run, monkeypatch, tmp_path):
    monkeypatch.setenv("TZ", "CST-8")
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider\n"
        "g@corp.example,x@example.com,2026-06-11T07:00:00,gmail\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    listed = json.loads(run("mailbox", "list", "--json").stdout)
    assert [m["timezone"] for m in listed] == ["Etc/GMT-8"]


def test_an_import_naming_an_unknown_mailbox_says_so_whatever_tz_says(run, monkeypatch, tmp_path):
    """Its time was read in this machine's zone first: a ``TZ`` naming none was the error."""
    monkeypatch.setenv("TZ", "garbage")
    log = tmp_path / "log.csv"
    log.write_text("mailbox,recipient,sent_at\nz@corp.example,x@example.com,2026-06-11T07:00:00\n")
    res = run("import", str(log))
    assert res.exit_code == 65
    assert "line 2: mailbox 'z@corp.example' not found" in res.stderr
