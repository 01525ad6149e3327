"""The live view of ``warmup run``: its data (no terminal needed), and once through a real
pseudo-terminal; without one (or with NO_COLOR, TERM=dumb, --no-view), the plain log lines."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import select
import signal
import subprocess
import time
from email.message import EmailMessage

import pytest

from tests import forkcli
from tests.gatekit import PASSWORD_ENV
from tests.outboxkit import leads, pool_of, queue_csv, template
from tests.zonekit import kit_zone
from warmup import Outbox, api
from warmup.ledger import open_ledger
from warmup.ledger.values import local_day
from warmup.outbox.view import render, snapshot, state_of
from warmup.outbox.worker import Worker
from warmup.policy import Allowance


@pytest.mark.slow
def test_the_view_shows_quota_used_and_the_campaigns_progress_and_finish(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=2)
    res = queue_csv(leads(tmp_path / "l.csv", 5), template(tmp_path / "t.toml"), "--campaign", "c1")
    assert res.returncode == 0, res.stderr
    ledger = open_ledger()
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 4, "waiting": 1}
    now = api.now_utc()
    snap = snapshot(ledger, now, pool="P", events=("one", "two"))
    assert snap["mailboxes"] == [
        {"mailbox": a, "state": "exhausted", "until": None, "sent": 2, "quota": 2, "remaining": 0},
        {"mailbox": b, "state": "exhausted", "until": None, "sent": 2, "quota": 2, "remaining": 0},
    ]
    tomorrow = local_day(now, kit_zone()) + dt.timedelta(days=1)  # the members' zone
    assert snap["campaigns"] == [
        {"campaign": "c1", "sent": 4, "queued": 1, "failed": 0, "finish": tomorrow.isoformat()}
    ]
    lines = render(snap, dt.UTC)
    assert lines[0] == f"warmup run · pool P · {now:%Y-%m-%d %H:%M:%S}"
    assert lines[2:5] == [
        "MAILBOX         STATE      SENT/QUOTA",
        f"{a}  exhausted  2/2",
        f"{b}  exhausted  2/2",
    ]
    assert lines[6:8] == [
        "CAMPAIGN  SENT  QUEUED  FAILED  FINISH",
        f"c1        4     1       0       {tomorrow.isoformat()}",
    ]
    assert lines[-3:] == ["Last events:", "  one", "  two"]


def test_a_paced_mailbox_waits_until_its_next_slot_and_a_paused_one_says_so(
    sink, ssl_cert_env, password, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50, interval="10m")
    ledger = open_ledger()
    msg = EmailMessage()
    msg["To"] = "r1@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    Outbox(ledger).add(msg, pool="P")
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"sent": 1}
    sent_at = api.now_utc()
    api.pause(ledger, b, "by hand")
    now = api.now_utc()
    snap = snapshot(ledger, now)  # every pool's mailboxes
    (pa, pb) = snap["mailboxes"]
    assert (pa["mailbox"], pa["state"], pa["sent"], pa["quota"]) == (a, "waiting", 1, 50)
    assert now < pa["until"] <= sent_at + dt.timedelta(minutes=10)
    assert (pb["mailbox"], pb["state"], pb["until"], pb["sent"]) == (b, "paused", None, 0)
    lines = render(snap, dt.UTC)
    # the clock alone on the same UTC day; past midnight (a run at 23:55 UTC) the date too
    same_day = pa["until"].date() == now.date()
    state = f"waiting until {pa['until']:{'%H:%M' if same_day else '%m-%d %H:%M'}}"
    assert f"{a}  {state}  1/50" in lines
    assert f"{b}  {'paused'.ljust(len(state))}  0/0" in lines
    assert "all pools and mailboxes" in lines[0]
    assert lines[-1] == "-         1     0       0       done"  # a message without a campaign


def _allowance(status: str, next_send_at: dt.datetime | None = None) -> Allowance:
    return Allowance("a@corp.example", "s", 1, 50, 3, 47, status, next_send_at, None, None, ())


T = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "status, next_at, state",
    [
        ("ok", None, ("sending", None)),
        ("ok", T, ("sending", None)),
        ("hold", None, ("held", None)),
        ("step_back", None, ("stepped back", None)),
        ("paced", T + dt.timedelta(minutes=7), ("waiting", T + dt.timedelta(minutes=7))),
        ("closed", T + dt.timedelta(hours=14), ("waiting", T + dt.timedelta(hours=14))),
        ("closed", None, ("closed", None)),
        ("exhausted", T + dt.timedelta(hours=15), ("exhausted", None)),
        ("paused", None, ("paused", None)),
    ],
)
def test_each_status_of_the_plan_has_its_state_in_the_view(status, next_at, state):
    assert state_of(_allowance(status, next_at), T) == state


def _read(master: int, until: bytes | None = None, times: int = 1) -> bytes:
    """What the child writes on its terminal: until ``until`` shows (``times`` times), else
    until it closes the terminal; a child silent for 180 s fails the test instead of hanging
    it."""
    out = b""
    while until is None or out.count(until) < times:
        ready, _, _ = select.select([master], [], [], 180)
        assert ready, f"the child wrote nothing for 180 s after {out[-200:]!r}"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out


def _spawn(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """``warmup ARGS`` with its stdout on a new pseudo-terminal: the process and the
    terminal's master side."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*forkcli.command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, **PASSWORD_ENV, **env},
    )
    os.close(slave)
    return proc, master


