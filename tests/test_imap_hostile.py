"""Bounce sync against IMAP servers that misbehave where Dovecot cannot: scripted loopback
peers (:class:`tests.peers.imap.ImapServer`) answering a sync's SELECT, SEARCH and FETCH with
what a broken or hostile server might send. Each refusal is one line with its sysexits code,
no traceback, and the ledger holds no bounce and no position it did not earn."""

from __future__ import annotations

import pytest

from tests.gatekit import BOX, add_box, cli, rows
from tests.peers.imap import CAPABILITIES, ImapScript, ImapServer, Reply, Turns

ENV = {"WARMUP_PASSWORD": "imap-pass-1"}
NOTE = b"From: friend@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"


def folder(
    uidvalidity: bytes = b"7", search: bytes = b"1", uidnext: bytes = b"2"
) -> dict[str, Reply | Turns]:
    """The answers of a one-message INBOX: its STATUS, SELECT (EXAMINE) and UID SEARCH."""
    return {
        "STATUS": b"* STATUS INBOX (UIDVALIDITY " + uidvalidity + b")\r\n{tag} OK done\r\n",
        "EXAMINE": (
            b"* 1 EXISTS\r\n* OK [UIDVALIDITY " + uidvalidity + b"] v\r\n"
            b"* OK [UIDNEXT " + uidnext + b"] n\r\n{tag} OK [READ-ONLY] done\r\n"
        ),
        "UID SEARCH": b"* SEARCH " + search + b"\r\n{tag} OK done\r\n",
        "UID FETCH": (
            b"* 1 FETCH (UID 1 RFC822.SIZE 40 BODY[]<0> {%d}\r\n" % len(NOTE)
            + NOTE
            + b")\r\n{tag} OK done\r\n"
        ),
    }


def sync(script: ImapScript) -> str:
    with ImapServer(script) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, env=ENV)
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1, (res.returncode, err)
    return err


def _first_sync_reads_one(script: ImapScript, ledger_path) -> None:  # type: ignore[no-untyped-def]
    """A first sync (a send recorded) through ``script``'s server reads its one message and
    keeps the folder's position at UIDVALIDITY 7, UID 1."""
    with ImapServer(script) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        assert cli("record", "send", BOX, "--to", "lead@example.com").returncode == 0
        res = cli("bounces", "sync", BOX, "--json", env=ENV)
    assert res.returncode == 0, res.stderr
    assert '"scanned": 1' in res.stdout
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 1)]


