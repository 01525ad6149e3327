"""``warmup send ADDRESS -- COMMAND`` while the command stops sending for a while (a script that
paces itself, as the providers' warm-up advice asks: minutes between sends): what the relay
delivered is written to the ledger as sent then, not when the next message comes, so nothing
that runs meanwhile (``mailbox remove``, another sender) takes it for a message in flight."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import forkcli
from tests.gatekit import removed_while_paced, rows
from tests.peers.fixtures import SMTP_USER
from tests.test_relay import box  # noqa: F401  (the fixture)

BOX = SMTP_USER

# Sends one message, says so in the file READY, then waits for the file GO (the test's turn:
# the script "paces itself"), sends a second and quits.
CLIENT = textwrap.dedent("""\
    import os, smtplib, sys, time
    from email.message import EmailMessage

    ready, go = sys.argv[1], sys.argv[2]
    env = os.environ
    with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60) as s:
        s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
        for i in range(2):
            msg = EmailMessage()
            msg["From"] = env["WARMUP_MAILBOX"]
            msg["To"] = f"lead{i}@example.com"
            msg["Subject"] = f"message {i}"
            msg.set_content("Hello.")
            try:
                s.send_message(msg)
                print(250, flush=True)
            except smtplib.SMTPResponseException as e:
                print(e.smtp_code, e.smtp_error.decode(), flush=True)
            if i == 0:
                open(ready, "w").close()
                while not os.path.exists(go):
                    time.sleep(0.02)
""")


def slots(ledger_path: Path) -> list[tuple[str, str]]:
    return [(r, o) for r, o in rows(ledger_path, "SELECT recipient, outcome FROM send ORDER BY id")]


@pytest.mark.slow
def test_a_message_the_relay_delivered_is_recorded_sent_while_the_script_waits(
    box,  # noqa: F811
    smtp_ssl,
    tmp_path,
    ledger_path,
):
    """The relay wrote a delivered message's "sent" with the next message's reservation: a
    script that waited between two sends left the first ``reserved`` all that time. Meanwhile
    'mailbox remove' was refused ("the gate is sending 1 message for it now ... try again once
    they are settled", for up to 15 minutes, though nothing was being sent and nothing would
    settle it), and any other send from the mailbox 15 minutes on showed it ``unknown`` until
    the script sent again. Now it is written once the client has its reply and sends nothing
    more; removed, the mailbox's next message is refused for later, saying why."""
    box(daily=5)
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = subprocess.Popen(
        [*forkcli.command(), "send", BOX, "--", sys.executable, str(client), str(ready), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    # the relay's own write of the first message as sent, while the script waits
    out, err = removed_while_paced(
        proc, ready, go, lambda: slots(ledger_path) == [("lead0@example.com", "sent")]
    )
    assert "Traceback" not in err
    # The script's next message: a temporary refusal naming what is wrong, nothing sent.
    first, second = out.splitlines()
    assert first == "250"
    assert second.startswith(f"451 4.3.0 unavailable: mailbox '{BOX}' not found"), second
    assert len(smtp_ssl.messages) == 1
