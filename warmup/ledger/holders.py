"""Whether a process that holds something in the ledger is still there: a gate's reservation
(its slot names its holder) and an outbox worker's claim (:mod:`warmup.outbox.worker`, whose id
names its start as a reservation does). No
driver, no SQL: what a reader asks before it takes a reservation or a claim for a dead process's.

Pids mean the same thing only in one :data:`PLACE`: this boot of this kernel (its random boot
id) and this PID namespace. Host names do not tell machines apart (containers with host
networking share the host's), nor pids containers: a holder of another place is never judged
here, and waits for the expiry (a reservation's 15 minutes, a claim's lease). In this place a
holder is gone when its pid has no process or a zombie (:func:`alive`), or — for a reservation,
which names its start time in clock ticks since boot (``/proc/PID/stat`` field 22) — a process
started at another time: a pid the kernel gave again to another program is not its holder.
Nothing of the command line or the environment is kept.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import NamedTuple

HOST = socket.gethostname()  # shown to people; never trusted to tell two machines apart


def _place() -> str:
    """Where process ids mean the same thing as here: this boot of this kernel (its random boot
    id) and this PID namespace (a container's own). A short digest; without a boot id (not
    Linux), the host name stands in for it."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            machine = f.read().strip()
    except OSError:
        machine = f"host {HOST}"
    try:
        ns = os.stat("/proc/self/ns/pid")
        space = f"{ns.st_dev}:{ns.st_ino}"
    except OSError:
        space = ""
    return hashlib.blake2b(f"{machine}|{space}".encode(), digest_size=6).hexdigest()


PLACE = _place()


_OWN: tuple[int, bool] | None = None  # (pid, _own_proc()): a gate asks it for each holder


def _own_proc() -> bool:
    """Whether /proc shows this PID namespace: a /proc of another one ('unshare -p' without
    --mount-proc) has another process, or none, under a pid. Read once per process."""
    global _OWN
    pid = os.getpid()
    if _OWN is None or _OWN[0] != pid:
        try:
            own = os.readlink("/proc/self") == str(pid)
        except OSError:  # no /proc (not Linux)
            own = False
        _OWN = (pid, own)
    return _OWN[1]


def _stat(pid: int) -> tuple[bytes, bytes] | None:
    """(state, start time in clock ticks) of process ``pid`` as /proc says, None for none;
    raises OSError when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after the command's name (it may hold ")")
    return fields[0], fields[19]


def alive(pid: int) -> bool:
    """Whether process ``pid`` of this place may still run: not when it has none, nor when it
    is a zombie (killed under a parent that has not reaped it yet: a script's Popen, a
    supervisor that waits only at its own end). True when that cannot be told."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    if not _own_proc():
        return True  # as signal 0 said
    try:
        stat = _stat(pid)
    except OSError:
        return True
    return stat is not None and stat[0] != b"Z"


class Holder(NamedTuple):
    """A process as a reservation names it: ``start`` is :data:`PLACE` and its start time
    (``PLACE.TICKS``), None where that cannot be told."""

    host: str
    pid: int
    start: str | None


_ME: Holder | None = None


def me() -> Holder:
    """This process as a reservation names it: read once per process (a fork's child reads its
    own)."""
    global _ME
    pid = os.getpid()
    if _ME is None or _ME.pid != pid:
        start = None
        try:
            stat = _stat(pid) if _own_proc() else None
        except OSError:
            stat = None
        if stat is not None:
            start = f"{PLACE}.{stat[1].decode('ascii')}"
        _ME = Holder(HOST, pid, start)
    return _ME


def dead(host: str | None, pid: int | None, start: str | None) -> bool:
    """Whether the process a reservation names (``host``, ``pid``, ``start`` as :func:`me`
    gave them) is gone: of this place, and its pid has no process, a zombie, or one started at
    another time. False for what cannot be told here (a live holder's too)."""
    if host != HOST or pid is None or start is None:
        return False
    return gone(pid, start)


def gone(pid: int, start: str) -> bool:
    """Whether process ``pid`` that started at ``start`` (``PLACE.TICKS``, as :func:`me` names
    it) is gone: of this place, and its pid has no process, a zombie, or one started at another
    time. False for what cannot be told here (another place's, a start without its ticks)."""
    place, _, ticks = start.rpartition(".")
    if place != PLACE or not _own_proc():  # a start was read from this /proc, or none
        return False
    try:
        stat = _stat(pid)
    except OSError:
        return False
    return stat is None or stat[0] == b"Z" or stat[1].decode("ascii") != ticks


def as_read(outcome: str, host: str | None, pid: int | None, start: str | None) -> str:
    """A slot's outcome as a reservation would leave it: ``unknown`` for a reservation whose
    holder is gone (:func:`dead`), which the next reservation settles so."""
    return "unknown" if outcome == "reserved" and dead(host, pid, start) else outcome