def _on_a_pty(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """``warmup ARGS`` run to its end on a pseudo-terminal: (exit code, what it wrote)."""
    proc, master = _spawn(*args, env=env)
    try:
        out = _read(master)
    finally:
        os.close(master)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return proc.returncode, out.decode().replace("\r\n", "\n")


@pytest.mark.slow
def test_run_once_on_a_terminal_draws_the_view_and_exits_0(sink, ssl_cert_env, tmp_path):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=1)
    res = queue_csv(leads(tmp_path / "l.csv", 3), template(tmp_path / "t.toml"), "--campaign", "c1")
    assert res.returncode == 0, res.stderr
    env = {"TERM": "xterm", "NO_COLOR": "", "COLUMNS": "100", "LINES": "40"}
    code, out = _on_a_pty("run", "--once", "--no-sync", env=env)
    assert code == 0
    assert "\x1b[J" in out  # drawn in place
    last = out.rsplit("\x1b[J", 1)[1]  # the final view, then the summary
    assert "warmup run · all pools and mailboxes" in last
    assert f"{a}  exhausted  1/1" in last and f"{b}  exhausted  1/1" in last
    assert "c1        2     1       0" in last
    assert "Last events:" in last and " sent #" in last
    assert "Next message due at " in last
    assert "Done: 2 sent, 1 waiting." in last
    assert len(sink.messages) == 2


@pytest.mark.slow
def test_no_view_gives_the_log_lines_on_a_terminal(sink, ssl_cert_env, tmp_path):
    pool_of(sink.port, tmp_path, n=1, daily=5)
    res = queue_csv(leads(tmp_path / "l.csv", 1), template(tmp_path / "t.toml"))
    assert res.returncode == 0, res.stderr
    code, out = _on_a_pty("run", "--once", "--no-sync", "--no-view", env={"TERM": "xterm"})
    assert "\x1b" not in out
    lines = out.splitlines()
    assert " sent #1 " in lines[0] and len(lines) == 3
    assert lines[1:] == ["Done: 1 sent.", "Nothing is queued."]


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"TERM": "xterm", "NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_or_a_dumb_terminal_give_plain_lines(env, tmp_path):
    pool_of(2525, tmp_path, n=1)  # a ledger with a pool; nothing queued, nothing sent
    code, out = _on_a_pty("run", "--once", "--no-sync", env=env)
    assert out == "Done: nothing was due.\nNothing is queued.\n"


