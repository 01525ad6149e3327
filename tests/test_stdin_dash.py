"""A FILE of ``-`` is standard input wherever a command reads a file of data, as for
``warmup import -``: ``bounces parse -``, ``queue add --eml -``, ``--csv -``, ``--template -``
(``import -``: tests/test_import.py; a terminal's hint for each: tests/test_output.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY

BOX = "sales@corp.example"
REPORT = Path(__file__).parent / "corpus" / "dsn" / "eml" / "arf-01.eml"
TEMPLATE = 'subject = "Hello {{ name }}"\ntext = "Hi {{ name }}"\n'


def _warmup(
    *args: str, stdin: bytes | None, db: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **({"WARMUP_DB": str(db)} if db else {})}
    return subprocess.run(
        [*forkcli.command(), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))  # 'send' asks the plan now
    got = _warmup("mailbox", "add", BOX, *exmail, stdin=None, db=path)
    assert got.returncode == 0, got.stderr
    return path


def _queued(db: Path) -> list[dict[str, object]]:
    got = _warmup("queue", "list", "--json", stdin=None, db=db)
    assert got.returncode == 0, got.stderr
    return list(json.loads(got.stdout))


def test_bounces_parse_reads_a_report_from_standard_input() -> None:
    """'fetch | warmup bounces parse -' said "File '-' does not exist" (64): it reads the
    pipe, as the file itself, and names it standard input."""
    from_file = _warmup("bounces", "parse", "--json", str(REPORT), stdin=None)
    piped = _warmup("bounces", "parse", "--json", "-", stdin=REPORT.read_bytes())
    assert piped.returncode == 0, piped.stderr
    want = json.loads(from_file.stdout)[0]["bounces"]
    assert want and json.loads(piped.stdout) == [{"file": "-", "bounces": want}]
    text = _warmup("bounces", "parse", "-", stdin=REPORT.read_bytes())
    assert text.stdout.decode().startswith("standard input: complaint"), text.stdout
    twice = _warmup("bounces", "parse", "-", "-", stdin=REPORT.read_bytes())
    assert (twice.returncode, twice.stdout) == (64, b"")
    assert twice.stderr.decode() == (
        "Error: standard input given 2 times (FILES -, FILES -); it can be read once: give the "
        "others as files\n"
    )


def test_queue_add_eml_reads_a_message_from_standard_input(db: Path) -> None:
    """'render | warmup queue add --eml -' said "File '-' does not exist" (64)."""
    message = b"To: lead@example.com\r\nSubject: Offer\r\n\r\nHello\r\n"
    got = _warmup("queue", "add", "--mailbox", BOX, "--eml", "-", stdin=message, db=db)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"Queued 1 message to mailbox sales@corp.example.\n"
    assert [m["recipients"] for m in _queued(db)] == [["lead@example.com"]]
    before = ledger_digest(db)
    bad = _warmup("queue", "add", "--mailbox", BOX, "--eml", "-", stdin=b"To: x@\0\n\nhi", db=db)
    assert bad.returncode == 65
    assert (
        bad.stderr.decode().startswith("Error: standard input: ") and bad.stderr.count(b"\n") == 1
    )
    assert ledger_digest(db) == before


def test_queue_add_csv_and_template_read_standard_input(db: Path, tmp_path: Path) -> None:
    """'export-leads | warmup queue add --csv - --template t.toml' said "File '-' does not
    exist" (64); bad bytes on standard input are one line, 65, nothing queued; standard input
    is one stream: given to both options, it is refused (64)."""
    template = tmp_path / "t.toml"
    template.write_text(TEMPLATE)
    leads = tmp_path / "leads.csv"
    leads.write_text("email,name\nb@example.com,B\n")
    csv = ("queue", "add", "--mailbox", BOX, "--csv")
    got = _warmup(
        *csv, "-", "--template", str(template), stdin=b"email,name\na@example.com,A\n", db=db
    )
    assert got.returncode == 0, got.stderr
    got = _warmup(*csv, str(leads), "--template", "-", stdin=TEMPLATE.encode(), db=db)
    assert got.returncode == 0, got.stderr
    assert [m["recipients"] for m in _queued(db)] == [["a@example.com"], ["b@example.com"]]
    before = ledger_digest(db)
    bad = _warmup(
        *csv, "-", "--template", str(template), stdin=b"email,name\n\xffc@x.example,C\n", db=db
    )
    assert bad.returncode == 65
    assert bad.stderr.decode().startswith("Error: standard input: line 2: not UTF-8 text")
    assert bad.stderr.count(b"\n") == 1
    both = _warmup(*csv, "-", "--template", "-", stdin=TEMPLATE.encode(), db=db)
    assert both.returncode == 64
    assert both.stderr.decode() == (
        "Error: standard input given 2 times (--csv -, --template -); it can be read once: "
        "give the others as files\n"
    )
    assert ledger_digest(db) == before


def test_send_reads_its_body_or_html_from_standard_input(db: Path) -> None:
    """'render | warmup send ADDRESS --to X --body-file -' said "File '-' does not exist" (64)
    though 'send --eml -' reads the pipe; bad bytes are one line, 65."""
    send = ("send", BOX, "--to", "lead@example.com", "--dry-run")
    for args in (("--body-file", "-"), ("--body", "Hi", "--html-file", "-")):
        got = _warmup(*send, *args, stdin=b"<p>Hello</p>\n", db=db)
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith(b"Would send to 1 recipient: allowed now"), got.stdout
    bad = _warmup(*send, "--body-file", "-", stdin=b"\xffHello", db=db)
    assert bad.returncode == 65
    assert bad.stderr.decode() == (
        "Error: --body-file -: not UTF-8 text (byte 0 is 0xff); convert it (iconv -t UTF-8), or "
        "send a prepared message with --eml\n"
    )
    both = _warmup(*send, "--body-file", "-", "--html-file", "-", stdin=b"Hello", db=db)
    assert both.returncode == 64
    assert both.stderr.decode().startswith(
        "Error: standard input given 2 times (--body-file -, --html-file -)"
    )
    # /dev/stdin is the same stream: the attachment read it after the body and went out empty
    for attach in ("/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"):
        got = _warmup(*send, "--body-file", "-", "--attach", attach, stdin=b"Hello", db=db)
        assert (got.returncode, got.stdout) == (64, b""), got.stderr
        assert got.stderr.decode() == (
            f"Error: standard input given 2 times (--body-file -, --attach {attach}); it can be "
            f"read once: give the others as files\n"
        )
    alone = _warmup(*send, "--body", "Hi", "--attach", "/dev/stdin", stdin=b"%PDF-1.4", db=db)
    assert alone.returncode == 0, alone.stderr


def _stopped_while_reading(args: list[str], db: Path, fifo: Path | None) -> tuple[int, str]:
    """``warmup ARGS`` stopped by SIGTERM while it waits for its input to be written: the named
    pipe ``fifo`` (opened here for writing, which returns once warmup opened it to read), else
    its standard input, a pipe it has emptied of a first line (nothing here waits on a clock).
    Its exit status and stderr."""
    import fcntl
    import signal
    import struct
    import termios

    proc = subprocess.Popen(
        [*forkcli.command(), *args],
        stdin=subprocess.PIPE if fifo is None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "WARMUP_DB": str(db)},
    )
    try:
        if fifo is not None:
            writer = open(fifo, "wb")  # noqa: SIM115  (returns once warmup reads it)
        else:
            assert proc.stdin is not None
            writer = proc.stdin
            writer.write(b"Subject: a generator that hangs\n")
            writer.flush()
            while struct.unpack("i", fcntl.ioctl(writer, termios.FIONREAD, b"\0\0\0\0"))[0]:
                assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        writer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("how", ["body-file", "eml", "sendmail"])
def test_a_send_stopped_while_it_waits_for_its_input_says_so(db: Path, tmp_path: Path, how):
    """'timeout 60 warmup send --body-file PIPE' (or --eml, or 'generator | warmup sendmail')
    whose writer hangs: SIGTERM killed it where it stood, without the "Aborted (Terminated)."
    that says it was stopped, as it says a moment later, once the message is read."""
    before = ledger_digest(db)
    fifo = tmp_path / "pipe"
    if how == "sendmail":
        args, fifo_or_none = ["sendmail", "-f", BOX, "lead@example.com"], None
    else:
        os.mkfifo(fifo)
        args = ["send", BOX, "--to", "lead@example.com", f"--{how}", str(fifo)]
        fifo_or_none = fifo
    code, err = _stopped_while_reading(args, db, fifo_or_none)
    assert (code, err.strip()) == (143, "Aborted (Terminated)."), (code, err)
    assert ledger_digest(db) == before


@pytest.mark.parametrize(
    "command", [["suppress", "add", "--reason", "unsubscribed"], ["suppress", "remove"]]
)
def test_any_command_stopped_while_it_waits_for_its_input_says_so(
    db: Path, tmp_path: Path, command: list[str]
):
    """Only some commands took SIGTERM as Ctrl-C: 'timeout 60 warmup suppress add --from PIPE'
    whose writer hangs died without a word, a stop no one could tell from a crash. Every
    command says "Aborted (Terminated)." now, its write rolled back."""
    before = ledger_digest(db)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, err = _stopped_while_reading([*command, "--from", str(fifo)], db, fifo)
    assert (code, err.strip()) == (143, "Aborted (Terminated)."), (code, err)
    assert ledger_digest(db) == before
