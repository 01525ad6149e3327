"""DNS checks of a mailbox's sending domain for ``warmup doctor``: MX, SPF, DKIM, DMARC.

Sending from an enterprise mailbox lands in spam when the domain does not say the provider may
send for it (SPF), does not sign (DKIM) or has no policy (DMARC); bounces and replies go nowhere
useful without MX records at the provider. Each check says what to fix, with the provider's own
values where they are known (``dns`` in ``providers.toml``).

The resolver is the system's, or ``server`` ("IP[:PORT]", "[IPv6]:PORT", ``--dns-server`` or
``$WARMUP_DNS_SERVER``; :func:`nameserver` reads it). A resolver that answers only errors
gives one warning, not failures: the records may well be right; one that never answers is one
temporary failure (75), named with the ways to another; one that answers for the domain's
top-level domain but not for the domain is the domain's DNS failing, a failure. A lookup that ran out of time is a temporary
failure (75): the DNS may be slow rather than wrong, and a larger ``--timeout`` may see it answer.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass

from warmup.doctor import CHECK_TIMEOUTS, EX_CONFIG, EX_TEMPFAIL, Check
from warmup.errors import InvalidField
from warmup.providers import Provider

SPF_LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4
_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")


def nameserver(server: str) -> tuple[str, int]:
    """``(ip, port)`` of a resolver given as "IP", "IP:PORT", "IPv6" or "[IPv6]:PORT"; a host
    name or a bad port is :class:`InvalidField` (the resolver library takes addresses only)."""
    text = server.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = rest.removeprefix(":") if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    number = int(port) if port.isascii() and port.isdigit() else 0
    if ip is None or not 0 < number < 65536:
        raise InvalidField(
            "dns_server",
            "{field} {server!r}: expected a resolver's IP address, optionally with :PORT "
            "(1.1.1.1, 1.1.1.1:53, ::1, [::1]:53)",
            server=server,
        )
    return str(ip), number


_SELECTOR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def check_selector(selector: str) -> str:
    """``selector`` if ``SELECTOR._domainkey.example`` is a DNS name (labels of 1-63
    letters, digits, hyphens, as RFC 6376 writes a selector; an underscore too, which some
    signers use), else :class:`InvalidField`. A space pasted with it, a ``;`` of the record
    copied along, an address typed for it were looked up as they were: a selector with no key,
    a record to publish, where the fault was the typo."""
    labels = selector.split(".")
    if (
        not selector.strip()
        or any(0xD800 <= ord(c) <= 0xDFFF for c in selector)  # argv's bytes that are not UTF-8
        or any(not 0 < len(label.encode()) < 64 for label in labels)
        or not all(c in _SELECTOR_CHARS for c in selector.replace(".", ""))
    ):
        raise InvalidField(
            "dkim_selector",
            "{field} {selector!r}: not a DNS name (dot-separated labels of 1 to 63 "
            "letters, digits and hyphens); give the selector the provider's admin console "
            "shows, e.g. s2026",
            selector=selector,
        )
    return selector


class _Unreachable(Exception):
    """The resolver did not answer (timeout, refused, no server), or answered SERVFAIL."""


class _TimedOut(_Unreachable):
    """No answer in the time given: the DNS may be slow rather than wrong (a temporary failure,
    not a record to fix)."""


class _RanOut(_TimedOut):
    """Not asked: the check's time ran out on earlier names (nothing is known of this one)."""


