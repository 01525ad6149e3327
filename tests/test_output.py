"""Output controls (issue #16): --quiet, --verbose, quota --check silent, colour only on a
terminal and never with NO_COLOR. The colour test runs the command on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

BOX = "sales@corp.example"


def test_quiet_drops_confirmations_but_not_answers_or_errors(run):
    assert run("--quiet", "mailbox", "add", BOX, "--provider", "exmail").output == ""
    assert run("--quiet", "record", "send", BOX, "--to", "a@example.com").output == ""
    loud = run("record", "send", BOX, "--to", "b@example.com")
    assert loud.stdout.startswith("Recorded 1 send")
    assert BOX in run("--quiet", "quota", BOX).stdout  # the answer asked for
    err = run("--quiet", "quota", "nobody@corp.example")
    assert err.exit_code == 78 and "not found" in err.output


def test_quota_check_is_silent_unless_verbose(run):
    run("mailbox", "add", BOX, "--provider", "exmail")
    ok = run("quota", BOX, "--check")
    assert (ok.exit_code, ok.output) == (0, "")
    shown = run("--verbose", "quota", BOX, "--check")
    assert shown.exit_code == 0 and "STATUS" in shown.stdout and BOX in shown.stdout
    run("mailbox", "pause", BOX, "--reason", "list review")
    refused = run("quota", BOX, "--check")
    assert (refused.exit_code, refused.output) == (75, "")


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run ``warmup ARGS`` with a pseudo-terminal as its stdout; what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "warmup", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=180) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(leader)
    return out.decode()


def _codes_before(word: str, text: str) -> list[str]:
    """The SGR codes (colour, bold) in force where ``word`` starts a table cell."""
    m = re.search(r"((?:\x1b\[[0-9;]*m)+)" + word + r"\b", text)
    assert m is not None, f"{word!r} is not styled in {text!r}"
    return re.findall(r"\x1b\[([0-9;]*)m", m.group(1))


@pytest.mark.slow
def test_statuses_are_coloured_on_a_terminal_only_and_never_with_no_color(run):
    run("mailbox", "add", BOX, "--provider", "exmail")
    run("mailbox", "add", "ops@corp.example", "--provider", "exmail")
    run("mailbox", "pause", "ops@corp.example", "--reason", "review")
    env = {"TERM": "xterm-256color", "NO_COLOR": ""}
    tty = _on_a_terminal("quota", env=env)
    assert set(_codes_before("ok", tty)) >= {"32"}  # green: may send now
    assert set(_codes_before("paused", tty)) >= {"31", "1"}  # bold red: needs a person
    assert "\x1b[" not in _on_a_terminal("quota", env={**env, "NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal("quota", env={**env, "TERM": "dumb"})
    assert "\x1b[" not in run("quota").stdout  # not a terminal
