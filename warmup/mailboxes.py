"""A mailbox's registration and settings: add, change, remove.

What a user gives is checked before anything is stored (the provider, the time zone, the start
day, the login method, the cap, the servers: :mod:`warmup.endpoints`), then the policy is
adopted (a file given is stored in the ledger by name: :func:`warmup.policies.adopt`). Removal
also forgets the mailbox's secrets in the keyring. :mod:`warmup.api` gives every public name
here (``api.add_mailbox``, ``api.NO_CAP``, ...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from warmup import addresses, policies
from warmup.endpoints import check_endpoint, check_hosts_given, check_port_security
from warmup.errors import ConfigError, InvalidField, expect
from warmup.fields import check_timezone
from warmup.instants import check_date, check_event
from warmup.instants import machine_zone as _local_zone
from warmup.ledger import MailboxNotFound
from warmup.ledger.values import MailboxExists, MailboxRemoved
from warmup.policy import load_policy
from warmup.policy.spec import MAX_VOLUME
from warmup.providers import AUTHS, Provider, get_provider

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.ledger.values import MailboxRow


def address_arg(address: str) -> str:
    """A mailbox address given to the library: a str, else :class:`WrongType` naming the
    parameter (``address: expected a str, got int 5``), not the ledger's "mailbox address"."""
    expect(address, str, "address")
    return address


def add_mailbox(
    ledger: Ledger,
    address: str,
    provider: str,
    *,
    timezone: str | None = None,
    policy: str | None = None,
    cap: int | None = None,
    started: dt.date | None = None,
    auth: str | None = None,
    noted: Callable[[str], object] | None = None,
    added_at: dt.datetime | None = None,
    **overrides: Any,
) -> MailboxRow:
    """Register a mailbox; overrides are ``smtp_host/port/security`` and ``imap_*``.

    ``added_at``: when it was added (default now; a past instant for a mailbox in use before
    its ledger was kept): a question about an instant before its local day is refused
    (:func:`warmup.api.added_by`).

    ``auth``: ``password`` or ``oauth`` (default: the provider's, see :func:`auth_of`).

    ``policy``: a preset or stored policy name, or a TOML file (stored in the ledger, once
    everything else is checked, ``noted`` told so); default the provider's own preset
    (``exmail`` for Tencent Exmail, ``gmail`` for Google Workspace, ...: ``warmup
    providers``)."""
    address = addresses.normalize(address_arg(address), "mailbox address")
    if started is not None:
        check_date(started, "started")
    if added_at is not None:
        check_event(added_at, "at")
    prov = get_provider(provider)
    check_hosts_given(overrides)
    _validate_settings(prov, None, cap, overrides)
    if auth is not None:
        check_auth(prov, auth)
        overrides["auth"] = auth
    tz = check_timezone(timezone if timezone is not None else prov.timezone or _local_zone())
    try:  # refused before a policy file is stored for a mailbox that will not be added
        ledger.mailbox(address)
    except MailboxNotFound:
        pass
    else:
        raise MailboxExists(address)
    policy = _adopted(
        ledger, prov.policy if policy is None else policy, noted
    )  # a file is stored, by name
    return ledger.add_mailbox(
        address,
        prov.name,  # 'Exmail' typed: the preset's own name stored
        tz,
        policy,
        cap=cap,
        started=started,
        created_at=added_at,
        **{k: v for k, v in overrides.items() if v is not None},
    )


def mailbox_zone(provider: str, timezone: str | None = None) -> str:
    """The zone a mailbox of ``provider`` added with ``timezone`` (None: not given) gets, as
    :func:`add_mailbox` chooses it: a time typed for it without an offset is read there."""
    return check_timezone(
        timezone if timezone is not None else get_provider(provider).timezone or _local_zone()
    )


def _validate_settings(
    prov: Provider,
    policy: str | None,
    cap: int | None,
    overrides: dict[str, Any],
    ports: tuple[str, ...] = ("smtp", "imap"),
) -> None:
    """``ports``: the kinds whose port and security are checked together (``set_mailbox``: those
    it changes, so a combination an older version stored does not block a new cap)."""
    for kind in ("smtp", "imap"):
        check_endpoint(
            kind,
            overrides.get(f"{kind}_host") or getattr(prov, kind).host,
            overrides.get(f"{kind}_port"),
            overrides.get(f"{kind}_security"),
        )
        if kind in ports:
            check_port_security(
                kind,
                overrides.get(f"{kind}_port"),
                overrides.get(f"{kind}_security") or getattr(prov, kind).security,
            )
    missing = [f"{kind}_host" for kind in ("smtp", "imap") if not overrides.get(f"{kind}_host")]
    if prov.name == "custom" and missing:  # every host it lacks at once; a port is optional
        raise InvalidField(
            missing[0],
            "provider custom needs "
            + " and ".join(["{field}", "{other}"][: len(missing)])
            + " (the server's host; a port left out is its security's usual one)",
            refs={"other": missing[-1]},
        )
    if cap is not None and cap < 1:
        raise InvalidField(
            "cap",
            "{field} {cap}: expected a whole number >= 1 (or none to remove the cap); "
            "to stop sending, pause the mailbox instead (warmup mailbox pause)",
            cap=cap,
        )
    if cap is not None and cap > MAX_VOLUME:  # also past what the ledger's INTEGER holds
        raise InvalidField(
            "cap",
            "{field} {cap}: expected a whole number from 1 to {most} (or none to remove the cap)",
            cap=cap,
            most=MAX_VOLUME,
        )
    if policy is not None:
        load_policy(policy)  # only a file or preset here: names are checked by policies.adopt


