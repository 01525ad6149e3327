"""Whole commands timed in interleaved rounds, as ``send_startup.py`` and ``quota_startup.py``
compare trees: wall and the child's CPU time (the figure to read on a loaded machine)."""

from __future__ import annotations

import resource
import statistics
import subprocess
import time
from pathlib import Path


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU of the child) seconds of one run; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rounds(
    cmds: dict[str, list[str]],
    envs: dict[str, dict[str, str]],
    cwds: dict[str, Path],
    runs: int,
    warmups: int,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each command once a round, ``warmups`` rounds then ``runs`` timed: (wall, CPU) by name."""
    wall: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(warmups + runs):
        for name, cmd in cmds.items():
            w, c = timed(cmd, envs[name], cwds[name])
            if i >= warmups:
                wall[name].append(w)
                cpu[name].append(c)
    return wall, cpu


def show(wall: dict[str, list[float]], cpu: dict[str, list[float]], base: str = "base") -> None:
    """One line per command: medians, the fastest run, the ratio to ``base``'s wall median."""
    bw = statistics.median(wall[base])
    for name in wall:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"{name:5} wall median {w * 1000:7.1f} ms (min {min(wall[name]) * 1000:7.1f})  "
            f"CPU median {c * 1000:7.1f} ms   ratio to base (wall) {w / bw:.2f}"
        )
