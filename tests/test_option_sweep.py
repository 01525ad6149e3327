"""Every option and argument of every ``warmup`` command, fed values wrong for it.

The product rule for bad input (DESIGN.md, README "Errors"): one line saying what was wrong,
a sysexits code, no traceback, and the ledger untouched. Other tests check it case by case;
this one walks click's command tree from the ``warmup`` group, so a command or option added
later is swept too. Each leaf command has a baseline invocation (``BASE``) that reaches its
own work; one parameter at a time is replaced by each value of its kind below, on a copy of
one populated ledger (mailboxes, a pool, queued messages, sends, a bounce, a suppression),
built by the CLI itself.

Every run also carries a canary secret (tests/test_secrets.py) in each place a secret lives
that a bad value can reach without a network peer: ``$WARMUP_PASSWORD``,
``$WARMUP_OVERFLOW_PASSWORD``, ``$WARMUP_OAUTH_CLIENT_SECRET``, a webhook token in
``$WARMUP_NOTIFY_WEBHOOK``, the config file's ``db`` URL and notify command, and the password of
the PostgreSQL URLs ``--db`` is given (refused, closed port, wrong password on the test
server, malformed). The canary, in every form the scanner knows, may be in none of the output,
the exception, the ledger or the files a command wrote.

A value may be taken (exit 0) where it is legitimately a value (a campaign named "-1"); the
ledger must then still read back through the everyday listings. Nothing here reaches a
network peer: the mailboxes' servers are a closed port on 127.0.0.1, the queued messages
wait for a day next year, and a send is paced (75) before it connects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click
import pytest
from click.testing import CliRunner, Result

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import policy_file
from tests.test_secrets import CANARY, leaks
from warmup.cli import check_db, load_all

BOX = "sales@corp.example"
OTHER = "bd@corp.example"
SYSEXITS = {0, 64, 65, 66, 69, 74, 75, 77, 78}

# Wrong for anything: what an unset variable, a stray space, a C string, a pasted page and
# a byte argv Python could not decode (b"\xff" reads as a lone surrogate) give.
COMMON = ["", "   ", "a\x00b", "x" * 10_000, "\udcff"]
NUMBERS = ["-1", "1e400", str(2**70), "abc", "nan", "-inf", "1.5"]
TIMES = ["25:00", "2026-02-30", "Mars/Olympus"]
ADDRESSES = ["not an address", "a@", "a@b@c.example"]
# Not a named pipe: a data file read from one waits for its writer, as `cat` does
# (tests/test_import.py), so a pipe no one writes to is no bad value but a wait.
PATHS = ["{dir}", "{missing}"]


def _pg_address() -> str:
    """The test server's HOST:PORT (a wrong password is refused there), else a closed port."""
    from sqlalchemy.engine import make_url

    given = os.environ.get("WARMUP_TEST_PG")
    if not given:
        return "127.0.0.1:1"
    url = make_url(given)
    return f"{url.host or '127.0.0.1'}:{url.port or 5432}"


_PG = _pg_address()
DBS = [
    "{dir}",
    "{missing_dir}/ledger.db",
    "{fifo}",
    "postgresql+psycopg://nobody@127.0.0.1:1/none",
    "mysql://127.0.0.1:1/none",
    # the canary as a ledger's password: refused, unreachable, malformed, in every spelling
    f"postgresql+psycopg://warmup:{CANARY}@{_PG}/warmup_test",
    f"postgresql+psycopg://warmup:{CANARY}@127.0.0.1:1/none",
    f"postgres://warmup:{CANARY}@127.0.0.1:1/none?sslmode=require",
    f"postgresql+psycopg://warmup@{_PG}/warmup_test?password={CANARY}&bogus=1",
    f"postgresql+psycopg://warmup:{CANARY}@@127.0.0.1:1/none",
    f"postgresql+psycopg://warmup:{CANARY}:x@127.0.0.1:abc/none",
    f"postgresql+psycopg://warmup:{CANARY}@127.0.0.1:1/none\x00",
    f"postgresql+psycopg://warmup:{CANARY}@{_PG}/warmup_test?sslmode=bogus",
    f"mysql://u:{CANARY}@127.0.0.1:1/none",
    f"host=127.0.0.1 password={CANARY}",
    f"warmup:{CANARY}@127.0.0.1/none",
]