@pytest.mark.parametrize("uid", [b"abc", b"99999999999999999999", b"4294967296", b"0"])
def test_a_search_answer_naming_no_uid_is_one_line_and_69(uid, ledger_path):
    """RFC 3501's UIDs are numbers from 1 to 2^32-1. A SEARCH answered with a word was a
    ValueError traceback, and a UID past 2^63 an OverflowError writing the folder's position
    (a traceback, after the message was read)."""
    err = sync(ImapScript(replies=folder(search=b"1 " + uid)))
    assert err == (
        f"Error: the IMAP server answered a search of 'INBOX' with {uid.decode()!r}, which is "
        f"no UID (a number from 1 to 4294967295); nothing of it was recorded, progress is "
        f"saved (ask the server's administrator)"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


@pytest.mark.parametrize("validity", [b"99999999999999999999", b"0"])
def test_a_uidvalidity_out_of_range_is_one_line_and_69(validity, ledger_path):
    """A UIDVALIDITY past 2^63 was an OverflowError traceback writing the position."""
    err = sync(ImapScript(replies=folder(uidvalidity=validity)))
    assert err == (
        f"Error: the IMAP server stated UIDVALIDITY {validity.decode()} for folder 'INBOX', "
        f"which is no UIDVALIDITY (a number from 1 to 4294967295); nothing was recorded (ask "
        f"the server's administrator)"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


# A number longer than Python's int() reads (4,300 digits): a traceback wherever the sync read
# one of the server's numbers, from the greeting on.
DIGITS = b"9" * 5000


@pytest.mark.parametrize("where", ["greeting", "EXAMINE"])
def test_a_literal_announced_in_thousands_of_digits_is_one_line_and_69(where, ledger_path):
    """imaplib reads a literal's size with int(): a server announcing one of 5,000 digits, in
    its greeting or any answer after, was a ValueError traceback, nothing recorded."""
    huge = b"* OK [ALERT] {" + DIGITS + b"}\r\n"
    answers = folder()
    answers["EXAMINE"] = huge + answers["EXAMINE"]  # type: ignore[operator]
    script = ImapScript(greeting=huge) if where == "greeting" else ImapScript(replies=answers)
    assert sync(script) == (
        "Error: the IMAP server announced a literal of a 5,000-digit number of bytes where at "
        "most 1000000 were asked for; nothing of it was recorded (progress is saved: run the "
        "sync again, or ask the server's administrator)"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


@pytest.mark.parametrize("where", ["EXISTS", "UIDNEXT", "RFC822.SIZE"])
def test_a_count_in_thousands_of_digits_is_taken_as_unstated(where, ledger_path):
    """A message count (EXISTS), UIDNEXT or RFC822.SIZE of 5,000 digits was a ValueError
    traceback. As a number no count, UID or size reaches (20 digits at most), it is taken as
    unstated: the message is read."""
    answers = folder()
    if where == "RFC822.SIZE":
        answers["UID FETCH"] = answers["UID FETCH"].replace(  # type: ignore[union-attr]
            b"RFC822.SIZE 40", b"RFC822.SIZE " + DIGITS
        )
    else:
        line = b"* " + DIGITS + b" EXISTS" if where == "EXISTS" else b"* OK [UIDNEXT 9] n"
        answers["EXAMINE"] = answers["EXAMINE"].replace(  # type: ignore[union-attr]
            b"* 1 EXISTS" if where == "EXISTS" else b"* OK [UIDNEXT 2] n",
            line.replace(b"9]", DIGITS + b"]"),
        )
    _first_sync_reads_one(ImapScript(replies=answers), ledger_path)


def test_a_uidvalidity_in_thousands_of_digits_is_one_line_and_69(ledger_path):
    err = sync(ImapScript(replies=folder(uidvalidity=DIGITS)))
    assert err.startswith("Error: the IMAP server stated UIDVALIDITY 9999"), err
    assert err.endswith(
        "for folder 'INBOX', which is no UIDVALIDITY (a number from 1 to 4294967295); nothing "
        "was recorded (ask the server's administrator)"
    ), err
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


def test_a_fetch_literal_whose_size_lies_is_told_without_pythons_bytes(ledger_path):
    """A literal announced shorter than the message sent: the rest is read as answer lines,
    which imaplib refuses ("unexpected response: b'...'"). The sync reconnects, meets the same
    answer, and stops at exit 69 in the server's words, not Python's ``b'...'``; no bounce and
    no position is recorded for the message never read whole."""
    lying = folder()
    lying["UID FETCH"] = (
        b"* 1 FETCH (UID 1 RFC822.SIZE 40 BODY[]<0> {5}\r\n" + NOTE + b")\r\n{tag} OK done\r\n"
    )
    err = sync(ImapScript(replies=lying))
    assert err.startswith("Error: IMAP connection kept dropping (UID: unexpected response: "), err
    assert "b'" not in err and 'b"' not in err, err
    assert err.endswith("); progress is saved, run the sync again"), err
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]


def test_a_fetch_answer_without_the_asked_uid_never_passes_the_message_unread(ledger_path):
    """RFC 3501 makes a UID FETCH answer carry the UID. One that did not (or named another)
    gave the message as empty: scanned, nothing found, and the position saved past it, so its
    bounces were never read by any sync. A message the server listed with its size a moment
    before is not taken for gone: the sync reconnects, then stops at exit 69, its position
    where it was."""
    blank = folder()
    blank["UID FETCH"] = (
        b"* 1 FETCH (UID 1 RFC822.SIZE 40)\r\n"
        b"* 1 FETCH (BODY[]<0> {%d}\r\n" % len(NOTE) + NOTE + b")\r\n{tag} OK done\r\n"
    )
    err = sync(ImapScript(replies=blank))
    assert err == (
        "Error: IMAP connection kept dropping (FETCH: no message for UID 1, which the server "
        "had just listed); progress is saved, run the sync again"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


def test_a_message_deleted_between_search_and_fetch_is_passed_over(ledger_path):
    """The SEARCH lists UIDs 1 and 2, then 1 is expunged: the FETCH names only 2. UID 1 is gone
    for good, and the position passes both."""
    gone = folder(search=b"1 2")
    gone["UID FETCH"] = (
        b"* 1 FETCH (UID 2 RFC822.SIZE 40 BODY[]<0> {%d}\r\n" % len(NOTE)
        + NOTE
        + b")\r\n{tag} OK done\r\n"
    )
    with ImapServer(ImapScript(replies=gone)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, "--json", env=ENV)
    assert res.returncode == 0, res.stderr
    assert '"scanned": 2' in res.stdout
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 2)]


def test_a_uidnext_no_uid_can_reach_is_taken_as_unstated(ledger_path):
    """A first sync (a send recorded, no position yet) saves the folder's UIDNEXT - 1 as its
    position, passing the older mail for good: a UIDNEXT past 2^63 was an OverflowError
    traceback writing it, and one past 2^32 a position no UID reaches. It is taken as unstated:
    the position is the last UID read."""
    _first_sync_reads_one(ImapScript(replies=folder(uidnext=b"99999999999999999999")), ledger_path)


def test_a_search_answered_over_two_lines_is_read_whole(ledger_path):
    """A server may split a SEARCH answer over several ``* SEARCH`` lines; only the first was
    read. On a first sync (a send recorded) the position then went to the folder's UIDNEXT - 1,
    past the UIDs of the second line: those reports were never read by any sync."""
    two = folder(search=b"1\r\n* SEARCH 2", uidnext=b"3")
    two["UID FETCH"] = b"".join(
        b"* %d FETCH (UID %d RFC822.SIZE 40 BODY[]<0> {%d}\r\n" % (uid, uid, len(NOTE))
        + NOTE
        + b")\r\n"
        for uid in (1, 2)
    ) + (b"{tag} OK done\r\n")
    with ImapServer(ImapScript(replies=two)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        assert cli("record", "send", BOX, "--to", "lead@example.com").returncode == 0
        res = cli("bounces", "sync", BOX, "--json", env=ENV)
    assert res.returncode == 0, res.stderr
    assert '"scanned": 2' in res.stdout, res.stdout
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 2)]


