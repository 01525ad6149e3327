"""Sends stamped later TODAY than this host's clock, by more than the skew the ledger tolerates
(another host of a team ledger whose clock runs 20 minutes ahead, or this host before its clock
moved back): the gate counts today's whole row, so ``warmup quota`` (and ``--check``), ``plan``
and ``report`` asked live count them too. They cut today at now + CLOCK_SKEW and said "0 sent,
2 left, ok" (``--check``: exit 0) while the next send was refused "2 of 2 sent". So must the
worker's look at a pool's members (``warmup run``). Real CLI processes, a real send to the
loopback TLS sink; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, warmup
from tests.outboxkit import plain, pool_of, queue_plain
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import free_port
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox
from warmup.instants import zone
from warmup.ledger import SendIn, open_ledger

AHEAD = dt.timedelta(minutes=20)


def noon_zone(now: dt.datetime) -> str:
    """A fixed zone in which ``now`` is about noon: today's local day holds now + AHEAD
    whatever the real time of the run."""
    off = max(-12, min(14, 12 - now.hour))
    # the IANA Etc/GMT zones count the sign backwards
    return "Etc/UTC" if off == 0 else f"Etc/GMT{'-' if off > 0 else '+'}{abs(off)}"


def setup_box(url: str, port: int, tmp_path: Path, ahead: int) -> None:
    """A mailbox with a flat quota of 2 a day, and ``ahead`` sends another host stamped
    AHEAD of this one's clock today."""
    now = dt.datetime.now(dt.UTC)
    add_box(
        port,
        "--timezone",
        noon_zone(now),
        "--policy",
        str(policy_file(tmp_path / "flat.toml", daily=2)),
    )
    ledger = open_ledger(url)
    try:
        box = ledger.mailbox(BOX)
        stamped = now + AHEAD
        sends = [SendIn(f"r{i}@example.net", stamped) for i in range(ahead)]
        assert ledger.record(box, sends=sends).sends == ahead
    finally:
        ledger.close()


def quota_says(*extra: str) -> tuple[int, int, str]:
    res = warmup("quota", BOX, "--json", *extra)
    assert res.returncode == 0, res.stderr
    (q,) = json.loads(res.stdout)
    return q["sent"], q["remaining"], q["status"]


def send(tmp_path: Path, to: str) -> int:
    eml = tmp_path / f"{to}.eml"
    eml.write_text(f"From: {BOX}\nTo: {to}\nSubject: s\nMessage-ID: <{to}>\n\nhello\n")
    return warmup("send", BOX, "--eml", str(eml), env=PASSWORD_ENV).returncode


def plan_and_report_today() -> tuple[str, int, int]:
    """The plan's today: status, and what it says went out already (planned, less what goes
    out from now on); the report's today row: sent."""
    plan = warmup("plan", BOX, "--days", "1", "--json")
    assert plan.returncode == 0, plan.stderr
    (today,) = json.loads(plan.stdout)["days"]
    report = warmup("report", BOX, "--days", "1", "--json")
    assert report.returncode == 0, report.stderr
    *_, row = json.loads(report.stdout)
    return today["status"], today["planned"] - today["cumulative"], row["sent"]


def test_quota_counts_today_s_sends_stamped_ahead_as_the_gate_refuses(
    ledger_url,  # noqa: F811
    sink,
    ssl_cert_env,
    tmp_path,
):
    setup_box(ledger_url, sink.port, tmp_path, ahead=2)
    assert quota_says() == (2, 0, "exhausted")
    assert warmup("quota", BOX, "--check").returncode == 75
    assert plan_and_report_today() == ("exhausted", 2, 2)
    # ... and the gate refuses the next send, as quota said it would
    assert send(tmp_path, "new@example.com") == 75
    assert sink.messages == []


def test_quota_says_what_is_left_and_the_gate_sends_exactly_that(
    ledger_url,  # noqa: F811
    sink,
    ssl_cert_env,
    tmp_path,
):
    setup_box(ledger_url, sink.port, tmp_path, ahead=1)
    assert quota_says() == (1, 1, "ok")
    assert warmup("quota", BOX, "--check").returncode == 0
    assert send(tmp_path, "one@example.com") == 0
    assert [m.rcpt_tos for m in sink.messages] == [("one@example.com",)]
    assert quota_says() == (2, 0, "exhausted")
    assert warmup("quota", BOX, "--check").returncode == 75
    assert send(tmp_path, "two@example.com") == 75
    assert len(sink.messages) == 1


