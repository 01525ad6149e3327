"""Hostile values for every option and argument of every ``warmup`` command, each in a real process.

    PYTHONPATH=$PWD .venv/bin/python scripts/clifuzz.py [--jobs N] [--only WORDS] [--out FILE]

The commands and their parameters come from the click tree (tests/clitree.py), so an option
added later is attacked too. Each parameter that takes a value gets the hostile values its type
invites (every one gets the generic ones: empty, blank, control characters, a lone surrogate as
a non-UTF-8 byte in argv, 10,000 characters, ...; numbers, dates, zones, durations and paths
where the type or metavar asks for one); a flag is given once. Each run is ``warmup`` in a
process of its own (tests/forkcli.py's zygote: a fork, not an interpreter's start), on a fresh
copy of a ledger with two mailboxes, a pool, a stored policy, a suppression and a queued message,
standard input closed, a working directory deep enough that ``../../etc/passwd`` names no file
of the machine, and SMTP/IMAP/DNS pointed at a closed port of 127.0.0.1 (nothing leaves).

A finding is: an exit code outside DESIGN's sysexits set, a "Traceback" in the output, a failure
(non-zero exit) whose error is not one line on stderr (notes and warnings aside; a command that
answered on stdout, as doctor's checks or plan's volume not reached do, is a report), a failure
that changed the ledger (every row of every table compared; not for ``run``, a worker that
records what it did), or a run that outlasts ``--timeout`` seconds (a hang). A named pipe
given as a data file is read as ``cat`` reads one (README): the sweep comes as its writer and
goes at once, so only a command that then still waits is a hang. Findings are printed as
they come and written as JSON to ``--out``; exit 1 if any. Not a test: ~4,100 runs take
~40 minutes on two shared cores (``plot`` alone ~12 s a run under load; ``demo``, a minute's
simulation, is left out). Not covered: NUL in argv (exec refuses it before warmup runs: the
NUL rule is tested in-process), an unreadable file (as root every file is readable), and
devices that never end (``/dev/zero``: run by hand under a memory limit, 2026-12-07, each file
option refused it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import click  # noqa: E402

from tests import forkcli  # noqa: E402
from tests.clitree import params  # noqa: E402

SYSEXITS = {0, 64, 65, 66, 69, 74, 75, 77, 78}
A, B = "a@corp.example", "b@corp.example"
SURROGATE = os.fsdecode(b"caf\xe9\xff")  # what argv holds for bytes that are no UTF-8

GENERIC = [
    "",
    " ",
    "\t \n",
    "\x01\x07\x1b[31m\x7f",
    "a\r\nBcc: x@example.com",
    SURROGATE,
    "x" * 10_000,
    "-",
    "--",
    "../../etc/passwd",
    "\u202e\ufeffé",
]
NUMBERS = [
    "0",
    "-1",
    "-0",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 400,
    "1e309",
    "nan",
    "inf",
    "-inf",
    "1.5",
    "0x10",
    "1_000",
    "\u0663",
]
DATES = [
    "0000-00-00",
    "9999-12-31T24:00",
    "2016-12-31T23:59:60",
    "2026-02-30",
    "2026-13-01",
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00-12:00",
    "1970-01-01T00:00:00Z",
    "2026-11-16T10:00+25:00",
    "2026-03-08T02:30",
    "today",
    "now",
    "none",
    "-1d",
    "P1Y",
    "1e9d",
    "24:00",
    "99:99",
    "10:00:60",
]
ZONES = [
    "Mars/Olympus",
    "../../etc/passwd",
    "/etc/localtime",
    "Etc/GMT+14",
    "Etc/GMT-15",
    "posixrules",
    "Factory",
    "+08:00",
    "localtime",
    "UTC\\",
    "asia/shanghai",
    "America/",
    ".",
]
DURATIONS = ["1e9d", "-5m", "P1Y", "0s", "1d12h", "9" * 30 + "w", "1e308s", "5", "m", "1d-1h"]
CHOICES = ["SSL", "ssl ", "s"]
ADDRESSES = ["@", "a@", "@b", "a@b@c", "<a@corp.example>", "A@CORP.EXAMPLE", "a@corp.example."]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = closed_port()


def values_for(param: click.Parameter) -> list[str]:
    """The hostile values ``param``'s type and metavar invite."""
    meta = (param.metavar or "").upper()
    kind = type(param.type).__name__
    out = list(GENERIC)
    if isinstance(param.type, click.types._NumberParamTypeBase) or meta in {"N", "D", "N|NONE"}:
        out += NUMBERS
    if kind in {"Duration", "Seconds"}:
        out += DURATIONS + NUMBERS
    if any(w in meta for w in ("DATE", "WHEN", "TIME")):
        out += DATES
    if meta == "TZ":
        out += ZONES
    if isinstance(param.type, click.Path) or any(w in meta for w in ("FILE", "PATH", "DIR")):
        out += ["PATH:dir", "PATH:root", "PATH:fifo", "PATH:devnull", "PATH:proc", "PATH:long",
                "PATH:dangling", "PATH:deep", "PATH:devfull", "PATH:binary"]  # fmt: skip
    if isinstance(param.type, click.Choice):
        out += CHOICES
    if param.name in {"address", "addresses", "addresses_", "to", "cc", "reply_to", "mailbox",
                      "recipients", "f", "match"}:  # fmt: skip
        out += ADDRESSES
    if meta in {"URL|PATH", "URL|-"}:
        out += ["sqlite:///", "sqlite://", f"postgresql+psycopg://127.0.0.1:{PORT}/x",
                "mysql://x", f"http://127.0.0.1:{PORT}/", "file:x?mode=ro", ":memory:"]  # fmt: skip
    if meta == "IP[:PORT]":
        out += ["127.0.0.1:0", "127.0.0.1:99999", "[::1]:53", "::1", "999.1.1.1", "host:x"]
    return out


