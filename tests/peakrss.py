"""``warmup ARGS`` in a process of its own that says its own peak resident memory as it exits:
VmHWM of its address space, not ``ru_maxrss``, which Linux carries over from the forking parent
(the pytest process). For the tests that hold a command to bounded memory."""

from __future__ import annotations

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
    res = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout, int(res.stderr.rsplit("peak-rss-kib ", 1)[1]) / 1024
