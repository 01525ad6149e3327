"""Every test starts at one instant: loaded by ``scripts/clockrun --each``, which runs pytest
under libfaketime with ``CLOCKRUN_AT`` (seconds since the epoch) set.

As each test's setup begins, ``FAKETIME`` (the offset libfaketime adds to the real time, read
again at every call: ``FAKETIME_NO_CACHE``) is set so that the clock reads ``CLOCKRUN_AT``
again; the processes the test starts inherit it. A run a second or two before a midnight then
puts every test, not only the first, across it: a test that reads the date, then has a command
read it again, fails there as it would, now and then, in CI.
"""

from __future__ import annotations

import os
import time

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    real = time.time() - float(os.environ["FAKETIME"])
    os.environ["FAKETIME"] = f"{float(os.environ['CLOCKRUN_AT']) - real:+.6f}"
