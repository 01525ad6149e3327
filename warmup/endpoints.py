"""Where a mailbox's servers are, and whether the servers a user gives can work.

A mailbox's SMTP and IMAP come from its provider's preset, each part (host list, port,
security) overridden by its own settings (:func:`endpoints`). What a user gives for them is
checked before it is stored (:func:`check_endpoint`, :func:`check_port_security`,
:func:`check_hosts_given`): a host name or IP address (international names written as xn--),
a port that speaks the security it is given, a clear-text login only to a loopback host. The
overflow channel's server is checked by the same rules (:func:`is_host`, :func:`is_loopback`).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, NamedTuple

from warmup import addresses
from warmup.errors import InvalidField
from warmup.lazyre import compiled_later
from warmup.providers import SECURITIES, Provider, get_provider

if TYPE_CHECKING:
    from warmup.ledger.values import MailboxRow


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = compiled_later(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def is_host(host: str) -> bool:
    """A host name (``smtp.corp.example``) or an IP address (``127.0.0.1``, ``::1``)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        # A last label of digits is an IP address mistyped ('192.168.1.300', '10.0.0'), no name:
        # kept, it failed only at the first send, or the resolver read '10.0.0' as 10.0.0.0.
        top = host.rstrip(".").rsplit(".", 1)[-1]
        return len(host) <= 253 and _HOST_NAME.fullmatch(host) is not None and not top.isdigit()


def _ascii_host(host: str) -> str | None:
    """The xn-- form of an international host name (``bücher.example``), as a host must be
    written; None for a host that has none, or that IDNA 2003 would write as another domain."""
    if host.isascii() or addresses.IDNA_DEVIATIONS.search(host):
        return None
    try:
        ascii_form = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return ascii_form if is_host(ascii_form) else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoints(NamedTuple):
    """Where a mailbox's SMTP and IMAP are, after its overrides."""

    smtp_hosts: tuple[str, ...]
    smtp_port: int
    smtp_security: str
    imap_hosts: tuple[str, ...]
    imap_port: int
    imap_security: str


def hosts(value: str) -> tuple[str, ...]:
    """``--smtp-host primary,backup,...``: the first is tried first."""
    return tuple(h.strip() for h in value.split(",") if h.strip())


def endpoints(box: MailboxRow) -> Endpoints:
    p = get_provider(box.provider, of=box.address)
    smtp = hosts(box.smtp_host) if box.smtp_host else tuple(p.smtp.hosts())
    imap = hosts(box.imap_host) if box.imap_host else tuple(p.imap.hosts())
    smtp_security = box.smtp_security or p.smtp.security
    imap_security = box.imap_security or p.imap.security
    return Endpoints(
        smtp,
        box.smtp_port or _default_port(p, "smtp", smtp_security),
        smtp_security,
        imap,
        box.imap_port or _default_port(p, "imap", imap_security),
        imap_security,
    )


def _default_port(p: Provider, kind: str, security: str) -> int:
    """The port of a mailbox that names none: the preset's, while its security is the preset's
    (exmail's 465 goes with ssl), else the security's usual one. An exmail mailbox set to
    starttls kept port 465, and every send waited out its timeout for a greeting in clear."""
    preset = getattr(p, kind)
    if preset.port and security == preset.security:
        return int(preset.port)
    return USUAL_PORTS[kind][security]


# A port not given is the security's usual one: STARTTLS on 465 or 993 (implicit TLS) would
# wait for a greeting the server never sends in clear.
USUAL_PORTS = {
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
}
# Well-known ports that speak only one way: implicit TLS (465, 993) or clear text first (25 and
# 587 for SMTP submission, 143 for IMAP). The other security there never gets a session: a TLS
# hello to a clear-text greeting fails, STARTTLS waits for a greeting sent only after TLS.
_IMPLICIT_TLS_PORTS = {"smtp": (465,), "imap": (993,)}
_CLEAR_FIRST_PORTS = {"smtp": (25, 587), "imap": (143,)}


def check_endpoint(kind: str, host: str | None, port: int | None, security: str | None) -> None:
    sec, hst, prt = f"{kind}_security", f"{kind}_host", f"{kind}_port"
    if security is not None and security not in SECURITIES:
        raise InvalidField(
            sec,
            "{field} {security!r}: expected one of {choices}",
            security=security,
            choices=", ".join(SECURITIES),
        )
    if host is not None and not (hosts(host) and all(is_host(h) for h in hosts(host))):
        written = [h if is_host(h) else _ascii_host(h) for h in hosts(host)]
        if all(written):  # only international names: said how to write them
            raise InvalidField(
                hst,
                "{field} {host!r} has an international domain name; write it as {ascii}",
                host=host,
                ascii=",".join(h for h in written if h),
            )
        raise InvalidField(
            hst,
            "{field} {host!r}: expected a host name or IP address (several, tried in turn: "
            "primary,backup)",
            host=host,
        )
    if security == "none" and not (host and all(is_loopback(h) for h in hosts(host))):
        raise InvalidField(
            sec,
            "{field} none sends the password in clear text: allowed only "
            "with a loopback {host} (127.0.0.1, localhost)",
            refs={"host": hst},
        )
    if port is not None and not 0 < port < 65536:
        raise InvalidField(prt, "{field} {port}: expected 1-65535", port=port)


def check_port_security(kind: str, port: int | None, security: str) -> None:
    """A port that speaks only the other security (starttls on 465, ssl on 587) is refused."""
    if port is None:
        return
    wrong = (security == "ssl" and port in _CLEAR_FIRST_PORTS[kind]) or (
        security != "ssl" and port in _IMPLICIT_TLS_PORTS[kind]
    )
    if wrong:
        usual = "ssl" if port in _IMPLICIT_TLS_PORTS[kind] else "starttls"
        raise InvalidField(
            f"{kind}_port",
            "{field} {port} speaks {usual}, not {security}: give {sec} {usual}, or the port "
            "of {security} ({other})",
            refs={"sec": f"{kind}_security"},
            port=port,
            usual=usual,
            security=security,
            other=USUAL_PORTS[kind][security],
        )


def check_hosts_given(values: dict[str, Any]) -> None:
    """A host given names one: ``--smtp-host ''`` was stored, said "Updated", and the mailbox
    quietly went back to its provider's host."""
    for kind in ("smtp", "imap"):
        value = values.get(f"{kind}_host")
        if value is not None and not hosts(str(value)):
            raise InvalidField(
                f"{kind}_host",
                "{field} {value!r}: no host in it; give the server's host name (primary,backup "
                "for several) or leave {field} out",
                value=value,
            )
