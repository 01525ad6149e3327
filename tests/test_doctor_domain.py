"""``warmup doctor``'s checks of the sending domain's DNS (issue #16): MX, SPF, DKIM, DMARC.

Every test queries a real DNS server on 127.0.0.1 (tests/peers/dns.py) serving the zone it
writes; the full-doctor test also logs in to a real SMTP sink and Dovecot.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.gatekit import add_box, warmup
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.smtp import SmtpSink, free_port
from warmup import domaincheck
from warmup.doctor import CHECK_TIMEOUTS
from warmup.providers import get_provider

BOX = IMAP_USER  # bounces@corp.example: Dovecot's user
DOMAIN = "corp.example"
KEY = (  # a whole 1024-bit public key: one cut short is no base64, and no key to a receiver
    '"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDBD5wXmjlvVSdPv7+aIKRcK4DfBZlud+uRG"'
    '"26kLNubvlOLx39BxYDuJxWKXprMXhaa94TKu7XSJMi1jPZSKDGmami34dCP+C3+OZp6EfKVcJDIofHHQ2wAwSFjZanM"'
    '"dg9lIkm57174HPDqMLZyqnlvcWvssw7GHtIIxRbbp9fOawIDAQAB"'
)


def good_zone(records: dict[tuple[str, str], list[str]]) -> None:
    """What an exmail customer publishes: MX at Tencent, SPF with its include, a DKIM key
    under selector s1, a DMARC policy."""
    records[(DOMAIN, "MX")] = ["5 mxbiz1.qq.com.", "10 mxbiz2.qq.com."]
    records[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com ~all"', '"google-site-x"']
    records[("spf.mail.qq.com", "TXT")] = ['"v=spf1 ip4:203.0.113.0/24 -all"']
    records[(f"s1._domainkey.{DOMAIN}", "TXT")] = [KEY]
    records[(f"_dmarc.{DOMAIN}", "TXT")] = ['"v=DMARC1; p=quarantine; rua=mailto:d@corp.example"']


def checks(server, provider="exmail", selectors=("s1",)):  # type: ignore[no-untyped-def]
    got = domaincheck.run(
        DOMAIN, get_provider(provider), selectors=selectors, server=server.address, timeout=3
    )
    return {c.name: c for c in got}


@pytest.mark.slow
def test_doctor_fails_a_zone_with_spf_plus_all_and_no_dmarc_and_passes_a_good_one(
    dns_server, pki, ssl_cert_env, dovecot
):
    """Acceptance 2: the whole doctor, against real SMTP and IMAP peers and the loopback DNS."""
    if not dovecot.running:
        dovecot.start()
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki) as sink:
        add_box(sink.port, box=BOX, imap_port=dovecot.port)
        env = {"WARMUP_PASSWORD": IMAP_PASSWORD, "WARMUP_DNS_SERVER": dns_server.address}
        good_zone(dns_server.records)
        ok = warmup("doctor", BOX, "--dkim-selector", "s1", env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        rows = {line.split()[0]: line for line in ok.stdout.splitlines()[1:] if line.strip()}
        assert all(" ok " in rows[n] for n in ("mx", "spf", "dkim", "dmarc")), ok.stdout
        assert ok.stdout.splitlines()[-1] == f"{BOX}: all checks passed."

        dns_server.records[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com +all"']
        del dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")]
        bad = warmup("doctor", BOX, "--dkim-selector", "s1", env=env)
    assert bad.returncode == 78, bad.stdout + bad.stderr
    assert "spf failed for DNS corp.example" in bad.stderr
    assert "never +all" in bad.stderr  # the SPF fix
    assert "dmarc failed for DNS corp.example" in bad.stderr
    assert "v=DMARC1; p=none" in bad.stderr  # the DMARC fix
    assert bad.stderr.splitlines()[-1] == f"{BOX}: 2 failed."
    assert sink.messages == []


def test_spf_problems_each_named_with_their_fix(dns_server):
    good_zone(dns_server.records)
    txt = dns_server.records
    txt[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.protection.outlook.com -all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "add include:spf.mail.qq.com" in spf.fix
    txt[(DOMAIN, "TXT")] = ['"v=spf1 mx -all"', '"v=spf1 include:spf.mail.qq.com -all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "2 SPF records" in spf.detail and "merge" in spf.fix
    chain = [f"i{n}.corp.example" for n in range(11)]
    for here, there in zip(chain, chain[1:], strict=False):
        txt[(here, "TXT")] = [f'"v=spf1 include:{there} -all"']
    txt[(chain[-1], "TXT")] = ['"v=spf1 a -all"']
    txt[(DOMAIN, "TXT")] = [f'"v=spf1 include:spf.mail.qq.com include:{chain[0]} -all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "more than 10 DNS lookups (receivers stop at 10)" in spf.detail
    txt[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com ?all"']
    assert checks(dns_server)["spf"].status == "warn"
    txt[(DOMAIN, "TXT")] = []
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "include:spf.mail.qq.com ~all" in spf.fix


def test_dkim_and_dmarc_and_mx(dns_server):
    good_zone(dns_server.records)
    found = checks(dns_server)
    assert [found[n].status for n in ("mx", "spf", "dkim", "dmarc")] == ["ok"] * 4
    assert checks(dns_server, selectors=("s9",))["dkim"].status == "fail"
    assert checks(dns_server, selectors=())["dkim"].status == "warn"  # exmail: none known
    dns_server.records[(f"selector2._domainkey.{DOMAIN}", "TXT")] = [KEY]
    assert checks(dns_server, provider="m365", selectors=())["dkim"].status == "ok"
    dns_server.records[(f"s1._domainkey.{DOMAIN}", "TXT")] = ['"v=DKIM1; p="']
    assert "revoked" in checks(dns_server)["dkim"].detail
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = ['"v=DMARC1; p=none; aspf=s"']
    dmarc = checks(dns_server)["dmarc"]
    assert dmarc.status == "warn" and "aspf=s" in dmarc.detail and "quarantine" in dmarc.fix
    dns_server.records[(DOMAIN, "MX")] = ["10 mx.elsewhere.example."]
    mx = checks(dns_server)["mx"]
    assert mx.status == "warn" and "bounces sync" in mx.fix
    dns_server.records[(DOMAIN, "MX")] = []
    assert checks(dns_server)["mx"].status == "fail"


def test_an_unreachable_resolver_is_one_temporary_failure_not_records_to_fix(run, ledger_path):
    """A closed UDP port sends nothing a resolver client sees (no error on an unconnected
    socket): the same as a silent resolver, one check that ran out of time."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    server = type("S", (), {"address": f"127.0.0.1:{free_port()}"})()
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=server.address, timeout=1)
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "fail", 75)]
    assert "did not answer" in got[0].detail and "--dns-server" in got[0].fix