def test_quota_at_an_instant_still_leaves_out_the_sends_stamped_after_it(
    ledger_url,  # noqa: F811
    sink,
    tmp_path,
):
    """``--at`` is a question about an instant, not about sending now: a send stamped more than
    the skew after it was not made by it."""
    setup_box(ledger_url, sink.port, tmp_path, ahead=2)
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    assert quota_says("--at", at) == (0, 2, "ok")


def test_mailbox_show_pool_show_and_queue_status_count_them_too(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The other answers about now: ``mailbox show`` and ``pool show`` said "2 left", and
    ``queue status`` that a message queued now would go out today."""
    setup_box(ledger_url, free_port(), tmp_path, ahead=2)
    opens = json.loads(warmup("quota", BOX, "--json").stdout)[0]["next_send_at"]
    show = json.loads(warmup("mailbox", "show", BOX, "--json").stdout)["allowance"]
    assert (show["sent"], show["remaining"], show["status"]) == (2, 0, "exhausted")
    assert cli("pool", "add", "P", BOX).returncode == 0
    (member,) = json.loads(warmup("pool", "show", "P", "--json").stdout)["quota"]
    assert (member["sent"], member["remaining"], member["status"]) == (2, 0, "exhausted")
    ledger = open_ledger(ledger_url)
    try:
        assert Outbox(ledger).add(plain("q@example.com"), pool="P") is not None
        tz = ledger.mailbox(BOX).timezone
    finally:
        ledger.close()
    (target,) = json.loads(warmup("queue", "status", "--json").stdout)["targets"]
    tomorrow = dt.datetime.fromisoformat(opens).astimezone(zone(tz)).date().isoformat()
    assert (target["target"], target["finish"]) == ("pool P", tomorrow)


def doctor_ahead() -> list[dict[str, str]]:
    res = warmup("doctor", BOX, "--no-domain", "--json", "--timeout", "1")
    return [c for c in json.loads(res.stdout)["checks"] if c["name"] == "sends-ahead"]


def test_doctor_says_sends_stamped_on_a_later_day_point_at_a_clock_behind(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Sends stamped tomorrow (this host's clock a day behind, or theirs a day ahead) are
    tomorrow's: neither the gate nor ``quota`` counts them today (one wrong stamp must not block
    a mailbox), so a host set back a day sends a second full quota in one real day. ``doctor``
    says so, and what to do; nothing was said at all."""
    now = dt.datetime.now(dt.UTC)
    add = cli("mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "smtp.corp.invalid")
    assert add.returncode == 0, add.stderr
    assert cli("mailbox", "set", BOX, "--timezone", noon_zone(now)).returncode == 0
    ledger = open_ledger(ledger_url)
    try:
        box = ledger.mailbox(BOX)
        ledger.record(box, sends=[SendIn("now@example.net", now)])
        assert doctor_ahead() == []  # one stamped now is no sign of anything
        tomorrow = now + dt.timedelta(days=1)
        ledger.record(box, sends=[SendIn(f"t{i}@example.net", tomorrow) for i in range(2)])
    finally:
        ledger.close()
    (check,) = doctor_ahead()
    assert check["status"] == "warn"
    assert check["detail"].startswith("2 sends stamped after this host's now, the latest at ")
    assert "this host's clock may be behind" in check["detail"]
    assert "not counted in today's quota" in check["detail"]
    assert "fix its time sync" in check["fix"]
    res = warmup("quota", BOX, "--json")
    (q,) = json.loads(res.stdout)
    assert q["sent"] == 1  # counting unchanged: tomorrow's sends are tomorrow's


def pool_ahead(url: str, port: int, tmp_path: Path, b_sent: int) -> tuple[str, str, str]:
    """Pool P of a and b on the sink, 2 a day each: a's 2 sends of today stamped AHEAD (by
    another host), ``b_sent`` of b's an instant ago; a ``run --once`` environment's password
    command, which notes each mailbox it is asked for in the file it returns (a password
    command may be an unlock prompt, a vault's audit log: asked only for a member that sends)."""
    now = dt.datetime.now(dt.UTC)
    a, b = pool_of(port, tmp_path, n=2, daily=2, zone=noon_zone(now))
    ledger = open_ledger(url)
    try:
        ahead = [SendIn(f"a{i}@example.net", now + AHEAD) for i in range(2)]
        assert ledger.record(ledger.mailbox(a), sends=ahead).sends == 2
        sent = [SendIn(f"b{i}@example.net", now - AHEAD) for i in range(b_sent)]
        assert ledger.record(ledger.mailbox(b), sends=sent).sends == b_sent
    finally:
        ledger.close()
    secret, asked = tmp_path / "secret", tmp_path / "asked"
    secret.write_text(SMTP_PASSWORD + "\n")
    return a, b, f'echo "$WARMUP_MAILBOX" >> {asked}; cat {secret}'


def asked_for(tmp_path: Path) -> list[str]:
    asked = tmp_path / "asked"
    return asked.read_text().split() if asked.exists() else []


def run_once(command: str) -> str:
    res = warmup(
        "run", "--once", "--no-sync", "--no-view", env={"WARMUP_PASSWORD_COMMAND": command}
    )
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    return res.stdout


def test_the_worker_gives_the_message_to_the_member_with_room_at_once(
    ledger_url,  # noqa: F811
    sink,
    ssl_cert_env,
    tmp_path,
):
    """b has room, a has none (its 2 sends stamped 20 minutes ahead). The worker's look at
    the members cut today at now + CLOCK_SKEW: a had "2 left" as b had, came first by address,
    was given the message, read its password and had its reservation refused "2 of 2 sent"
    before b sent it. Now the look counts today as the gate does: b at once, only b's password
    asked for."""
    a, b, command = pool_ahead(ledger_url, sink.port, tmp_path, b_sent=0)
    (mid,) = queue_plain(1)
    said = run_once(command)
    assert asked_for(tmp_path) == [b]
    assert [(m.message["From"], m.rcpt_tos) for m in sink.messages] == [(b, ("r0@example.com",))]
    (row,) = json.loads(warmup("queue", "list", "--json").stdout)
    assert (row["id"], row["state"], row["sent_by"]) == (mid, "sent", b)
    assert f"sent #{mid} " in said and a not in said, said


def test_the_worker_holds_the_pool_when_no_member_has_room(
    ledger_url,  # noqa: F811
    sink,
    ssl_cert_env,
    tmp_path,
):
    """Neither has room (a's 2 stamped ahead, b's 2 sent). Seen with "2 left", a was given the
    first message (its password read, its reservation refused), which was written back to the
    queue; the pool's backlog was held only then. Now the pass holds the pool at once: no
    message claimed or written, no password asked for, each member's refusal said."""
    a, b, command = pool_ahead(ledger_url, sink.port, tmp_path, b_sent=2)
    ids = queue_plain(3)
    said = run_once(command)
    assert asked_for(tmp_path) == []
    assert sink.messages == []
    rows = json.loads(warmup("queue", "list", "--json").stdout)
    assert [(r["id"], r["state"], r["last_reply"]) for r in rows] == [
        (i, "queued", None) for i in ids
    ]
    assert all(r["updated_at"] == r["created_at"] for r in rows)  # none claimed
    assert said.startswith("Done: 3 waiting."), said
    for box in (a, b):
        assert f"{box}: today's quota is used (2 of 2 sent)" in said, said


def test_a_send_refused_for_sends_stamped_ahead_reads_no_password(
    ledger_url,  # noqa: F811
    sink,
    ssl_cert_env,
    tmp_path,
):
    """The gate asks what it would refuse before it reads a password (a script retrying on 75
    ran its password command at each refused try): that question about now cut today at now
    + CLOCK_SKEW, so ``warmup send`` from a mailbox whose quota its sends stamped ahead used
    ran the password command, then was refused "2 of 2 sent" (``--dry-run``: "allowed now (2 of 2
    left today)", exit 0). Now it is refused first, as ``--dry-run`` says."""
    setup_box(ledger_url, sink.port, tmp_path, ahead=2)
    secret, asked = tmp_path / "secret", tmp_path / "asked"
    secret.write_text(SMTP_PASSWORD + "\n")
    command = f'echo "$WARMUP_MAILBOX" >> {asked}; cat {secret}'
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: x@example.com\nSubject: s\nMessage-ID: <x@t>\n\nhello\n")
    env = {"WARMUP_PASSWORD_COMMAND": command}
    assert warmup("send", BOX, "--eml", str(eml), "--dry-run", env=env).returncode == 75
    res = warmup("send", BOX, "--eml", str(eml), env=env)
    assert res.returncode == 75, res.stderr
    assert "2 of 2 sent" in res.stderr, res.stderr
    assert not asked.exists()
    assert sink.messages == []
