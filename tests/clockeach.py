"""Every test starts at one instant: loaded by ``scripts/clockrun --each``, which runs pytest
under libfaketime with ``CLOCKRUN_AT`` (seconds since the epoch) set.

libfaketime reads the offset it adds to the real time from ``FAKETIME_TIMESTAMP_FILE`` at every
call (``FAKETIME_NO_CACHE``). Each pytest process (each xdist worker) gets a file of its own,
named in its environment before it starts any process, and as each test's setup begins writes
there the offset that puts the clock back to ``CLOCKRUN_AT``: the processes it started earlier
(the CLI's zygote, Dovecot) follow as well as those the test starts. A run a second or two
before a midnight then puts every test, not only the first, across it: a test that reads the
date, then has a command read it again, fails there as it would, now and then, in CI.
"""

from __future__ import annotations

import os
import tempfile
import time

import pytest

_offset = 0.0


def _move(offset: float) -> None:
    global _offset
    path = os.environ["FAKETIME_TIMESTAMP_FILE"]
    with open(f"{path}.new", "w") as out:
        out.write(f"{offset:+.6f}\n")
    os.replace(f"{path}.new", path)  # a reader sees the old offset or the new, whole
    _offset = offset


def pytest_configure(config: pytest.Config) -> None:
    global _offset
    with open(os.environ["FAKETIME_TIMESTAMP_FILE"]) as shared:
        _offset = float(shared.read())
    fd, own = tempfile.mkstemp(prefix="clockrun-each-")
    os.close(fd)
    os.environ["FAKETIME_TIMESTAMP_FILE"] = own
    _move(_offset)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    real = time.time() - _offset
    _move(float(os.environ["CLOCKRUN_AT"]) - real)


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ["FAKETIME_TIMESTAMP_FILE"]
    if os.path.basename(path).startswith("clockrun-each-"):
        os.unlink(path)
