"""A long list's work split across forked children (:mod:`warmup.shards`): the answers in order,
the parts really done elsewhere, and every way a child can fail ending in the parent doing its
part itself, no child left behind."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from warmup import shards

# forks: each runs in a fresh interpreter of its own (tests/conftest.py)
pytestmark = pytest.mark.alone


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_parts_are_done_by_children_and_joined_in_order():
    me = os.getpid()
    items = list(range(10))

    def here(part):
        return [(x * x, os.getpid()) for x in part]

    got = shards.in_shards(items, 3, here, here)
    assert [v for v, _ in got] == [x * x for x in items]
    pids = [pid for _, pid in got]
    assert pids[:4] == [me] * 4  # the first part here; each other part in a child of its own
    assert len(set(pids[4:8])) == 1 and len(set(pids[8:])) == 1  # parts of 4, 4 and 2
    assert len({me, pids[4], pids[8]}) == 3
    assert _no_children_left()


@pytest.mark.parametrize(
    "how", ["raises", "exits nonzero", "killed", "answers short", "leaves without an answer"]
)
def test_a_failed_child_s_part_is_done_here(how):
    me = os.getpid()

    def here(part):
        return [(x, os.getpid()) for x in part]

    def there(part):
        if part[0] < 4:
            return here(part)  # the second part's child is fine
        if how == "raises":
            raise RuntimeError("boom")
        if how == "exits nonzero":
            os._exit(3)
        if how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "answers short":
            return here(part)[:-1]
        os._exit(0)  # exit 0, nothing sent

    got = shards.in_shards(list(range(6)), 3, here, there)
    assert [x for x, _ in got] == list(range(6))
    assert [pid == me for _, pid in got] == [True, True, False, False, True, True]
    assert _no_children_left()


def test_an_error_here_raises_and_leaves_no_child_behind():
    def here(part):
        if part[0] == 0:
            raise ValueError("bad part")
        return list(part)

    def there(part):
        signal.pause()  # would never answer: it is killed
        return list(part)

    with pytest.raises(ValueError, match="bad part"):
        shards.in_shards(list(range(9)), 3, here, there)
    assert _no_children_left()


def test_the_error_of_a_failed_child_s_part_is_raised_here():
    def here(part):
        if part[0] >= 5:
            raise ValueError(f"bad item {part[0]}")
        return list(part)

    with pytest.raises(ValueError, match="bad item 5"):
        shards.in_shards(list(range(10)), 2, here, here)
    assert _no_children_left()


def test_how_many_parts():
    cores = len(os.sched_getaffinity(0))
    assert shards.shard_count(10_000, 100) == min(cores, shards.MOST)
    assert shards.shard_count(150, 100) == 1  # not two parts' worth
    assert shards.shard_count(99, 100) == 1
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # another thread running: a fork would copy only this one
        assert shards.shard_count(10_000, 100) == 1
    finally:
        stop.set()
        other.join()


_WATCH: dict[str, str] = {}  # where a child made while a test watches writes its signal mask


def _mask_at_fork() -> None:
    if path := _WATCH.get("path"):
        held = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        with open(path, "a") as f:
            f.write(" ".join(sorted(signal.Signals(s).name for s in held)) + "\n")


os.register_at_fork(after_in_child=_mask_at_fork)


def test_a_child_takes_no_ctrl_c_before_its_guard(tmp_path):
    """A Ctrl-C (SIGINT; or a TERM, a HUP) reaching a child between the fork and its ``try``
    raised KeyboardInterrupt in the parent's code, run in the child: siblings killed, lines
    printed and buffers flushed twice. The signals are held over the fork, and the child lets
    them through inside its guard (where they end it, and the parent does its part)."""
    seen = tmp_path / "masks"
    _WATCH["path"] = str(seen)
    try:
        got = shards.in_shards(list(range(6)), 3, lambda p: list(p), lambda p: list(p))
    finally:
        _WATCH.clear()
    assert got == list(range(6))
    masks = seen.read_text().splitlines()
    assert len(masks) == 2, masks  # one line per child
    for mask in masks:
        assert {"SIGINT", "SIGTERM", "SIGHUP"} <= set(mask.split()), mask
    # and the parent's own mask is as it was
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_a_ctrl_c_in_a_child_has_its_part_done_here():
    me = os.getpid()

    def here(part):
        return [(x, os.getpid()) for x in part]

    def there(part):
        os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C reaches the whole process group
        return here(part)

    # Python's own SIGINT handler (KeyboardInterrupt), whatever an earlier test of this
    # process left ('warmup run' run in-process installs its own)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        got = shards.in_shards(list(range(6)), 3, here, there)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert got == [(x, me) for x in range(6)]
    assert _no_children_left()