@pytest.mark.slow
def test_sigterm_ends_the_views_wait_at_once(tmp_path):
    pool_of(2525, tmp_path, n=1)  # nothing queued: the worker waits a minute between looks
    proc, master = _spawn("run", "--no-sync", env={"TERM": "xterm", "NO_COLOR": ""})
    try:
        # Drawn again by the view's wait between two looks at the outbox: the worker sleeps.
        out = _read(master, b"Nothing queued.", times=2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out += _read(master)
        _, err = proc.communicate(timeout=180)
        waited = time.monotonic() - started
    finally:
        os.close(master)
    assert proc.returncode == 0, err
    assert waited < 45  # not the minute (POLL) the worker would otherwise wait
    assert out.decode().replace("\r\n", "\n").endswith("Stopped.\n")


def test_the_view_of_one_pool_shows_only_that_pools_campaigns(run):
    ledger = open_ledger()
    now = api.now_utc()
    for box, pool in (("a@corp.example", "P"), ("b@corp.example", "Q")):
        api.add_mailbox(ledger, box, "exmail")
        ledger.add_pool(pool, [box], None, now)
    outbox = Outbox(ledger)
    for pool, campaign, n in (("P", "p-camp", 2), ("Q", "q-camp", 3)):
        for i in range(n):
            msg = EmailMessage()
            msg["To"] = f"{campaign}-{i}@example.com"
            msg["Subject"] = "hi"
            msg.set_content("hello")
            assert outbox.add(msg, pool=pool, campaign=campaign, now=now) is not None
    only_p = snapshot(ledger, now, pool="P")
    assert [(c["campaign"], c["queued"]) for c in only_p["campaigns"]] == [("p-camp", 2)]
    assert [m["mailbox"] for m in only_p["mailboxes"]] == ["a@corp.example"]
    every = snapshot(ledger, now)
    assert [(c["campaign"], c["queued"]) for c in every["campaigns"]] == [
        ("p-camp", 2),
        ("q-camp", 3),
    ]
    res = run("queue", "status", "--pool", "Q", "--json")  # the same filter on the command line
    assert res.exit_code == 0, res.output
    assert [c["campaign"] for c in json.loads(res.output)["campaigns"]] == ["q-camp"]
    missing = run("queue", "status", "--pool", "nope")
    assert missing.exit_code == 64 and "nope" in missing.output


def test_a_line_written_under_the_view_by_a_signal_is_kept_and_redrawn_over(tmp_path):
    """The first Ctrl-C writes a line under the view (from its signal handler, which may not
    draw): the next redraw moved up over the view only, so the old view's first line stayed
    on screen and the line was cleared away, never seen again. Noted, the redraw goes up over
    it too and lists it among the last events."""
    import io

    from warmup.outbox.view import LiveView

    pool_of(2525, tmp_path, n=1)
    screen = io.StringIO()
    view = LiveView(open_ledger(), screen)
    view.draw()
    drawn = screen.getvalue().count("\n")
    view.note("Stopping after the message in flight.")
    screen.seek(0)
    screen.truncate()
    view.draw()
    again = screen.getvalue()
    assert again.startswith(f"\x1b[{drawn + 1}F\x1b[J")
    assert "Stopping after the message in flight." in again


@pytest.mark.parametrize(
    ("tz", "local"),
    [
        # 21:00 in New York is 02:00 UTC the next day: the UTC date is a day late there
        ("America/New_York", "2026-11-20T21:00:00-05:00"),
        ("Pacific/Pago_Pago", "2026-11-20T22:00:00-11:00"),
        ("Pacific/Chatham", "2026-11-21T09:00:00+13:45"),  # a day ahead of UTC: no harm
    ],
)
def test_a_campaigns_finish_is_the_mailboxs_local_day_not_utcs(tmp_path, tz, local):
    """A message without --not-before counted the UTC date of the question as a day it could
    not finish before: a New York campaign that the plan finishes tonight said tomorrow."""
    from warmup.outbox.status import status

    ledger = open_ledger(str(tmp_path / "l.db"))
    box = "ny@corp.example"
    api.add_mailbox(ledger, box, "gmail", timezone=tz)
    at = dt.datetime.fromisoformat(local)
    msg = EmailMessage()
    msg["To"] = "r1@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    Outbox(ledger).add(msg, mailbox=box, campaign="c1", now=at)
    today = at.date().isoformat()  # the mailbox's local day: its quota has room today
    got = status(ledger, at=at.astimezone(dt.UTC))  # as 'queue status' asks: now, in UTC
    assert [c["finish"] for c in got["campaigns"]] == [today], got
    assert [t["finish"] for t in got["targets"]] == [today], got


@pytest.mark.slow
def test_a_hang_up_under_the_view_stops_without_a_traceback(tmp_path):
    """The terminal of 'warmup run' closed (an SSH session dropped), then its SIGHUP: the
    worker stopped as for SIGTERM, but its view drew the last state on the gone terminal
    (EIO) and died in a traceback, exit 1; a redraw in its wait did the same while SIGHUP was
    ignored. The lost terminal is output lost, as for the log lines: one line, exit 74."""
    pool_of(2525, tmp_path, n=1)  # nothing queued: the worker waits, redrawing
    proc, master = _spawn("run", "--no-sync", env={"TERM": "xterm", "NO_COLOR": ""})
    try:
        _read(master, b"Nothing queued.", times=2)
    finally:
        os.close(master)  # the terminal hangs up: writes on it fail (EIO)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=180)
    assert "Traceback" not in err.decode(), err.decode()
    assert proc.returncode == 74, err.decode()
    assert err.decode().endswith(
        "stopped after the message in flight; the rest stays queued for the next 'warmup run'\n"
    )


def _screen(out: str) -> list[str]:
    """The lines a terminal shows (scrolled-off ones included) after ``out``: text, CR, LF,
    and the two sequences the view moves with, ``ESC [ n F`` (up n lines, to their start) and
    ``ESC [ J`` (clear to the end of the screen); any other CSI sequence is ignored."""
    import re

    lines: list[str] = [""]
    row = col = 0
    for m in re.finditer(r"\x1b\[(\d*)([A-Za-z])|\r|\n|[^\x1b\r\n]+", out):
        token = m[0]
        if m[2] == "F":
            row, col = max(row - int(m[1] or 1), 0), 0
        elif m[2] == "J":
            del lines[row + 1 :]
            lines[row] = lines[row][:col]
        elif m[2]:
            continue
        elif token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token) :]
            col += len(token)
    return lines