# The day the campaigns are queued for: half a year after the run, never reached while it runs.
# A fixed 2027-06-01 expired with its 72 h --expires on 2027-06-03 16:00 UTC (00:00 CST plus
# 72 h), and from then on `queue add` refused it, exit 65, the populated ledger with it.
LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=183)).date().isoformat()

# The baseline of each leaf command: parameter name -> values (a flag: [True]). "{name}" is
# one of the files of ``files``. Chosen so the command runs without reaching a network peer.
BASE: dict[str, dict[str, list[object]]] = {
    "bounces list": {},
    "bounces parse": {"files": ["{bounce}"]},
    "bounces sync": {"address": [BOX], "timeout": ["1"]},
    "completion": {"shell": ["bash"]},
    "config path": {},
    "config show": {},
    "db copy": {"to": ["{copy}"]},
    "db migrate": {},
    "demo": {"days": ["3"], "no_plot": [True]},
    "doctor": {"address": [BOX], "timeout": ["1"]},
    "import": {"file": ["{sends}"]},
    "mailbox add": {"address": ["new@corp.example"], "provider": ["exmail"]},
    "mailbox list": {},
    "mailbox login": {"address": [BOX]},
    "mailbox pause": {"address": [BOX], "reason": ["holiday"]},
    "mailbox remove": {"address": [OTHER], "force": [True]},
    "mailbox resume": {"address": [OTHER]},
    "mailbox set": {"address": [BOX]},
    "mailbox show": {"address": [BOX]},
    "notify clear": {},
    "notify set": {"command": ["true"]},
    "notify show": {},
    "notify test": {},
    "plan": {"addresses": [BOX]},
    "plot": {"addresses": [BOX], "out": ["{png}"]},
    "policy add": {"name": ["mine"], "file": ["{policy}"]},
    "policy list": {},
    "policy set": {"name": ["mine"], "file": ["{policy}"]},
    "policy show": {"name": ["exmail"]},
    "pool add": {"name": ["Q"], "addresses": [BOX]},
    "pool list": {},
    "pool overflow": {"name": ["P"], "off": [True]},
    "pool remove": {"name": ["P"], "addresses": [OTHER]},
    "pool show": {"name": ["P"]},
    "providers": {},
    "queue add": {
        "mailbox": [BOX],
        "not_before": [LATER],
        "csv_path": ["{leads}"],
        "template": ["{template}"],
    },
    "queue cancel": {"message_id": ["1"]},
    "queue list": {},
    "queue mark": {"words": ["1", "sent"]},
    "queue retry": {"message_id": ["1"]},
    "queue show": {"message_id": ["1"]},
    "queue status": {},
    "quota": {"addresses": [BOX]},
    "record bounce": {"address": [BOX], "to": ["gone@example.com"], "status": ["5.1.1"]},
    "record send": {"address": [BOX], "to": ["y@example.com"]},
    "report": {"addresses": [BOX]},
    "run": {"once": [True], "no_sync": [True], "timeout": ["1"]},
    "send": {
        "address": [BOX],
        "to": ["z@example.com"],
        "subject": ["s"],
        "body": ["b"],
        "timeout": ["1"],
    },
    "sendmail": {"sender": [BOX], "recipients": ["z@example.com"]},
    "suppress add": {"addresses_": ["someone@example.com"], "reason": ["asked"]},
    "suppress list": {},
    "suppress remove": {"addresses_": ["manual@example.com"]},
    "suppress soft": {},
}

# Testing one of these parameters drops the baseline's others, which exclude it.
INSTEAD: dict[tuple[str, str], tuple[str, ...]] = {
    ("queue add", "pool"): ("mailbox",),
    ("queue add", "eml"): ("csv_path", "template"),
    ("send", "eml"): ("subject", "body", "to"),
    ("send", "body_file"): ("body",),
    ("send", "command"): ("to", "subject", "body"),
    ("notify set", "webhook"): ("command",),
    ("suppress add", "from_"): ("addresses_",),
}

STDIN = "Subject: hi\n\nhello\n"  # for sendmail; mailbox login's prompt takes it as a password

