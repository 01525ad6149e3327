"""A change that lets a pool's mailboxes send sooner, made while its messages wait: 'mailbox
resume', a raised quota ('mailbox set --policy' or '--cap', 'policy set'), a new member. The
worker (``warmup run``, a process of its own) put each waiting message back until the plan's
next slot as the plan stood when it looked (the end of a pause, the next day once the quota
was used); the change makes them due at once, so the next pass sends what the new plan
allows, and no message shows a reason that no longer holds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli, policy_file
from tests.outboxkit import BOXES, add_box, members_sink, pool_of, queue_plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 2) as s:
        yield s


def run_once() -> str:
    """``warmup run --once`` as its own process; what it printed."""
    proc = subprocess.run(
        [*forkcli.command(), "run", "--once", "--no-sync"],
        env={**os.environ, **PASSWORD_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def states() -> list[str]:
    return [m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)]


@pytest.mark.parametrize("change", ["mailbox set --policy", "mailbox set --cap", "policy set"])
def test_a_quota_raised_while_messages_wait_for_tomorrow_lets_them_go_today(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    change,
):
    """A quota of 1, three messages: one goes, two wait for tomorrow. The user raises the
    quota; the next run sends both (they waited for tomorrow, "today's quota is used (1 of
    1 sent)", whatever the new quota)."""
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    one = policy_file(tmp_path / "one.toml", daily=1)
    fifty = policy_file(tmp_path / "fifty.toml", daily=50)
    if change == "mailbox set --cap":
        assert cli("mailbox", "set", box, "--cap", "1").returncode == 0
    elif change == "policy set":
        assert cli("policy", "add", "careful", str(one)).returncode == 0
        assert cli("mailbox", "set", box, "--policy", "careful").returncode == 0
    else:
        assert cli("mailbox", "set", box, "--policy", str(one)).returncode == 0
    queue_plain(3)
    assert "sent #1" in run_once()
    assert sorted(states()) == ["queued", "queued", "sent"]
    if change == "mailbox set --cap":
        res = cli("mailbox", "set", box, "--cap", "none")
    elif change == "policy set":
        res = cli("policy", "set", "careful", str(fifty))
    else:
        res = cli("mailbox", "set", box, "--policy", str(fifty))
    assert res.returncode == 0, res.stderr
    out = run_once()
    assert "sent #2" in out and "sent #3" in out, out
    assert states() == ["sent"] * 3
    assert len(sink.messages) == 3


