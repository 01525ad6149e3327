"""Shared fixtures: every test gets its own SQLite ledger file through ``WARMUP_DB``."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from click.testing import CliRunner, Result

if TYPE_CHECKING:
    from warmup.ledger import Ledger

# pgkit (ledger_url, pg_url) here too: registered first, as a plugin, it is imported with its
# asserts rewritten before a test module imports it directly (test_crash_points does, and
# was imported by another test module before one naming it in its own pytest_plugins: a
# PytestAssertRewriteWarning in every run).
pytest_plugins = [
    "tests.peers.fixtures",
    "tests.zonekit",  # before the kits that import it
    "tests.outboxkit",
    "tests.pgkit",
]  # outboxkit: sink, password; zonekit: the kits' mailboxes' zone, one a test

# No test reads or writes the keyring of the machine it runs on (``mailbox remove`` forgets a
# mailbox's stored password): a test that needs one names its own backend, in its process or
# in the environment of the processes it starts (tests/filekeyring.py).
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

SH = "Asia/Shanghai"

# A policy with every rule of the calendar at once, for the property tests' strategies: a CN
# calendar whose working days (make-up days included) are the only sending days, two hour ranges
# a day, a domain cap, and qualifying days at a third of what a day can deliver.
WORKING_DAYS_POLICY = """
name = "working-days"
ceiling = 300
growth_factor = 2.0
qualify = 0.3
domain_cap = 120

[[stage]]
name = "week 1"
days = 7
daily = 50
interval = ["5m", "10m"]

[[stage]]
name = "ramp"
days = 14
daily = [80, 200]
interval = ["1m", "3m"]

[[stage]]
name = "stable"
days = 0
daily = 300
interval = ["30s", "1m"]

[health]
window_days = 7
min_sample = 20
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10

[calendar]
country = "CN"

[window]
hours = [["09:00", "12:00"], ["14:00", "18:00"]]
working_days = true
"""


def property_specs() -> dict:
    """The policies the property tests draw from: two presets without a calendar, the exmail
    preset (CN public holidays off) and :data:`WORKING_DAYS_POLICY`."""
    import tomllib

    from warmup.policy.spec import load_policy, parse_policy

    specs = {name: load_policy(name) for name in ("default", "gentle", "exmail")}
    specs["working-days"] = parse_policy(tomllib.loads(WORKING_DAYS_POLICY), "working-days")
    return specs


def _sigint_delivered() -> None:
    """A suite started in the background by a shell without job control (``./scripts/test &``,
    ``nohup``, some CI runners) inherits SIGINT ignored, and so would every process it starts:
    the tests of Ctrl-C (a real SIGINT to a real ``warmup``) then saw it finish instead. The
    suite's processes take SIGINT as Python does by default, and their children with them."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile warmup and rewrite the test modules once, before the workers start: where
    Python is told not to write bytecode (PYTHONDONTWRITEBYTECODE, set on some machines) each of
    the suite's processes would compile warmup's source again (~0.1-0.3 s of CPU each), and where
    it may, four workers collecting at once would each rewrite every test module."""
    _sigint_delivered()
    _hypothesis_without_deadlines()
    if not hasattr(config, "workerinput"):
        import compileall

        compileall.compile_dir(str(Path(__file__).parents[1] / "warmup"), quiet=1)
        _rewrite_tests_once(config)


def _hypothesis_without_deadlines() -> None:
    """Hypothesis fails an example that takes over 200 ms (its default deadline), and again as
    'flaky' when the rerun is faster: on a CI machine loaded by the suite's other worker, or by
    a module imported in the first example, a test of what a function returns failed on how
    long it took. What these tests assert is the answers; speed is measured in bench/."""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("warmup", deadline=None)
    settings.load_profile("warmup")


def _rewrite_tests_once(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every test module in every worker (~6 s of CPU each), and
    under PYTHONDONTWRITEBYTECODE caches nothing. Rewritten once here, cached where pytest
    looks (``__pycache__/*.pytest-*.pyc``, which it reads even when it may not write), the
    workers load them. A pytest whose internals differ just skips this."""
    try:
        from _pytest.assertion import assertstate_key
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            get_cache_dir,
        )

        state = config.stash[assertstate_key]
    except (ImportError, KeyError):
        return
    here = Path(__file__).parent
    plugins = [here / "peers" / "fixtures.py", here / "outboxkit.py", here / "pgkit.py"]  # above
    for fn in [*sorted(here.glob("test_*.py")), here / "conftest.py", *plugins]:
        pyc = get_cache_dir(fn) / (fn.name[:-3] + PYC_TAIL)
        if _read_pyc(fn, pyc, state.trace) is None:
            pyc.parent.mkdir(exist_ok=True)
            source_hash, co = _rewrite_test(fn, config)
            _write_pyc(state, co, source_hash, pyc)