def make_files(files: Path) -> dict[str, Path]:
    files.mkdir(parents=True)
    (files / "msg.eml").write_text(
        f"From: {A}\r\nTo: x@example.com\r\nSubject: hi\r\nMessage-ID: <q1@corp.example>\r\n\r\nhi\r\n"
    )
    (files / "leads.csv").write_text("email,name\ny@example.com,Y\n")
    (files / "intro.toml").write_text('subject = "Hi {{ name }}"\ntext = "Hello {{ name }}"\n')
    (files / "bounce.eml").write_bytes(
        (ROOT / "tests/fuzz_corpus/bounces").iterdir().__next__().read_bytes()
    )
    (files / "import.csv").write_text(
        "mailbox,recipient,sent_at\n" + f"{A},z@example.com,2026-11-01T09:00:00+08:00\n"
    )
    (files / "supp.txt").write_text("s2@example.com\n")
    (files / "body.txt").write_text("hello\n")
    return {p.stem: p for p in files.iterdir()}


def cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[int, str, str]:
    """``warmup ARGS`` in a process of its own: exit code, stdout, stderr."""
    command = forkcli.command()  # the zygote's socket, in the environment it hands on
    res = subprocess.run(
        [*command, *args],
        env={**env, forkcli.ENV: os.environ[forkcli.ENV]},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    return (
        res.returncode,
        res.stdout.decode("utf-8", "replace"),
        res.stderr.decode("utf-8", "replace"),
    )


def writer_closes(fifo: Path, done: threading.Event) -> None:
    """Be the named pipe's writer once warmup opens it, and close it at once (an empty file).

    A data file given as a named pipe is read as ``cat`` reads one, waiting for its writer
    (README): a run that waits is not a hang; one that still does not end once the writer
    has come and gone is."""
    while not done.is_set():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
            continue
        os.close(fd)
        return


def digest(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(repr(r) for r in con.execute(f'SELECT * FROM "{t}"').fetchall())
            for t in tables
        }
    finally:
        con.close()


class Sweep:
    def __init__(self, work: Path, timeout: float) -> None:
        self.work, self.timeout = work, timeout
        self.files = make_files(work / "files")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WARMUP_", "XDG_"))}
        self.env.update(
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
            PYTHONPATH=str(ROOT),
            TZ="UTC",
        )
        self.template = work / "template.db"
        env = self.run_env(work / "setup")
        cwd = work / "setup"
        net = ["--smtp-host", "127.0.0.1", "--smtp-port", str(PORT), "--smtp-security", "none",
               "--imap-host", "127.0.0.1", "--imap-port", str(PORT), "--imap-security", "none"]  # fmt: skip
        f = self.files
        for args in (
            ["mailbox", "add", A, "--provider", "exmail", *net],
            ["mailbox", "add", B, "--provider", "gmail", *net],
            ["record", "send", A, "--to", "y@example.com", "--at", "2026-11-01T09:00+08:00"],
            ["queue", "add", "--mailbox", A, "--eml", str(f["msg"])],
            ["pool", "add", "p", A, B],
            ["suppress", "add", "--reason", "asked", "s@example.com"],
        ):
            rc, out, err = cli(args, env, cwd)
            assert rc == 0, (args, rc, out, err)
        rc, out, _ = cli(["policy", "show", "default"], env, cwd)
        (f["msg"].parent / "mine.toml").write_text(out.replace('name = "default"', 'name = "mine"'))
        self.files["mine"] = f["msg"].parent / "mine.toml"
        rc, out, err = cli(["policy", "add", "mine", str(self.files["mine"])], env, cwd)
        assert rc == 0, err
        rc, out, _ = cli(["queue", "list", "--json"], env, cwd)
        self.qid = str(json.loads(out)[0]["id"])
        shutil.copy(work / "setup" / "ledger.db", self.template)
        self.before = digest(self.template)
        self.counter = itertools.count(1)

    def run_env(self, run: Path) -> dict[str, str]:
        run.mkdir(parents=True, exist_ok=True)
        env = dict(self.env)
        env.update(
            WARMUP_DB=str(run / "ledger.db"),
            HOME=str(run / "home"),
            XDG_CONFIG_HOME=str(run / "xdg-config"),
            XDG_DATA_HOME=str(run / "xdg-data"),
            XDG_CACHE_HOME=str(run / "xdg-cache"),
        )
        return env

    def base(self, command: str) -> dict[str, list[str]]:
        """A valid invocation of ``command``: each parameter's (name -> its argv words)."""
        f = {k: str(v) for k, v in self.files.items()}
        valid = {
            "address": [A], "addresses": [A], "addresses_": ["s2@example.com"],
            "provider": ["--provider", "exmail"], "to": ["--to", "x@example.com"],
            "reason": ["--reason", "asked"], "shell": ["bash"], "message_id": [self.qid],
            "files": [f["bounce"]],
        }  # fmt: skip
        by_command = {
            "import": {"file": [f["import"]]},
            "policy add": {"name": ["mine2"], "file": [f["mine"]]},
            "policy set": {"name": ["mine"], "file": [f["mine"]]},
            "policy show": {"name": ["mine"]},
            "pool add": {"name": ["p2"], "addresses": [A]},
            "pool overflow": {"name": ["p"], "off": ["--off"]},
            "pool remove": {"name": ["p"], "addresses": [B]},
            "pool show": {"name": ["p"]},
            "mailbox add": {"address": ["c@corp.example"]},
            "db copy": {"to": ["--to", "copy.db"]},
            "queue add": {"mailbox": ["--mailbox", A], "eml": ["--eml", f["msg"]]},
            "queue mark": {"words": [self.qid, "sent"]},
            "send": {"address": [A], "to": ["--to", "x@example.com"], "body": ["--body", "hi"],
                     "subject": ["--subject", "hi"], "timeout": ["--timeout", "3"]},
            "run": {"once": ["--once"], "no_sync": ["--no-sync"], "timeout": ["--timeout", "3"]},
            "doctor": {"timeout": ["--timeout", "2"],
                       "dns_server": ["--dns-server", f"127.0.0.1:{PORT}"]},
            "bounces sync": {"timeout": ["--timeout", "2"]},
            "sendmail": {"recipients": ["x@example.com"], "f": ["-f", A]},
            "demo": {"days": ["--days", "3"], "no_plot": ["--no-plot"]},
            "notify set": {"command": ["--command", "true"]},
            "plot": {"out": ["--out", "p.png"]},
            "suppress remove": {"addresses_": ["s@example.com"]},
        }  # fmt: skip
        words: dict[str, list[str]] = {}
        for cmd, param in params():
            if cmd != command:
                continue
            extra = by_command.get(command, {})
            if param.name in extra:
                words[param.name or ""] = extra[param.name]  # type: ignore[index]
            elif param.required:
                words[param.name or ""] = valid[param.name or ""]
        return words

    def path_value(self, token: str, run: Path, cwd: Path) -> str:
        kind = token.split(":", 1)[1]
        if kind == "dir":
            return str(cwd)
        if kind == "root":
            return "/"
        if kind == "fifo":
            os.mkfifo(run / "fifo")
            return str(run / "fifo")
        if kind == "devnull":
            return "/dev/null"
        if kind == "devfull":
            return "/dev/full"
        if kind == "proc":
            return "/proc/self/status"
        if kind == "long":
            return "y" * 300 + ".csv"
        if kind == "dangling":
            (run / "dangling.csv").symlink_to(run / "gone.csv")
            return str(run / "dangling.csv")
        if kind == "deep":
            return str(run / "no" / "such" / "dir" / "x.csv")
        if kind == "binary":
            (run / "binary.csv").write_bytes(bytes(range(256)) * 40)
            return str(run / "binary.csv")
        raise ValueError(token)

    def one(self, command: str, param: click.Parameter, value: str | None) -> dict | None:
        run = self.work / "runs" / str(next(self.counter))
        cwd = run / "a" / "b" / "c"
        cwd.mkdir(parents=True)
        env = self.run_env(run)
        shutil.copy(self.template, run / "ledger.db")
        if value is not None and value.startswith("PATH:"):
            value = self.path_value(value, run, cwd)
        words = self.base(command)
        if command == "queue add" and param.name in {"csv_path", "template", "campaign", "pool"}:
            del words["eml"]  # a message per row: --csv with --template
            words["csv_path"] = ["--csv", str(self.files["leads"])]
            words["template"] = ["--template", str(self.files["intro"])]
        if isinstance(param, click.Argument):
            given = [value] if value is not None else []
            if param.name == "words":
                given = [self.qid, value] if value is not None else []
        elif value is None:  # a flag
            given = [param.opts[0]]
        else:
            given = [param.opts[-1], value]
        words[param.name or ""] = given
        args = command.split()
        options = [w for n, ws in words.items() if not self.is_argument(command, n) for w in ws]
        arguments = [w for n, ws in words.items() if self.is_argument(command, n) for w in ws]
        if command == "send" and param.name == "command":
            argv = [*args, A, *options, "--", *arguments]
        else:
            argv = [*args, *options, *arguments]
        done = threading.Event()
        if (run / "fifo").exists():
            threading.Thread(target=writer_closes, args=(run / "fifo", done), daemon=True).start()
        start = time.monotonic()
        try:
            rc, out, err = cli(argv, env, cwd, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            rc, out, err = -999, "", "(timed out)"
        finally:
            done.set()
        took = time.monotonic() - start
        faults = []
        if rc == -999:
            faults.append("hang")
        elif rc not in SYSEXITS:
            faults.append(f"exit {rc}")
        if "Traceback" in out + err:
            faults.append("traceback")
        if rc not in (0, -999):
            # The error is one line; a note or warning may come before it. A report that exits
            # non-zero by design (doctor's checks and their diagnoses, plan's volume not
            # reached: 75, a worker's log) answered on stdout: its stderr is not one error.
            said = (
                []
                if out.strip()
                else [
                    line
                    for line in err.splitlines()
                    if line.strip() and not line.lower().startswith(("note:", "warning:"))
                ]
            )
            if len(said) > 1 or not (said or out.strip()):
                faults.append(f"{len(said)} error lines")
            # A worker ('run') records what it did (a message held) whatever its exit code.
            if command != "run" and digest(run / "ledger.db") != self.before:
                faults.append("ledger changed")
        shutil.rmtree(run, ignore_errors=True)
        if not faults:
            return None
        return {
            "command": command,
            "param": param.opts[-1] if isinstance(param, click.Option) else param.name,
            "value": value
            if value is None or len(value) < 80
            else value[:40] + f"...({len(value)})",
            "argv": [a if len(a) < 80 else a[:40] + "..." for a in argv],
            "exit": rc,
            "faults": faults,
            "stderr": err[-1500:],
            "seconds": round(took, 1),
        }

    def is_argument(self, command: str, name: str) -> bool:
        return any(
            c == command and p.name == name and isinstance(p, click.Argument) for c, p in params()
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="commands starting with these words (A,B,...)")
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--out", default="/tmp/clifuzz.json")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clifuzz-"))
    sweep = Sweep(work, opts.timeout)
    cases = []
    commands = set()
    parameters = 0
    for command, param in params():
        if opts.only and not command.startswith(tuple(opts.only.split(","))):
            continue
        if command == "demo":
            continue  # a minute's simulation per value; its --days is an IntRange like others
        commands.add(command)
        parameters += 1
        is_flag = isinstance(param, click.Option) and (param.is_flag or param.count)
        for value in [None] if is_flag else values_for(param):
            cases.append((command, param, value))
    print(f"{len(commands)} commands, {parameters} parameters, {len(cases)} runs", flush=True)
    findings = []
    with ThreadPoolExecutor(opts.jobs) as pool:
        for i, found in enumerate(pool.map(lambda c: sweep.one(*c), cases)):
            if found:
                findings.append(found)
                print(json.dumps(found, ensure_ascii=True)[:400], flush=True)
            if i % 200 == 0:
                print(f"... {i}/{len(cases)}", flush=True)
    Path(opts.out).write_text(json.dumps(findings, indent=1, ensure_ascii=True))
    print(f"{len(cases)} runs, {len(findings)} findings -> {opts.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
