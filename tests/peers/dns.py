"""A real DNS server on 127.0.0.1 (dnslib, UDP and TCP) serving zones a test writes.

``DnsServer().records`` maps ``(name, type)`` to a list of record texts in zone-file syntax
(``"10 mx1.corp.example."`` for MX, ``'"v=spf1 -all"'`` for TXT); a name with no record of
any type answers NXDOMAIN, a name with records of other types an empty answer, as a real
authoritative server does. A name in ``servfail`` answers SERVFAIL (broken servers for it, or
DNSSEC that fails to validate, as a recursive resolver reports them). A name in ``silent`` is
never answered (its servers gone: the client waits out its timeout). A name in ``slow`` is
answered after the seconds it maps to (servers far away or loaded: right, but late).
"""

from __future__ import annotations

import time
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

HOST = "127.0.0.1"


class _Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.queries: list[tuple[str, str]] = []
        self.servfail: set[str] = set()
        self.silent: set[str] = set()
        self.slow: dict[str, float] = {}

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        rtype = QTYPE[request.q.qtype]
        self.queries.append((name, rtype))
        if name in self.silent:  # dnslib's handler sends nothing for a DNSError
            raise DNSError(f"{name}: not answered")
        if name in self.slow:  # each request is answered on its own thread (ThreadingMixIn)
            time.sleep(self.slow[name])
        if name in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        texts = self.records.get((name, rtype), [])
        for text in texts:
            reply.add_answer(*RR.fromZone(f"{name}. 60 IN {rtype} {text}"))
        if not texts and not any(n == name for n, _ in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsServer:
    """Started on a free port (UDP and TCP on the same one); ``address`` is "HOST:PORT".

    The UDP port is the kernel's free one; the same number may be taken for TCP (another test's
    listener or a client's ephemeral port), so a pair that cannot be had is let go and another
    tried. ``udp_ports``: the UDP ports to try first (then 0, the kernel's choice)."""

    def __init__(self, udp_ports: tuple[int, ...] = ()) -> None:
        self.zone = _Zone()
        self.records = self.zone.records
        quiet = DNSLogger(logf=lambda _line: None)
        for attempt in (*udp_ports, *[0] * 20):
            self._udp = DNSServer(self.zone, port=attempt, address=HOST, logger=quiet)
            self.port = self._udp.server.server_address[1]
            try:
                self._tcp = DNSServer(
                    self.zone, port=self.port, address=HOST, tcp=True, logger=quiet
                )
                break
            except OSError:  # the number is taken for TCP
                self._udp.server.server_close()
        else:
            raise OSError("no port free for both UDP and TCP on 127.0.0.1")
        self.address = f"{HOST}:{self.port}"

    def __enter__(self) -> DnsServer:
        self._udp.start_thread()
        self._tcp.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self._udp.stop()
        self._tcp.stop()
