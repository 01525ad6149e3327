"""IMAP servers that flood: more untagged lines than one answer may hold (16 MiB, MAX_ANSWER),
or one line without end. A host that floods the opening (greeting, CAPABILITY, LOGIN,
AUTHENTICATE) or, once logged in, a command of the sync (EXAMINE) is passed over for the backup
host, as a host that cuts the session then is, and the sync goes on there from where it was; a
refused password still never asks the backup. A flooded IDLE ends the watcher of ``warmup run``
with one line. Each flood is cut at the bound: the scripted flooding peer, in its own thread,
counts what it managed to send (the proxy in front of the real Dovecot cannot tell)."""

from __future__ import annotations

import json

import pytest

from tests.gatekit import BOX as ADDED
from tests.gatekit import add_box, cli
from tests.peers.dovecot import FLOOD_BYTES, FLOOD_LINE, LoginFaultProxy
from tests.peers.imap import Flood, ImapScript, ImapServer
from tests.test_bounces_sync import BOX, bounce_rows, dsn, imap_via
from tests.test_bounces_sync import box as box  # the fixtures
from tests.test_bounces_sync import sink as sink
from tests.test_imap_connect import PASSWORD, login, one_line
from tests.test_imap_connect import bearer as bearer
from tests.test_imap_hostile import ENV, folder
from tests.test_run_bounces import wait_for
from warmup.bounces.idle import IdleWatcher
from warmup.bounces.imap import LoginFailed, connect
from warmup.errors import Unavailable

MIB = 1024 * 1024
# The most a flood cut at the client's bound may have sent: the 16 MiB read, and what the two
# sockets' buffers (a few MiB on loopback) took in meanwhile. Read to its end, it is 64 MiB.
CUT = 32 * MIB


def said(command: str) -> str:
    return f"sent more than 16 MiB of answer lines to {command} without completing it"


def flooding(where: str) -> ImapScript:
    """A host that floods right after its greeting, or ``where``'s answer, then hangs up."""
    flood = Flood(FLOOD_LINE, FLOOD_BYTES)
    if where == "greeting":
        return ImapScript(flood=flood)
    return ImapScript(replies={where: [flood, "hangup"]})


# -- the opening ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "command"),
    [("greeting", "CAPABILITY"), ("CAPABILITY", "CAPABILITY"), ("LOGIN", "LOGIN")],
)
def test_a_primary_flooding_the_opening_is_passed_over_for_the_backup(where, command):
    """It was exit 69 at once, the backup never tried, where a primary that cuts or stalls the
    same moment is passed over: a broken primary and a healthy backup, and no sync."""
    failed: list[tuple[str, str]] = []
    with ImapServer(flooding(where), ImapScript()) as server:
        _, host = login(server.port, timeout=30, failed=failed)
        wait_for(lambda: server.flooded)
    assert host == "localhost" and server.connections == 2
    assert server.verbs()[1][-1] == "LOGIN"  # logged in on the backup
    assert failed == [("127.0.0.1", said(command))]
    assert server.flooded[0] < CUT, server.flooded  # cut at the bound, not read to its end


def test_a_primary_flooding_authenticate_is_passed_over_for_the_backup(bearer):
    token, _ = bearer
    flood = [b"+ \r\n", Flood(FLOOD_LINE, FLOOD_BYTES), "hangup"]
    failed: list[tuple[str, str]] = []
    with ImapServer(ImapScript(replies={"AUTHENTICATE": flood}), ImapScript()) as server:
        _, host = login(server.port, token, timeout=30, failed=failed)
    assert host == "localhost" and server.connections == 2
    assert failed == [("127.0.0.1", said("AUTHENTICATE"))]


def test_every_host_flooding_the_opening_is_69_in_one_line_naming_each():
    with ImapServer(flooding("LOGIN")) as server, pytest.raises(Unavailable) as got:
        login(server.port, timeout=30)
    port = server.port
    assert one_line(got.value) == (
        f"the IMAP server flooded the connection (127.0.0.1:{port}: {said('LOGIN')}; "
        f"localhost:{port}: {said('LOGIN')}); try again later, or ask the server's administrator"
    )
    assert got.value.exit_code == 69 and server.connections == 2