CLI = load_all()


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if isinstance(cmd, click.Group):
            yield from leaves(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


COMMANDS = dict(leaves(CLI))


# Values that carry the canary where a secret may be written into the value itself: a
# webhook's token, a command's (a notify or password command's, a wrapped one's) --password=X,
# each malformed or not.
SECRET_VALUES = {
    "webhook": [
        f"https://127.0.0.1:9/robot/{CANARY}?key={CANARY}\x00",
        f"ftp://bot:{CANARY}@127.0.0.1:9/{CANARY}",
        f"https://bot:{CANARY}@127.0.0.1:99999/{CANARY}",
        f"hooks.example/robot/{CANARY}",
    ],
    "command": [f"/no/such/cmd --password={CANARY}", f"curl -u bot:{CANARY} x\x00"],
    "password_command": [
        f"/no/such/cmd --password={CANARY}",
        f"true --token={CANARY}\x00",
        # failing, its argv (the secret) on its standard error: relayed to a terminal only
        f"sh -c 'echo \"not in the store: $*\" >&2; exit 3' sh --password={CANARY}",
        f"sh -c 'echo \"$*\" >&2; kill -9 $$' sh --token={CANARY}",
    ],
}


def values_for(param: click.Parameter) -> list[str]:
    """The wrong values for ``param``, by its type (and the canary's, where it names one)."""
    if param.name == "db" or getattr(param, "callback", None) is check_db:
        return COMMON + DBS  # --db, and db copy's --to
    if param.name in SECRET_VALUES:
        return _by_type(param) + SECRET_VALUES[param.name]
    return _by_type(param)


def _by_type(param: click.Parameter) -> list[str]:
    """The wrong values for a parameter of ``param``'s type."""
    kind = param.type
    if getattr(param, "is_flag", False):
        return []  # takes no value (see test_a_flag_given_a_value_is_a_usage_error)
    if isinstance(kind, click.Path) or param.name == "command":
        return COMMON + PATHS
    if isinstance(kind, click.Choice):
        return [*COMMON, "bogus"]
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)) or (
        type(kind).__name__ in ("Duration", "Seconds")
    ):
        return COMMON + NUMBERS
    return COMMON + NUMBERS[:3] + TIMES + ADDRESSES  # "abc" and "nan" are words: taken


CASES = [
    pytest.param(name, param.name, id=f"{name}:{param.name}")
    for name, cmd in COMMANDS.items()
    for param in cmd.params
    if param.name != "help" and values_for(param)
]


def test_every_leaf_command_has_a_baseline():
    assert sorted(BASE) == sorted(COMMANDS)


# Where a secret lives besides the ledger's URL, each holding the canary: no bad value may
# bring it out. The webhook's port is closed (no event is posted in this sweep, and one that
# were would fail there); the notify command is 'true', whatever its arguments.
SECRET_ENV = {
    "WARMUP_PASSWORD": f"pw-{CANARY}",
    "WARMUP_OVERFLOW_PASSWORD": f"ovf-{CANARY}",
    "WARMUP_OAUTH_CLIENT_SECRET": f"app-{CANARY}",
    "WARMUP_NOTIFY_WEBHOOK": f"http://127.0.0.1:9/robot/{CANARY}?key={CANARY}",
}
SECRET_CONFIG = f"""\
db = "postgresql+psycopg://warmup:cfg-{CANARY}@127.0.0.1:1/none"
[notify]
command = "true --password=cmd-{CANARY}"
"""


