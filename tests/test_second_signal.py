"""The second SIGTERM or Ctrl-C of 'warmup run' stops it at once, whenever it arrives.

CPython runs a signal's handler between two bytecodes of the main thread: a signal arriving while
that thread runs Python code, or landing on another thread, only sets a flag, which a socket wait
entered afterwards does not look at. The second SIGTERM sent right after the first's line (CI
saw it) waited for the server's DATA reply, up to the SMTP timeout."""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from warmup.cli.run import _Heard, _stop, _stop_signals


class _Worker:
    stopping = False
    idle = False  # in a pass: a message in flight (the server's reply awaited)

    def stop(self) -> None:
        self.stopping = True


def _in_a_wait(seconds: float) -> float:
    """Block in a socket read, as the worker waits for a server's reply; the time it took."""
    a, b = socket.socketpair()
    a.settimeout(seconds)
    start = time.monotonic()
    try:
        a.recv(1)
    finally:
        a.close()
        b.close()
    return time.monotonic() - start


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_the_main_thread_missed_still_stops_its_wait(sig, capfd):
    """The second signal lands on another thread while the main thread waits in a socket read
    (the same flag-only state as one arriving between its bytecodes): it is sent again to the
    main thread, whose wait ends with the stop at once, not at the read's timeout."""
    assert threading.current_thread() is threading.main_thread()
    worker, heard = _Worker(), _Heard()
    with _stop_signals(lambda *_: _stop(worker, None, heard), heard):  # type: ignore[arg-type]
        signal.raise_signal(sig)  # the first: on the main thread, acted on at once
        assert worker.stopping
        assert "again to stop at once" in capfd.readouterr().err
        elsewhere = threading.Timer(0.2, signal.raise_signal, args=(sig,))
        elsewhere.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            _in_a_wait(20)
        elsewhere.join()
        assert time.monotonic() - start < 5
    assert heard.acted.is_set()
    # The handlers before are back, and no wakeup fd is left behind.
    assert signal.set_wakeup_fd(-1) == -1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stop_that_ends_normally_sends_nothing_later():
    """One signal, and the block ends as a worker that finished its message does: the listening
    thread goes, and no signal reaches the main thread afterwards."""
    worker, heard = _Worker(), _Heard()
    # an earlier test's listener may still be ending on this xdist worker: not this one's
    before = set(threading.enumerate())
    with _stop_signals(lambda *_: _stop(worker, None, heard), heard):  # type: ignore[arg-type]
        signal.raise_signal(signal.SIGTERM)
        listening = [
            t for t in threading.enumerate() if t.name == "warmup-heard" and t not in before
        ]
        assert len(listening) == 1
    assert worker.stopping and not heard.acted.is_set()
    listening[0].join(5)
    assert not listening[0].is_alive()
    assert signal.set_wakeup_fd(-1) == -1


def test_a_third_signal_after_the_second_was_acted_on_writes_no_error(capfd):
    """A Ctrl-C storm on 'warmup run' (or a third SIGTERM from a service manager): once the
    second signal was acted on, the listening thread closed its end of the wakeup pipe while
    the wakeup fd still wrote to it, and the next signal printed "Exception ignored when trying
    to write to the signal wakeup fd" with a BrokenPipeError traceback. Its end now stays open
    until the block closes the pipe."""
    worker, heard = _Worker(), _Heard()
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):  # the third signal's
        with _stop_signals(lambda *_: _stop(worker, None, heard), heard):  # type: ignore[arg-type]
            signal.raise_signal(signal.SIGTERM)  # the first: listening from now on
            [listening] = [
                t for t in threading.enumerate() if t.name == "warmup-heard" and t not in before
            ]
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)  # the second: acted on, at once
            assert heard.acted.is_set()
            listening.join(2)  # it ended here, once it had read the second's byte
            signal.raise_signal(signal.SIGTERM)  # the third: its byte to the wakeup pipe
    listening.join(5)
    assert not listening.is_alive()
    err = capfd.readouterr().err
    assert "wakeup fd" not in err and "Traceback" not in err, err