@pytest.mark.parametrize("body", [b'""', b"NIL"])
def test_an_empty_message_is_read_as_empty_not_as_missing(body, ledger_path):
    """An empty message's first bytes come as ``""`` (or NIL), not as a literal: read as no
    body, the sync took it for a message missing from the FETCH and never got past it."""
    empty = folder()
    empty["UID FETCH"] = (
        b"* 1 FETCH (UID 1 RFC822.SIZE 0 BODY[]<0> " + body + b")\r\n{tag} OK done\r\n"
    )
    with ImapServer(ImapScript(replies=empty)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, "--json", env=ENV)
    assert res.returncode == 0, res.stderr
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 1)]


def test_a_server_stalling_mid_fetch_costs_one_timeout_per_attempt_not_two(ledger_path):
    """A server that stops answering in the middle of a FETCH (a byte every 20 s, each within
    a socket timeout): each attempt waits out the timeout, then reconnects. Before it did, the
    sync said LOGOUT on the stalled connection and waited out the timeout again, each time:
    four attempts at --timeout 2 took 16 s, not 8."""
    import time

    with ImapServer(ImapScript(replies=folder(), dribble={"UID FETCH": 20})) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        start = time.monotonic()
        res = cli("bounces", "sync", BOX, "--timeout", "3", env=ENV)
        took = time.monotonic() - start
    assert res.returncode == 69, res.stderr
    assert res.stderr.strip() == (
        "Error: IMAP connection kept dropping (timed out); progress is saved, run the sync again"
    )
    assert server.connections == 4
    assert took < 18, took  # 4 x 3 s, not 8 x 3 s; 6 s for a loaded machine's own slowness
    assert all("LOGOUT" not in verbs for verbs in server.verbs()[:3]), server.verbs()