@pytest.fixture(autouse=True)
def _in_a_scratch_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value taken as a path (``db copy --to -1``, ``--db nan``) makes its file here. A
    password, so that 'send' and 'sendmail' reach the gate (paced, 75) and their options are
    judged, not the missing password (78): the canary, as every secret of :data:`SECRET_ENV`
    and the config file (0600: no warning; its ``db`` is below ``$WARMUP_DB``)."""
    monkeypatch.chdir(tmp_path)
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "secret-config.toml"
    config.write_text(SECRET_CONFIG)
    config.chmod(0o600)
    monkeypatch.setenv("WARMUP_CONFIG", str(config))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sweep-files")
    (root / "a-directory").mkdir()
    os.mkfifo(root / "a-fifo")
    (root / "leads.csv").write_text("email,name\nl1@example.com,L\n", encoding="utf-8")
    (root / "tpl.toml").write_text('subject = "Hi {{ name }}"\ntext = "Dear {{ name }}"\n')
    (root / "sends.csv").write_text(
        f"mailbox,recipient,sent_at\n{BOX},i@example.com,2026-11-01T10:00:00+08:00\n"
    )
    (root / "bounce.eml").write_text(
        "From: MAILER-DAEMON@corp.example\nTo: sales@corp.example\nSubject: Undeliverable\n\n"
        "<gone@example.com>: 550 5.1.1 user unknown\n"
    )
    policy = Path(__file__).parent / "policies" / "exmail-any-day.toml"
    return {
        "dir": str(root / "a-directory"),
        "missing": str(root / "no-such-file"),
        "missing_dir": str(root / "no-such-dir"),
        "fifo": str(root / "a-fifo"),
        "leads": str(root / "leads.csv"),
        "template": str(root / "tpl.toml"),
        "sends": str(root / "sends.csv"),
        "bounce": str(root / "bounce.eml"),
        "policy": str(policy),
        "copy": str(root / "copy.db"),
        "png": str(root / "plot.png"),
    }


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory, files: dict[str, str]) -> Path:
    """A ledger with two mailboxes (one paused), a pool, two queued messages, two sends, a hard
    bounce and a suppression, made as a user makes one."""
    root = tmp_path_factory.mktemp("sweep-ledger")
    path = root / "ledger.db"
    env = {
        "WARMUP_DB": str(path),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "WARMUP_CONFIG": None,
        "WARMUP_PASSWORD": None,
    }
    populate(env, files, paced=policy_file(root / "paced.toml", interval="24h"))
    return path


def populate(env: dict[str, str | None], files: dict[str, str], paced: Path | None = None) -> None:
    """Fill the ledger ``env`` names as :func:`populated` says, through the CLI. ``paced``: a
    policy for the unpaused mailbox whose gap between sends outlasts the sweep, so the
    baseline 'send' and 'sendmail' are refused paced (nothing written) however long after its
    two sends they run: under exmail's 5-10 min gap, a sweep that reached them 6 minutes on (a
    loaded CI run) reserved, found the closed port and wrote the released reservation."""
    closed = ("--smtp-host", "127.0.0.1", "--smtp-port", "9", "--imap-host", "127.0.0.1")
    policy = ("--policy", str(paced)) if paced else ()
    steps: list[tuple[str, ...]] = [
        ("mailbox", "add", BOX, "--provider", "exmail", *closed, "--imap-port", "9", *policy),
        ("mailbox", "add", OTHER, "--provider", "exmail", *closed, "--imap-port", "9"),
        ("pool", "add", "P", BOX, OTHER),
        ("queue", "add", "--pool", "P", "--campaign", "nov", "--not-before", LATER)
        + ("--csv", files["leads"], "--template", files["template"]),
        ("queue", "add", "--pool", "P", "--campaign", "nov", "--not-before", LATER)
        + ("--csv", files["leads"], "--template", files["template"]),
        ("record", "send", BOX, "--to", "x1@example.com", "--to", "x2@example.com"),
        ("record", "bounce", BOX, "--to", "x1@example.com", "--kind", "hard", "--status", "5.1.1"),
        ("suppress", "add", "manual@example.com", "--reason", "asked"),
        ("mailbox", "pause", OTHER, "--reason", "test"),
    ]
    for step in steps:
        res = CliRunner(env=env).invoke(CLI, list(step))
        assert res.exit_code == 0, (step, res.output, res.exception)


class Runner(CliRunner):
    """CliRunner with the standard streams :func:`warmup.cli.main` gives a command: a UTF-8
    stdout writes a lone surrogate (argv's undecodable bytes) back as its byte, stderr escapes
    it (test_a_name_from_undecodable_argv_bytes_is_printed_back_process covers main itself)."""

    @contextlib.contextmanager
    def isolation(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with super().isolation(*args, **kwargs) as streams:
            sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
            sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            yield streams


class Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("no answer within 10 s")


def invoke(args: list[str]) -> Result:
    before = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        return Runner().invoke(CLI, args, input=STDIN)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def argv(name: str, given: dict[str, list[object]], files: dict[str, str]) -> list[str]:
    """The command line of command ``name`` with the parameters ``given``: options first, then
    ``--`` and the arguments (so an argument "-1" is not read as an option)."""
    cmd = COMMANDS[name]
    opts: list[str] = []
    positional: list[str] = []
    for param in cmd.params:
        for value in given.get(param.name or "", []):
            if isinstance(param, click.Argument):
                positional.append(fill(value, files))
            elif value is True:
                opts.append(param.opts[0])
            else:
                opts += [max(param.opts, key=len), fill(value, files)]
    if name == "send":  # 'send ADDRESS [OPTIONS] -- COMMAND': after '--' is the command to run
        command = [fill(v, files) for v in given.get("command", [])]
        address = [fill(v, files) for v in given.get("address", [])]
        return ["send", *address, *opts, *(["--", *command] if command else [])]
    return [*name.split(), *opts, "--", *positional]


def fill(value: object, files: dict[str, str]) -> str:
    text = str(value)
    return files[text[1:-1]] if re.fullmatch(r"\{\w+\}", text) else text


# An exception's repr or a traceback in what the user reads: not a message written for them.
_NOT_FOR_USERS = re.compile(r"Traceback|\b\w+(Error|Exception)\(|<class '|object at 0x")


# Answers, not errors, that a value wrong for most options is for these: documented.
ANSWERS = {
    # 'plan --volume N' exits 75 when N is not reached within the days looked at, the plan
    # printed all the same, and says so on stdout (README "Plan"): 2**70 is such a volume.
    ("plan", "volume"): lambda res: res.exit_code == 75 and "not reached within" in res.output,
    # 'send ADDRESS -- COMMAND' with a COMMAND that cannot be started exits as sh's would
    # (README): 127 not found, 126 found but not run, one line "warmup: CMD: why".
    ("send", "command"): lambda res: (
        res.exit_code in (126, 127)
        and res.stderr.startswith("warmup: ")
        and res.stderr.count("\n") == 1
    ),
}


def taken(name: str, field: str, res: Result, base: Result | None) -> bool:
    """Whether the command took the value and ended as its baseline does: 'doctor' reports the
    closed port (69, its checks on several lines) whatever DKIM selector it was given without
    --domain, 'send' and 'sendmail' are paced (75) before they connect."""
    if ANSWERS.get((name, field), lambda res: False)(res):
        return True
    first, _, rest = res.stderr.partition("\n")
    said = rest if rest and _ARGV_PASSWORD.fullmatch(first) else res.stderr  # warned of first
    return (
        base is not None
        and base.exit_code != 0
        and (res.exit_code, said) == (base.exit_code, base.stderr)
    )


_ARGV_PASSWORD = re.compile(
    r"Warning: --(db|to) \S+ puts the database password on the command line, .*"
    # ...and a password command holding a secret itself, which the bad values do
    r"|Warning: the password command carries what looks like a secret \(.*"
)


def fault(res: Result, digest: dict, ledger: Path) -> str | None:
    """What is wrong with how the command took its bad value, or None."""
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"raised {res.exception!r}"
    if res.exit_code not in SYSEXITS:
        return f"exit {res.exit_code}: {res.stderr!r}"
    if _NOT_FOR_USERS.search(res.stderr):
        return f"exit {res.exit_code}, not a user's message: {res.stderr[-300:]!r}"
    if res.exit_code == 0:
        return None
    lines = res.stderr.rstrip("\n").split("\n")
    if len(lines) > 1 and _ARGV_PASSWORD.fullmatch(lines[0]):
        # a --db URL with a password, a password command with one: warned of first (README)
        lines = lines[1:]
    if len(lines) != 1 or not lines[0].startswith("Error: "):
        return f"exit {res.exit_code}, not one 'Error:' line: {res.stderr[:600]!r}"
    if ledger_digest(ledger) != digest:
        return f"exit {res.exit_code} with the ledger written: {lines[0][:200]}"
    return None


def leaked(res: Result, *written: Path) -> str | None:
    """Where the canary came out of a command (its output, its exception, the files under
    ``written``: the ledger, what a value taken as a path made), or None."""
    import traceback

    said = [("stdout", res.stdout_bytes), ("stderr", res.stderr_bytes or b"")]
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        text = "".join(traceback.format_exception(res.exception))
        said.append(("its exception", text.encode(errors="surrogateescape")))
    for where, data in said:
        if leaks(data):
            return f"the canary in {where}: {data.decode(errors='replace')[-300:]!r}"
    for root in written:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and path.name != "secret-config.toml" and leaks(path.read_bytes()):
                return f"the canary in {path}"
    return None


def still_reads(ledger: Path) -> str | None:
    """Whether the everyday listings still read the ledger a command took a value into."""
    for args in (["quota", "--json"], ["queue", "list", "--json"]):
        res = invoke(args)
        if res.exit_code != 0:
            return f"then {' '.join(args)}: exit {res.exit_code} {res.stderr[:300]!r}"
    return None


def shown(args: list[str]) -> str:
    return " ".join(repr(a) if len(a) < 60 else f"'{a[:20]}...'({len(a)})" for a in args)


@pytest.mark.parametrize(("name", "field"), CASES)
def test_a_bad_value_is_one_line_a_sysexits_code_and_no_write(
    name: str, field: str, populated: Path, ledger_path: Path, files: dict[str, str]
):
    param = next(p for p in COMMANDS[name].params if p.name == field)
    base = {k: v for k, v in BASE[name].items() if k not in INSTEAD.get((name, field), ())}
    shutil.copy(populated, ledger_path)
    digest = ledger_digest(ledger_path)
    baseline = invoke(argv(name, base, files)) if name in ("doctor", "send", "sendmail") else None
    if baseline is not None:
        assert ledger_digest(ledger_path) == digest, baseline.stderr
    found = []
    for value in values_for(param):
        args = argv(name, {**base, field: [value]}, files)
        res = invoke(args)
        if taken(name, field, res, baseline):
            wrong = None if ledger_digest(ledger_path) == digest else "taken, ledger written"
        else:
            wrong = fault(res, digest, ledger_path)
        if wrong is None and res.exit_code == 0:
            wrong = still_reads(ledger_path)
        wrong = wrong or leaked(res, ledger_path.parent, Path(files["dir"]).parent)
        if wrong:
            found.append(f"{shown(args)}: {wrong}")
        if res.exit_code == 0 or wrong:
            shutil.copy(populated, ledger_path)
    assert not found, "\n".join(found)


FLAGS = [
    pytest.param(name, param.name, id=f"{name}:{param.name}")
    for name, cmd in COMMANDS.items()
    for param in cmd.params
    if getattr(param, "is_flag", False)
    and param.name != "help"
    and not param.secondary_opts
    # a short-only flag (sendmail's -t, -i, -I): "-x=1" is no form click reads as one
    and any(o.startswith("--") for o in param.opts)
]


@pytest.mark.parametrize(("name", "field"), FLAGS)
def test_a_flag_given_a_value_is_a_usage_error(
    name: str, field: str, populated: Path, ledger_path: Path, files: dict[str, str]
):
    param = next(p for p in COMMANDS[name].params if p.name == field)
    long = [o for o in param.opts if o.startswith("--")]
    shutil.copy(populated, ledger_path)
    digest = ledger_digest(ledger_path)
    args = argv(name, BASE[name], files)
    args.insert(len(name.split()), f"{long[0]}=yes")
    res = invoke(args)
    assert res.exit_code == 64, (args, res.stderr)
    assert fault(res, digest, ledger_path) is None
    assert leaked(res, ledger_path.parent) is None


def test_a_name_from_undecodable_argv_bytes_is_printed_back_process(
    populated: Path, ledger_path: Path
):
    """A file name that is no UTF-8 (b"\\xff", decoded by Python as "\\udcff") quoted back on a
    strict UTF-8 stdout (Python's under en_US.UTF-8) is written as the bytes given: it was a
    UnicodeEncodeError traceback, exit 1."""
    shutil.copy(populated, ledger_path)
    Path("\udcff").write_text("hello\n")  # cwd: tmp_path
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    res = subprocess.run(
        [*forkcli.command(), "bounces", "parse", "\udcff"],
        capture_output=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, b"\xff: not a bounce\n", b"")


def test_a_long_word_without_an_at_sign_is_read_in_linear_time():
    """What looks like an address in a header (the sender check reads a From's display name,
    'sendmail -F NAME'): a pattern tried again from each letter of a run without an '@' took
    seconds for 10,000 letters, minutes for 100,000."""
    from warmup.addresses import count_addresses
    from warmup.headers import addresses_like

    before = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        word = "x" * 100_000
        assert addresses_like(f"{word} <a@b.example> {word}@") == ["a@b.example"]
        assert count_addresses(f"{word};{word}@c.example") == 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