# Set in the fresh interpreter a test marked ``alone`` runs in (pytest_pyfunc_call).
ALONE = "WARMUP_TEST_ALONE"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked ``alone`` is about forking, which :mod:`warmup.shards` refuses beside other
    threads (a fork copies only the calling one), and counts the children and signals of its
    process: it runs in a fresh interpreter, it alone (earlier tests of a worker leave threads
    of loopback servers, child processes and signal handlers), and passes, fails or is skipped
    as it does there."""
    if pyfuncitem.get_closest_marker("alone") is None or os.environ.get(ALONE):
        return None
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist",
         pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath, env={**os.environ, ALONE: "1"},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    tail = (res.stdout.strip().splitlines() or [""])[-1]
    if res.returncode == 0 and " skipped" in tail and " passed" not in tail:
        why = [line for line in res.stdout.splitlines() if line.startswith("SKIPPED")]
        pytest.skip(f"in a fresh interpreter: {why[-1] if why else tail}")
    if res.returncode != 0 or " 1 passed" not in f" {tail}":
        pytest.fail(f"in a fresh interpreter:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}", False)
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (stable otherwise): with several workers (``-n``), the long ones start
    at once instead of becoming the run's tail while the other workers sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("WARMUP_DB", str(path))
    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    # Never the developer's own ~/.config/warmup/config.toml: a test that wants one writes it.
    # (The default path, not $WARMUP_CONFIG: one naming no file is an error.)
    monkeypatch.delenv("WARMUP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    # Nor the developer's own default ledger: a test that unsets WARMUP_DB, run against code
    # that falls back to the default path (as a test is, to see it fail first), wrote its
    # mailboxes into ~/.local/share/warmup/ledger.db.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    # Nor the developer's cache of the holidays library's answers (warmup/policy/holidaycache.py):
    # each test starts without one, as a fresh machine does.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return path


@pytest.fixture(autouse=True)
def _keyring_backend_restored() -> Iterator[None]:
    """keyring picks its backend once a process, from ``PYTHON_KEYRING_BACKEND`` at its first
    use: a test whose environment named the file keyring (an OAuth test) left it to every later
    test of the same worker, whose in-process commands then read "the system keyring failed
    (KeyError)" where no password is stored anywhere. Each test ends with the backend it found."""
    import keyring.core

    before = keyring.core._keyring_backend  # None: chosen afresh at the next use
    yield
    keyring.core._keyring_backend = before


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite ledger with every migration applied, made once per session (a schema
    migration costs ~0.06 s of CPU): see :func:`migrated`."""
    from warmup.ledger import open_ledger

    path = tmp_path_factory.mktemp("migrated") / "ledger.db"
    open_ledger(str(path)).close()
    return path


@pytest.fixture
def migrated(migrated_file: Path, ledger_path: Path) -> Path:
    """A private copy of :func:`migrated_file` at ``$WARMUP_DB``: what the first command on a
    new ledger would have made, for tests whose set-up is not about creating the ledger."""
    shutil.copy(migrated_file, ledger_path)
    return ledger_path


@pytest.fixture
def run() -> Callable[..., Result]:
    """Invoke the CLI in-process, as a user would type it (exit code from sysexits)."""
    from warmup.cli import cli

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@functools.cache
def _tz(name: str) -> pendulum.Timezone:
    return pendulum.timezone(name)


def at(day: dt.date, hour: int = 10, minute: int = 0, tz: str = SH) -> dt.datetime:
    """An aware instant on a local day (tests pass time in; they never sleep)."""
    return pendulum.datetime(day.year, day.month, day.day, hour, minute, tz=_tz(tz)).in_timezone(
        _tz("UTC")
    )


def ledger_before(url: str, name: str) -> Ledger:
    """A ledger at ``url`` (SQLite or PostgreSQL) with every migration but ``name`` recorded,
    open: what today's writers put in it is what a ledger from before data migration ``name``
    held, and its next open runs ``name`` on it. Every other migration is applied, so a
    migration added later (a column today's writers fill) never breaks the test, as building
    the old ledger with ``migrate(upto=...)`` did. For a migration that rewrites rows: one
    that changes the schema cannot run twice (test it from an older schema, tests/test_schema)."""
    from warmup.ledger import open_ledger
    from warmup.ledger.migrations import MIGRATIONS_TABLE
    from warmup.ledger.reads import MIGRATION_NAMES

    assert name in MIGRATION_NAMES, f"no migration {name!r}"
    ledger = open_ledger(url)
    try:
        with ledger.write() as conn:
            conn.execute(MIGRATIONS_TABLE.delete().where(MIGRATIONS_TABLE.c.name == name))
        assert ledger.pending_migrations() == [name]
    except BaseException:
        ledger.close()
        raise
    return ledger


def policy_changes_at(
    ledger: Ledger, when: dt.datetime, kinds: tuple[str, ...] = ("policy",)
) -> None:
    """Date the ledger's policy changes stamped after ``when`` (by the wall clock: 'mailbox set
    --policy', 'policy set') at ``when``, a test's own clock: a question about an instant before
    a change judges that day under the policy in force then (warmup.policy.eras). ``kinds``:
    ``("cap",)`` for cap changes ('mailbox set --cap')."""
    from warmup.ledger.schema import EVENT

    when = dt.datetime.fromtimestamp(when.timestamp(), dt.UTC)  # not pendulum's: the driver's
    with ledger.write() as conn:
        e = EVENT.c
        conn.execute(EVENT.update().where(e.kind.in_(kinds), e.at > when).values(at=when))


def ledger_digest(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a failed command left the ledger untouched."""
    if not path.exists():
        return {}
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


@pytest.fixture
def thread_errors() -> Iterator[list[threading.ExceptHookArgs]]:
    """The exceptions that ended a thread during the test (each would print a traceback)."""
    seen: list[threading.ExceptHookArgs] = []
    before = threading.excepthook
    threading.excepthook = seen.append
    yield seen
    threading.excepthook = before


@pytest.fixture
def today() -> dt.date:
    return dt.date(2026, 11, 16)  # a Monday; tests evaluate with --at on this day


# A mailbox is asked about (quota, plan, report --at) only from the day it was added: one a
# test asks about days of before the wall clock's today is added before them, with
# ``mailbox add *ADDED`` (``api.add_mailbox(..., added_at=ADDED_AT)``).
ADDED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ADDED = ("--at", ADDED_AT.isoformat())


os.environ.setdefault("TZ", "UTC")


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real keyring backend (a JSON file) for this process; yields the file."""
    import keyring

    from tests.filekeyring import FileKeyring

    path = tmp_path / "keyring.json"
    monkeypatch.setenv("WARMUP_TEST_KEYRING", str(path))
    before = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield path
    keyring.set_keyring(before)


@pytest.fixture
def empty_keyring(keyring_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`keyring_file` with nothing in it, and no WARMUP_PASSWORD: a mailbox has no
    password until 'warmup mailbox login' stores one."""
    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)


@pytest.fixture
def file_keyring(keyring_file: Path) -> Path:
    """:func:`keyring_file`, by the name the mailbox tests give it."""
    return keyring_file


def vm_steps(ledger: Any, fn: Callable[[], Any]) -> tuple[int, Any]:
    """(SQLite VM steps of the connections ``fn`` checks out of ``ledger``, what it returns)."""
    import sqlalchemy as sa

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def watch(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_progress_handler(count, 1)

    sa.event.listen(ledger.engine, "checkout", watch)
    try:
        out = fn()
    finally:
        sa.event.remove(ledger.engine, "checkout", watch)
        ledger.engine.dispose()  # no connection keeps the handler
    return steps[0], out