def test_a_refused_password_on_the_backup_of_a_flooding_primary_asks_no_further():
    """The backup's NO is the account's answer: 77, with the primary passed over named, and no
    third host or second try (a login storm locks the account)."""
    no = ImapScript(replies={"LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] bad password\r\n"})
    with (
        ImapServer(flooding("LOGIN"), no, ImapScript()) as server,
        pytest.raises(LoginFailed) as got,
    ):
        # a third host (the third script, which would log in) if the NO were passed over
        connect(("127.0.0.1", "localhost", "127.0.0.1"), server.port, "none", BOX, PASSWORD)
    text = one_line(got.value)
    assert got.value.exit_code == 77 and server.connections == 2
    assert text.startswith("localhost refused the IMAP login"), text
    assert f"(passed over: 127.0.0.1:{server.port}: {said('LOGIN')})" in text, text


# -- bounces sync ---------------------------------------------------------------------------


def test_a_sync_whose_primary_floods_the_login_reads_the_backup_dovecot(box, ledger_path):
    box.append("INBOX", dsn("<never@corp.example>", "x@example.net", "5.1.1", "550 5.1.1 no", 1))
    with LoginFaultProxy(box, ["flood", "pass", "flood", "pass"]) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
        again = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert proxy.logins == ["flood", "pass", "flood", "pass"]  # no flood's LOGIN reached Dovecot
    assert (
        f"127.0.0.1 unavailable ({said('LOGIN')}); used the backup host localhost." in res.stderr
    ), res.stderr
    assert "on localhost: recorded 1 new bounce," in res.stdout, res.stdout
    assert len(bounce_rows(ledger_path)) == 1
    # --json said nothing of the host passed over: 'send --json' names it, so does the sync
    assert again.returncode == 0, again.stderr
    got = json.loads(again.stdout)
    assert (got["host"], got["failed_hosts"]) == (
        "localhost",
        [{"host": "127.0.0.1", "error": said("LOGIN")}],
    )


def test_a_host_flooding_after_the_login_hands_over_to_the_backup_where_it_was(box, ledger_path):
    """The sync recorded INBOX's bounce, then the primary flooded the EXAMINE of Junk: it was
    exit 69, the backup never asked. The backup goes on from Junk, INBOX not read again: each
    report scanned and recorded once, one login on each host."""
    box.append("INBOX", dsn("<a@corp.example>", "a@example.net", "5.1.1", "550 5.1.1 no", 1))
    box.append("Junk", dsn("<b@corp.example>", "b@example.net", "5.1.1", "550 5.1.1 no", 2))
    with LoginFaultProxy(box, ["pass"], flood_on='EXAMINE "Junk"') as proxy:
        imap_via(proxy)
        res = cli(
            "bounces", "sync", BOX, "--since", "2026-01-01", "--folder", "INBOX", "--folder", "Junk"
        )
    assert res.returncode == 0, res.stderr
    assert proxy.logins == ["pass", "pass"]
    assert f"127.0.0.1 unavailable ({said('EXAMINE')}); used the backup host localhost." in (
        res.stderr
    ), res.stderr
    assert "Scanned 2 messages on localhost: recorded 2 new bounces," in res.stdout, res.stdout
    assert len(bounce_rows(ledger_path)) == 2


def test_a_host_flooding_its_answer_to_logout_fails_no_sync_that_recorded_its_bounces(
    box, ledger_path
):
    """Everything read and recorded, then the server flooded its answer to LOGOUT: the sync was
    exit 69, "sent more than 16 MiB of answer lines to LOGOUT", nothing on stdout, as if it had
    failed (a cron job told to try again, its report and the notify step lost). LOGOUT's
    answer is let be, whatever it is."""
    box.append("INBOX", dsn("<a@corp.example>", "a@example.net", "5.1.1", "550 5.1.1 no", 1))
    with LoginFaultProxy(box, ["pass"], flood_on="LOGOUT") as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert proxy.logins == ["pass"]
    assert "Scanned 1 message on 127.0.0.1: recorded 1 new bounce, no send matched." in res.stdout
    assert len(bounce_rows(ledger_path)) == 1


