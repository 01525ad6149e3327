from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import members_sink, pool_of, queue_plain


@pytest.fixture
def sink(pki):
    with members_sink(pki, 4) as s:
        yield s


def worker(*args):
    return subprocess.Popen(
        [*forkcli.command(), "run", "--no-sync", *args],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_once_sigterm(sink, ssl_cert_env, tmp_path, sig):
    pool_of(sink.port, tmp_path, n=1, daily=50)
    queue_plain(5)
    sink.delay_data_reply = 1.0
    p = worker("--once")
    deadline = time.monotonic() + 30
    while sink.mail_commands < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(sig)
    o, e = p.communicate(timeout=60)
    print(p.returncode, o, e)
    states = Counter(m["state"] for m in json.loads(cli("queue", "list", "--json").stdout))
    print(states, len(sink.messages))
    assert len(sink.messages) == 1
    assert p.returncode == 0
