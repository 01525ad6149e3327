"""The test kit's own PostgreSQL databases (tests/pgkit.py). A fresh database's teardown ran
``DROP DATABASE ... WITH (FORCE)``, which checks first that the test role may signal every
session in it; an autovacuum worker there (no role of its own) failed that check, and CI
reported a passing test as an error in teardown ("must be a member of the role whose process
is being terminated or member of pg_signal_backend"). ``scripts/test`` now grants the test
role pg_signal_backend; a session of another role stands for the worker here, since the
server's check is the same for both and autovacuum cannot be called into a database on cue.
"""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from tests.pgkit import fresh_database, pg_server, throwaway_role


def _exists(name: str) -> bool:
    plain = sa.engine.make_url(pg_server()).set(drivername="postgresql")
    with psycopg.connect(plain.render_as_string(hide_password=False)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        return bool((row.fetchone() or (0,))[0])


def test_a_fresh_database_is_dropped_with_a_session_the_test_role_does_not_own_in_it():
    with throwaway_role() as (role, password):
        with fresh_database("dropkit") as (url, name):
            theirs = sa.engine.make_url(url).set(
                drivername="postgresql", username=role, password=password
            )
            stranger = psycopg.connect(theirs.render_as_string(hide_password=False))
            assert stranger.execute("SELECT current_user").fetchone() == (role,)
        assert not _exists(name)
        assert stranger.closed or stranger.broken or _cut(stranger)
        stranger.close()


def _cut(conn: psycopg.Connection) -> bool:
    """Whether the server ended ``conn``'s session (it answers no more)."""
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False