@dataclass
class _Dns:
    """TXT and MX lookups through one resolver; NXDOMAIN and "no answer" are empty lists (the
    names that do not exist kept in ``missing``).

    ``resolv_conf``: the system resolver's configuration file (None: the platform's own).
    ``until``: the :func:`time.monotonic` past which no lookup is started and none waits (the
    check's deadline, :meth:`start`)."""

    server: str | None
    timeout: float
    resolv_conf: str | None = None
    until: float = float("inf")

    def start(self) -> None:
        """A check begins: it is given :data:`~warmup.doctor.CHECK_TIMEOUTS` times the timeout
        in all, as doctor's other checks are. Each of an SPF record's ten includes, or a
        subdomain's five DMARC parents, waited the whole timeout when its DNS did not answer."""
        self.until = time.monotonic() + self.budget()

    def budget(self) -> float:
        """The seconds a check is given in all."""
        return CHECK_TIMEOUTS * self.timeout

    def __post_init__(self) -> None:
        import dns.exception
        import dns.resolver

        self._broken = ""
        self.missing: set[str] = set()
        if self.server:
            host, port = nameserver(self.server)
            self._res = dns.resolver.Resolver(configure=False)
            self._res.nameservers = [host]
            self._res.port = port
        else:
            try:
                self._res = (
                    dns.resolver.Resolver()
                    if self.resolv_conf is None
                    else dns.resolver.Resolver(filename=self.resolv_conf)
                )
            except dns.exception.DNSException as exc:  # no resolv.conf, or no nameserver in it
                self._broken = f"no system resolver: {exc}"
                self._res = dns.resolver.Resolver(configure=False)
        self._res.lifetime = self.timeout

    def named(self) -> str:
        """The resolver as the user gave it, or the system's with its addresses and file."""
        if self.server:
            return self.server
        return f"{', '.join(map(str, self._res.nameservers)) or 'none'} (from {self._conf()})"

    def another(self) -> str:
        """The way to a resolver that answers, for a fix."""
        named = "name a resolver that answers from here with --dns-server (e.g. 1.1.1.1)"
        return named if self.server else f"fix the nameserver lines of {self._conf()}, or {named}"

    def _conf(self) -> str:
        return self.resolv_conf or "/etc/resolv.conf"

    def _query(self, name: str, rdtype: str) -> list[object]:
        import dns.exception
        import dns.resolver

        if self._broken:
            raise _Unreachable(self._broken)
        left = self.until - time.monotonic()
        if left <= 0:
            raise _RanOut(f"not looked up: the check's {self.budget():g} s ran out")
        lifetime = min(self.timeout, left)
        try:
            answer = self._res.resolve(name, rdtype, raise_on_no_answer=False, lifetime=lifetime)
            return list(answer)
        except dns.resolver.NXDOMAIN:
            self.missing.add(name)
            return []
        except dns.resolver.NoAnswer:
            return []
        except dns.exception.Timeout:
            raise _TimedOut(f"ran out of time after {round(lifetime, 1):g} s") from None
        except (dns.resolver.NoNameservers, OSError) as exc:
            raise _Unreachable(str(exc) or type(exc).__name__) from None
        except dns.exception.DNSException as exc:  # a malformed name or answer
            raise _Unreachable(str(exc) or type(exc).__name__) from None

    def answers(self, name: str) -> bool:
        """The resolver answers for ``name`` (records, none, or NXDOMAIN): it works."""
        try:
            self._query(name, "NS")
        except _Unreachable:
            return False
        return True

    def txt(self, name: str) -> list[str]:
        return [
            b"".join(r.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
            for r in self._query(name, "TXT")
        ]

    def mx(self, name: str) -> list[str]:
        return sorted(
            str(r.exchange).rstrip(".").lower()  # type: ignore[attr-defined]
            for r in self._query(name, "MX")
        )


def run(
    domain: str,
    provider: Provider,
    *,
    selectors: tuple[str, ...] = (),
    server: str | None = None,
    timeout: float = 5.0,
    resolv_conf: str | None = None,
) -> list[Check]:
    """The MX, SPF, DKIM and DMARC checks of ``domain`` (``selectors``: DKIM selectors to look
    for, else the provider's known ones; ``resolv_conf``: see :class:`_Dns`)."""
    for sel in selectors:
        check_selector(sel)
    dns = _Dns(server, timeout, resolv_conf)
    target = f"DNS {domain}"
    checks: list[Check] = []
    for name, check in (("mx", _mx), ("spf", _spf), ("dkim", _dkim), ("dmarc", _dmarc)):
        start = time.monotonic()
        dns.start()
        try:
            status, detail, fix = check(dns, domain, provider, selectors)
        except _Unreachable as exc:
            ms = int((time.monotonic() - start) * 1000)
            if isinstance(exc, _TimedOut) and checks:  # the domain's other names answered
                checks.append(_late(name, target, ms, f"the lookup {exc}"))
                continue
            if checks:  # the resolver answered for the domain's other names: this one's fail
                checks.append(
                    Check(
                        name,
                        target,
                        "fail",
                        ms,
                        f"the lookup failed ({exc}), though the domain's other names answered",
                        cause=f"receivers' lookups fail too (temperror): {_CAUSES[name]}",
                        fix="ask whoever runs that name's DNS to fix it (its servers, its "
                        "delegation, its DNSSEC, or a CNAME that leads nowhere)",
                        code=EX_CONFIG,
                    )
                )
                continue
            checks.append(_unanswered(dns, domain, name, start, exc))
            break
        ms = int((time.monotonic() - start) * 1000)
        if name == "mx" and domain in dns.missing:  # the other checks would say the same
            checks.append(
                Check(
                    name,
                    target,
                    "fail",
                    ms,
                    f"{domain} does not exist in DNS (NXDOMAIN)",
                    cause="mail from a domain that does not exist is refused everywhere",
                    fix=f"check the mailbox's address, or register or renew {domain}",
                    code=EX_CONFIG,
                )
            )
            break
        if status == _LATE:
            checks.append(_late(name, target, ms, detail, fix))
            continue
        checks.append(
            Check(
                name,
                target,
                status,
                ms,
                detail,
                cause=_CAUSES[name] if status == "fail" else "",
                fix=fix,
                code=EX_CONFIG if status == "fail" else 0,
            )
        )
    return checks


def _unanswered(dns: _Dns, domain: str, name: str, start: float, exc: _Unreachable) -> Check:
    """The first check, ``name``, whose lookup failed with ``exc`` (begun at ``start``): the
    domain's own DNS failing if the resolver answers for its top-level domain, else the
    resolver's. The top-level domain is asked once: a silent resolver costs two timeouts."""
    target = f"DNS {domain}"
    tld = domain.rstrip(".").rpartition(".")[2]
    answers = bool(tld) and dns.answers(tld)
    ms = int((time.monotonic() - start) * 1000)
    if answers and isinstance(exc, _TimedOut):
        said = f"the DNS of {domain} {exc}, though the resolver answers for .{tld}"
        return _late(name, target, ms, said)
    if answers:
        # The resolver works: the domain's own DNS is broken (SERVFAIL for DNSSEC that fails
        # to validate or a lame delegation), which receivers meet too. It was a warning, exit
        # 0: "run again where DNS answers".
        return Check(
            name,
            target,
            "fail",
            ms,
            f"the DNS of {domain} does not answer ({exc}), though the resolver answers for .{tld}",
            cause="receivers cannot look the domain up either: its mail is deferred or refused "
            "(temperror)",
            fix=f"ask whoever runs the DNS of {domain} to fix it (its name servers, its "
            f"delegation at the registrar, its DNSSEC); to rule out this network's resolver, "
            f"run again with --dns-server 1.1.1.1",
            code=EX_CONFIG,
        )
    if isinstance(exc, _TimedOut):
        # Silent for the domain and its top-level domain alike. It was a warning, exit 0 ("all
        # checks passed"), though nothing was checked and a later run may well answer.
        return Check(
            name,
            target,
            "fail",
            ms,
            f"the resolver {dns.named()} did not answer ({exc}); the domain's records were "
            f"not checked",
            cause="the resolver did not answer in the time given: it may be down, unreachable "
            "from here, or slow",
            fix=f"{_AGAIN}, or {dns.another()}",
            code=EX_TEMPFAIL,
        )
    return Check(
        name,
        target,
        "warn",
        ms,
        f"could not query DNS ({exc}); the domain's records were not checked",
        fix=f"run again where DNS answers, or {dns.another()}",
    )


_CAUSES = {
    "mx": "the domain's mail (bounces, replies) has nowhere to go",
    "spf": "receivers cannot tell that the provider may send for the domain: mail goes to spam",
    "dkim": "the provider's signatures cannot be verified: mail goes to spam",
    "dmarc": "without a DMARC policy large receivers (Gmail, Yahoo) refuse or junk bulk mail",
}

Result = tuple[str, str, str]  # status, detail, fix
# A check's status when what failed it is only time running out: a failure, but temporary (75).
_LATE = "late"
_AGAIN = "run again with a larger --timeout"


def _late(name: str, target: str, ms: int, detail: str, fix: str = _AGAIN) -> Check:
    return Check(
        name,
        target,
        "fail",
        ms,
        detail,
        cause="the DNS did not answer in the time given: it may be slow rather than wrong",
        fix=fix + " (if it still runs out, ask whoever runs that DNS to make it answer)",
        code=EX_TEMPFAIL,
    )


def _mx(dns: _Dns, domain: str, provider: Provider, _sel: tuple[str, ...]) -> Result:
    hosts = dns.mx(domain)
    want = provider.dns.mx
    where = f" ({', '.join(want)})" if want else ""
    if not hosts:
        return "fail", "no MX record", f"add the provider's MX records{where} for {domain}"
    if "" in hosts:  # "MX 0 ." (RFC 7505): the root, whose name rstrip(".") left empty
        return (
            "fail",
            "a null MX (0 .): the domain says it accepts no mail",
            f"replace it with the provider's MX records{where} for {domain}",
        )
    if want and not any(h == w or h.endswith("." + w) for h in hosts for w in want):
        return (
            "warn",
            f"MX is {_listed(hosts)}, not {provider.title}'s ({', '.join(want)})",
            "bounces and replies go to that server, not to this mailbox's IMAP: 'warmup "
            "bounces sync' will not see them unless it forwards them",
        )
    return "ok", _listed(hosts), ""


def _listed(hosts: list[str], most: int = 4) -> str:
    """MX hosts as a detail names them: a zone may answer hundreds."""
    if len(hosts) <= most:
        return ", ".join(hosts)
    return f"{', '.join(hosts[:most])}, ... ({len(hosts)} hosts)"


def _spf(dns: _Dns, domain: str, provider: Provider, _sel: tuple[str, ...]) -> Result:
    records = [t for t in dns.txt(domain) if _is_spf(t)]
    include = provider.dns.spf
    suggested = f'"v=spf1 include:{include} ~all"' if include else '"v=spf1 mx ~all"'
    if not records:
        return "fail", "no SPF record", f"add a TXT record to {domain}: {suggested}"
    if len(records) > 1:
        return (
            "fail",
            f"{len(records)} SPF records (receivers treat that as an error)",
            f"merge them into one TXT record, e.g. {suggested}",
        )
    record = records[0]
    problems, fixes = [], []
    walk = _spf_tree(dns, record)
    last = walk.final_all
    if last is not None and last.lower() in ("all", "+all"):
        problems.append(f"'{last}' lets anyone send as {domain}")
        fixes.append("end it with ~all (or -all), never +all")
    elif last is None and not walk.missing and not walk.unasked and not walk.late:
        problems.append("no 'all' term: other senders are neither allowed nor refused")
        fixes.append("end it with ~all")
    for term in walk.missing:
        problems.append(f"{term} publishes no SPF record (receivers: permerror)")
        fixes.append(f"remove {term} or correct its name")
    for term in walk.unanswered:
        problems.append(f"{term} does not answer (receivers: temperror, SPF fails)")
        fixes.append("ask whoever runs that domain's DNS to fix it, or remove the term")
    late = len(problems)  # the problems from here to the next are only time running out
    for term, said in walk.late:
        problems.append(f"{term} {said}")
    if walk.unasked:  # never asked: they may well answer (the provider's own include, say)
        problems.append(
            f"{', '.join(walk.unasked)} not looked up (the check's {dns.budget():g} s ran out)"
        )
    if len(problems) > late:
        fixes.append(f"{_AGAIN} to check the rest" if walk.unasked else _AGAIN)
    known = len(problems)
    if include and not any(d == include or d.endswith("." + include) for d in walk.domains):
        problems.append(f"{provider.title}'s servers are not included")
        fixes.append(f"add include:{include}")
    if walk.lookups > SPF_LOOKUP_LIMIT:
        problems.append(
            f"more than {SPF_LOOKUP_LIMIT} DNS lookups (receivers stop at {SPF_LOOKUP_LIMIT})"
        )
        fixes.append("remove includes nobody sends through, or flatten them into ip4:/ip6:")
    if problems:
        # only time ran out (no fault found, the provider's include not yet seen): later
        status = _LATE if late == 0 and known == len(problems) else "fail"
        return status, f"{_short(record)!r}: " + "; ".join(problems), "; ".join(fixes)
    status = "warn" if last is not None and last.startswith("?") else "ok"
    detail = f"{_short(record)} ({walk.lookups} lookups)"
    return status, detail, "end it with ~all" if status == "warn" else ""


@dataclass
class _SpfWalk:
    """What evaluating a record costs and where it ends: ``domains`` included or redirected to
    (recursively), the DNS ``lookups``, the ``missing`` include:/redirect= terms whose domain
    publishes no SPF record (a permerror, RFC 7208 5.2 and 6.1), the ``unanswered`` ones whose
    lookup failed (SERVFAIL: a temperror), the ``late`` ones whose lookup ran out of time (with
    what was said of it), the ``unasked`` ones left when the check's time ran out (nothing known
    of them), and ``final_all``: the
    ``all`` term the record ends in, through its redirect= when it has none of its own."""

    domains: list[str]
    lookups: int
    missing: list[str]
    unanswered: list[str]
    late: list[tuple[str, str]]
    unasked: list[str]
    final_all: str | None


def _all_term(terms: list[str]) -> str | None:
    return next((t for t in reversed(terms) if t.lower().lstrip("+-~?") == "all"), None)


def _spf_tree(dns: _Dns, record: str) -> _SpfWalk:
    """Walk ``record`` as a receiver would (see :class:`_SpfWalk`).

    The walk stops querying once the lookups pass the limit, where a receiver gives up too
    (permerror): records that include themselves or each other would otherwise cost an
    exponential number of queries. Past the limit the count is only a lower bound. A
    redirect= in a record that has an ``all`` term is never followed (RFC 7208 6.1)."""
    found = _SpfWalk([], 0, [], [], [], [], None)

    def walk(record: str) -> str | None:
        terms = record.split()[1:]
        final = _all_term(terms)
        for term in terms:
            mech = re.split(r"[:=/]", term.lstrip("+-~?"), maxsplit=1)
            name = mech[0].lower()
            if name not in _LOOKUP_TERMS or (name == "redirect" and final is not None):
                continue
            found.lookups += 1
            if name in ("include", "redirect") and len(mech) > 1:
                sep = ":" if name == "include" else "="
                target = term.split(sep, 1)[1].lower().rstrip(".")  # "example.com." too
                found.domains.append(target)
                # A macro (%{i}, %{d}, ...) expands at a receiver, with the sender's address.
                if found.lookups <= SPF_LOOKUP_LIMIT and "%" not in target:
                    try:
                        sub = [t for t in dns.txt(target) if _is_spf(t)]
                    except _RanOut:
                        found.unasked.append(f"{name}{sep}{target}")
                        continue
                    except _TimedOut as exc:
                        found.late.append((f"{name}{sep}{target}", str(exc)))
                        continue
                    except _Unreachable:  # the domain's own names answered: this one's fail
                        found.unanswered.append(f"{name}{sep}{target}")
                        continue
                    if len(sub) != 1:  # none, or several: either is a permerror
                        found.missing.append(f"{name}{sep}{target}")
                        continue
                    ends = walk(sub[0])
                    if name == "redirect":
                        final = ends
        return final

    found.final_all = walk(record)
    return found


def _is_spf(text: str) -> bool:
    """An SPF record: "v=spf1" alone or followed by a space (RFC 7208 4.5)."""
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def _dkim(dns: _Dns, domain: str, provider: Provider, selectors: tuple[str, ...]) -> Result:
    wanted = selectors or provider.dns.dkim
    if not wanted:
        return (
            "warn",
            f"no DKIM selector known for {provider.title}",
            "give the selector the provider's admin console shows: --dkim-selector NAME",
        )
    found, revoked, broken = [], [], []
    for sel in wanted:
        for text in dns.txt(f"{sel}._domainkey.{domain}"):
            tags = _tags(text)
            if "p" in tags and tags["p"] and not _base64(tags["p"]):
                broken.append(sel)
            elif "p" in tags and tags["p"]:
                found.append(sel)
            elif "p" in tags:
                revoked.append(sel)
    if found:
        return "ok", f"key published for selector {', '.join(found)}", ""
    names = ", ".join(f"{s}._domainkey.{domain}" for s in wanted)
    if broken:
        # A DNS console that kept the quotes of a pasted, split record ("MIIB..." "..."), or a
        # key cut short at 255 characters: receivers cannot read the key, signatures fail.
        at = ", ".join(f"{s}._domainkey.{domain}" for s in broken)
        return (
            "fail",
            f"the key at {at} is not base64 (quotes, stray characters or a key cut short in p=)",
            f"publish the TXT record exactly as {provider.title}'s admin console gives it, "
            f"without quotes inside p=",
        )
    if revoked:
        return "fail", f"the key at {names} is revoked (empty p=)", "publish the current key"
    return (
        "fail",
        f"no DKIM key at {names}",
        f"turn DKIM signing on in {provider.title}'s admin console and publish the TXT "
        f"record it gives",
    )


def _base64(text: str) -> bool:
    """``text`` is base64 a receiver can decode (whitespace already removed)."""
    import binascii
    from base64 import b64decode

    try:
        b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _dmarc(dns: _Dns, domain: str, provider: Provider, _sel: tuple[str, ...]) -> Result:
    name = f"_dmarc.{domain}"
    start = f'"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"'
    # A subdomain without its own record falls under its parent's (RFC 7489 6.6.3: the
    # organizational domain's; without the public suffix list, the nearest parent below the
    # top-level domain that has one), whose sp= applies to it when set.
    labels = domain.rstrip(".").split(".")
    at, records = name, _dmarc_records(dns, name)
    for n in range(1, min(len(labels) - 1, _DMARC_PARENTS + 1)):
        if records:
            break
        at = "_dmarc." + ".".join(labels[n:])
        records = _dmarc_records(dns, at)
    if not records:
        return (
            "fail",
            "no DMARC record",
            f"add a TXT record at {name}: {start}, then p=quarantine once reports are clean",
        )
    if len(records) > 1:
        return "fail", f"{len(records)} DMARC records at {at}", "keep exactly one"
    if not _DMARC_VERSION.match(records[0]):
        return (
            "fail",
            f"{_short(records[0])!r}: not a DMARC record, its version is not 'v=DMARC1;' "
            f"(receivers may ignore it)",
            f"begin it with v=DMARC1; as in {start}",
        )
    tags = _tags(records[0])
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return (
            "fail",
            f"{_short(records[0])!r}: no valid p= policy",
            f"set p=none to start: {start}",
        )
    # A receiver's parser (OpenDMARC's) discards a record whose alignment tag is not r or s,
    # and one written adkim=strict means strict but read as relaxed would say "relaxed".
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            return (
                "fail",
                f"{_short(records[0])!r}: {tag}={_short(tags[tag], 20)} is neither r nor s "
                f"(receivers may discard the whole record)",
                f"write {tag}=s for strict alignment or {tag}=r for relaxed, or leave it out "
                f"(relaxed)",
            )
        if tag in tags:
            tags[tag] = tags[tag].lower()
    wrong = _dmarc_tag_fault(records[0], tags, domain)
    if wrong is not None:
        return wrong
    source = ""
    if at != name:
        sub = tags.get("sp", "").lower()
        if sub in ("none", "quarantine", "reject"):
            policy, source = sub, f" (sp= of {at})"
        else:
            source = f" (from {at})"
    detail = (
        f"p={policy}{source}, adkim={tags.get('adkim', 'r')}, aspf={tags.get('aspf', 'r')} "
        f"(alignment {'strict' if 's' in (tags.get('adkim'), tags.get('aspf')) else 'relaxed'})"
    )
    status, detail, fix = _dmarc_reach(policy, tags, detail, domain)
    unsure = _reports_unsure(tags, domain)
    if unsure is None:
        return status, detail, fix
    return "warn", f"{detail}; {unsure[0]}", f"{unsure[1]}; {fix}" if fix else unsure[1]


def _dmarc_reach(policy: str, tags: dict[str, str], detail: str, domain: str) -> Result:
    """A valid DMARC record judged by how much failing mail its policy ``policy`` covers."""
    if policy == "none":
        if not tags.get("rua"):
            return (
                "warn",
                detail + ": monitoring only, and no rua= asks for the reports",
                f"add rua=mailto:dmarc@{domain} to receive reports, then move to "
                f"p=quarantine once they are clean",
            )
        return "warn", detail + ": monitoring only", "move to p=quarantine once reports are clean"
    if int(tags.get("pct", "100")) < 100:
        return (
            "warn",
            f"{detail}, pct={tags['pct']}: p={policy} covers only {tags['pct']}% of the mail "
            f"that fails DMARC, the rest is treated as p=none",
            "raise it to pct=100 (or leave pct= out) once reports are clean",
        )
    return "ok", detail, ""


def _reports_unsure(tags: dict[str, str], domain: str) -> tuple[str, str] | None:
    """``(detail, fix)`` when a rua= or ruf= list holds report URIs of another scheme than
    mailto: (https:) and no mailto: beside them. RFC 7489 6.2 allows any URI there, but
    receivers need support only mailto:, and the large ones send reports by mail only: a
    warning that the reports may never come, not a record receivers discard."""
    for tag in ("rua", "ruf"):
        entries = [u for u in tags.get(tag, "").split(",") if u]
        if entries and not any(_MAILTO.match(u) for u in entries):
            first = _short(entries[0], 60)
            return (
                f"{tag}= has no mailto: entry, only {first!r}: receivers need support only "
                f"mailto: (RFC 7489 6.2), so its reports may never come",
                f"add a mailto: entry beside it: {tag}=mailto:dmarc@{domain},{first}",
            )
    return None


def _dmarc_tag_fault(record: str, tags: dict[str, str], domain: str) -> Result | None:
    """The failure of a DMARC record's sp=, pct=, rua= or ruf= tag that receivers cannot use
    (RFC 7489 6.3), if any. A receiver's parser (OpenDMARC's) discards a record with a bad sp=
    or pct=, and sends no report to an entry that is not a URI (a bare address) or a mailto:
    without an address (other schemes: :func:`_reports_unsure`)."""
    quoted = repr(_short(record))
    if "sp" in tags and tags["sp"].lower() not in ("none", "quarantine", "reject"):
        return (
            "fail",
            f"{quoted}: sp={_short(tags['sp'], 20)} is not none, quarantine or reject "
            f"(receivers may discard the whole record)",
            "write sp=none, sp=quarantine or sp=reject for the subdomains' policy, or leave it "
            "out (they then take p=)",
        )
    pct = tags.get("pct")
    if pct is not None and not (pct.isascii() and pct.isdigit() and int(pct) <= 100):
        return (
            "fail",
            f"{quoted}: pct={_short(pct, 20)} is not a whole number from 0 to 100 "
            f"(receivers may discard the whole record)",
            "write pct=100 (the share of failing mail the policy applies to), or leave it out "
            "(100)",
        )
    for tag in ("rua", "ruf"):
        bad = [u for u in tags.get(tag, "").split(",") if u and not _REPORT_URI.match(u)]
        if bad:
            return (
                "fail",
                f"{quoted}: {tag}= entry {_short(bad[0], 60)!r} is not a mailto: URI "
                f"(no report reaches it)",
                f"write each {tag}= entry as mailto:ADDRESS, as in {tag}=mailto:dmarc@{domain} "
                f"(several: comma-separated)",
            )
    return None


# A report URI receivers send to (RFC 7489 6.2): mailto:, an address, an optional "!size".
_MAILTO = re.compile(r"mailto:[^@\s,!]+@[^@\s,!]+(![0-9]+[kmgt]?)?$", re.IGNORECASE)
# A report URI of any scheme (RFC 7489 6.2 takes any URI, RFC 3986 3.1); a mailto: one must
# hold an address: "dmarc@corp.example" or "mailto:dmarc" reach no one.
_REPORT_URI = re.compile(
    _MAILTO.pattern + r"|(?!mailto:)[a-z][a-z0-9+.-]*:[^\s,!]+(![0-9]+[kmgt]?)?$", re.IGNORECASE
)


_DMARC_PARENTS = 4  # parents looked at for a subdomain's policy (sales.eu.corp.example.cn)


def _dmarc_records(dns: _Dns, name: str) -> list[str]:
    """The DMARC records at ``name``: those of version DMARC1 if any (receivers discard the
    others before counting, RFC 7489 6.6.3), else those that look meant as one (for a
    detail on why receivers read none)."""
    meant = [t for t in dns.txt(name) if t.replace(" ", "").lower().startswith("v=dmarc1")]
    return [t for t in meant if _DMARC_VERSION.match(t)] or meant


# "v=DMARC1" then ";" or the end (RFC 7489 6.4): receivers ignore "v=DMARC10; p=reject".
_DMARC_VERSION = re.compile(r"v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)", re.IGNORECASE)


def _short(record: str, most: int = 120) -> str:
    """A record as a detail quotes it: a TXT record may be kilobytes long."""
    return record if len(record) <= most else record[: most - 3] + "..."


def _tags(text: str) -> dict[str, str]:
    """``k=v; k=v`` tags of a DKIM or DMARC record (keys lower-case)."""
    out = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            out[key.strip().lower()] = "".join(value.split())
    return out