def test_every_host_flooding_after_the_login_is_69_naming_each_and_one_login_each(ledger_path):
    floods = folder()
    floods["EXAMINE"] = [Flood(FLOOD_LINE, FLOOD_BYTES), "hangup"]
    with ImapServer(ImapScript(replies=floods)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        assert cli("mailbox", "set", ADDED, "--imap-host", "127.0.0.1,localhost").returncode == 0
        res = cli("bounces", "sync", ADDED, env=ENV)
    port = server.port
    assert (res.returncode, res.stderr.strip()) == (
        69,
        f"Error: the IMAP server flooded the connection (127.0.0.1:{port}: {said('EXAMINE')}; "
        f"localhost:{port}: {said('EXAMINE')}); nothing of it was recorded, progress is saved: "
        f"run the sync again later, or ask the server's administrator",
    )
    assert [verbs.count("LOGIN") for verbs in server.verbs()] == [1, 1]  # no login storm


# -- IDLE -----------------------------------------------------------------------------------


IDLE_CAPABILITIES = b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN\r\n{tag} OK done\r\n"
IDLE_FLOODS = {
    "lines": ("IDLE", Flood(FLOOD_LINE, FLOOD_BYTES, head=b"+ idling\r\n")),
    "a line": ("IDLE", Flood(b"x" * 64, FLOOD_BYTES, head=b"+ idling\r\n* OK ")),
    "EXAMINE": ("EXAMINE", Flood(FLOOD_LINE, FLOOD_BYTES)),
}


@pytest.mark.parametrize(
    ("flood", "why"),
    [
        ("lines", "sent more than 16 MiB of lines during IDLE without ending it"),
        ("a line", "sent a line longer than 1,000,000 bytes during IDLE"),
        ("EXAMINE", said("EXAMINE")),
    ],
)
def test_a_flooded_idle_ends_the_watcher_in_one_line_having_read_a_bounded_part(
    flood, why, thread_errors
):
    """An IDLE's lines were read without bound, each dropped as it came, for as long as the
    IDLE lasted (25 minutes): a server streaming "* OK still here" was read to its end (all
    64 MiB here, and on at whatever rate it sent), and a line without end (past imaplib's
    bound on one, 1 MB) was a failure as a cut is: connected again, to be sent the same after
    each back-off. They are bounded as any command's
    answer: past them the watcher ends, one line naming the host and what it did, never
    connecting again (it would only do it again); the interval's sync goes on."""
    lines: list[str] = []
    delays: list[int] = []

    def retry(failures: int) -> float:
        delays.append(failures)
        return 0.0  # time is passed in: no waiting

    command, answer = IDLE_FLOODS[flood]
    replies = {**folder(), "CAPABILITY": IDLE_CAPABILITIES, command: [answer, "hangup"]}
    with ImapServer(ImapScript(replies=replies)) as server:
        watcher = IdleWatcher(
            ADDED,
            hosts=("127.0.0.1",),
            port=server.port,
            security="none",
            password=PASSWORD,
            wake=lambda: None,
            log=lines.append,
            retry=retry,
        )
        watcher.start()
        try:
            watcher.join(30)
            assert not watcher.is_alive(), (lines, server.connections, server.flooded)
        finally:
            watcher.close()
        wait_for(lambda: server.flooded)
    assert lines == [
        f"IMAP IDLE for {ADDED} stopped: 127.0.0.1 {why}; bounces are synced on the interval"
    ]
    assert watcher.flooded and delays == [] and thread_errors == []
    assert server.connections == 1  # never asked again
    assert server.flooded[0] < CUT, server.flooded  # cut at the bound: 64 MiB read before
