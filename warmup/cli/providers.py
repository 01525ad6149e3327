"""``warmup providers``: the presets."""

from __future__ import annotations

from warmup.cli import cli
from warmup.cli.common import json_option, print_json, print_table
from warmup.providers import providers as all_providers


@cli.command("providers")
@json_option
def providers_(json_: bool) -> None:
    """List provider presets: hosts, ports, security, backups and limits.

    \b
    Example:
        warmup providers --json
    """
    presets = all_providers().values()
    if json_:
        print_json([p.to_dict() for p in presets])
        return

    from warmup.api import USUAL_PORTS

    def ep(kind: str, e: object) -> str:
        # The options that fill in what a preset lacks, and the port a mailbox gets without
        # one: 'custom' read '<--host>:<--port>', neither of them an option of 'mailbox add'.
        host, port, sec, backup = (getattr(e, k) for k in ("host", "port", "security", "backup"))
        text = f"{host or f'<--{kind}-host>'}:{port or USUAL_PORTS[kind][sec]} {sec}"
        return text + (f" (backup {', '.join(backup)})" if backup else "")

    print_table(
        ["NAME", "SMTP", "IMAP", "TZ", "LIMIT/DAY"],
        [
            [p.name, ep("smtp", p.smtp), ep("imap", p.imap), p.timezone, p.daily_limit]
            for p in presets
        ],
    )
