"""``warmup`` as a real process for the price of a bare interpreter's start.

A CLI test wants what a user gets: a process of its own, its exit status, its stdout and stderr,
its signals. A fresh ``python -m warmup`` pays ~0.8-1.2 s of CPU importing SQLAlchemy, pydantic,
click and pendulum before it does anything; the suite starts a few hundred, on two cores.

So each test worker keeps one *zygote*: a process that imported every command module once and
then only forks. ``WARMUP`` below is a command line like ``[python, "-m", "warmup"]``: a small
client (``python -S``, no site packages, ~15 ms) that hands its own stdin, stdout and stderr, its
environment, working directory and arguments to the zygote; the zygote forks a child that takes
them over and runs ``warmup`` exactly as ``python -m warmup`` does (``__main__``, then atexit
handlers, non-daemon threads joined, streams flushed). The client forwards the signals a test
sends (SIGTERM, SIGINT, SIGHUP, SIGUSR1/2) and exits with the child's status, or dies of the
child's signal; if the client itself is killed (SIGKILL included), the zygote kills the child.

Not for tests about the interpreter's start itself (which modules a command imports: those
run ``python -m warmup``), nor for ones that read other processes' command lines. Without a
zygote (``WARMUP_TEST_FORKCLI`` unset, e.g. a test that passes a bare environment) the client
simply ``exec``s ``python -m warmup``.
"""

from __future__ import annotations

import os
import sys

ENV = "WARMUP_TEST_FORKCLI"
WARMUP = [sys.executable, "-S", os.path.abspath(__file__), "run"]
PAUSE = "WARMUP_TEST_FORKCLI_PAUSE"  # the client stops itself once its request is sent
_FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT")


def _as_a_terminal_leaves_signals() -> None:
    """The signals a test sends back to their defaults and unblocked, as a terminal's shell
    starts a command: a test run started with SIGINT ignored (``nohup``, a background job, some
    CI runners) passed it on through exec, Python kept it ignored, and a test's SIGINT never
    reached the command (its import ran on until a lock timed out, exit 75 for 130)."""
    import signal

    signums = {getattr(signal, name) for name in _FORWARDED}
    for signum in signums:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signums)


def _client(args: list[str]) -> None:
    import json
    import signal
    import socket

    _as_a_terminal_leaves_signals()  # for the exec below; a zygote's child sets its own
    signums = {getattr(signal, name) for name in _FORWARDED}

    def exec_warmup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signums)  # one that came ends it, as ever
        os.execv(sys.executable, [sys.executable, "-m", "warmup", *args])

    path = os.environ.get(ENV)
    if not path:
        exec_warmup()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        exec_warmup()
    env = {k: v for k, v in os.environ.items() if k != ENV}
    req = json.dumps({"argv": args, "env": env, "cwd": os.getcwd()}).encode()
    # Held from here until they are forwarded: the child may run (open a test's FIFO, wait on
    # its input) before this client reads its pid, and a signal sent in between killed the
    # client by default, its child with it, without the child's "Aborted (Terminated)."
    signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    socket.send_fds(sock, [len(req).to_bytes(8, "big") + req], [0, 1, 2])
    if os.environ.get(PAUSE):  # tests/test_forkcli.py: stopped in that window, on purpose
        os.kill(os.getpid(), signal.SIGSTOP)
    reader = sock.makefile("rb")
    try:
        first = reader.readline()
    except OSError:  # the zygote died with this request in its backlog: nothing ran
        first = b""
    if not first:  # the zygote could not start it (no fork: EAGAIN, ENOMEM): nothing ran
        exec_warmup()
    pid = int(first)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in signums:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signums)  # those held are forwarded now
    line = reader.readline()  # "exit N" or "signal N"; empty if the zygote died
    kind, _, value = line.decode().partition(" ")
    if kind == "signal":
        signum = int(value)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(int(value) if kind == "exit" else 70)


def _stream(fd: int, write: bool, template):  # type: ignore[no-untyped-def]
    import io

    raw = io.FileIO(fd, "w" if write else "r", closefd=False)
    tty = raw.isatty()
    encoding = os.environ.get("PYTHONIOENCODING", "").split(":")[0] or template.encoding
    if write:
        buffered: io.BufferedIOBase = io.BufferedWriter(raw)
        line = tty or fd == 2
    else:
        buffered, line = io.BufferedReader(raw), False
    return io.TextIOWrapper(buffered, encoding, template.errors, line_buffering=line)


