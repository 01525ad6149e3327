"""The stop window's cost per message, against the window before it had an envelope phase,
measured in the same run, rounds interleaved.

Before: ``StopWindow()``, ``open()`` at the DATA reply, ``close()`` (one handler swap each
way). Now: ``StopWindow()``, ``envelope(abort)`` as the message begins, ``data()``,
``open()`` at the reply, ``close()`` (still one swap each way: ``open`` on an open window
only changes its phase). The earlier window is read from git (``--base``, main by default).

Run: .venv/bin/python bench/stop_window.py [N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warmup.stopwindow import StopWindow


def base_window(rev: str) -> type:
    """The ``StopWindow`` of ``rev``'s warmup/stopwindow.py."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:warmup/stopwindow.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    mod = types.ModuleType("stopwindow_base")
    sys.modules[mod.__name__] = mod  # its dataclass-free annotations resolve lazily
    exec(compile(src, "stopwindow_base.py", "exec"), mod.__dict__)
    return mod.StopWindow  # type: ignore[no-any-return]


def before(cls: type, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        w = cls()
        w.open()
        w.close()
    return (time.perf_counter() - t) / n


def now(n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        w = StopWindow()
        w.envelope(lambda: None)
        w.data()
        w.open()
        w.close()
    return (time.perf_counter() - t) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("n", nargs="?", type=int, default=20_000)
    p.add_argument("--base", default="main")
    p.add_argument("--rounds", type=int, default=9)
    a = p.parse_args()
    old = base_window(a.base)
    b, c = [], []
    for _ in range(a.rounds):  # interleaved
        b.append(before(old, a.n))
        c.append(now(a.n))
    mb, mc = statistics.median(b), statistics.median(c)
    print(f"window per message, before ({a.base}): {mb * 1e6:.1f} µs (median of {a.rounds})")
    print(f"window per message, now:              {mc * 1e6:.1f} µs")
    print(f"ratio now/before: {mc / mb:.2f}  (added: {(mc - mb) * 1e6:+.1f} µs a message)")


if __name__ == "__main__":
    main()