def test_a_password_commands_complaint_goes_above_the_view_not_under_it(sink, tmp_path):
    """The password command's standard error goes to warmup's when that is a terminal: under
    'warmup run''s live view it was written below the view, and the next redraw (up over the
    view's own lines) wiped it and left the view's first line behind, drawn twice. Now it is
    written above the view, its escapes shown, and the view drawn again under it."""
    pool_of(sink.port, tmp_path, n=1, daily=5)
    assert queue_csv(leads(tmp_path / "l.csv", 1), template(tmp_path / "t.toml")).returncode == 0
    said = "mail/sales is not in the password store \x1b[2J"
    command = f"printf '%s\\n' '{said}' >&2; exit 1"
    env = {k: v for k, v in os.environ.items() if k not in PASSWORD_ENV}
    env |= {"TERM": "xterm", "NO_COLOR": "", "COLUMNS": "100", "LINES": "40"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*forkcli.command(), "run", "--once", "--no-sync", "--password-command", command],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,  # a terminal: the command's complaint is shown
        env=env,
    )
    os.close(slave)
    try:
        out = _read(master).decode().replace("\r\n", "\n")
    finally:
        os.close(master)
    assert proc.wait(timeout=180) == 78, out
    assert "\x1b[2J" not in out  # shown, never acted on
    screen = _screen(out)
    header = [i for i, line in enumerate(screen) if line.startswith("warmup run · ")]
    complaint = [i for i, line in enumerate(screen) if "not in the password store" in line]
    assert len(header) == 1, screen
    assert len(complaint) == 1 and complaint[0] < header[0], screen
    assert screen[complaint[0]] == "mail/sales is not in the password store \\x1b[2J", screen
    assert any("the password command failed with exit code 1" in line for line in screen), screen
    assert sink.messages == []


def test_a_commands_other_stream_handed_over_waits_not_for_what_it_left_running():
    """Read for the view (:func:`warmup.childcmd.run`'s ``other``), the password command's
    standard error is a pipe: a helper it started and left holding that pipe (an agent) must
    not keep warmup waiting until the command's time limit, as it did not while the stream
    went straight to the terminal."""
    from warmup import childcmd

    said: list[bytes] = []
    groups: list[int] = []
    began = time.monotonic()
    try:
        code, out = childcmd.run(
            "(exec sleep 30 >&2 &); echo pw; echo why >&2",
            timeout=20,
            env=dict(os.environ),
            other=said.append,
            started=groups.append,
        )
    finally:
        childcmd.kill_group(groups[0])
    assert (code, out, said) == (0, b"pw\n", [b"why\n"])
    assert time.monotonic() - began < 10
