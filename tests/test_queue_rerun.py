"""A script run again into its campaign (``warmup send --queue --campaign C -- COMMAND``, after a
crash half-way or by mistake) completes the campaign instead of mailing its leads twice: a
message the campaign has already — the same content to the same recipients, whatever Date,
Message-ID and multipart boundary the sending library draws this time — is answered 250
"already queued" and not queued again; a new message to the same lead (a follow-up) is queued.

Every message the script sent without a Message-ID of its own got a fresh one at queue time, so
each re-run queued the campaign again; one with its own Message-ID was refused (550) and made
the re-run fail half-way. Real processes (warmup wrapping a client script) on both backends.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import json
import os
import sys
import textwrap
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.gatekit import cli
from tests.outboxkit import pool_of
from tests.test_queue_repeats import _SLEEPS, _waiting_for_the_lock, held_runs
from tests.test_relay_queue import warmup
from warmup import Outbox
from warmup.errors import DataError
from warmup.ledger import open_ledger

pytest_plugins = ["tests.pgkit"]  # fixture: ledger_url (each backend)

# Sends one message to each of lead0..lead3 on one connection, multipart (the library draws its
# boundary at each flattening), dated by RUN (argv 2), and records each end-of-DATA reply. lead0
# and lead1 have no Message-ID (warmup gives one), lead2 one drawn afresh each run (make_msgid),
# lead3 a fixed one of its own. STEP (argv 3) is the campaign's step: its subject and text.
SCRIPT = textwrap.dedent("""\
    import json, os, smtplib, sys
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    env, seen = os.environ, []
    run, step = int(sys.argv[2]), sys.argv[3]
    with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60) as s:
        s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
        for i in range(4):
            msg = EmailMessage()
            msg["From"] = env["WARMUP_MAILBOX"]
            msg["To"] = f"lead{i}@example.com"
            msg["Subject"] = f"{step} for lead {i}"
            msg["Date"] = formatdate(1_700_000_000 + run * 86_400)
            if i == 2:
                msg["Message-ID"] = make_msgid(domain="script.example")
            if i == 3:
                msg["Message-ID"] = f"<{step}-3@script.example>"
            msg.set_content(f"Hello lead {i}, this is the {step}.")
            msg.add_alternative(f"<p>Hello lead {i}, this is the {step}.</p>", subtype="html")
            s.mail(env["WARMUP_MAILBOX"])
            s.rcpt(msg["To"])
            code, text = s.data(msg.as_bytes())
            seen.append([code, text.decode()])
    with open(sys.argv[1], "w") as f:
        json.dump(seen, f)
""")


def run_script(tmp: Path, run: int, step: str = "intro", *campaign: str):
    """The script wrapped by ``warmup send --pool P --queue [--campaign C]``: the finished
    process and the script's replies."""
    script = tmp / "script.py"
    script.write_text(SCRIPT)
    out = tmp / f"out-{run}-{step}.json"
    res = warmup(
        "send", "--pool", "P", "--queue", *campaign, "--", "python", str(script), str(out),
        str(run), step,
    )  # fmt: skip
    return res, json.loads(out.read_text()) if out.exists() else None


def rows(campaign: str | None = None) -> list:
    ledger = open_ledger()
    try:
        return ledger.messages(campaign=campaign)
    finally:
        ledger.close()


@pytest.mark.slow
def test_a_script_run_again_into_its_campaign_queues_each_message_once(
    sink, ssl_cert_env, tmp_path, ledger_url
):
    pool_of(sink.port, tmp_path)
    res, replies = run_script(tmp_path, 1, "intro", "--campaign", "dec")
    assert res.returncode == 0, res.stderr
    first = [r.id for r in rows("dec")]
    assert len(first) == 4
    assert replies == [[250, f"2.0.0 queued as {i}"] for i in first]
    assert "queued 4 messages to pool P (campaign dec); 'warmup run' sends them" in res.stderr

    # Run again: another Date, another drawn Message-ID, other boundaries; the same messages.
    again, replies = run_script(tmp_path, 2, "intro", "--campaign", "dec")
    assert again.returncode == 0, again.stderr
    assert replies == [[250, f"2.0.0 already queued as {i}"] for i in first]
    assert (
        "warmup: queued 0 messages to pool P (campaign dec); 4 already queued, not queued again"
        in again.stderr
    )
    assert [r.id for r in rows()] == first

    # The campaign's next step to the same leads: other messages, queued.
    follow, replies = run_script(tmp_path, 3, "follow-up", "--campaign", "dec")
    assert follow.returncode == 0, follow.stderr
    assert [code for code, _ in replies] == [250] * 4
    assert all(text.startswith("2.0.0 queued as ") for _, text in replies), replies
    assert "queued 4 messages to pool P (campaign dec)" in follow.stderr
    assert len(rows("dec")) == 8


