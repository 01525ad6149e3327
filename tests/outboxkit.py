"""Helpers for outbox tests: a pool of mailboxes on the loopback sink, leads and a template.
Used as a pytest plugin (``pytest_plugins = ["tests.outboxkit"]``) for its fixtures: ``sink``
(the TLS sink every pool member logs in to) and ``password`` (the members' password in the
environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.gatekit import PASSWORD_ENV, cli, policy_file
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink, free_port
from tests.zonekit import clear_of_midnight as clear_of_midnight  # where the tests import it
from tests.zonekit import kit_zone
from tests.zonekit import midday_zone as midday_zone

BOXES = ("a@corp.example", "b@corp.example", "c@corp.example", "d@corp.example")
TEMPLATE = '''subject = "Hello {{ name }}"
text = """Dear {{ name }},
a question for {{ company }}."""
html = """<p>Dear {{ name }},</p><p>a question for {{ company }}.</p>"""
'''


def plain(rcpt: str) -> EmailMessage:
    """A one-recipient text message, without a From (the outbox sets it)."""
    msg = EmailMessage()
    msg["To"] = rcpt
    msg["Subject"] = "hi"
    msg.set_content("hello")
    return msg


def accounts(n: int) -> dict[str, str]:
    """Sink logins for the first ``n`` mailboxes (the sink's own user is the first)."""
    return {box: SMTP_PASSWORD for box in BOXES[1:n]}


def members_sink(pki, n: int) -> SmtpSink:  # type: ignore[no-untyped-def]
    """The TLS sink the first ``n`` pool members log in to (a context manager)."""
    return SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts(n))


@pytest.fixture
def sink(pki) -> Iterator[SmtpSink]:  # type: ignore[no-untyped-def]
    """The TLS sink the first two pool members log in to."""
    with members_sink(pki, 2) as s:
        yield s


def queue_plain(n: int, pool: str = "P") -> list[int]:
    """``n`` short messages (to r0@, r1@, ... example.com) queued for ``pool`` in the ledger at
    ``$WARMUP_DB``; their ids."""
    from email.message import EmailMessage

    from warmup import Outbox
    from warmup.ledger import open_ledger

    msgs = []
    for i in range(n):
        msg = EmailMessage()
        msg["To"] = f"r{i}@example.com"
        msg["Subject"] = f"m{i}"
        msg.set_content("hello")
        msgs.append((msg, None))
    ledger = open_ledger()
    try:
        return Outbox(ledger).add_many(msgs, pool=pool).ids
    finally:
        ledger.close()


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])


def sent_once(sink: SmtpSink, n: int) -> None:
    """The sink got ``n`` messages, each once; the ledger at ``$WARMUP_DB`` has each ``sent``
    and counts ``n`` sends of the (one) mailbox's quota."""
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1] * n
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    assert states == {mid: "sent" for mid in arrived}
    (quota,) = json.loads(cli("quota", "--json").stdout)
    assert quota["sent"] == n


def pool_of(
    port: int,
    tmp: Path,
    n: int = 2,
    daily: int = 5,
    name: str = "P",
    interval: str = "0s",
    zone: str | None = None,
) -> list[str]:
    """``n`` mailboxes on the sink at ``port``, each a flat ``daily`` quota with a gap of
    ``interval`` (none by default), in pool ``name``; in ``zone`` (default: the test's
    :func:`~tests.zonekit.kit_zone`, clear of midnight)."""
    policy = policy_file(tmp / "flat.toml", daily=daily, interval=interval)
    boxes = list(BOXES[:n])
    for box in boxes:
        add_box(box, port, str(policy), zone)
    res = cli("pool", "add", name, *boxes)
    assert res.returncode == 0, res.stderr
    return boxes


def add_box(address: str, port: int, policy: str = "default", zone: str | None = None) -> None:
    """``warmup mailbox add ADDRESS --provider exmail`` on the sink at ``port``, as a user adds
    it, in ``zone`` (default: the test's :func:`~tests.zonekit.kit_zone`, where no midnight falls
    while it runs; ``tests.zonekit.SHANGHAI`` for exmail's own)."""
    res = cli(
        "mailbox",
        "add",
        address,
        "--provider",
        "exmail",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
        # `warmup run` syncs bounces: on loopback, where nothing answers, never the preset's host
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        str(free_port()),
        "--policy",
        policy,
        "--timezone",
        zone or kit_zone(),
    )
    assert res.returncode == 0, res.stderr


def leads(path: Path, n: int, start: int = 0) -> Path:
    rows = [f"lead{i}@example.com,Lead {i},Co {i}" for i in range(start, start + n)]
    path.write_text("email,name,company\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def template(path: Path, text: str = TEMPLATE) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def queue_csv(csv: Path, tpl: Path, *extra: str, pool: str = "P"):  # type: ignore[no-untyped-def]
    """``warmup queue add --pool POOL [EXTRA] --csv CSV --template TPL``, as a user runs it."""
    return cli("queue", "add", "--pool", pool, *extra, "--csv", str(csv), "--template", str(tpl))


def start_driver(text: str, path: Path) -> subprocess.Popen[str]:
    """The pass-by-pass worker script ``text``, written to ``path`` and started with the
    sink's password (read its passes with :func:`driver_pass`)."""
    path.write_text(text, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(path)],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def driver_pass(proc: subprocess.Popen[str], *, cut_stamps: bool = False) -> list[str]:
    """One pass of a worker driven pass by pass in a process of its own (it runs
    ``run_once`` for each line on its stdin, prints ``LOG ...`` lines and a ``DONE ...``): its
    lines, the DONE last; ``cut_stamps``: a LOG line without its time stamp."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=60)[1]
        cut = cut_stamps and line.startswith("LOG ")
        lines.append(line.split(" ", 2)[2].strip() if cut else line.strip())
        if line.startswith("DONE "):
            return lines


def lines_until_retry(proc: subprocess.Popen[str]) -> list[str]:
    """A worker's stdout lines up to the one saying it tries again (to its end if none does)."""
    assert proc.stdout is not None
    said: list[str] = []
    for line in proc.stdout:
        said.append(line)
        if "trying again in" in line:
            break
    return said
