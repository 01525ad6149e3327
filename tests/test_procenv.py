"""A command warmup starts cannot read warmup's secrets in /proc/PPID/environ (warmup.procenv).

Each warmup here is a fresh interpreter (``python -m warmup``), not a child of the test
zygote (tests/forkcli.py), whose /proc/PID/environ is the zygote's: what is checked is what a
user's warmup shows. The secret sweep (test_secret_sweep.py) ran through the zygote and did
not see this; it failed in a CI run whose zygote was gone.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_notify import Receiver
from warmup import credentials, procenv

REPO = Path(__file__).resolve().parent.parent
CANARY = "canary-" + secrets.token_hex(12)
# What another process of the user reads of its ancestors (warmup, and the shell a command
# line is run by when it is one): their initial environments.
SNOOP = """\
p=$PPID
while [ "$p" -gt 1 ]; do
  tr '\\0' '\\n' < /proc/$p/environ >> {dump}
  p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
done
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("WARMUP_")},
        "WARMUP_DB": str(tmp_path / "ledger.db"),
        "PYTHONPATH": str(REPO),
        "WARMUP_PASSWORD": f"pw-{CANARY}",
        "WARMUP_OVERFLOW_PASSWORD": f"ovf-{CANARY}",
        "WARMUP_OAUTH_CLIENT_SECRET": f"app-{CANARY}",
        **extra,
    }


def _warmup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_notify_command_cannot_read_warmups_secrets_in_its_parents_environment(
    tmp_path: Path,
) -> None:
    """``warmup notify test`` (and every command that notifies) with WARMUP_PASSWORD, the
    overflow password, the OAuth client secret and a webhook token exported: the notify
    command, which a shared ledger may hold, got none in its own environment but read them all
    in /proc/$PPID/environ. Now the entries there are blanked, and warmup still posts to the
    webhook from its own copy."""
    dump = tmp_path / "dump"
    (tmp_path / "snoop.sh").write_text(SNOOP.format(dump=dump))
    receiver = Receiver()
    try:
        webhook = receiver.url.replace("token=", f"token={CANARY}")
        env = _env(tmp_path, WARMUP_NOTIFY_WEBHOOK=webhook)
        env["WARMUP_PASSWORD_COMMAND"] = f"echo cmd-{CANARY}"
        res = _warmup(env, "notify", "set", "--command", f"sh {tmp_path / 'snoop.sh'}")
        assert res.returncode == 0, res.stderr
        res = _warmup(env, "notify", "test")
        assert res.returncode == 0, res.stderr
        assert [b["event"] for b in receiver.bodies] == ["test"]  # the webhook still had it
    finally:
        receiver.close()
    seen = dump.read_bytes()
    assert b"WARMUP_DB=" in seen and b"PYTHONPATH=" in seen  # its parent's, read really
    assert CANARY.encode() not in seen + res.stdout.encode() + res.stderr.encode()