def test_a_resolver_that_refuses_every_name_is_one_warning_not_failures(dns_server):
    """A resolver that answers, but with SERVFAIL even for the top-level domain (one refusing
    to recurse for this network): nothing was checked, and no later run changes that."""
    dns_server.zone.servfail.update({DOMAIN, "example"})
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=dns_server.address, timeout=1)
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "warn", 0)], got
    assert got[0].detail.startswith("could not query DNS (") and "SERVFAIL" in got[0].detail
    assert got[0].fix == (
        "run again where DNS answers, or name a resolver that answers from here with "
        "--dns-server (e.g. 1.1.1.1)"
    )


def test_a_resolver_that_never_answers_is_a_temporary_failure_naming_the_way_on(dns_server):
    """A resolver that takes the queries and never answers (a real UDP and TCP socket on
    loopback) gave a warning and exit 0, "all checks passed", the domain unchecked; and it
    waited three timeouts before saying so (the top-level domain asked twice), 30 s at
    doctor's default. Time ran out: 75, the resolver named, the fix its options; the
    domain's name and its top-level domain each asked once."""
    from warmup.doctor import exit_code

    dns_server.zone.silent.update({DOMAIN, "example"})
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=dns_server.address, timeout=0.3)
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "fail", 75)], got
    assert exit_code(got) == 75
    assert got[0].detail == (
        f"the resolver {dns_server.address} did not answer (ran out of time after 0.3 s); "
        f"the domain's records were not checked"
    ), got[0].detail
    assert got[0].fix == (
        "run again with a larger --timeout, or name a resolver that answers from here with "
        "--dns-server (e.g. 1.1.1.1)"
    ), got[0].fix
    assert "down, unreachable from here, or slow" in got[0].cause
    assert dns_server.zone.queries == [(DOMAIN, "MX"), ("example", "NS")]
    assert got[0].ms >= 600  # the time it took: both waits, not the first only


def test_a_system_resolver_that_never_answers_names_its_file_in_the_fix(tmp_path):
    """The system's resolver silent (nothing listens at 127.0.0.9:53): its address and the
    file that names it, and the fix to edit that file or name another resolver."""
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 127.0.0.9\n")
    got = domaincheck.run(DOMAIN, get_provider("exmail"), timeout=0.3, resolv_conf=str(path))
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "fail", 75)], got
    assert got[0].detail.startswith(f"the resolver 127.0.0.9 (from {path}) did not answer (")
    assert got[0].fix == (
        f"run again with a larger --timeout, or fix the nameserver lines of {path}, or name a "
        "resolver that answers from here with --dns-server (e.g. 1.1.1.1)"
    ), got[0].fix