@pytest.mark.slow
def test_without_a_campaign_a_script_run_again_queues_its_messages_again(
    sink, ssl_cert_env, tmp_path, ledger_path
):
    """Unchanged without --campaign: nothing says the messages of two runs are one set (a script
    may mail the same report every day), so each run's messages are queued; only a Message-ID
    queued already is refused, as before (the script's lead3)."""
    pool_of(sink.port, tmp_path)
    res, replies = run_script(tmp_path, 1)
    assert res.returncode == 0, res.stderr
    assert [code for code, _ in replies] == [250] * 4
    again, replies = run_script(tmp_path, 2)
    assert again.returncode == 0, again.stderr
    assert [code for code, _ in replies] == [250, 250, 250, 550], replies
    assert "is in the outbox already" in replies[3][1]
    assert len(rows()) == 7


def _message(body: str = "Hello.", *, date: str = "Mon, 1 Dec 2026 09:00:00 +0000") -> bytes:
    """A multipart message to lead@ and cc@, as a library writes it: flattened anew each time
    (another boundary), dated as given."""
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Cc"] = "cc@example.com"
    msg["Subject"] = "A question"
    msg["Date"] = date
    msg.set_content(body)
    msg.add_alternative(f"<p>{body}</p>", subtype="html")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_the_same_message_is_queued_once_per_campaign_and_target(ledger_url, sink, tmp_path):
    """The library's rule (``Outbox.add``, which the relay and ``queue add --eml`` use): left out
    when the campaign of the same pool or mailbox has it queued, being sent or done; queued
    when its content differs, in another campaign or target, once the campaign's copy was
    cancelled, and always without a campaign."""
    pool_of(sink.port, tmp_path)
    ledger = open_ledger(ledger_url)
    box = Outbox(ledger)
    try:
        one = box.add(_message(), pool="P", campaign="dec")
        assert one is not None
        later = _message(date="Tue, 2 Dec 2026 10:00:00 +0000")
        assert b"boundary" in later and later != _message()  # the boundary differs
        assert box.add(later, pool="P", campaign="dec") == one
        both = ["lead@example.com", "cc@example.com"]
        got = box.add_many([_message(), (_message(), both)], pool="P", campaign="dec")
        assert (got.ids, got.already) == ([], [("message 1", one), ("message 2", one)])
        # Only the envelope differs: another message (a Bcc is in no header).
        bcc = box.add(_message(), pool="P", campaign="dec", recipients=["lead@example.com"])
        other = box.add(_message("Following up."), pool="P", campaign="dec")
        jan = box.add(_message(), pool="P", campaign="jan")
        mailbox = box.add(_message(), mailbox="a@corp.example", campaign="dec")
        loose = [box.add(_message(), pool="P"), box.add(_message(), pool="P")]
        new = {bcc, other, jan, mailbox, *loose}
        assert None not in new and len(new) == 6 and one not in new
        # Two alike in one batch: the first queued, the second is it.
        twice = box.add_many([_message("Twice."), _message("Twice.")], pool="P", campaign="dec")
        assert twice.already == [("message 2", twice.ids[0])] and len(twice.ids) == 1
        # Cancelled, it never left: queued again.
        ledger.cancel_messages(dt.datetime.now(dt.UTC), message=one)
        assert box.add(_message(), pool="P", campaign="dec") not in (None, one)
        assert len(ledger.messages()) == 9
    finally:
        ledger.close()


def test_an_own_message_id_is_the_same_message_only_with_the_same_content(
    ledger_url, sink, tmp_path
):
    """A script naming its own Message-IDs, run again: the same message under it is queued
    already (it was refused, and the re-run failed half-way); another message under it is
    still refused, as every Message-ID is queued once."""
    pool_of(sink.port, tmp_path)
    ledger = open_ledger(ledger_url)
    box = Outbox(ledger)
    try:
        raw = b"Message-ID: <own@script.example>\r\n" + _message()
        one = box.add(raw, pool="P", campaign="dec")
        assert box.add(raw, pool="P", campaign="dec") == one
        with pytest.raises(DataError, match="<own@script.example> is in the outbox already"):
            other = b"Message-ID: <own@script.example>\r\n" + _message("Other.")
            box.add(other, pool="P", campaign="dec")
        assert len(ledger.messages()) == 1
    finally:
        ledger.close()