NO_CAP = "none"  # set_mailbox(cap=NO_CAP) removes the mailbox's cap
NO_START = "none"  # set_mailbox(started=NO_START) counts its whole history again


def _adopted(ledger: Ledger, policy: str, noted: Callable[[str], object] | None) -> str:
    """:func:`warmup.policies.adopt`: the name to use, ``noted`` told when a file was stored."""
    name, note = policies.adopt(ledger, policy)
    if note and noted is not None:
        noted(note)
    return name


def set_mailbox(
    ledger: Ledger, address: str, noted: Callable[[str], object] | None = None, **values: Any
) -> MailboxRow:
    """Change a mailbox's settings (None: unchanged; ``cap=NO_CAP`` removes its cap); a policy
    file is stored once the rest is checked, ``noted`` told so. ``started``: a date, as
    ``add_mailbox``'s (a re-bound mailbox warms up again, its history kept), or ``NO_START``."""
    box = ledger.mailbox(address_arg(address))
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        raise InvalidField(
            "cap",
            "nothing to change: give {field}, {policy}, {timezone}, {started}, {auth} or a "
            "host, port or security ({smtp_host}, {imap_port}, ...)",
            refs={
                f: f for f in ("policy", "timezone", "started", "auth", "smtp_host", "imap_port")
            },
        )
    check_hosts_given(values)
    if "timezone" in values:
        check_timezone(values["timezone"])
    if "auth" in values:
        check_auth(get_provider(box.provider, of=box.address), values["auth"])
    if values.get("started") == NO_START:
        values["started"] = None  # counted from its first send again
    elif "started" in values:
        check_date(values["started"], "started")
    uncap = values.get("cap") == NO_CAP
    # The endpoints the mailbox will have: its own overrides, then the ones given now (checked
    # against the preset alone, a custom mailbox could change nothing, and a new host kept a
    # stored security none: a clear-text password to any host).
    endpoint = {
        f"{kind}_{part}": getattr(box, f"{kind}_{part}")
        for kind in ("smtp", "imap")
        for part in ("host", "port", "security")
    }
    endpoint.update({k: v for k, v in values.items() if k in endpoint})
    _validate_settings(
        get_provider(box.provider, of=box.address),
        None,
        None if uncap else values.get("cap"),
        endpoint,
        ports=tuple(k for k in ("smtp", "imap") if {f"{k}_port", f"{k}_security"} & set(values)),
    )
    if uncap:
        values["cap"] = None
    if "policy" in values:
        values["policy"] = _adopted(ledger, values["policy"], noted)
    return ledger.update_mailbox(address, **values)


def check_auth(prov: Provider, auth: str) -> None:
    """``auth`` is a login method ``prov`` supports, or :class:`InvalidField` naming it."""
    if auth not in AUTHS:
        raise InvalidField(
            "auth",
            "{field} {auth!r}: expected one of {choices}",
            auth=auth,
            choices=", ".join(AUTHS),
        )
    if auth == "oauth" and prov.oauth is None:
        raise InvalidField(
            "auth",
            "{field} oauth: {title} has no OAuth endpoints in warmup; use {field} password",
            title=prov.title,
        )


def auth_of(box: MailboxRow) -> str:
    """How ``box`` logs in: its own setting, else its provider's default."""
    return box.auth or get_provider(box.provider, of=box.address).auth


class Removal(NamedTuple):
    """What :func:`remove_mailbox` did besides deleting the mailbox."""

    cancelled: int  # queued messages cancelled
    forgotten: tuple[str, ...]  # the secrets the keyring held for it ("password", ...)
    kept: str | None  # why its secrets may still be in the keyring (None: they are not)


def remove_mailbox(ledger: Ledger, address: str, force: bool = False) -> Removal:
    """Delete a mailbox and forget its secrets in the keyring; refused while it has history or
    queued messages, unless ``force`` (which cancels those messages).

    A keyring that fails does not keep the mailbox: :attr:`Removal.kept` says why its secrets
    may still be stored (re-adding the address would otherwise log in with them)."""
    from warmup import credentials, oauth

    expect(force, bool, "force")
    box = ledger.mailbox(address_arg(address))
    # Its history counted under the lock the deletes run under: counted before, a send
    # recorded in between (the new mailbox's first) was deleted without --force.
    try:
        cancelled = ledger.remove_mailbox(box.address, force, history=force)
    except MailboxNotFound:  # found just now: another remove's (SQLite: under its write lock)
        raise MailboxRemoved(box.address) from None
    try:
        secrets = {credentials.SERVICE: "password", oauth.SERVICE: "OAuth login"}
        return Removal(cancelled, credentials.forget_all(box.address, secrets), None)
    except ConfigError as exc:
        return Removal(cancelled, (), str(exc))
