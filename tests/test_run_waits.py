"""What `warmup run --once` and `warmup queue` tell a user about what a message waits for: the
time it can really go, the reason as it is now, a campaign not done while a person must decide,
and a held message made due by hand."""

from __future__ import annotations

import datetime as dt
import json

from tests.gatekit import cli
from tests.outboxkit import plain, pool_of
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def test_queue_status_says_a_campaign_with_unknown_messages_is_not_done(
    sink, ssl_cert_env, password, tmp_path
):
    """Its one message left 'unknown' (the connection broke under the data): 'queue status'
    said "done" though a person must still decide whether it went."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="dec")
        sink.drop_mid_data = True  # the server has it; the client never hears back
        with Worker(ledger, timeout=2) as worker:
            assert worker.run_once().outcomes == {"unknown": 1}
    finally:
        ledger.close()
    res = cli("queue", "status")
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("dec"))
    assert "done" not in row and "1 unknown" in row, res.stdout
    assert (
        "Campaign dec waits for a person: 1 message is unknown (it may have reached its "
        "recipients); 'warmup queue list --state unknown --campaign dec' lists it, "
        f"'warmup queue retry {mid}' sends it again, 'warmup queue mark {mid} sent' (or "
        f"unsent) records whether it went." in res.stdout
    ), res.stdout
    data = json.loads(cli("queue", "status", "--json").stdout)
    assert data["campaigns"][0]["finished"] is False


def test_a_message_backing_off_after_a_refused_login_is_made_due_by_queue_retry(
    sink, ssl_cert_env, password, tmp_path
):
    """The server refused the login (a wrong $WARMUP_PASSWORD): the message backed off 5 min.
    With the password fixed, 'queue retry' refused it ("is queued: only an unknown or expired
    message ...") and 'run --once' sent nothing until the back-off ran out."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="dec")
        assert mid is not None
        first = ledger.message(mid)
    finally:
        ledger.close()
    res = cli("run", "--once", env={"WARMUP_PASSWORD": "wrong"})
    assert res.returncode == 77 and "refused the login" in res.stderr, res.stderr
    assert not sink.messages
    res = cli("queue", "retry", str(mid))
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"Message {mid} is due now: the next pass of 'warmup run' sends it.\n"
    res = cli("run", "--once")  # the right password, from the environment
    assert res.returncode == 0, res.stderr
    assert "Done: 1 sent." in res.stdout, res.stdout
    assert [str(m.message["Message-ID"]) for m in sink.messages] == [first.message_id]
    ledger = open_ledger()
    try:
        sent = ledger.message(mid)
    finally:
        ledger.close()
    assert sent.state == "sent" and sent.attempts == 2  # the refused try counted, and this one


def _quota(box: str) -> dict:  # type: ignore[type-arg]
    res = cli("quota", box, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]  # type: ignore[no-any-return]


def test_run_once_and_queue_list_say_when_a_message_held_by_its_members_pauses_can_go(
    sink, ssl_cert_env, password, tmp_path
):
    """a's server throttled the message (421: a paused until the back-off ends, the message
    deferred 5 s) and b is paused by hand for longer: nothing can go before a's pause ends,
    but 'run --once' said "Next message due at" the 5 s, and 'queue list' NEXT the same."""
    from warmup.outbox.worker import due_stamp

    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="dec")
    finally:
        ledger.close()
    sink.data_reply = (421, "4.7.0 Too many messages, rate limited, try again later")
    res = cli("run", "--once")
    assert res.returncode == 0 and "Done: 1 deferred." in res.stdout, res.stdout
    assert cli("mailbox", "pause", b, "--reason", "x", "--until", "2d").returncode == 0
    throttled = _quota(a)
    assert throttled["status"] == "paused", throttled
    until = dt.datetime.fromisoformat(throttled["next_send_at"])
    retry = _row(mid)["next_attempt_at"]
    assert dt.datetime.fromisoformat(retry) < until  # the message's own time is sooner

    res = cli("run", "--once")
    assert res.returncode == 0, res.stderr
    assert f"Next message due at {due_stamp(until)}." in res.stdout, res.stdout
    # what holds it now: both pauses, not the 421 reply
    waiting = next(line for line in res.stdout.splitlines() if line.startswith("Waiting"))
    assert f"{a} is paused until" in waiting and f"{b} is paused until" in waiting, waiting
    table = cli("queue", "list").stdout
    assert f"{until.astimezone(dt.UTC):%Y-%m-%d %H:%M}" in table, table
    row = _row(mid)
    assert row["due"] == until.astimezone(dt.UTC).isoformat() and row["next_attempt_at"] == retry