@pytest.mark.parametrize("listed", [False, True], ids=["no-list", "listed-status-refused"])
def test_a_folder_the_server_will_not_open_now_is_its_trouble_not_a_typo(ledger_path, listed):
    """The folder's STATUS answered (it exists), then SELECT was refused NO [UNAVAILABLE]: that
    was exit 64 "cannot be opened; check --folder", without the server's words. It is the
    server's trouble: exit 69, in its words, the position kept; also when the server, asked
    whether the folder is gone (renamed since), still lists it but refuses its STATUS too."""
    busy = folder()
    busy["EXAMINE"] = b"{tag} NO [UNAVAILABLE] Internal error occurred, try again later\r\n"
    if listed:
        busy["LIST"] = b'* LIST () "/" INBOX\r\n{tag} OK done\r\n'
        busy["STATUS"] = Turns(busy["STATUS"], b"{tag} NO [UNAVAILABLE] try again later\r\n")
    err = sync(ImapScript(replies=busy))
    assert err == (
        "Error: IMAP refused to open folder 'INBOX' ([UNAVAILABLE] Internal error occurred, "
        "try again later); progress is saved, run the sync again later"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


def test_a_folder_the_server_lists_but_will_not_read_is_its_trouble_not_a_typo(ledger_path):
    """A server in trouble refusing the STATUS of INBOX, which its LIST names: the sync said
    "IMAP folder 'INBOX' does not exist or cannot be read ([UNAVAILABLE] ...); did you mean
    'INBOX'?; ...; check --folder", exit 64, for a folder given right. It is there: the
    server's trouble, exit 69, in its words."""
    busy = folder()
    busy["STATUS"] = b"{tag} NO [UNAVAILABLE] Internal error occurred, try again later\r\n"
    busy["LIST"] = b'* LIST () "/" INBOX\r\n* LIST () "/" Junk\r\n{tag} OK done\r\n'
    err = sync(ImapScript(replies=busy))
    assert err == (
        "Error: IMAP refused to read folder 'INBOX', which it lists ([UNAVAILABLE] Internal "
        "error occurred, try again later); run the sync again later (or ask the server's "
        "administrator)"
    )
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]


def report(n: int) -> bytes:
    """An RFC 3464 report of a hard bounce of ``lead{n}@example.com``."""
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {BOX}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx.example.com>\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; lead{n}@example.com\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--b--\r\n"
    ).encode()


def reports(*uids: int) -> bytes:
    """A UID FETCH answer (sizes and first bytes alike) of the reports ``uids``."""
    return b"".join(
        b"* %d FETCH (UID %d RFC822.SIZE %d BODY[]<0> {%d}\r\n"
        % (uid, uid, len(report(uid)), len(report(uid)))
        + report(uid)
        + b")\r\n"
        for uid in uids
    ) + (b"{tag} OK done\r\n")


def movable(search: bytes | Turns, move: Turns) -> dict[str, Reply | Turns]:
    """A read-write INBOX of reports 1, 2 and 3, on a server that offers MOVE."""
    return {
        "CAPABILITY": b"* CAPABILITY " + CAPABILITIES + b" MOVE\r\n{tag} OK done\r\n",
        "STATUS": b"* STATUS INBOX (UIDVALIDITY 7)\r\n{tag} OK done\r\n",
        "SELECT": (
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n"
            b"{tag} OK [READ-WRITE] done\r\n"
        ),
        "UID SEARCH": search,
        "UID FETCH": reports(1, 2, 3),
        "UID MOVE": move,
    }


def test_a_refused_move_asks_which_reports_are_left_and_reads_every_search_line(ledger_path):
    """The MOVE of reports 1, 2 and 3 is refused: 3 was moved meanwhile (by a mail client's
    rule, say) and the server will not move a message it no longer has. The sync asks which
    are left, and the server answers over two ``* SEARCH`` lines; only the first was read, so
    only report 1 was moved again: report 2 stayed in INBOX, its position passed for good, and
    no later sync moved it."""
    script = ImapScript(
        replies=movable(
            Turns(
                b"* SEARCH 1 2 3\r\n{tag} OK done\r\n",  # the sync's search
                b"* SEARCH 1\r\n* SEARCH 2\r\n{tag} OK done\r\n",  # which are left
            ),
            Turns(
                b"{tag} NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n",
                b"{tag} OK done\r\n",
            ),
        )
    )
    with ImapServer(script) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json", env=ENV)
        moves = [line for line in server.commands[0] if b" UID MOVE " in line.upper()]
    assert res.returncode == 0, res.stderr
    assert [m.split(b" ")[3] for m in moves] == [b"1,2,3", b"1,2"], moves
    assert '"moved": 2' in res.stdout, res.stdout
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 3)]


