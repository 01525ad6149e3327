"""A reservation names the process that holds it: one whose process is gone from this host is
settled at once (``unknown``, counted), not 15 minutes later; a live holder's, and one of
another host, keep the expiry. Real ``warmup send`` processes against the loopback sink, whose
reply to the end of DATA is held while the test kills the sender; both backends."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import forkcli
from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, gone_within, policy_file, warmup
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Gate, open_ledger
from warmup.gate import DEFAULT_EXPIRY
from warmup.ledger import holders
from warmup.ledger.values import DuplicateSend

MID = "<first.1@corp.example>"


def eml(path: Path, to: str = "lead@example.com", mid: str = MID) -> Path:
    path.write_text(f"From: {BOX}\nTo: {to}\nSubject: s\nMessage-ID: {mid}\n\nhello\n")
    return path


def slots(url: str) -> dict[str, tuple[str, str | None, int | None]]:
    """recipient -> (outcome, holder's host, holder's pid) of each slot."""
    ledger = open_ledger(url)
    try:
        with ledger.read() as conn:
            got = conn.exec_driver_sql(
                "SELECT recipient, outcome, holder_host, holder_pid FROM send"
            ).all()
    finally:
        ledger.close()
    return {r: (o, h, p) for r, o, h, p in got}


@pytest.fixture
def held(smtp_ssl, ssl_cert_env, ledger_url, tmp_path) -> Iterator[subprocess.Popen[str]]:  # noqa: F811
    """A ``warmup send`` of :data:`MID` to lead@example.com, in a process of its own, its slot
    reserved and the sink holding its reply to the end of DATA (released when the test ends)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    smtp_ssl.hold_data_reply = threading.Event()
    proc = subprocess.Popen(
        [*forkcli.command(), "send", BOX, "--eml", str(eml(tmp_path / "m.eml"))],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert smtp_ssl.holding.wait(60), proc.communicate(timeout=5)
        yield proc
    finally:
        smtp_ssl.hold_data_reply.set()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def holder(url: str) -> int:
    """The pid the slot to lead@example.com names: the ``warmup send`` process itself (forked
    by the test's zygote, tests/forkcli.py: not the client the test started)."""
    pid = slots(url)["lead@example.com"][2]
    assert pid is not None
    return pid


def killed(url: str) -> int:
    """SIGKILL the slot's holder (the OOM killer, kill -9) and wait until it is gone; its pid."""
    pid = holder(url)
    os.kill(pid, signal.SIGKILL)
    assert gone_within(pid, 30)
    return pid


def test_the_slot_names_its_holder_and_nothing_else(held, ledger_url):  # noqa: F811
    pid = holder(ledger_url)
    assert slots(ledger_url) == {"lead@example.com": ("reserved", socket.gethostname(), pid)}
    ledger = open_ledger(ledger_url)
    try:
        with ledger.read() as conn:
            (start,) = conn.exec_driver_sql("SELECT holder_start FROM send").one()
    finally:
        ledger.close()
    assert start == started(pid)  # its place (boot, PID namespace) and start: no argv
    assert not holders.dead(socket.gethostname(), pid, start)


def test_a_killed_senders_mailbox_is_removed_at_once(held, ledger_url):  # noqa: F811
    killed(ledger_url)
    assert slots(ledger_url)["lead@example.com"][0] == "reserved"
    removed = cli("mailbox", "remove", BOX, "--force")
    assert removed.returncode == 0, removed.stderr
    assert slots(ledger_url) == {}


def test_a_live_senders_mailbox_is_not_removed(held, ledger_url):  # noqa: F811
    removed = cli("mailbox", "remove", BOX, "--force")
    assert removed.returncode == 75
    assert "the gate is sending 1 message for it now" in removed.stderr
    # nor is its slot taken by the next reservation, of another message
    with Gate(BOX) as gate:
        gate.reserve(["other@example.com"], "<other.1@corp.example>").settle("released")
    assert slots(ledger_url)["lead@example.com"][0] == "reserved"
    assert held.poll() is None


def test_a_retry_after_the_sender_was_killed_is_told_it_may_have_left(
    held,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The same Message-ID sent again at once: refused as "may already have reached" (65), the
    dead slot still counted, not "is being sent right now" (75) for 15 minutes; through the
    library's gate too, whose reservation settles the slot ``unknown``."""
    with Gate(BOX) as gate:
        # a gate that reserved before the kill: its once-a-minute expiry is not due again
        gate.reserve(["other@example.com"], "<other.1@corp.example>").settle("released")
        killed(ledger_url)
        again = warmup("send", BOX, "--eml", str(eml(tmp_path / "again.eml")), env=PASSWORD_ENV)
        assert again.returncode == 65, again.stderr
        assert f"message {MID} may already have reached lead@example.com" in again.stderr
        with pytest.raises(DuplicateSend) as refused:
            gate.reserve(["lead@example.com"], MID)
        assert refused.value.outcome == "unknown"
    assert slots(ledger_url)["lead@example.com"][0] == "unknown"
    (quota,) = json.loads(cli("quota", "--json").stdout)
    assert quota["sent"] == 1  # counted: the message may have left


def test_the_refused_retry_settles_a_killed_senders_slot(held, ledger_url, tmp_path):  # noqa: F811
    """The check before the retry's reservation that refuses it settles the dead slot as a
    reservation would: the ledger says ``unknown`` at once (queue show, reports), not
    ``reserved`` until another message is reserved; a live sender's slot stays reserved."""
    live = warmup("send", BOX, "--eml", str(eml(tmp_path / "live.eml")), env=PASSWORD_ENV)
    assert live.returncode == 65, live.stderr
    assert "is being sent right now" in live.stderr
    assert slots(ledger_url)["lead@example.com"][0] == "reserved"
    killed(ledger_url)
    again = warmup("send", BOX, "--eml", str(eml(tmp_path / "again.eml")), env=PASSWORD_ENV)
    assert again.returncode == 65, again.stderr
    assert "may already have reached" in again.stderr
    assert slots(ledger_url)["lead@example.com"][0] == "unknown"
    (quota,) = json.loads(cli("quota", "--json").stdout)
    assert quota["sent"] == 1


def test_a_gates_check_settles_a_killed_senders_slot(held, ledger_url):  # noqa: F811
    """The library's check (a gate that reserved before, its connection kept): the same."""
    with Gate(BOX) as gate:
        gate.reserve(["other@example.com"], "<other.1@corp.example>").settle("released")
        killed(ledger_url)
        with pytest.raises(DuplicateSend) as refused:
            gate.check_refusals(["lead@example.com"], MID)
        assert refused.value.outcome == "unknown"
        assert slots(ledger_url)["lead@example.com"][0] == "unknown"


def test_the_next_reservation_settles_a_killed_senders_slot(held, ledger_url):  # noqa: F811
    killed(ledger_url)
    with Gate(BOX) as gate:
        gate.reserve(["other@example.com"], "<other.1@corp.example>").settle("released")
    assert slots(ledger_url)["lead@example.com"][0] == "unknown"
    (quota,) = json.loads(cli("quota", "--json").stdout)
    assert quota["sent"] == 1


def test_a_slot_of_another_host_waits_for_the_expiry(held, ledger_url):  # noqa: F811
    """We cannot see another host's processes: its reservation is in flight until the expiry,
    whether its pid runs here or not."""
    killed(ledger_url)
    ledger = open_ledger(ledger_url)
    try:
        with ledger.write() as conn:  # as a sender on another host would have written it
            conn.exec_driver_sql("UPDATE send SET holder_host = 'elsewhere.corp.example'")
    finally:
        ledger.close()
    removed = cli("mailbox", "remove", BOX, "--force")
    assert removed.returncode == 75, removed.stderr
    with Gate(BOX) as gate:
        gate.reserve(["other@example.com"], "<other.1@corp.example>").settle("released")
    assert slots(ledger_url)["lead@example.com"][0] == "reserved"
    later = dt.datetime.now(dt.UTC) + DEFAULT_EXPIRY + dt.timedelta(minutes=1)
    with Gate(BOX) as gate:
        gate.reserve(["after@example.com"], "<after.1@corp.example>", now=later).settle("released")
    assert slots(ledger_url)["lead@example.com"][0] == "unknown"


def started(pid: int) -> str:
    """Process ``pid``'s start as a reservation names it: this place and its start time in
    clock ticks (``/proc/PID/stat`` field 22)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        ticks = f.read().rsplit(b")", 1)[1].split()[19].decode()
    return f"{holders.PLACE}.{ticks}"


def test_a_pid_given_again_is_told_by_its_start():
    """A process of this place is dead once gone (a zombie too), and a pid the kernel gave
    another program since is not its holder: the start time decides. Another host's, or
    another place's (boot, PID namespace), is never judged here."""
    host = holders.HOST
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        start = started(sleeper.pid)
        assert not holders.dead(host, sleeper.pid, start)
        place, _, ticks = start.rpartition(".")
        assert holders.dead(host, sleeper.pid, f"{place}.{int(ticks) - 1}")  # its pid, reused
        gone = f"000000000000.{ticks}"
        assert not holders.dead(host, sleeper.pid + 10**7, gone)  # another place: not seen
        assert not holders.dead("elsewhere", sleeper.pid + 10**7, start)
        assert not holders.dead(host, sleeper.pid + 10**7, None)  # reserved before m027
        sleeper.send_signal(signal.SIGKILL)
        os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)  # a zombie, not reaped
        assert holders.dead(host, sleeper.pid, start)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert holders.dead(host, sleeper.pid, start)
    me = holders.me()
    assert me == (host, os.getpid(), started(os.getpid()))
    assert not holders.dead(*me)


RELAY_CLIENT = f"""\
import os, smtplib
env = os.environ
s = smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60)
s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
try:
    s.sendmail(env["WARMUP_MAILBOX"], ["lead@example.com"],
               "Message-ID: {MID}\\r\\nSubject: s\\r\\n\\r\\nhi\\r\\n")
    print(250)
except smtplib.SMTPRecipientsRefused as exc:
    print(*exc.recipients.values())
except smtplib.SMTPResponseException as exc:
    print(exc.smtp_code, exc.smtp_error.decode())
s.quit()
"""


def test_a_script_resending_a_killed_senders_message_through_the_relay_hears_550(
    held,
    smtp_ssl,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Through the relay the same Message-ID is of unknown fate at once (550: a person
    decides), not in flight (451: retry later, for 15 minutes); nothing goes upstream."""
    killed(ledger_url)
    script = tmp_path / "client.py"
    script.write_text(RELAY_CLIENT)
    res = warmup("send", BOX, "--refuse", "--", sys.executable, str(script), env=PASSWORD_ENV)
    assert res.stdout.startswith("550 "), (res.stdout, res.stderr)
    assert "may already have reached" in res.stdout
    assert len(smtp_ssl.messages) == 0