def test_the_password_command_cannot_read_the_other_secrets_in_its_parents_environment(
    pki, ssl_cert_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """``warmup doctor`` (which never starts itself over, as ``send -- COMMAND`` may) with the overflow password
    and the OAuth client secret exported and the password from a password command: that
    command read both in /proc/$PPID/environ."""
    from tests.peers.smtp import SmtpSink
    from tests.test_secrets import BOX, add_mailbox

    dump = tmp_path / "dump"
    (tmp_path / "pw.sh").write_text(SNOOP.format(dump=dump) + f"echo {CANARY}\n")
    env = _env(tmp_path)
    del env["WARMUP_PASSWORD"]
    with SmtpSink("ssl", user=BOX, password=CANARY, pki=pki) as sink:
        add_mailbox(tmp_path / "ledger.db", smtp_port=sink.port)
        res = _warmup(
            env, "doctor", BOX, "--no-domain", "--timeout", "5",
            "--password-command", f"sh {tmp_path / 'pw.sh'}",
        )  # fmt: skip
        # the IMAP host (the provider's) does not resolve here: 69, after the SMTP login
        assert res.returncode == 69 and f"login accepted for {BOX}" in res.stdout, res.stdout
    seen = dump.read_bytes()
    assert b"WARMUP_DB=" in seen
    for secret in (env["WARMUP_OVERFLOW_PASSWORD"], env["WARMUP_OAUTH_CLIENT_SECRET"]):
        assert secret.encode() not in seen


# execve(2) itself, as Python's os.execve (a mapping) cannot: one name given twice.
EXECVE = """\
import ctypes, sys
cut = sys.argv.index("--")
args, env = sys.argv[1:cut], sys.argv[cut + 1 :]
def array(items):
    return (ctypes.c_char_p * (len(items) + 1))(*[i.encode() for i in items], None)
ctypes.CDLL(None).execve(args[0].encode(), array(args), array(env))
sys.exit("execve failed")
"""
HIDE = """\
import os, subprocess, sys
from warmup.procenv import hide_initial_secrets
before = open("/proc/self/environ", "rb").read()
n = hide_initial_secrets()
after = open("/proc/self/environ", "rb").read()
child = subprocess.run(["sh", "-c", "echo \\"[$WARMUP_PASSWORD][$KEEP]\\""], capture_output=True)
print(n, len(before) == len(after), os.environ.get("WARMUP_PASSWORD"), child.stdout.decode().strip())
sys.stdout.flush()
sys.stdout.buffer.write(after)
"""


def test_only_the_secrets_entries_are_blanked_and_warmup_keeps_its_copy() -> None:
    """Both entries of a name given twice are blanked; the block keeps its length (nothing
    after it moves); a neighbour is untouched; os.environ keeps the value; a child started
    without an environment of its own (the C library's) inherits none."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "KEEP": "kept-value"}
    secret = f"pw-{CANARY}"
    env = [f"{k}={v}" for k, v in base.items()]
    env += [f"WARMUP_PASSWORD={secret}", f"WARMUP_PASSWORD={secret}-2"]  # execve takes it twice
    res = subprocess.run(
        [sys.executable, "-c", EXECVE, sys.executable, "-c", HIDE, "--", *env],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    head, _, block = res.stdout.partition(b"\n")
    n, same_length, kept, child = head.decode().split(" ", 3)
    assert (n, same_length) == ("2", "True")
    assert kept.startswith(secret)  # warmup's own copy (either one: Python keeps one)
    assert child == "[][kept-value]"
    assert CANARY.encode() not in block
    assert b"KEEP=kept-value\0" in block and b"PYTHONPATH=" in block


def test_nothing_is_done_when_no_secret_is_set() -> None:
    code = "from warmup.procenv import hide_initial_secrets as h; import sys; print(h())"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (res.returncode, res.stdout) == (0, "0\n"), res.stderr


def test_the_names_are_credentials_secret_vars() -> None:
    """procenv keeps its own list (credentials is not imported at every start): the same."""
    assert procenv.NAMES == credentials.SECRET_VARS


# What a wrapped command (and a child of its own) can read: its own environment, then, from
# that child, each ancestor's command line and initial environment (the wrapped shell's,
# warmup's, the test runner's, ...), each under "== PID"; then it sends one message through
# the relay (warmup itself must still hold the password).
WRAPPED = r"""echo "warmup $PPID" > "$1"
env >> "$1"
sh -c '
p=$PPID
while [ "$p" -gt 1 ]; do
  echo "== $p"
  tr "\0" " " < /proc/$p/cmdline; echo
  tr "\0" "\n" < /proc/$p/environ
  p=$(sed "s/.*) //" /proc/$p/stat | cut -d" " -f2)
done
env' >> "$1"
printf 'To: lead@example.com\nSubject: s\n\nhi\n' | sendmail -t
"""
# A sitecustomize (first on PYTHONPATH) noting the PID of each interpreter start; with
# PROCENV_REFUSE set, it makes warmup's in-place blanking fail as a kernel refusing the write
# to /proc/self/mem does (test only: warmup has no switch to turn the blanking off).
HOOK = """\
import os
with open(os.environ["PROCENV_STARTS"], "a") as f:
    f.write(f"{os.getpid()}\\n")
if os.environ.get("PROCENV_REFUSE"):
    import errno
    from warmup import procenv

    def _refused(_names):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/proc/self/mem")

    procenv._overwrite = _refused
"""


def _wrapped_send(pki, tmp_path: Path, env: dict[str, str], *options: str):  # type: ignore[no-untyped-def]
    """``warmup send BOX [options] -- sh WRAPPED dump`` against a sink taking ``$WARMUP_PASSWORD``
    (or the password a password command prints: ``pw-CANARY``), with :data:`HOOK` loaded: the
    result, the dump, warmup's PID and the PIDs of the interpreter starts."""
    from tests.peers.smtp import SmtpSink
    from tests.test_secrets import BOX, add_mailbox

    hook, dump, starts = tmp_path / "hook", tmp_path / "dump", tmp_path / "starts"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    (tmp_path / "wrapped.sh").write_text(WRAPPED)
    env = {**env, "PYTHONPATH": f"{hook}{os.pathsep}{REPO}", "PROCENV_STARTS": str(starts)}
    with SmtpSink("ssl", user=BOX, password=f"pw-{CANARY}", pki=pki) as sink:
        add_mailbox(tmp_path / "ledger.db", smtp_port=sink.port)
        res = _warmup(
            env, "send", BOX, *options, "--", "sh", str(tmp_path / "wrapped.sh"), str(dump)
        )
        assert res.returncode == 0, res.stderr
        assert [m.auth_login for m in sink.messages] == [BOX]  # warmup itself still had it
    seen = dump.read_bytes()
    pid = seen.split(b"\n", 1)[0].split()[1].decode()
    # warmup's own command line and environment were read, really
    section = seen.split(f"== {pid}\n".encode(), 1)[1].split(b"\n== ", 1)[0]
    assert b"-m warmup send" in section and b"\nPROCENV_STARTS=" in section, section
    return res, seen, pid, starts.read_text().split()


@pytest.mark.parametrize("blanking", ["works", "refused"])
def test_a_wrapped_command_and_its_children_find_no_secret_and_warmup_starts_once(
    blanking: str, pki, ssl_cert_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """``warmup send BOX -- COMMAND`` with WARMUP_PASSWORD, the overflow password and the OAuth
    client secret exported started itself over (a second interpreter start, ~0.2 s) to keep
    them out of /proc/PID/environ, though every command blanks them there as it starts. Now it
    starts once when the blanking worked, and over again (same PID) only when it did not; either
    way the command and its child find none in their own environments or any ancestor's."""
    env = _env(tmp_path)
    if blanking == "refused":
        env["PROCENV_REFUSE"] = "1"
    res, seen, pid, starts = _wrapped_send(pki, tmp_path, env)
    assert starts.count(pid) == (1 if blanking == "works" else 2), starts
    assert CANARY.encode() not in seen + res.stdout.encode() + res.stderr.encode()
    assert b"WARMUP_PASSWORD=" not in seen


@pytest.mark.parametrize(
    ("form", "warned"),
    [("separate", True), ("joined", False)],
    ids=["option-value-warned", "option=value"],
)
def test_a_password_command_is_not_left_in_warmups_command_line(
    form: str, warned: bool, pki, ssl_cert_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """``--password-command`` given a command that carries the secret itself stayed in
    /proc/PID/cmdline for the life of warmup (a wrapped command's, a worker's), which any
    process of the user (and ps, every user's) reads; warmup only warned. Now the value is
    overwritten there in place, the warning kept, and the command still gives the password."""
    pw = f"pw-{CANARY}"
    command = f"printf '%s\\n' {pw} --passphrase {CANARY}" if warned else f"echo {pw}"
    env = _env(tmp_path)
    del env["WARMUP_PASSWORD"]
    options = (
        ["--password-command", command] if form == "separate" else [f"--password-command={command}"]
    )
    res, seen, pid, _ = _wrapped_send(pki, tmp_path, env, *options)
    assert CANARY.encode() not in seen
    hidden = b"x" * len(command)
    assert (
        b"--password-command " if form == "separate" else b"--password-command="
    ) + hidden in seen
    assert ("looks like a secret (the value of --passphrase)" in res.stderr) is warned, res.stderr
    assert CANARY not in res.stdout + res.stderr
