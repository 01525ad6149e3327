"""What a PostgreSQL server refuses of an upgrade (the migrations' transaction), said as what to
do about it rather than as the same refusal of an everyday command.

- **A statement past ``statement_timeout``.** An everyday command's timed-out statement may pass
  at the next try (a lock released, the load gone: 75). An upgrade's statements index or
  rewrite whole tables and take as long at every try: 75 had cron and scripts retry it without
  end, each try holding the upgrade's locks (every host's commands waiting) until the server
  cut it. It is 78, configuration: run the upgrade once without that limit (the role's setting
  is a choice the DBA made for everyday statements; warmup does not override it unasked).
- **A role that may use the tables but does not own them.** An upgrade alters and indexes
  tables, which only their owner (or a member of the owning role) may do: "needs CREATE on its
  schema" sent the DBA granting a right the role already had. It names the owner: 77, as every
  right a role lacks.

The facts these need are read once the upgrade holds its lock (one round trip, only when there
is something to upgrade), before any migration runs: once a statement failed, the transaction
can read nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import ConfigError, PermissionFailure, WarmupError
from warmup.ledger.schema import METADATA

# pg_settings.source of statement_timeout -> where the user finds it
_SOURCES = {
    "configuration file": "set in the server's configuration",
    "database": "set for the database: ALTER DATABASE ... SET",
    "user": "set for role {role}: ALTER ROLE ... SET",
    "database user": "set for role {role} in this database: ALTER ROLE ... IN DATABASE ... SET",
    "client": "set by the URL's options or $PGOPTIONS",
}

# statement_timeout and where it was set; the role; the owners of the ledger's tables (those
# found through the search_path) this role neither is nor has the privileges of
_FACTS = sa.text(
    "SELECT current_setting('statement_timeout'), "
    "(SELECT source FROM pg_settings WHERE name = 'statement_timeout'), current_user, "
    "(SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner)::text, ', ') "
    " FROM unnest(CAST(:tables AS text[])) AS t(name) "
    " JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name)) "
    " WHERE NOT pg_has_role(c.relowner, 'USAGE'))"
)


@dataclass(frozen=True)
class UpgradeFacts:
    """What the upgrade's refusals say, read before its first migration."""

    statement_timeout: str  # as SHOW says it: "5s", "0"
    source: str  # pg_settings.source
    role: str
    owners: str  # the other roles owning warmup's tables, "" when the role owns them all


def upgrade_facts(conn: Connection) -> UpgradeFacts:
    tables = sorted({*METADATA.tables, "warmup_migrations"})
    timeout, source, role, owners = conn.execute(_FACTS, {"tables": tables}).one()
    return UpgradeFacts(str(timeout), str(source or ""), str(role), str(owners or ""))


def upgrade_refusal(exc: BaseException, facts: UpgradeFacts, where: str) -> WarmupError | None:
    """The server's error ``exc`` in an upgrade's statement as one line saying what to do; None
    when an everyday command's words fit it as well."""
    state = getattr(exc, "sqlstate", None)
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if state == "42501" and facts.owners:  # insufficient_privilege, the tables another's
        owner = facts.owners.split(", ")[0]
        whose = "role " if ", " not in facts.owners else "roles "
        return PermissionFailure(
            f"ledger {where}: the server refused: {text}; an upgrade changes warmup's tables, "
            f"which only their owner may do, and they belong to {whose}{facts.owners}, not "
            f"{facts.role}: run the upgrade once as {owner} (warmup db migrate, its --db "
            f"naming that role), or make {facts.role} a member of it (GRANT {owner} TO "
            f"{facts.role})"
        )
    if state == "57014" and "statement timeout" in text:
        # query_canceled by statement_timeout, not by pg_cancel_backend (someone stopped it,
        # "due to user request"); a server speaking another language keeps the common words
        where_set = _SOURCES.get(facts.source, "").format(role=facts.role)
        at = f", {where_set}" if where_set else ""
        return ConfigError(
            f"ledger {where}: the upgrade ran past statement_timeout "
            f"({facts.statement_timeout}{at}): {text}; nothing of it was written, and every "
            f"try takes as long (unless it waited for another session's lock: pg_stat_activity): "
            f"run it once without that limit, 'warmup db migrate' with -cstatement_timeout=0 "
            f"in the URL's options (?options=-cstatement_timeout%3D0, or %20-cstatement_timeout"
            f"%3D0 after other options), then use the ledger as before"
        )
    return None
