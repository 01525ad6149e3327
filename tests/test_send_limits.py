"""``warmup send`` of one message against what the server says it takes (EHLO's SIZE), on the
real loopback sink: a message the server would refuse costs no quota and no bounce."""

from __future__ import annotations

import json
import sqlite3

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink


def rows(db, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_message_over_the_servers_size_is_refused_before_mail(pki, ssl_cert_env, ledger_path):
    # Sent anyway, it was refused at the end of DATA (552): each recipient recorded as a soft
    # bounce (counted in the bounce rate that holds the ramp back), its quota spent, and exit
    # 75 told the script to try again later: the same refusal, every time.
    with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, size_limit=2000) as sink:
        add_box(sink.port)
        res = cli(
            "send", BOX, "--to", "a1@example.com", "--to", "a2@example.com",
            "--subject", "big", "--body", "y" * 5000, env=PASSWORD_ENV,
        )  # fmt: skip
        assert res.returncode == 65, res.stderr
        [line] = res.stderr.splitlines()
        assert "2000" in line and "SIZE" in line and "nothing was sent" in line, line
        assert sink.messages == [] and sink.mail_commands == 0
        assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]
        assert {o for (o,) in rows(ledger_path, "SELECT outcome FROM send")} <= {"released"}
        q = json.loads(cli("quota", BOX, "--json").stdout)[0]
        assert (q["sent"], q["remaining"]) == (0, 50)
        # One the server takes still goes, on the same set-up.
        ok = cli("send", BOX, "--to", "a1@example.com", "--body", "small", env=PASSWORD_ENV)
        assert ok.returncode == 0, ok.stderr
        assert [m.rcpt_tos for m in sink.messages] == [("a1@example.com",)]