@pytest.mark.parametrize("how", ["mailbox resume", "import"])
def test_a_mailbox_resumed_before_its_pause_ends_sends_at_once(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    how,
):
    """'mailbox pause --until 3d', a run (the messages wait for the pause's end), then
    'mailbox resume' (or an imported resume event: they waited the 3 days): the next run sends
    them, not in 3 days."""
    import datetime as dt

    (box,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    res = cli("mailbox", "pause", box, "--reason", "IP review", "--until", "3d")
    assert res.returncode == 0, res.stderr
    queue_plain(2)
    assert "Done: 2 waiting." in run_once()
    if how == "import":
        # to the microsecond: cut to the second, the resume could come before a pause made
        # earlier in that same second, and be read as before it
        at = dt.datetime.now(dt.UTC).isoformat()
        log = tmp_path / "log.csv"
        log.write_text(f"mailbox,recipient,sent_at,event,reason\n{box},,{at},resume,done\n")
        res = cli("import", str(log))
    else:
        res = cli("mailbox", "resume", box)
    assert res.returncode == 0, res.stderr
    out = run_once()
    assert "sent #1" in out and "sent #2" in out, out
    assert states() == ["sent", "sent"]


def test_a_member_added_to_a_pool_whose_quota_is_used_takes_its_waiting_messages(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Pool P = {a} at 1 a day, three messages: one goes, two wait for tomorrow. 'pool add P b'
    (b at 50 a day): the next run sends them from b."""
    (a,) = pool_of(sink.port, tmp_path, n=1, daily=1)
    queue_plain(3)
    assert "sent #1" in run_once()
    b = BOXES[1]
    add_box(b, sink.port, str(policy_file(tmp_path / "fifty.toml", daily=50)))
    res = cli("pool", "add", "P", b)
    assert res.returncode == 0, res.stderr
    run_once()
    assert states() == ["sent"] * 3
    assert [str(m.message["From"]) for m in sink.messages] == [a, b, b]


def test_a_message_not_before_a_later_time_still_waits_for_it(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """What the user scheduled for later is no waiting message: a change leaves it alone."""
    import datetime as dt
    from email.message import EmailMessage

    from warmup import Outbox
    from warmup.ledger import open_ledger

    (box,) = pool_of(sink.port, tmp_path, n=1, daily=50)
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "later@example.com", "later"
    msg.set_content("hello")
    ledger = open_ledger()
    try:
        Outbox(ledger).add(msg, pool="P", not_before=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    finally:
        ledger.close()
    assert cli("mailbox", "set", box, "--cap", "20").returncode == 0
    assert "nothing was due" in run_once()
    assert states() == ["queued"]


def _to_five(port: int, tmp_path: Path, target: str) -> tuple[list[str], list[str], Path]:
    """A pool of 2 mailboxes of 50 a day; 'queue add' to the first of them or to the pool; and a
    message to r0..r4@example.com."""
    boxes = pool_of(port, tmp_path, n=2, daily=50)
    queue = ["queue", "add", "--pool", "P"] if target == "pool" else ["queue", "add", "--mailbox"]
    if target == "mailbox":
        queue.append(boxes[0])
    five = tmp_path / "five.eml"
    five.write_bytes(
        b"To: " + b", ".join(b"r%d@example.com" % i for i in range(5)) + b"\r\n\r\nx\r\n"
    )
    return boxes, queue, five


@pytest.mark.parametrize("target", ["mailbox", "pool"])
def test_a_message_no_day_could_take_since_a_change_is_bounced_not_held_until_it_expires(
    sink,
    ssl_cert_env,
    tmp_path,
    target,
):
    """Queued to 5 under a quota of 50; then the cap was set to 3: the worker answered "only 3
    of today's quota left ... 5 wanted; try tomorrow" every day until the message expired, as
    'queue add' would refuse it now. It is bounced at its next look, without a try, saying why;
    a message that fits still goes."""
    boxes, queue, five = _to_five(sink.port, tmp_path, target)
    three = tmp_path / "three.eml"
    three.write_bytes(b"To: s0@example.com, s1@example.com, s2@example.com\r\n\r\nx\r\n")
    for eml in (five, three):
        res = cli(*queue, "--eml", str(eml))
        assert res.returncode == 0, res.stderr
    for box in boxes:
        assert cli("mailbox", "set", box, "--cap", "3").returncode == 0
    out = run_once()
    assert "bounced #1: 5 recipients in one message; " in out, out
    assert "never sends to more than 3 a day (its cap)" in out, out
    assert "sent #2" in out, out
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert [(m["state"], m["attempts"]) for m in listed] == [("bounced", 0), ("sent", 1)]
    assert listed[0]["last_reply"].startswith("5 recipients in one message; ")
    assert [len(m.rcpt_tos) for m in sink.messages] == [3]


@pytest.mark.parametrize("target", ["mailbox", "pool"])
def test_a_message_that_fits_once_its_suppressed_recipients_are_left_out_is_sent_not_bounced(
    sink,
    ssl_cert_env,
    tmp_path,
    target,
):
    """Queued to 5; then 2 of them suppressed and the cap set to 3. The worker leaves the
    suppressed out (the gate refuses them first) and sends to the other 3, as it did for a
    mailbox. For a pool, every member's look refused the 5 (3 left), and the no-day check
    counted the suppressed two: the message was bounced, its 3 good recipients never mailed."""
    boxes, queue, five = _to_five(sink.port, tmp_path, target)
    res = cli(*queue, "--eml", str(five))
    assert res.returncode == 0, res.stderr
    res = cli("suppress", "add", "r0@example.com", "r1@example.com", "--reason", "asked")
    assert res.returncode == 0, res.stderr
    for box in boxes:
        assert cli("mailbox", "set", box, "--cap", "3").returncode == 0
    out = run_once()
    assert "bounced" not in out, out
    assert [sorted(m.rcpt_tos) for m in sink.messages] == [
        ["r2@example.com", "r3@example.com", "r4@example.com"]
    ]


@pytest.mark.parametrize("change", ["mailbox set --policy", "policy set", "mailbox resume"])
def test_a_change_to_the_plan_leaves_a_message_a_recipients_server_deferred_backing_off(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    change,
):
    """The recipients' server greylists (451 at the end of DATA): the worker backs the
    messages off 5 minutes. A teammate then changes the plan ('mailbox set --policy', 'policy
    set', a pause ended by hand): that server's back-off still holds. The change made them
    due at once: the next run tried them again, the server refused again, and each try took
    a slot of the quota (a pool spent 81 slots on 36 messages while its policy was changed
    under a 451)."""
    boxes = pool_of(sink.port, tmp_path, n=2, daily=50)
    assert cli("policy", "add", "team", str(policy_file(tmp_path / "p.toml"))).returncode == 0
    for box in boxes:
        assert cli("mailbox", "set", box, "--policy", "team").returncode == 0
    queue_plain(2)
    sink.data_reply = (451, "4.7.1 Greylisted, please try again later")
    out = run_once()
    assert out.count("deferred #") == 2, out
    listed = json.loads(cli("queue", "list", "--json").stdout)
    due = [m["next_attempt_at"] for m in listed]
    tries, used = sink.mail_commands, _sent_today()
    if change == "mailbox set --policy":
        res = cli("mailbox", "set", boxes[0], "--policy", str(policy_file(tmp_path / "q.toml", 60)))
    elif change == "policy set":
        res = cli("policy", "set", "team", str(policy_file(tmp_path / "q.toml", daily=60)))
    else:
        assert cli("mailbox", "pause", boxes[0], "--reason", "review").returncode == 0
        res = cli("mailbox", "resume", boxes[0])
    assert res.returncode == 0, res.stderr
    assert [m["next_attempt_at"] for m in json.loads(cli("queue", "list", "--json").stdout)] == due
    assert "nothing was due" in run_once()
    assert (sink.mail_commands, _sent_today()) == (tries, used)  # no try, no slot taken


def _sent_today() -> int:
    return sum(q["sent"] for q in json.loads(cli("quota", "--json").stdout))


def test_a_back_off_in_force_when_a_ledger_is_upgraded_past_m034_holds_through_a_change(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A ledger upgraded while the recipients' server's back-off was in force (greylisting: the
    worker of a warmup before m034 backed two messages off). m034 added ``backoff_until``
    empty, so the first 'mailbox set' after the upgrade made them due at once: the next run
    tried them again, the server refused again, and each try took a slot of the quota. The
    ledger is made as that warmup left it (its outbox without the column, m034 to apply); the
    upgrade keeps the back-off."""
    from warmup.ledger import open_ledger

    boxes = pool_of(sink.port, tmp_path, n=2, daily=50)
    queue_plain(2)
    sink.data_reply = (451, "4.7.1 Greylisted, please try again later")
    out = run_once()
    assert out.count("deferred #") == 2, out
    ledger = open_ledger(ledger_url)
    try:  # the outbox as a warmup before m034 left it: no backoff_until, m034 to apply (and
        # m037, which this ledger, made by this version, had applied to an empty outbox)
        with ledger.write() as conn:
            conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN backoff_until")
            conn.exec_driver_sql(
                "DELETE FROM warmup_migrations WHERE name IN "
                "('m034_outbox_backoff_until', 'm037_outbox_backoffs_kept')"
            )
    finally:
        ledger.close()
    listed = json.loads(cli("queue", "list", "--json").stdout)  # upgrades it
    due = [m["next_attempt_at"] for m in listed]
    tries, used = sink.mail_commands, _sent_today()
    res = cli("mailbox", "set", boxes[0], "--policy", str(policy_file(tmp_path / "q.toml", 60)))
    assert res.returncode == 0, res.stderr
    assert [m["next_attempt_at"] for m in json.loads(cli("queue", "list", "--json").stdout)] == due
    assert "nothing was due" in run_once()
    assert (sink.mail_commands, _sent_today()) == (tries, used)  # no try, no slot taken
