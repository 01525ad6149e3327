"""Bytecode for timed commands, as an installed package has it.

On the shared machine ``PYTHONDONTWRITEBYTECODE`` is set and the venv was installed without
bytecode (``uv pip install``): every timed start compiled numpy, click, pendulum, SQLAlchemy and
warmup from source (the bare ``import sqlmodel, click, pendulum`` 2.4 s of CPU instead of 0.8 s),
which inflates a baseline that imports more than the command does. :func:`cached_env` gives a
command environment that reads bytecode from a cache of the bench's own
(``bench/.cache/pycache``, Python's ``PYTHONPYCACHEPREFIX``), and :func:`compiled` fills it for
the interpreter's own modules, site-packages and each tree's ``warmup``. The venv is not written
to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache" / "pycache"


def cached_env(**extra: str) -> dict[str, str]:
    """This process's environment with ``extra``, reading and writing the bench's bytecode cache."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(CACHE), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compiled(env: dict[str, str], trees: list[Path]) -> None:
    """Fill the bytecode cache of ``env`` (its ``PYTHONPYCACHEPREFIX``) for the interpreter's
    own modules, site-packages and each tree's ``warmup``, by a process started with ``env``
    (the cache's layout is that interpreter's). Compiled once: later runs find it current."""
    roots = [Path(tree).resolve() for tree in trees]
    dirs = [  # not the trees themselves (their tests, notebooks, the bench), only their warmup
        p
        for p in sys.path
        if p and Path(p).is_dir() and not any(Path(p).resolve().is_relative_to(r) for r in roots)
    ]
    dirs += [str(root / "warmup") for root in roots]
    # test folders skipped (the standard library's hold files that do not compile on purpose);
    # a module that fails is compiled where it is imported, as without the cache
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", r"[/\\]tests?[/\\]"]
        + list(dict.fromkeys(dirs)),
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