def _row(mid: int) -> dict:  # type: ignore[type-arg]
    rows = json.loads(cli("queue", "list", "--json").stdout)
    return next(r for r in rows if r["id"] == mid)  # type: ignore[no-any-return]


def test_run_once_waiting_says_a_mailbox_paused_since_not_its_old_reply(
    sink, ssl_cert_env, password, tmp_path
):
    """The server could not be reached: the message backed off with that reply. The mailbox
    was paused since; a pass with nothing due said "Waiting: ... cannot reach the SMTP server",
    the reason no longer holding it."""
    from tests.peers.smtp import free_port

    a = _one_queued(sink.port, tmp_path)
    assert cli("mailbox", "set", a, "--smtp-port", str(free_port())).returncode == 0
    res = cli("run", "--once")
    assert res.returncode == 0 and "Done: 1 deferred." in res.stdout, res.stdout
    assert cli("mailbox", "pause", a, "--reason", "holiday").returncode == 0
    res = cli("run", "--once")
    assert res.returncode == 0 and "Done: nothing was due." in res.stdout, res.stdout
    waiting = next(line for line in res.stdout.splitlines() if line.startswith("Waiting"))
    assert waiting.startswith(f"Waiting: {a} is paused since "), waiting
    assert "holiday" in waiting and "reach" not in waiting, waiting


def test_queue_show_says_when_a_message_can_really_go_as_queue_list_does(tmp_path):
    """Its mailbox paused for two days: 'queue list' said it goes in two days (NEXT, "due"),
    but 'queue show' of the same message gave only its own time, now, in text and JSON: the
    user looking at one message read that it was due already."""
    box = "a@corp.example"
    assert cli("mailbox", "add", box, "--provider", "exmail").returncode == 0
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), mailbox=box)
    finally:
        ledger.close()
    assert cli("mailbox", "pause", box, "--reason", "x", "--until", "2d").returncode == 0
    listed = _row(mid)
    assert listed["due"] > listed["next_attempt_at"], listed
    res = cli("queue", "show", str(mid), "--json")
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert (shown["due"], shown["next_attempt_at"]) == (listed["due"], listed["next_attempt_at"])
    text = cli("queue", "show", str(mid)).stdout
    assert f"due: {listed['due']}\n" in text, text


def test_run_once_waiting_gives_the_reply_s_first_line_not_a_checklist_cut_short(
    sink, ssl_cert_env, password, tmp_path
):
    """A refused login: the 'deferred' line printed the reply with the provider's setup
    checklist, then "Waiting:" printed it again from the ledger, where replies are kept to 500
    characters: the checklist cut off mid-word ("3. Secure Login: in t")."""
    a = _one_queued(sink.port, tmp_path)
    # the try, then a pass with nothing due, during the back-off the refusal began (75, not 0:
    # tests/test_run_fault_holds.py): each says what it waits for
    for code in (77, 75):
        res = cli("run", "--once", "--no-sync", env={"WARMUP_PASSWORD": "wrong"})
        assert res.returncode == code, res.stderr
        lines = res.stdout.splitlines()
        (i,) = [n for n, line in enumerate(lines) if line.startswith("Waiting")]
        assert lines[i] == (
            f"Waiting: 127.0.0.1 refused the login for {a}: 535 5.7.8 Authentication "
            "credentials invalid"
        ), res.stdout
        assert lines[i + 1].startswith("Next message due at"), res.stdout