def _child(conn, fds: list[int], req: dict) -> None:  # type: ignore[no-untyped-def]
    import atexit
    import runpy
    import signal
    import threading
    import time
    import traceback

    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as CPython sets it at start
    _as_a_terminal_leaves_signals()  # the zygote's mask came from the test run
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.path[0] = req["cwd"]  # as `python -m` puts the working directory first
    extra = [p for p in req["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[1:1] = [p for p in extra if p not in sys.path]  # then PYTHONPATH's entries
    time.tzset()
    sys.stdin = _stream(0, False, sys.__stdin__)
    sys.stdout = _stream(1, True, sys.__stdout__)
    sys.stderr = _stream(2, True, sys.__stderr__)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    import warmup

    sys.argv = [os.path.join(os.path.dirname(warmup.__file__), "__main__.py"), *req["argv"]]
    sys.orig_argv = [sys.executable, "-m", "warmup", *req["argv"]]
    code = 0
    interrupted = False
    try:
        runpy.run_module("warmup", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # join non-daemon threads
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _serve(path: str) -> None:
    import json
    import selectors
    import signal
    import socket

    import warmup.cli

    warmup.cli.load_all()
    for name in ("sqlalchemy", "sqlmodel", "sqlite3", "psycopg", "ssl", "smtplib", "email.policy"):
        try:
            __import__(name)
        except ImportError:
            pass
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    sel.register(0, selectors.EVENT_READ, ("parent",))  # EOF: the test process is gone
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = server.accept()
                conn.setblocking(True)
                fds, body, size = [], b"", -1
                try:
                    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
                    size = int.from_bytes(head, "big")
                    while len(body) < size:
                        chunk = conn.recv(size - len(body))
                        if not chunk:
                            break
                        body += chunk
                except OSError:  # its client reset the connection (killed): as a short one
                    pass
                if len(fds) != 3 or len(body) != size:
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                try:
                    pid = os.fork()
                except OSError:  # its client starts the command itself, seeing no pid
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                if pid == 0:
                    for other in list(sel.get_map().values()):
                        obj = other.fileobj
                        if obj is not server:
                            obj.close() if hasattr(obj, "close") else os.close(other.fd)
                    sel.close()
                    server.close()
                    _child(conn, fds, json.loads(body))
                for fd in fds:
                    os.close(fd)
                try:
                    conn.sendall(f"{pid}\n".encode())
                except OSError:  # its client is gone (killed while this was busy): as below
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    conn.close()
                    continue
                pidfd = os.pidfd_open(pid)
                sel.register(pidfd, selectors.EVENT_READ, ("done", pid, conn))
                sel.register(conn, selectors.EVENT_READ, ("client", pid, pidfd))
            elif key.data[0] == "parent":
                os._exit(0)
            elif key.data[0] == "done":
                _, pid, conn = key.data
                sel.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                if conn in [k.fileobj for k in sel.get_map().values()]:
                    sel.unregister(conn)
                if os.WIFSIGNALED(status):
                    msg = f"signal {os.WTERMSIG(status)}\n"
                else:
                    msg = f"exit {os.waitstatus_to_exitcode(status)}\n"
                try:
                    conn.sendall(msg.encode())
                except OSError:
                    pass
                conn.close()
            else:  # the client hung up (killed) before its child ended: end the child too
                _, pid, _ = key.data
                if key.fileobj.fileno() == -1:
                    # The child's end came in the same batch, first: its conn is closed and
                    # unregistered, the child reaped (unregister raised ValueError: the zygote
                    # died, and every later command of the run fell back to python -m warmup).
                    continue
                sel.unregister(key.fileobj)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


_zygote: list = []


def command() -> list[str]:
    """``WARMUP``, with this process's zygote started first (once; it ends with this process).

    A zygote found gone is started again, with a warning naming how it ended (pytest's summary
    shows it): without one, every client fell back to ``python -m warmup`` for the rest of the
    run, silently, and the secret sweep, which reads the command's parent in /proc, saw a
    real warmup's environment and command line where it expects the zygote's (a CI run)."""
    if _zygote and _zygote[0].poll() is not None:
        import warnings

        gone = _zygote.pop()
        why = ""
        try:
            with open(os.path.join(os.path.dirname(os.environ.get(ENV, "/")), "died")) as f:
                why = ": " + f.read().strip().splitlines()[-1]
        except (OSError, IndexError):
            pass
        said = f"the warmup zygote had ended (exit {gone.returncode}{why}); started again"
        warnings.warn(said, stacklevel=2)  # at the test that found it gone
    if not _zygote:
        import atexit
        import shutil
        import subprocess
        import tempfile

        directory = tempfile.mkdtemp(prefix="warmup-zygote-")
        path = os.path.join(directory, "sock")
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError("the warmup zygote did not start")

        def stop() -> None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):  # else reported unclosed at exit
                if pipe is not None:
                    pipe.close()
            shutil.rmtree(directory, ignore_errors=True)

        atexit.register(stop)
        os.environ[ENV] = path
        _zygote.append(proc)
    return WARMUP


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        try:
            _serve(sys.argv[2])
        except BaseException:  # for command()'s warning: how it ended
            import traceback

            with open(os.path.join(os.path.dirname(sys.argv[2]), "died"), "w") as f:
                traceback.print_exc(file=f)
            raise
    else:
        _client(sys.argv[2:])