def test_queue_add_eml_again_in_its_campaign_skips_it(sink, tmp_path, ledger_path):
    pool_of(sink.port, tmp_path)
    eml = tmp_path / "offer.eml"
    eml.write_bytes(_message())
    res = cli("queue", "add", "--pool", "P", "--campaign", "dec", "--eml", str(eml))
    assert res.returncode == 0, res.stderr
    eml.write_bytes(_message(date="Wed, 3 Dec 2026 08:00:00 +0000"))  # saved again
    again = cli("queue", "add", "--pool", "P", "--campaign", "dec", "--eml", str(eml))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Queued 0 messages to pool P (campaign dec).\n"
    [row] = rows()
    assert again.stderr == (
        f"Skipped 1 message already queued: {eml} (#{row.id}); the same message is queued once "
        f"per campaign.\n"
    )


@pytest.mark.slow
def test_two_runs_of_a_script_at_once_queue_each_message_once(
    sink, ssl_cert_env, tmp_path, ledger_url
):
    """Two runs of one script into one campaign at once (a retried cron job, two terminals):
    each message is queued by one of them and answered 'already queued' to the other. Real
    processes, both held at their first message's write (by a lock the test takes) until both
    have reached it, so the race is run every time."""
    pool_of(sink.port, tmp_path)
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    app = f"rerun-race-{uuid.uuid4().hex[:8]}"
    url = f"{ledger_url}&application_name={app}" if "?" in ledger_url else ledger_url
    env = {**os.environ, "WARMUP_DB": url}
    outs = [tmp_path / f"race-{k}.json" for k in range(2)]
    cmd = [sys.executable, "-m", "warmup", "send", "--pool", "P", "--queue", "--campaign", "dec"]
    cmds = [
        [*cmd, "--", sys.executable, str(script), str(out), str(k), "intro"]
        for k, out in enumerate(outs)
    ]
    procs = held_runs(cmds, env, ledger_url, app, _all_waiting)
    done = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], done
    replies = [json.loads(out.read_text()) for out in outs]
    assert all(code == 250 for run in replies for code, _ in run), replies
    fresh = sorted(text for run in replies for _, text in run if "already" not in text)
    assert len(fresh) == 4, replies
    assert len(rows("dec")) == 4


def _all_waiting(pids: list[int], url: str, app: str) -> bool:
    """Whether both runs wait for the test's lock: on SQLite, a thread of each (the relay's)
    sleeping in the busy handler; on PostgreSQL, as ``queue add``'s race test reads it."""
    if not url.startswith("sqlite"):
        return _waiting_for_the_lock(pids, url, app)
    sleeps = _SLEEPS[os.uname().machine]
    return all(
        any(
            _syscall(f"/proc/{pid}/task/{tid}/syscall") in sleeps
            for tid in os.listdir(f"/proc/{pid}/task")
        )
        for pid in pids
    )


def _syscall(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().split(" ", 1)[0]
    except OSError:  # the thread ended
        return ""


def test_a_pools_message_is_the_same_whichever_member_it_names_as_from(ledger_url, sink, tmp_path):
    """A script picking a member of the pool at random for From each run sends the same
    message: the worker sets From to the member that sends it (its display name kept)."""
    pool_of(sink.port, tmp_path)
    ledger = open_ledger(ledger_url)
    box = Outbox(ledger)
    try:
        one = box.add(b"From: Sales <a@corp.example>\r\n" + _message(), pool="P", campaign="dec")
        same = box.add(b"From: Sales <b@corp.example>\r\n" + _message(), pool="P", campaign="dec")
        named = box.add(b"From: Bea <b@corp.example>\r\n" + _message(), pool="P", campaign="dec")
        assert same == one and named not in (None, one)
    finally:
        ledger.close()


def _with_image(image: bytes = b"\x89PNG logo") -> bytes:
    """An HTML message with an inline image, as Python's email examples build it: its
    Content-ID drawn by make_msgid at each run, and the HTML naming it (``cid:``)."""
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Subject"] = "Our new logo"
    msg.set_content("Our new logo.")
    cid = email.utils.make_msgid()
    msg.add_alternative(f'<p>Our new logo:</p><img src="cid:{cid[1:-1]}">', subtype="html")
    html = msg.get_payload()[1]
    html.add_related(image, "image", "png", cid=cid)
    return msg.as_bytes(policy=email.policy.SMTP)


def test_a_message_with_an_inline_image_run_again_is_the_same_message(ledger_path, sink, tmp_path):
    """An inline image's Content-ID is drawn afresh at each run (make_msgid, as Python's email
    examples do), and the HTML names it: a re-run's message is the same one (it was queued
    again, the lead mailed twice); another image is another message."""
    pool_of(sink.port, tmp_path)
    ledger = open_ledger(str(ledger_path))
    box = Outbox(ledger)
    try:
        one = box.add(_with_image(), pool="P", campaign="dec")
        assert one is not None
        assert box.add(_with_image(), pool="P", campaign="dec") == one
        other = box.add(_with_image(b"\x89PNG another logo"), pool="P", campaign="dec")
        assert other not in (None, one)
        assert len(ledger.messages()) == 2
    finally:
        ledger.close()