def test_run_once_waiting_says_a_message_retried_by_hand_waits_for_its_not_before(
    sink, ssl_cert_env, password, tmp_path
):
    """Queued with --not-before two days on, cancelled, queued again by 'queue retry': it waits
    for its --not-before, but 'run --once' said "Waiting: cancelled: queued again by hand", its
    last reply, which holds nothing (before the cancel it gave no reason at all)."""
    from warmup.outbox.worker import due_stamp

    pool_of(sink.port, tmp_path, n=1, daily=50)
    day = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    later = day.replace(hour=9, minute=0, second=0, microsecond=0)
    eml = tmp_path / "m.eml"
    eml.write_bytes(plain("r@example.com").as_bytes())
    res = cli("queue", "add", "--pool", "P", "--eml", str(eml), "--not-before", later.isoformat())
    assert res.returncode == 0, res.stderr
    [mid] = [r["id"] for r in json.loads(cli("queue", "list", "--json").stdout)]
    waits = [
        f"Waiting: message {mid} waits for its not-before time",
        f"Next message due at {due_stamp(later)}.",
    ]
    res = cli("run", "--once", "--no-sync")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["Done: nothing was due.", *waits], res.stdout
    assert cli("queue", "cancel", str(mid)).returncode == 0
    assert cli("queue", "retry", str(mid)).returncode == 0
    assert _row(mid)["last_reply"] == "cancelled: queued again by hand"

    res = cli("run", "--once", "--no-sync")

    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["Done: nothing was due.", *waits], res.stdout
    assert not sink.messages


def _one_queued(port: int, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Pool P of one mailbox on the sink at ``port``, one message queued to it; the mailbox."""
    (a,) = pool_of(port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        Outbox(ledger).add(plain("r@example.com"), pool="P")
    finally:
        ledger.close()
    return a


def test_a_message_whose_every_mailbox_is_paused_until_resumed_is_due_once_one_is(
    sink, ssl_cert_env, password, tmp_path
):
    """Its one mailbox paused with no end: 'run --once' said "Next message due at" a time 15
    minutes on (only when the worker looks again: nothing goes then), and a running worker said
    a new such time in a new line at every pass, once a minute (60 lines an hour) for as long
    as the pause lasted. It is due once a person lets the mailbox send again, said once."""
    a = _one_queued(sink.port, tmp_path)
    assert cli("mailbox", "pause", a, "--reason", "holiday").returncode == 0

    res = cli("run", "--once", "--no-sync")

    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == (
        "Next message due once a person lets one of its mailboxes send again."
    ), res.stdout
    # 'queue list' and 'queue show' say so too: they gave the worker's look-again time as due
    [row] = json.loads(cli("queue", "list", "--json").stdout)
    assert (row["due"], row["held"]) == (None, True), row
    assert json.loads(cli("queue", "show", str(row["id"]), "--json").stdout)["held"] is True
    assert "due: when resumed" in cli("queue", "show", str(row["id"])).stdout
    table = cli("queue", "list").stdout.splitlines()
    assert "when resumed" in table[1], table
    ledger = open_ledger()
    lines: list[str] = []
    passes: list[float] = []
    at = [dt.datetime.now(dt.UTC)]

    def sleep(seconds: float) -> None:  # time passes as the worker asks: no wait
        passes.append(seconds)
        at[0] += dt.timedelta(seconds=seconds)
        if sum(passes) >= 3600:  # an hour: four looks again
            worker.stop()

    try:
        with Worker(ledger, clock=lambda: at[0], log=lines.append, sleep=sleep) as worker:
            worker.run()
    finally:
        ledger.close()
    assert sum(passes) >= 3600, passes
    waiting = [line for line in lines if " waiting: " in line]
    assert len(waiting) == 1, lines
    assert f"{a} is paused since " in waiting[0] and waiting[0].endswith(
        "; next message due once a person lets one of its mailboxes send again."
    ), waiting
    assert cli("mailbox", "resume", a).returncode == 0
    assert "sent #1 " in cli("run", "--once", "--no-sync").stdout