def test_doctor_json_carries_the_domain_checks(dns_server, run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    good_zone(dns_server.records)
    res = run(
        "doctor", BOX, "--json", "--timeout", "1", "--dns-server", dns_server.address,
        "--dkim-selector", "s1",
    )  # fmt: skip
    report = json.loads(res.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names[-4:] == ["mx", "spf", "dkim", "dmarc"]
    assert {c["status"] for c in report["checks"][-4:]} == {"ok"}
    without = json.loads(run("doctor", BOX, "--json", "--timeout", "1", "--no-domain").stdout)
    assert "spf" not in [c["name"] for c in without["checks"]]


def test_spf_includes_that_loop_cost_a_bounded_number_of_queries(dns_server):
    """A record including itself twice made the walk query 2**11 times (10**11 with ten
    includes: doctor never finished); a receiver stops at the 11th lookup, and so does it."""
    good_zone(dns_server.records)
    loop = "loop.corp.example"
    dns_server.records[(loop, "TXT")] = [f'"v=spf1 include:{loop} include:{loop} -all"']
    dns_server.records[(DOMAIN, "TXT")] = [f'"v=spf1 include:spf.mail.qq.com include:{loop} ~all"']
    before = len(dns_server.zone.queries)
    spf = checks(dns_server)["spf"]
    assert len(dns_server.zone.queries) - before <= 20
    assert spf.status == "fail" and "more than 10 DNS lookups" in spf.detail
    assert "not included" not in spf.detail


@pytest.mark.parametrize(
    "server", ["127.0.0.1:abc", "127.0.0.1:", "127.0.0.1:99999", "dns.example", "[::1]x"]
)
def test_a_dns_server_that_cannot_be_read_is_refused_in_one_line_before_any_check(
    run, ledger_path, server
):
    """It went to dnspython as it was: a ValueError traceback (exit 1), after the network
    checks had taken their time; an IPv6 address (its colons) could never be given."""
    closed = str(free_port())
    added = run(
        "mailbox", "add", BOX, "--provider", "custom", "--smtp-host", "127.0.0.1",
        "--smtp-port", closed, "--imap-host", "127.0.0.1", "--imap-port", closed,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    res = run("doctor", BOX, "--timeout", "1", "--dns-server", server)
    assert res.exit_code == 64
    assert res.stdout == ""
    assert res.stderr == (
        f"Error: --dns-server {server!r}: expected a resolver's IP address, optionally with "
        ":PORT (1.1.1.1, 1.1.1.1:53, ::1, [::1]:53)\n"
    )


def test_a_dns_server_is_an_ipv4_or_ipv6_address_with_an_optional_port():
    assert domaincheck.nameserver("1.1.1.1") == ("1.1.1.1", 53)
    assert domaincheck.nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert domaincheck.nameserver("::1") == ("::1", 53)
    assert domaincheck.nameserver("[::1]:5353") == ("::1", 5353)
    assert domaincheck.nameserver("[::1]") == ("::1", 53)


def test_a_record_is_quoted_without_its_control_characters_and_cut_short(dns_server):
    """A TXT record's bytes went into the detail as they were: an ESC sequence printed by
    doctor's table reached the terminal (here: retitle the window, clear the screen), and a
    record of kilobytes made a detail of kilobytes."""
    good_zone(dns_server.records)
    txt = dns_server.records
    txt[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com \\033]0;owned\\007\\033[2J ~all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "ok"
    assert spf.detail == (
        "v=spf1 include:spf.mail.qq.com \\x1b]0;owned\\x07\\x1b[2J ~all (1 lookups)"
    )
    ips = " ".join(f'" ip4:10.0.{n // 250}.{n % 250}"' for n in range(400))
    txt[(DOMAIN, "TXT")] = [f'"v=spf1 include:spf.mail.qq.com" {ips} " +all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and len(spf.detail) < 250, len(spf.detail)
    assert spf.detail.endswith("...': '+all' lets anyone send as corp.example")


@pytest.mark.parametrize("conf", ["missing", "empty"])
def test_a_machine_without_a_system_resolver_is_one_warning_not_a_traceback(tmp_path, conf):
    """dnspython's NoResolverConfiguration (no /etc/resolv.conf, or no nameserver in it, as
    in a minimal container) escaped doctor as a traceback after every mail check had run."""
    path = tmp_path / "resolv.conf"
    if conf == "empty":
        path.write_text("search corp.example\n")
    got = domaincheck.run(DOMAIN, get_provider("exmail"), timeout=1, resolv_conf=str(path))
    assert [(c.name, c.status) for c in got] == [("mx", "warn")]
    assert got[0].detail.startswith("could not query DNS (no system resolver: ")
    assert got[0].fix == (
        f"run again where DNS answers, or fix the nameserver lines of {path}, or name a "
        "resolver that answers from here with --dns-server (e.g. 1.1.1.1)"
    ), got[0].fix


def test_a_null_mx_is_a_failure_saying_the_domain_takes_no_mail(dns_server):
    """``MX 0 .`` (RFC 7505: the domain accepts no mail) read as a host with no name: a warning
    "MX is , not Tencent Enterprise Mail's (qq.com)"."""
    good_zone(dns_server.records)
    dns_server.records[(DOMAIN, "MX")] = ["0 ."]
    mx = checks(dns_server)["mx"]
    assert (mx.status, mx.code) == ("fail", 78)
    assert mx.detail == "a null MX (0 .): the domain says it accepts no mail"
    assert mx.fix == "replace it with the provider's MX records (qq.com) for corp.example"


def test_an_spf_include_or_redirect_to_a_name_without_spf_fails_as_receivers_do(dns_server):
    """RFC 7208 5.2 and 6.1: an include: or redirect= whose domain publishes no SPF record is a
    permerror (SPF fails for every message); doctor passed such a record, typo and all."""
    good_zone(dns_server.records)
    txt = dns_server.records
    txt[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com include:spf.typo.example ~all"']
    spf = checks(dns_server)["spf"]
    assert (spf.status, spf.code) == ("fail", 78), spf.detail
    assert "include:spf.typo.example publishes no SPF record (receivers: permerror)" in spf.detail
    assert "remove include:spf.typo.example or correct its name" in spf.fix
    txt[("spf.typo.example", "TXT")] = ['"google-site-verification=abc"']  # TXT, but no SPF
    assert "include:spf.typo.example publishes no SPF" in checks(dns_server)["spf"].detail
    txt[(DOMAIN, "TXT")] = ['"v=spf1 redirect=_spf.corp.example"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "redirect=_spf.corp.example publishes no SPF" in spf.detail


def test_the_all_term_an_spf_redirect_ends_in_is_the_one_judged(dns_server):
    """``v=spf1 redirect=X`` ends in X's ``all``: a +all there let anyone send as the domain and
    doctor said ok; an ``all`` in the record itself makes receivers ignore its redirect=."""
    good_zone(dns_server.records)
    txt = dns_server.records
    txt[(DOMAIN, "TXT")] = ['"v=spf1 redirect=_spf.corp.example"']
    txt[("_spf.corp.example", "TXT")] = ['"v=spf1 include:spf.mail.qq.com +all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "'+all' lets anyone send as corp.example" in spf.detail
    txt[("_spf.corp.example", "TXT")] = ['"v=spf1 include:spf.mail.qq.com ?all"']
    assert checks(dns_server)["spf"].status == "warn"
    txt[("_spf.corp.example", "TXT")] = ['"v=spf1 include:spf.mail.qq.com -all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "ok" and "(2 lookups)" in spf.detail, spf.detail
    txt[(DOMAIN, "TXT")] = ['"v=spf1 -all redirect=_spf.corp.example"']  # redirect never read
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail" and "servers are not included" in spf.detail, spf.detail


def test_a_subdomain_without_its_own_dmarc_record_takes_the_parents_sp_policy(dns_server):
    """RFC 7489 6.6.3: mail from sales.corp.example falls under _dmarc.corp.example (its sp=
    when set); doctor failed such a mailbox with "no DMARC record"."""
    good_zone(dns_server.records)
    sub = f"sales.{DOMAIN}"
    dns_server.records[(sub, "MX")] = ["5 mxbiz1.qq.com."]
    dns_server.records[(sub, "TXT")] = ['"v=spf1 include:spf.mail.qq.com ~all"']

    def dmarc():  # type: ignore[no-untyped-def]
        got = domaincheck.run(sub, get_provider("exmail"), server=dns_server.address, timeout=3)
        return {c.name: c for c in got}["dmarc"]

    found = dmarc()
    assert found.status == "ok", found.detail
    assert found.detail.startswith("p=quarantine (from _dmarc.corp.example), adkim=r")
    parent = ['"v=DMARC1; p=reject; sp=none; rua=mailto:d@corp.example"']
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = parent
    found = dmarc()
    assert found.status == "warn" and found.detail.startswith("p=none (sp= of _dmarc.corp.example)")
    del dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")]
    found = dmarc()
    assert found.status == "fail" and found.detail == "no DMARC record"
    assert f"_dmarc.{sub}" in found.fix


def test_dmarc_p_none_without_rua_says_to_ask_for_reports_first(dns_server):
    """p=none only monitors through the aggregate reports rua= asks for: without rua nobody
    gets them, and "move to p=quarantine once reports are clean" could never be followed."""
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = ['"v=DMARC1; p=none"']
    dmarc = checks(dns_server)["dmarc"]
    assert dmarc.status == "warn" and "no rua=" in dmarc.detail
    assert dmarc.fix.startswith(f"add rua=mailto:dmarc@{DOMAIN} to receive reports")


def test_a_domain_that_does_not_exist_is_one_failure_naming_it(dns_server):
    """An expired or mistyped domain (NXDOMAIN) read as four separate fixes to make (add MX, add
    SPF, publish DKIM, add DMARC) to a domain that cannot hold records."""
    good_zone(dns_server.records)
    got = domaincheck.run(
        "corp-typo.example", get_provider("exmail"), server=dns_server.address, timeout=3
    )
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "fail", 78)]
    assert got[0].detail == "corp-typo.example does not exist in DNS (NXDOMAIN)"
    assert "register or renew corp-typo.example" in got[0].fix


def test_an_spf_include_whose_dns_fails_is_named_and_the_other_checks_still_run(dns_server):
    """A SERVFAIL for one include: (its servers down, its DNSSEC broken) was taken for this
    machine's resolver being unreachable: "the domain's records were not checked", DKIM and
    DMARC skipped, exit 0, though receivers get a temperror for every message."""
    good_zone(dns_server.records)
    dns_server.records[(DOMAIN, "TXT")] = [
        '"v=spf1 include:spf.mail.qq.com include:_spf.broken.example ~all"'
    ]
    dns_server.zone.servfail.add("_spf.broken.example")
    found = checks(dns_server)
    assert [found[n].status for n in ("mx", "dkim", "dmarc")] == ["ok"] * 3
    spf = found["spf"]
    assert (spf.status, spf.code) == ("fail", 78), spf.detail
    assert "include:_spf.broken.example does not answer (receivers: temperror" in spf.detail


def test_an_spf_include_with_a_trailing_dot_or_a_macro_is_read_as_receivers_read_it(dns_server):
    """``include:spf.mail.qq.com.`` (a trailing dot, which RFC 7208's domain-end allows) was
    "not included"; ``include:%{i}._spf.example`` (a macro: only a receiver can expand it, with
    the sender's address) was looked up as written and said to publish no SPF record."""
    good_zone(dns_server.records)
    dns_server.records[(DOMAIN, "TXT")] = ['"v=spf1 include:spf.mail.qq.com. ~all"']
    spf = checks(dns_server)["spf"]
    assert spf.status == "ok", spf.detail
    dns_server.records[(DOMAIN, "TXT")] = [
        '"v=spf1 include:spf.mail.qq.com include:%{ir}._spf.vendor.example ~all"'
    ]
    before = len(dns_server.zone.queries)
    spf = checks(dns_server)["spf"]
    assert spf.status == "ok" and "(2 lookups)" in spf.detail, spf.detail
    assert not any("%" in name for name, _ in dns_server.zone.queries[before:])


def add_closed(run):  # type: ignore[no-untyped-def]
    """An exmail mailbox whose SMTP and IMAP hosts are a closed port on loopback."""
    closed = str(free_port())
    added = run(
        "mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1",
        "--smtp-port", closed, "--imap-host", "127.0.0.1", "--imap-port", closed,
    )  # fmt: skip
    assert added.exit_code == 0, added.output


@pytest.mark.parametrize("broken", [f"s1._domainkey.{DOMAIN}", f"_dmarc.{DOMAIN}"])
def test_a_dkim_or_dmarc_name_whose_dns_fails_is_a_failure_and_the_other_checks_still_run(
    dns_server, broken
):
    """A SERVFAIL for the DKIM selector's name (a provider-hosted CNAME whose target's servers are
    down, broken DNSSEC) or for _dmarc was taken for this machine's resolver being unreachable,
    though MX and SPF had just answered: a warning "the domain's records were not checked", the
    checks after it skipped, exit 0, while every receiver's lookup fails the same way."""
    good_zone(dns_server.records)
    dns_server.zone.servfail.add(broken)
    found = checks(dns_server)
    assert list(found) == ["mx", "spf", "dkim", "dmarc"]
    which = "dkim" if "_domainkey" in broken else "dmarc"
    other = "dmarc" if which == "dkim" else "dkim"
    assert [found[n].status for n in ("mx", "spf", other)] == ["ok"] * 3
    failed = found[which]
    assert (failed.status, failed.code) == ("fail", 78), failed.detail
    assert broken in failed.detail and "SERVFAIL" in failed.detail
    assert "not checked" not in failed.detail
    assert "temperror" in failed.cause and failed.fix


def test_a_name_from_a_hostile_record_reaches_the_printed_fix_without_its_escapes(dns_server, run):
    """The detail was cleaned of control characters, but not the fix, which names an SPF
    include: from the record (``remove include:NAME``): doctor printed ``fix: ...`` with the
    record's ESC sequences to the terminal."""
    add_closed(run)
    good_zone(dns_server.records)
    dns_server.records[(DOMAIN, "TXT")] = [
        '"v=spf1 include:spf.mail.qq.com include:\\027]0;owned\\007x.example ~all"'
    ]
    spf = checks(dns_server)["spf"]
    assert spf.status == "fail"
    assert not any(ch in spf.fix for ch in "\x17\x07"), repr(spf.fix)
    assert "remove include:\\x17]0;owned\\x07x.example" in spf.fix
    res = run(
        "doctor", BOX, "--timeout", "1", "--dns-server", dns_server.address,
        "--dkim-selector", "s1",
    )  # fmt: skip
    assert "fix: remove include:\\x17]0;owned\\x07x.example" in res.stderr
    assert not any(ch in res.stdout + res.stderr for ch in "\x17\x07")


# "s\udcff": a byte of argv that is no UTF-8 (0xff) was a UnicodeEncodeError traceback; "s1 "
# (pasted with its space), "s 1", "s1;" and "s1@corp" were looked up as they were: "no DKIM key
# for selector 's1 '", exit 78, a record to publish where the fault was the typo
@pytest.mark.parametrize(
    "selector",
    ["", "s1.", "x" * 64, "a..b", "s\udcff", "s1 ", " s1", "s 1", "s1\t", "s1;", "s1@corp", "選"],
)
def test_a_dkim_selector_that_cannot_be_a_dns_name_is_refused_in_one_line(
    dns_server, run, selector
):
    """A typo in --dkim-selector (an empty one, a stray dot, one over 63 characters) went to
    the resolver as it was: "could not query DNS (A DNS label is empty.); the domain's records
    were not checked", DMARC skipped, exit 0, as if the network were at fault."""
    add_closed(run)
    good_zone(dns_server.records)
    res = run(
        "doctor", BOX, "--timeout", "1", "--dns-server", dns_server.address,
        "--dkim-selector", "s1", "--dkim-selector", selector,
    )  # fmt: skip
    assert res.exit_code == 64, res.output
    assert res.stdout == ""
    shown = repr(selector).replace("\\udcff", "\\xff")  # a byte as ls -b shows it
    assert res.stderr.startswith(f"Error: --dkim-selector {shown}: "), res.stderr
    assert len(res.stderr.splitlines()) == 1
    with pytest.raises(domaincheck.InvalidField):
        domaincheck.run(
            DOMAIN, get_provider("exmail"), selectors=(selector,), server=dns_server.address
        )


def test_a_warning_prints_its_fix_as_a_failure_does(dns_server, run):
    """Only failures printed their fix: an exmail mailbox checked without --dkim-selector (the
    preset knows none) got 'WARN no DKIM selector known for Tencent Enterprise Mail' and exit 0,
    never told which option names it; a resolver that did not answer, never told of
    --dns-server."""
    add_closed(run)
    good_zone(dns_server.records)
    res = run("doctor", BOX, "--timeout", "1", "--dns-server", dns_server.address)
    assert "\ndkim warning for DNS corp.example: no DKIM selector known for " in res.stderr
    assert (
        "  fix: give the selector the provider's admin console shows: --dkim-selector NAME\n"
        in (res.stderr)
    )
    gone = f"127.0.0.1:{free_port()}"
    res = run("doctor", BOX, "--timeout", "0.3", "--dns-server", gone)
    assert f"\nmx failed for DNS corp.example: the resolver {gone} did not answer (" in res.stderr
    assert (
        "  fix: run again with a larger --timeout, or name a resolver that answers from here "
        "with --dns-server (e.g. 1.1.1.1)\n" in res.stderr
    ), res.stderr


def test_a_domain_with_hundreds_of_mx_records_gets_a_detail_of_one_line(dns_server):
    """Every MX host went into the detail, joined: a zone answering hundreds of them (over TCP)
    made a row of kilobytes in doctor's table, where an SPF record is cut short."""
    good_zone(dns_server.records)
    dns_server.records[(DOMAIN, "MX")] = [f"{n} mx{n:03}.elsewhere.example." for n in range(300)]
    mx = checks(dns_server)["mx"]
    assert mx.status == "warn" and len(mx.detail) < 250, len(mx.detail)
    assert mx.detail.startswith("MX is mx000.elsewhere.example, ")
    assert "(300 hosts)" in mx.detail


@pytest.mark.parametrize(
    ("record", "detail", "fix"),
    [
        (
            "v=DMARC1; p=reject; adkim=strict",
            "adkim=strict is neither r nor s (receivers may discard the whole record)",
            "write adkim=s for strict alignment or adkim=r for relaxed, or leave it out",
        ),
        (
            "v=DMARC1; p=quarantine; aspf=relaxed; junk; =; ;;",
            "aspf=relaxed is neither r nor s",
            "write aspf=s for strict alignment or aspf=r for relaxed",
        ),
        (
            "v=DMARC1 p=reject",
            "not a DMARC record, its version is not 'v=DMARC1;'",
            "begin it with v=DMARC1; as in",
        ),
        (
            "v=DMARC10; p=reject",
            "not a DMARC record, its version is not 'v=DMARC1;'",
            "begin it with v=DMARC1;",
        ),
    ],
    ids=["adkim-strict", "aspf-relaxed", "no-semicolon", "dmarc10"],
)
def test_a_dmarc_record_receivers_cannot_read_is_a_failure_not_ok(dns_server, record, detail, fix):
    """adkim=strict (the word, not "s") passed as "ok ... adkim=strict (alignment relaxed)":
    OpenDMARC discards such a record, and the strictness asked for was not what doctor read.
    "v=DMARC10; p=reject" passed as a DMARC record, which receivers ignore."""
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = [f'"{record}"']
    dmarc = checks(dns_server)["dmarc"]
    assert (dmarc.status, dmarc.code) == ("fail", 78), dmarc
    assert dmarc.detail.startswith(f"{record!r}: ") and detail in dmarc.detail, dmarc.detail
    assert fix in dmarc.fix, dmarc.fix


def test_dmarc_alignment_tags_are_read_whatever_their_case(dns_server):
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = ['"V=dmarc1; P=Reject; ADKIM=S"']
    dmarc = checks(dns_server)["dmarc"]
    assert dmarc.status == "ok", dmarc
    assert dmarc.detail == "p=reject, adkim=s, aspf=r (alignment strict)"


@pytest.mark.parametrize(
    "value",
    [
        '"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEB\\"\\"AQUAA4GNADCBiQKBgQDB"',  # quotes kept
        '"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"',  # cut short
    ],
    ids=["quotes-inside", "cut-short"],
)
def test_a_dkim_key_that_is_not_base64_is_a_failure_not_ok(dns_server, value):
    """A DNS console that keeps the quotes of a pasted split record, or a key cut off at 255
    characters, passed as "key published": receivers cannot read it and every signature
    fails, so the mail goes to spam with doctor saying all was well."""
    good_zone(dns_server.records)
    dns_server.records[(f"s1._domainkey.{DOMAIN}", "TXT")] = [value]
    dkim = checks(dns_server)["dkim"]
    assert (dkim.status, dkim.code) == ("fail", 78), dkim
    assert dkim.detail == (
        f"the key at s1._domainkey.{DOMAIN} is not base64 (quotes, stray characters or a key "
        f"cut short in p=)"
    )
    assert dkim.fix.startswith("publish the TXT record exactly as Tencent Enterprise Mail")


def test_spf_includes_whose_dns_never_answers_cost_one_checks_time_not_one_timeout_each(
    dns_server,
):
    """Each include: whose servers never answer waited the whole --timeout: nine of them held
    doctor nine timeouts on the SPF check alone, though its help says a whole check takes at
    most three. Past the check's three, the includes left are named as not looked up."""
    good_zone(dns_server.records)
    dead = [f"_spf{i}.gone.example" for i in range(9)]
    dns_server.zone.silent.update(dead)
    # One record in many strings (a string holds at most 255 bytes), joined as receivers do.
    strings = " ".join(f'" include:{name}"' for name in dead)
    dns_server.records[(DOMAIN, "TXT")] = [f'"v=spf1 include:spf.mail.qq.com" {strings} " ~all"']
    start = time.monotonic()
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=dns_server.address, timeout=0.5)
    spent = time.monotonic() - start
    found = {c.name: c for c in got}
    # Counted, not timed, so a loaded machine cannot fail it: the check's 1.5 s hold three
    # timeouts of 0.5 s, so at most three of the dead names are asked (all nine before) ...
    asked = {name for name, _ in dns_server.zone.queries if name in dead}
    assert len(asked) <= CHECK_TIMEOUTS, sorted(asked)
    assert spent < len(dead) * 0.5, spent  # ... and the run is shorter than one wait each
    spf = found["spf"]
    assert (spf.status, spf.code) == ("fail", 75)  # time ran out: nothing known to be wrong
    for name in dead:  # each named: as out of time if asked, else as not looked up
        said = f"include:{name} ran out of time after " in spf.detail
        assert f"include:{name}" in spf.detail and said == (name in asked), spf.detail
    assert spf.detail.endswith("not looked up (the check's 1.5 s ran out)"), spf.detail
    assert [found[n].status for n in ("mx", "dmarc")] == ["ok", "ok"]


@pytest.mark.parametrize("fault", ["servfail", "silent"])
def test_a_domain_whose_own_dns_fails_is_a_failure_not_a_resolver_to_blame(dns_server, fault):
    """A domain whose DNSSEC no longer validates or whose delegation is lame (SERVFAIL), or
    whose name servers are gone (no answer), was a warning and exit 0: "could not query DNS
    ... run again where DNS answers", though the resolver answered for everything else and
    receivers fail the same lookups. No answer at all is time running out: temporary (75), as
    the servers may only be slow (test_a_slow_but_correct_record_...)."""
    good_zone(dns_server.records)
    getattr(dns_server.zone, fault).add(DOMAIN)
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=dns_server.address, timeout=1)
    code = 78 if fault == "servfail" else 75
    assert [(c.name, c.status, c.code) for c in got] == [("mx", "fail", code)], got
    assert got[0].detail.endswith(", though the resolver answers for .example")
    if fault == "servfail":
        assert got[0].detail.startswith(f"the DNS of {DOMAIN} does not answer (")
        assert got[0].fix.startswith(f"ask whoever runs the DNS of {DOMAIN} to fix it")
        assert got[0].fix.endswith("run again with --dns-server 1.1.1.1")
    else:
        assert got[0].detail.startswith(f"the DNS of {DOMAIN} ran out of time after 1 s")
        assert got[0].fix.startswith("run again with a larger --timeout (if it still runs out")


def test_spf_terms_past_the_checks_time_are_not_said_to_fail_nor_to_be_removed(dns_server):
    """Past the check's time the includes left were reported "does not answer (receivers:
    temperror, SPF fails)" without being asked, and the fix said to remove them: after three
    dead includes, the provider's own include:spf.mail.qq.com, which answers."""
    good_zone(dns_server.records)
    dead = [f"_spf{i}.gone.example" for i in range(3)]
    dns_server.zone.silent.update(dead)
    strings = " ".join(f'" include:{name}"' for name in dead)
    dns_server.records[(DOMAIN, "TXT")] = [f'"v=spf1" {strings} " include:spf.mail.qq.com ~all"']
    got = domaincheck.run(DOMAIN, get_provider("exmail"), server=dns_server.address, timeout=0.5)
    spf = {c.name: c for c in got}["spf"]
    # the silent ones ran out of time: nothing is known to be wrong, so not 78 nor "remove"
    assert (spf.status, spf.code) == ("fail", 75), spf
    assert "include:spf.mail.qq.com does not answer" not in spf.detail, spf.detail
    assert "include:spf.mail.qq.com not looked up (the check's 1.5 s ran out)" in spf.detail
    assert "remove" not in spf.fix, spf.fix
    assert spf.fix.startswith("run again with a larger --timeout to check the rest"), spf.fix


def test_a_dmarc_record_receivers_discard_does_not_count_against_the_valid_one(dns_server):
    """Receivers discard a record whose version is not v=DMARC1 before counting (RFC 7489
    6.6.3): the old "v=DMARC1 p=none" (no semicolon) left beside its corrected copy failed the
    check as "2 DMARC records" though receivers apply the copy."""
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = [
        '"v=DMARC1 p=none"',
        '"v=DMARC1; p=reject; rua=mailto:d@corp.example"',
    ]
    dmarc = checks(dns_server)["dmarc"]
    assert (dmarc.status, dmarc.detail) == (
        "ok",
        "p=reject, adkim=r, aspf=r (alignment relaxed)",
    ), dmarc


@pytest.mark.parametrize(
    ("record", "detail", "fix"),
    [
        (
            "v=DMARC1; p=reject; sp=strict",
            "sp=strict is not none, quarantine or reject (receivers may discard the whole record)",
            "write sp=none, sp=quarantine or sp=reject for the subdomains' policy, or leave it out",
        ),
        (
            "v=DMARC1; p=reject; pct=50%",
            "pct=50% is not a whole number from 0 to 100",
            "write pct=100 (the share of failing mail the policy applies to), or leave it out",
        ),
        (
            "v=DMARC1; p=reject; pct=150",
            "pct=150 is not a whole number from 0 to 100",
            "write pct=100",
        ),
        (
            "v=DMARC1; p=reject; rua=mailto:d@corp.example,dmarc@corp.example",
            "rua= entry 'dmarc@corp.example' is not a mailto: URI (no report reaches it)",
            f"write each rua= entry as mailto:ADDRESS, as in rua=mailto:dmarc@{DOMAIN} (several:",
        ),
        (
            "v=DMARC1; p=quarantine; ruf=mailto:dmarc",
            "ruf= entry 'mailto:dmarc' is not a mailto: URI",
            f"write each ruf= entry as mailto:ADDRESS, as in ruf=mailto:dmarc@{DOMAIN}",
        ),
    ],
    ids=["sp-strict", "pct-percent", "pct-150", "rua-bare-address", "ruf-mailto-no-address"],
)
def test_dmarc_sp_pct_and_report_addresses_receivers_cannot_use_fail_saying_what_to_write(
    dns_server, record, detail, fix
):
    """sp=, pct=, rua= and ruf= were not read: a record receivers discard, or whose reports go
    nowhere, passed as ok."""
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = [f'"{record}"']
    dmarc = checks(dns_server)["dmarc"]
    assert (dmarc.status, dmarc.code) == ("fail", 78), dmarc
    assert dmarc.detail.startswith(f"{record!r}: {detail}"), dmarc.detail
    assert dmarc.fix.startswith(fix), dmarc.fix
    assert "\n" not in dmarc.detail + dmarc.fix


def test_dmarc_report_uris_of_another_scheme_warn_that_reports_may_not_come(dns_server):
    """RFC 7489 6.2 allows any URI in rua= and ruf=; receivers must support mailto: and may
    support others. A record whose ruf= was https: only failed (78) as "not a mailto: URI (no
    report reaches it)": a valid record whose reports may or may not come is a warning, and
    one with a mailto: beside the https: entry is fine."""
    good_zone(dns_server.records)
    dmarc_at = (f"_dmarc.{DOMAIN}", "TXT")
    dns_server.records[dmarc_at] = [
        '"v=DMARC1; p=reject; rua=mailto:d@corp.example; ruf=https://reports.example/dmarc"'
    ]
    dmarc = checks(dns_server)["dmarc"]
    assert (dmarc.status, dmarc.code, dmarc.detail, dmarc.fix) == (
        "warn",
        0,
        "p=reject, adkim=r, aspf=r (alignment relaxed); ruf= has no mailto: entry, only "
        "'https://reports.example/dmarc': receivers need support only mailto: (RFC 7489 6.2), "
        "so its reports may never come",
        f"add a mailto: entry beside it: ruf=mailto:dmarc@{DOMAIN},https://reports.example/dmarc",
    ), dmarc
    dns_server.records[dmarc_at] = ['"v=DMARC1; p=none; rua=https://r.example/a!10m"']
    dmarc = checks(dns_server)["dmarc"]
    assert dmarc.status == "warn" and "monitoring only; rua= has no mailto:" in dmarc.detail
    assert dmarc.fix == (
        f"add a mailto: entry beside it: rua=mailto:dmarc@{DOMAIN},https://r.example/a!10m; "
        "move to p=quarantine once reports are clean"
    ), dmarc.fix
    dns_server.records[dmarc_at] = [
        '"v=DMARC1; p=reject; rua=https://r.example/a,mailto:d@corp.example"'
    ]
    assert checks(dns_server)["dmarc"].status == "ok"


def test_dmarc_pct_under_100_warns_that_the_policy_covers_part_of_the_mail(dns_server):
    good_zone(dns_server.records)
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = [
        '"v=DMARC1; p=quarantine; pct=25; sp=reject; rua=mailto:a@corp.example,mailto:b@x.example!10m"'
    ]
    dmarc = checks(dns_server)["dmarc"]
    assert (dmarc.status, dmarc.detail, dmarc.fix) == (
        "warn",
        "p=quarantine, adkim=r, aspf=r (alignment relaxed), pct=25: p=quarantine covers only 25% "
        "of the mail that fails DMARC, the rest is treated as p=none",
        "raise it to pct=100 (or leave pct= out) once reports are clean",
    ), dmarc
    dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")] = ['"v=DMARC1; p=reject; pct=100"']
    assert checks(dns_server)["dmarc"].status == "ok"


@pytest.mark.parametrize("slow", [DOMAIN, "spf.mail.qq.com"], ids=["record", "include"])
def test_a_slow_but_correct_spf_record_is_a_temporary_failure_not_a_record_to_fix(
    dns_server, run, slow
):
    """A correct SPF record whose DNS answers in 1 s, checked with --timeout 0.3 (here: 1.5 s
    and 1), failed 78 as a wrong record: "include:spf.mail.qq.com does not answer ... remove
    the term", or "the DNS of corp.example does not answer ... ask whoever runs it to fix it".
    Time ran out: 75."""
    good_zone(dns_server.records)
    dns_server.zone.slow[slow] = 1.5  # past a 1 s timeout (0.3 s: a loaded CI missed others too)
    got = domaincheck.run(
        DOMAIN, get_provider("exmail"), selectors=("s1",), server=dns_server.address, timeout=1.0
    )
    failed = [c for c in got if c.status == "fail"]
    assert [c.code for c in failed] == [75], got
    assert "ran out of time after 1 s" in failed[0].detail, failed[0].detail
    assert failed[0].fix.startswith("run again with a larger --timeout"), failed[0].fix
    assert "remove" not in failed[0].fix and "does not answer" not in failed[0].detail
    add_closed(run)
    res = run("doctor", BOX, "--dkim-selector", "s1", "--timeout", "1", "--dns-server",
              dns_server.address)  # fmt: skip
    assert f"failed for DNS {DOMAIN}: " in res.stderr and "ran out of time after 1 s" in (
        res.stderr
    ), res.stderr
    assert "  fix: run again with a larger --timeout (if it still runs out" in res.stderr
    assert checks(dns_server)["spf"].status == "ok"  # with time to answer (3 s): the record is ok


def test_a_record_to_fix_is_not_hidden_by_a_lookup_that_ran_out_of_time_before_it(dns_server):
    """Exit 75 says "try again later, it may pass". An SPF include whose DNS answers late (75)
    came before a missing DMARC record (78): the doctor exited 75, and a script retrying on it
    (as on a send's 75) never learnt that the domain has a record to publish."""
    from warmup.doctor import exit_code

    good_zone(dns_server.records)
    del dns_server.records[(f"_dmarc.{DOMAIN}", "TXT")]
    # 1 s for each lookup, the include answering after 1.5: at 0.3 s a loaded CI machine's
    # answer to the MX lookup came too late as well ([('mx', 75)])
    dns_server.zone.slow["spf.mail.qq.com"] = 1.5
    got = domaincheck.run(
        DOMAIN, get_provider("exmail"), selectors=("s1",), server=dns_server.address, timeout=1.0
    )
    assert [(c.name, c.code) for c in got if c.status == "fail"] == [("spf", 75), ("dmarc", 78)]
    assert exit_code(got) == 78
    assert exit_code(got[:2]) == 75  # only time ran out: try again later


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [
        ("--dkim-selector", "s1", "names a DKIM key of"),
        ("--dns-server", "127.0.0.1:5353", "names the resolver of"),
    ],
)
def test_an_option_of_the_domain_checks_typed_with_no_domain_is_a_usage_error_not_dropped(
    run, ledger_path, tmp_path, monkeypatch, option, value, what
):
    """``--dkim-selector`` names a key for the domain checks, which ``--no-domain`` turns off
    (``--dns-server`` their resolver): it was dropped without a word, exit 0 when the rest
    passed, and the user believed the key checked. One line, 64, before any check (nothing is
    asked of any server). The config file's ``[commands.doctor]`` selectors and
    ``$WARMUP_DNS_SERVER`` are defaults, which ``--no-domain`` leaves unused without a word."""
    from tests.conftest import ledger_digest
    from warmup import config

    add_closed(run)
    before = ledger_digest(ledger_path)
    res = run("doctor", BOX, "--no-domain", option, value)
    assert res.exit_code == 64, res.output
    assert res.stdout == ""
    assert res.stderr == (
        f"Error: {option} {what} the domain checks, which --no-domain turns off: give one or "
        "the other\n"
    )
    assert ledger_digest(ledger_path) == before
    path = tmp_path / "config.toml"
    path.write_text('[commands.doctor]\ndkim-selector = ["s1"]\n')
    monkeypatch.setenv("WARMUP_CONFIG", str(path))
    monkeypatch.setenv("WARMUP_DNS_SERVER", "127.0.0.1:5353")
    config._LOADED.clear()
    try:
        res = run("doctor", BOX, "--no-domain", "--timeout", "1", "--json")
    finally:
        config._LOADED.clear()
    assert res.exit_code == 69, res.output  # the closed ports; no domain check
    steps = {c["name"] for c in json.loads(res.stdout)["checks"]}
    assert "tcp" in steps and not steps & {"mx", "spf", "dkim", "dmarc"}, steps
