"""A message naming 100,000 recipients is refused in seconds, not minutes.

The header registry reads ~150 µs an address: `queue add --eml` and `send --eml` of a To of
100,000 ran past a minute before saying "too many recipients" (exit 65). Plain To/Cc/Bcc are
read first and checked against the mailbox's day; what the full reading accepts still passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ledger_digest

BOX = "a@corp.example"


def _eml(path: Path, n: int, start: int = 0) -> Path:
    to = ", ".join(f"user{i}@example.com" for i in range(start, start + n))
    path.write_bytes(f"From: {BOX}\r\nTo: {to}\r\nSubject: hi\r\n\r\nhello\r\n".encode())
    return path


def test_an_eml_to_100000_recipients_is_refused_65_within_seconds(run, tmp_path, ledger_path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    eml = _eml(tmp_path / "huge.eml", 100_000)
    before = ledger_digest(ledger_path)
    said = (
        "100000 recipients in one message; a@corp.example never sends to more than 300 a day "
        "(its policy's ceiling): split it into messages of at most 300 recipients\n"
    )
    for args, where in (
        (["queue", "add", "--mailbox", BOX, "--eml", str(eml)], f"{eml}: "),
        (["send", BOX, "--eml", str(eml)], ""),
    ):
        # 20 s: the registry's reading alone took over a minute; this takes about one
        proc = subprocess.run(
            [sys.executable, "-m", "warmup", *args],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 65, proc.stderr
        assert proc.stderr == f"Error: {where}{said}", proc.stderr
    assert ledger_digest(ledger_path) == before


def test_many_plain_recipients_the_day_can_take_once_suppressed_are_left_out_are_queued(
    run, tmp_path
):
    """Read early, the count still leaves out suppressed recipients, as the full check does:
    1,200 named, 300 of them suppressed, to a ceiling of 1,000: queued to the 900 others."""
    policy = tmp_path / "k.toml"
    policy.write_text(
        'name = "k"\nceiling = 1000\ngrowth_factor = 2.0\n\n'
        '[[stage]]\nname = "flat"\ndays = 0\ndaily = 1000\ninterval = "0s"\n'
    )
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(policy)).exit_code == 0
    )
    listed = tmp_path / "gone.txt"
    listed.write_text("".join(f"user{i}@example.com\n" for i in range(300)))
    res = run("suppress", "add", "--from", str(listed), "--reason", "asked")
    assert res.exit_code == 0, res.output
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(_eml(tmp_path / "m.eml", 1_200)))
    assert res.exit_code == 0, res.output
    assert "Skipped 300 suppressed recipients" in res.stderr, res.stderr
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(_eml(tmp_path / "n.eml", 1_001, 300)))
    assert res.exit_code == 65, res.output
    assert "1001 recipients in one message" in res.stderr, res.stderr


def test_plain_recipients_are_those_the_registry_reads_and_the_rest_is_left_to_it():
    import email
    import email.policy

    from warmup import headers

    def read(to: str) -> tuple[list[str] | None, list[str]]:
        raw = f"From: {BOX}\r\nTo: {to}\r\nCc: c@example.com\r\n\r\nhi\r\n".encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return headers.plain_recipients(msg), headers.recipients_of(msg)

    for to in (
        "a@example.com",
        "A B <a@example.com>, b@example.com,,",
        "Li<li@x.example>,\r\n  w.z+tag@y.example",
    ):
        plain, full = read(to)
        assert plain == full, (to, plain, full)
    for to in (
        '"Smith, J" <j@example.com>',  # the comma is quoted
        "a@example.com (b@example.com)",  # a comment
        "team: a@example.com;",  # a group
        "=?utf-8?q?a=40b.example?= <x@example.com>",  # an encoded word
        "J. Smith <j@example.com>",  # an obsolete phrase
        "a@example.com b@example.com",  # no comma
    ):
        assert read(to)[0] is None, to
