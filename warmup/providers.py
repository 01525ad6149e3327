"""Provider presets as data (``providers.toml``): hosts, ports, security, backups, limits, checklists."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from warmup.errors import ConfigError, UsageError
from warmup.lazyre import compiled_later

SECURITIES = ("ssl", "starttls", "none")
AUTHS = ("password", "oauth")


class OAuthEndpoints(NamedTuple):
    """Where a provider's OAuth 2.0 device authorization grant and token refresh happen."""

    device_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str = ""  # empty: the organisation's own, from WARMUP_OAUTH_CLIENT_ID


class Endpoint(NamedTuple):
    host: str | None
    port: int | None
    security: str
    backup: tuple[str, ...] = ()

    def hosts(self) -> list[str]:
        return [h for h in (self.host, *self.backup) if h]

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "backup": list(self.backup),
        }


class DnsExpect(NamedTuple):
    """What the provider's customers publish in DNS (``warmup doctor``'s domain checks): the
    SPF include, MX host suffixes and DKIM selectors, where the provider documents them."""

    spf: str | None = None
    mx: tuple[str, ...] = ()
    dkim: tuple[str, ...] = ()


class Provider(NamedTuple):
    name: str
    title: str
    smtp: Endpoint
    imap: Endpoint
    timezone: str | None = None
    daily_limit: int | None = None
    per_minute: int | None = None
    max_recipients: int | None = None
    checklist: tuple[str, ...] = ()
    policy: str = "default"  # the preset a mailbox of this provider gets unless told otherwise
    dns: DnsExpect = DnsExpect()
    auth: str = "password"  # how its mailboxes log in unless told otherwise (AUTHS)
    oauth: OAuthEndpoints | None = None

    @property
    def min_interval(self) -> float:
        """Seconds between sends implied by a per-minute limit."""
        return 60 / self.per_minute if self.per_minute else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "smtp": self.smtp.to_dict(),
            "imap": self.imap.to_dict(),
            "timezone": self.timezone,
            "daily_limit": self.daily_limit,
            "per_minute": self.per_minute,
            "max_recipients": self.max_recipients,
            "checklist": list(self.checklist),
            "policy": self.policy,
            "dns": {"spf": self.dns.spf, "mx": list(self.dns.mx), "dkim": list(self.dns.dkim)},
            "auth": self.auth,
        }


def _endpoint(raw: dict[str, Any]) -> Endpoint:
    return Endpoint(
        raw.get("host"), raw.get("port"), raw.get("security", "ssl"), tuple(raw.get("backup", ()))
    )


def _oauth(raw: dict[str, Any]) -> OAuthEndpoints:
    return OAuthEndpoints(
        raw["device_url"], raw["token_url"], tuple(raw["scopes"]), raw.get("client_id", "")
    )


@cache
def providers() -> dict[str, Provider]:
    """All presets by name, in file order."""
    # a plain file next to this module, as pyproject's package-data ships it (no
    # importlib.resources: its import cost every 'warmup quota' and 'warmup send' ~5 ms)
    text = (Path(__file__).resolve().parent / "providers.toml").read_text(encoding="utf-8")
    out = {}
    for name, raw in tomllib.loads(text).items():
        out[name] = Provider(
            name=name,
            title=raw["title"],
            smtp=_endpoint(raw["smtp"]),
            imap=_endpoint(raw["imap"]),
            timezone=raw.get("timezone"),
            daily_limit=raw.get("daily_limit"),
            per_minute=raw.get("per_minute"),
            max_recipients=raw.get("max_recipients"),
            checklist=tuple(raw.get("checklist", ())),
            policy=raw.get("policy", "default"),
            dns=DnsExpect(
                raw.get("dns", {}).get("spf"),
                tuple(raw.get("dns", {}).get("mx", ())),
                tuple(raw.get("dns", {}).get("dkim", ())),
            ),
            auth=raw.get("auth", "password"),
            oauth=_oauth(raw["oauth"]) if "oauth" in raw else None,
        )
    return out


def get_provider(name: str, of: str | None = None) -> Provider:
    """The preset ``name``. Unknown: a usage error (64) for a name given; for the one stored
    for mailbox ``of`` (a newer warmup's preset in a ledger it shares with this one), the
    set-up's fault (78), as a stored policy this warmup does not know is, not a name to fix.
    A name given is read in any case (``Exmail``, ``M365``), as ``--auth`` and ``--security``
    are: callers store the preset's own name (:attr:`Provider.name`)."""
    try:
        return providers()[name]
    except KeyError:
        if of is None and name.lower() in providers():
            return providers()[name.lower()]
        if of is not None:
            raise ConfigError(
                f"mailbox {of!r} is stored with provider {name!r}, which this warmup does not "
                f"know (a newer version's, from a shared ledger?); upgrade warmup here"
            ) from None
        hint = _meant(name)
        raise UsageError(
            f"unknown provider {name!r}{hint}; choose one of "
            f"{', '.join(providers())} (see 'warmup providers')"
        ) from None


def _meant(name: str) -> str:
    """What a wrong provider name most likely meant, as words to add after it: the one preset
    whose title or hosts hold the word typed (``tencent``, ``qq``, ``163``, ``google``,
    ``outlook``), else a near spelling of a preset's name (``exmial``); empty when neither
    names one preset."""
    import difflib
    import re

    typed = name.strip().lower()
    holding = [
        p
        for p in providers().values()
        if typed
        in re.findall(r"[a-z0-9]+", " ".join((p.title, *p.smtp.hosts(), *p.imap.hosts())).lower())
    ]
    if len(holding) == 1:
        return f" ({holding[0].title} is preset {holding[0].name})"
    near = [] if holding else difflib.get_close_matches(typed, list(providers()), n=1, cutoff=0.75)
    return f" (did you mean {near[0]}?)" if near else ""


def checklist_text(provider: Provider) -> str:
    """The numbered setup checklist shown after a login failure."""
    steps = "\n".join(f"  {i}. {step}" for i, step in enumerate(provider.checklist, 1))
    return f"Check the {provider.title} setup, in this order:\n{steps}"


# :func:`checklist_text` after an error's line, as the CLI prints it: its lines are meant.
_CHECKLIST_AFTER = compiled_later(
    r"\nCheck the [^\n]* setup, in this order:(?:\n  \d+\. [^\n]*)+\Z"
)


def without_checklist(text: str) -> tuple[str, str]:
    """``text`` split into what comes before a :func:`checklist_text` ending it and that
    checklist (with its leading newline; "" if it has none)."""
    found = _CHECKLIST_AFTER.search(text)
    return (text, "") if found is None else (text[: found.start()], found[0])
