"""``warmup ARGS`` in a process of its own that says its own peak resident memory as it exits:
VmHWM of its address space, not ``ru_maxrss``, which Linux carries over from the forking parent
(the pytest process). For the tests that hold a command to bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys

_PEAK_RSS = """import re, runpy, sys
sys.argv = ["warmup", *sys.argv[1:]]
try:
    runpy.run_module("warmup", run_name="__main__", alter_sys=True)
finally:
    hwm = re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)
    print(f"peak-rss-kib {hwm}", file=sys.stderr)
"""


def peak_mib(*args: str, timeout: float) -> tuple[str, float]:
    """``warmup ARGS``'s standard output and its peak resident memory in MiB; it must exit 0."""
    res, mib = peak_run(*args, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return res.stdout, mib


def peak_run(
    *args: str, timeout: float, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``warmup ARGS`` (``env`` added to this process's) and its peak resident memory in MiB,
    whatever its exit; the peak's own line taken off its standard error."""
    res = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    err, _, hwm = res.stderr.rpartition("peak-rss-kib ")
    res.stderr = err
    return res, int(hwm) / 1024