@pytest.mark.parametrize("which", ["sizes", "bodies"])
def test_a_fetch_the_server_refuses_is_its_answer_not_a_dropped_connection(which, ledger_path):
    """A NO to UID FETCH ([SERVERBUG], [UNAVAILABLE]) is a definite answer from a live server.
    It was taken for a dropped connection: reconnected three times, each time asked again,
    then exit 69 "connection kept dropping (FETCH failed: [...])", which is not what
    happened. It is one line in the server's words, exit 69, on the first connection; the
    message is not passed over (its bounces would be lost): no position is saved past it."""
    refused = folder(search=b"1 2", uidnext=b"3")
    no = b"{tag} NO [SERVERBUG] Internal error occurred. Refer to server log\r\n"
    sizes = reports(1, 2)
    refused["UID FETCH"] = Turns(no) if which == "sizes" else Turns(sizes, no)
    with ImapServer(ImapScript(replies=refused)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, env=ENV)
    assert (res.returncode, res.stderr.strip()) == (
        69,
        "Error: IMAP refused to read messages of 'INBOX' (UID 1:2: [SERVERBUG] Internal "
        "error occurred. Refer to server log); progress is saved, run the sync again later",
    )
    assert server.connections == 1
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]


def flooded(port: int, command: str) -> str:
    """The error of a sync whose one host flooded ``command``'s answer."""
    return (
        f"Error: the IMAP server flooded the connection (127.0.0.1:{port}: sent more than 16 "
        f"MiB of answer lines to {command} without completing it); nothing of it was recorded, "
        f"progress is saved: run the sync again later, or ask the server's administrator"
    )


def flood(line: bytes, mib: int) -> list[Reply]:
    """``line`` over and over, ``mib`` MiB of it, never the tagged completion; then a hang-up."""
    return [line * (mib * 1024 * 1024 // len(line)), "hangup"]


@pytest.mark.parametrize("command", ["EXAMINE", "UID FETCH"])
def test_a_server_flooding_untagged_lines_is_stopped_in_bounded_memory(command, ledger_path):
    """A server answering a command with "* OK ..." lines without end, never its tagged
    completion: imaplib keeps every untagged line until the command completes, and each line
    earned the answer more time, so the sync's memory grew without bound (64 MiB over its
    retries). One command's untagged lines hold at most 16 MiB: the sync stops at once (no
    reconnect to that host: it would only do it again; a backup host takes over, as in
    tests/test_imap_floods.py), one line naming the host and the command, exit 69, nothing
    recorded."""
    from tests.peakrss import peak_run

    flooding = folder(search=b"1 2", uidnext=b"3")
    flooding[command] = flood(b"* OK [ALERT] still thinking, " + b"." * 200 + b"\r\n", 96)
    with ImapServer(ImapScript(replies=folder()), ImapScript(replies=flooding)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        calm, base = peak_run("bounces", "sync", BOX, timeout=120, env=ENV)
        res, peak = peak_run("bounces", "sync", BOX, timeout=120, env=ENV)
    assert calm.returncode == 0, calm.stderr
    assert (res.returncode, res.stderr.strip()) == (69, flooded(server.port, command))
    assert server.connections == 2
    assert peak < base + 40, (base, peak)  # 96 MiB held before
    assert rows(ledger_path, "SELECT uidvalidity, last_uid FROM sync_state") == [(7, 1)]


def test_a_server_flooding_exists_lines_is_stopped_by_their_count(ledger_path):
    """A flood of short lines ("* 1 EXISTS", 12 bytes each) costs Python far more than their
    bytes: each line counts as at least 64 bytes toward the bound."""
    flooding = folder()
    flooding["UID SEARCH"] = flood(b"* 1 EXISTS\r\n", 6)
    with ImapServer(ImapScript(replies=flooding)) as server:
        add_box(465, "--imap-security", "none", imap_port=server.port)
        res = cli("bounces", "sync", BOX, env=ENV)
    assert (res.returncode, res.stderr.strip()) == (69, flooded(server.port, "UID SEARCH"))
    assert rows(ledger_path, "SELECT count(*) FROM sync_state") == [(0,)]
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]
