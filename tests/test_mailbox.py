"""``warmup mailbox ...``: what removing, pausing and echoing a mailbox does to the ledger and
the keyring, through the CLI as a user types it (a file keyring stands in for the system's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.filekeyring import BrokenKeyring
from tests.gatekit import ANY_DAY

BOX = "a@corp.example"


@pytest.fixture
def broken_keyring():  # type: ignore[no-untyped-def]
    """A keyring whose every call fails (a locked Secret Service, D-Bus gone)."""
    import keyring

    before = keyring.get_keyring()
    keyring.set_keyring(BrokenKeyring())
    yield
    keyring.set_keyring(before)


@pytest.mark.parametrize("force", [False, True], ids=["no-history", "force"])
def test_remove_forgets_the_stored_password_and_oauth_login(run, file_keyring: Path, force):
    """Removing a mailbox left its password (and OAuth refresh token) in the keyring, and adding
    the address again silently logged in with the old one."""
    from warmup import oauth

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("mailbox", "login", BOX, input="s3cret\n").exit_code == 0
    oauth.save(BOX, "client-1", "refresh-1")
    if force:
        assert run("record", "send", BOX, "--to", "x@example.com").exit_code == 0
    res = run("mailbox", "remove", BOX, *(["--force"] if force else []))
    assert res.exit_code == 0, res.output
    assert res.output == f"Removed {BOX}; forgot its password and OAuth login in the keyring.\n"
    assert json.loads(file_keyring.read_text()) == {}
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    from warmup import credentials
    from warmup.errors import ConfigError

    with pytest.raises(ConfigError, match="no password"):
        credentials.get_password(BOX)


def test_remove_with_nothing_stored_says_nothing_of_the_keyring(run, file_keyring: Path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "remove", BOX)
    assert (res.exit_code, res.output) == (0, f"Removed {BOX}.\n")


def test_remove_still_removes_when_the_keyring_fails(run, broken_keyring, monkeypatch):
    """A keyring that cannot be reached must not keep a mailbox the user removed; the line says
    its secrets may still be stored and how to delete them (the mailbox is gone, so 'mailbox
    login --forget' no longer can)."""
    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "remove", BOX)
    assert res.exit_code == 0, res.output
    assert res.output == (
        f"Removed {BOX}, but the system keyring failed (RuntimeError): any password or OAuth "
        f"login stored for it is still there; delete them with 'keyring del warmup {BOX}' and "
        f"'keyring del warmup-oauth {BOX}'.\n"
    )
    assert json.loads(run("mailbox", "list", "--json").output) == []


def test_commands_echo_the_normalised_address(run, file_keyring):
    """An address typed with spaces or capitals was echoed as
    ``address.lower()`` ('Paused  a@corp.example : x'), not as the ledger knows it."""
    typed = " A@Corp.Example "
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    lines = [
        run("mailbox", "pause", typed, "--reason", "x").output,
        run("record", "send", typed, "--to", " <Lead@Example.com> ").output,
        run("record", "bounce", typed, "--to", " <Lead@Example.com> ").output,
        run("record", "bounce", typed, "--to", " <Other@Example.com> ").output,
        run("mailbox", "remove", typed, "--force").output,
    ]
    assert lines == [
        f"Paused {BOX}: x\n",
        f"Recorded 1 send for {BOX}.\n",
        "Recorded a hard bounce for lead@example.com.\n",
        f"Recorded a hard bounce for other@example.com; it matches no send of {BOX}, so it "
        f"does not count in its bounce rate; other@example.com is suppressed all the same, as "
        f"you vouch for it ('warmup suppress remove other@example.com' if that was a mistake).\n",
        f"Removed {BOX}.\n",
    ]


def test_a_bounce_recorded_for_an_address_never_mailed_says_it_suppresses_it(run):
    """A hard bounce or complaint recorded by hand suppresses its address even when it matches
    no send (the user vouches for it: a bounce learnt from another system's log). The output
    said only that it did not count, so an address mistyped ('laed@' for 'lead@') was
    suppressed in silence while the one meant was still mailed. A soft bounce suppresses
    nothing, and says nothing of it."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("record", "send", BOX, "--to", "lead@example.com").exit_code == 0
    hard = run("record", "bounce", BOX, "--to", "laed@example.com")
    soft = run("record", "bounce", BOX, "--to", "x'y@example.com", "--kind", "soft")
    assert (hard.exit_code, soft.exit_code) == (0, 0)
    assert hard.output == (
        f"Recorded a hard bounce for laed@example.com; it matches no send of {BOX}, so it does "
        f"not count in its bounce rate; laed@example.com is suppressed all the same, as you "
        f"vouch for it ('warmup suppress remove laed@example.com' if that was a mistake).\n"
    )
    assert soft.output == (
        f"Recorded a soft bounce for x'y@example.com; it matches no send of {BOX}, so it does "
        f"not count in its bounce rate.\n"
    )
    listed = json.loads(run("suppress", "list", "--json").output)
    assert [s["address"] for s in listed] == ["laed@example.com"]
    assert json.loads(run("quota", BOX, "--json").output)[0]["bounce_rate"] in (None, 0.0)
    assert run("suppress", "remove", "laed@example.com").exit_code == 0
    assert json.loads(run("suppress", "list", "--json").output) == []


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "spaces"])
def test_pause_refuses_an_empty_reason(run, tmp_path: Path, reason):
    """``--reason ''`` was accepted and printed 'Paused a@corp.example: ', with nothing for
    'warmup quota' to show. Refused (exit 64, ledger untouched) rather than replaced by a default:
    the option is required because a pause needs a why, and an empty one is almost always a
    script's unset variable (``--reason "$WHY"``), which a default would hide."""
    from tests.conftest import ledger_digest
    from tests.test_errors import assert_error

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(tmp_path / "ledger.db")
    res = run("mailbox", "pause", BOX, "--reason", reason)
    assert_error(res, 64, "--reason", "empty", "why")
    assert ledger_digest(tmp_path / "ledger.db") == before


PASTED = [
    "<a@corp.example>",
    '"Sales" <a@corp.example>',
    "Sales Team <A@CORP.Example>",
    '"Sales, <EU>" <a@Corp.EXAMPLE>',
    "a@CORP.EXAMPLE",
]


@pytest.mark.parametrize("typed", PASTED)
def test_a_mailbox_pasted_from_a_mail_client_is_the_mailbox(run, tmp_path: Path, typed):
    """An address pasted as a mail client shows it (in angle brackets, after a display name)
    was 'mailbox not found' for every command, as it was refused by 'mailbox add'. Every lookup
    of a mailbox reads it the one way: the address inside, lower-cased."""
    assert run("mailbox", "add", typed, "--provider", "exmail").exit_code == 0
    for args in (
        ("quota", typed, "--json"),
        ("record", "send", typed, "--to", "lead@example.com"),
        ("mailbox", "show", typed),
        ("plan", typed, "--days", "1", "--json"),
        ("pool", "add", "p", typed),
        ("mailbox", "pause", typed, "--reason", "x"),
    ):
        res = run(*args)
        assert res.exit_code == 0 and BOX in res.output, (args, res.output)
    assert [b["address"] for b in json.loads(run("mailbox", "list", "--json").output)] == [BOX]


@pytest.mark.parametrize(
    "typed",
    [
        "a@@corp.example",
        "Sales <a@corp.example",
        '"Sales" a@corp.example',
        "a@corp.example, b@x.com",
    ],
)
def test_a_malformed_mailbox_is_refused_as_malformed_not_unknown(run, tmp_path: Path, typed):
    """What is no address at all is said to be malformed (exit 65), not looked up in vain; a
    well-formed one that names no mailbox is unknown (exit 64, README "Commands"): so by every
    command that takes mailboxes (``plot a b c`` exits 65 as ``quota a`` does)."""
    from tests.conftest import ledger_digest
    from tests.test_errors import assert_error

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(tmp_path / "ledger.db")
    for args in (
        ("quota", typed),
        ("record", "send", typed, "--to", "lead@example.com"),
        ("plan", typed),
        ("report", typed),
        ("report", "--by-reason", typed),
        ("plot", BOX, typed, "--out", str(tmp_path / "p.png")),
        ("bounces", "list", typed),
    ):
        if "," in typed:  # a list: said to be several (7ecaeab), not one malformed address
            assert_error(run(*args), 65, "is 2 addresses in one", "give each on its own")
        else:
            assert_error(run(*args), 65, "malformed mailbox address", "name@domain.tld")
        unknown = tuple("nobody@corp.example" if a == typed else a for a in args)
        assert_error(run(*unknown), 64, "mailbox 'nobody@corp.example' not found")
    assert ledger_digest(tmp_path / "ledger.db") == before
    assert not (tmp_path / "p.png").exists()


LONG_LOCAL = "l" * 65 + "@corp.example"  # RFC 5321: at most 64 octets before the '@'
LONG_WHOLE = "l" * 64 + "@" + ".".join(["d" * 60] * 3) + ".example"  # 255 octets


def test_a_mailbox_address_over_smtps_limits_is_refused_at_add(run, tmp_path: Path):
    """A local part of 65 octets (or an address of 255) was taken by ``mailbox add``: no
    server lets a mailbox have it, and every send from it would be refused. 64 and 254 are."""
    from tests.conftest import ledger_digest
    from tests.test_errors import assert_error

    assert len(LONG_WHOLE) == 255
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(tmp_path / "ledger.db")
    assert_error(
        run("mailbox", "add", LONG_LOCAL, "--provider", "exmail"),
        65,
        f"mailbox address {LONG_LOCAL!r} is too long: its part before the '@' has 65 "
        "characters, and SMTP allows at most 64",
    )
    assert_error(
        run("mailbox", "add", LONG_WHOLE, "--provider", "exmail"),
        65,
        "is too long: 255 characters, and SMTP allows at most 254",
    )
    assert ledger_digest(tmp_path / "ledger.db") == before
    for fits in ("l" * 64 + "@corp.example", LONG_WHOLE[1:]):
        res = run("mailbox", "add", fits, "--provider", "exmail")
        assert res.exit_code == 0, res.output


def test_a_long_local_part_with_an_idn_domain_is_not_told_to_write_it_in_ascii(run):
    """The IDN hint ('write it as ...@xn--...') is given only for an address that would then be
    taken; the length is said otherwise. A short one keeps its hint."""
    from tests.test_errors import assert_error

    assert_error(
        run("mailbox", "add", "a@bücher.example", "--provider", "exmail"),
        65,
        "write it as a@xn--bcher-kva.example",
    )
    line = assert_error(
        run("mailbox", "add", "l" * 65 + "@bücher.example", "--provider", "exmail"), 65
    )
    assert "malformed mailbox address" in line and "xn--" not in line, line


def test_an_idn_domain_idna_2003_would_rewrite_is_never_given_as_another_domain(run, tmp_path):
    """Python's "idna" codec is IDNA 2003: it maps ß to ss (and ς to σ, drops the joiners), so
    'a@straße.example' was told to 'write it as a@strasse.example', another domain (its name
    under IDNA 2008, as registries and mail servers have it, is xn--strae-oqa.example), and
    'suppress list @straße.example' listed strasse.example's addresses. The address is refused
    naming no other domain; its xn-- form is taken."""
    from tests.test_errors import assert_error

    line = assert_error(run("mailbox", "add", "a@straße.example", "--provider", "exmail"), 65)
    assert "strasse" not in line and "xn-- form" in line, line
    assert run("mailbox", "list", "--json").output.count("strasse") == 0
    res = run("mailbox", "add", "a@xn--strae-oqa.example", "--provider", "exmail")
    assert res.exit_code == 0, res.output
    line = assert_error(run("suppress", "list", "@straße.example"), 65)
    assert "strasse" not in line, line


def test_a_ledger_holding_an_address_over_the_local_part_limit_can_still_reach_it(
    run, tmp_path: Path
):
    """A ledger written before the 64-octet limit may hold a mailbox, or a suppressed recipient
    (a parsed DSN's, which no limit checks), with a longer local part: the limit refuses new
    ones, and must not lock the user out of those (quota, record bounce, suppress remove)."""
    import sqlite3

    long_box = "m" * 65 + "@corp.example"
    long_rcpt = "r" * 70 + "@example.com"
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    db = sqlite3.connect(tmp_path / "ledger.db")
    with db:  # as an older warmup stored it
        db.execute("UPDATE mailbox SET address = ? WHERE address = ?", (long_box, BOX))
    db.close()

    res = run("quota", long_box)
    assert res.exit_code == 0, res.output
    res = run("record", "bounce", long_box, "--to", long_rcpt, "--kind", "hard")
    assert res.exit_code == 0, res.output
    assert "Recorded a hard bounce for " + long_rcpt in res.output
    res = run("suppress", "remove", long_rcpt)
    assert res.exit_code == 0, res.output
    assert f"{long_rcpt} may be mailed again." in res.output
    res = run("record", "send", long_box, "--to", "lead@example.com")
    assert res.exit_code == 0 and f"for {long_box}" in res.output, res.output
    res = run("mailbox", "pause", long_box, "--reason", "holiday")
    assert res.exit_code == 0 and f"Paused {long_box}" in res.output, res.output
    # a new mailbox still may not have such an address
    assert run("mailbox", "add", "n" * 65 + "@corp.example", "--provider", "exmail").exit_code == 65


def test_a_second_bounce_of_one_send_is_not_said_to_match_no_send(ledger_path):
    """A hard bounce after a soft one for the same send matched it (the rate counts the send's
    first bounce only) but was reported as matching no send of the mailbox at all."""
    import subprocess

    from tests import forkcli

    def warmup(*args: str) -> str:
        proc = subprocess.run(
            [*forkcli.command(), *args], check=False, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    warmup("mailbox", "add", BOX, "--provider", "exmail")
    warmup("record", "send", BOX, "--to", "lead@example.com")
    assert warmup("record", "bounce", BOX, "--to", "lead@example.com", "--kind", "soft") == (
        "Recorded a soft bounce for lead@example.com.\n"
    )
    assert warmup("record", "bounce", BOX, "--to", "lead@example.com") == (
        f"Recorded a hard bounce for lead@example.com; it answers a send of {BOX} that an "
        f"earlier bounce already counts in its bounce rate, so it does not count again.\n"
    )
    rows = json.loads(warmup("bounces", "list", "--json"))
    assert [(b["kind"], b["counted"]) for b in rows] == [("hard", False), ("soft", True)]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["add", "bad address", "--provider", "exmail"], 65),
        (["add", "new@corp.example", "--provider", "exmail", "--timezone", "Mars/Base"], 64),
        (["add", "new@corp.example", "--provider", "exmail", "--cap", "0"], 64),
        (["add", "ok@corp.example", "--provider", "exmail"], 65),  # exists already
        (["set", "ok@corp.example", "--timezone", "Mars/Base"], 64),
        (["set", "ok@corp.example", "--smtp-security", "none"], 64),
        (["set", "nobody@corp.example"], 64),
    ],
)
def test_a_refused_add_or_set_stores_no_policy_file(
    run, tmp_path: Path, ledger_path, command, code
):
    """``--policy FILE`` stored the file in the ledger first, then the mailbox was refused (a
    malformed address, an unknown zone): the ledger was not left untouched."""
    from tests.conftest import ledger_digest
    from tests.gatekit import policy_file

    assert run("mailbox", "add", "ok@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    policy = policy_file(tmp_path / "mine.toml", 10)
    res = run("mailbox", *command, "--policy", str(policy))
    assert res.exit_code == code, res.output
    assert "Stored policy file" not in res.output
    assert ledger_digest(ledger_path) == before
    # the same file, once the command is right, is stored and used
    fixed = run("mailbox", "set", "ok@corp.example", "--policy", str(policy))
    assert fixed.exit_code == 0 and "Stored policy file" in fixed.output


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("asia/shanghai", "Asia/Shanghai"),
        ("America/New York", "America/New_York"),
        ("EUROPE/BERLIN", "Europe/Berlin"),
        # pendulum takes these for UTC, the ledger's zoneinfo does not: 'mailbox set' was a
        # ZoneInfoNotFoundError traceback, and 'mailbox add' stored a zone quota could not read
        ("utc", "UTC"),
        ("Utc", "UTC"),
    ],
)
@pytest.mark.parametrize("command", ["add", "set"])
def test_a_time_zone_in_other_letters_is_refused_naming_the_one_meant(
    run, ledger_path, typed, meant, command
):
    from tests.conftest import ledger_digest

    if command == "set":
        assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    address = ["add", "a@corp.example", "--provider", "exmail"]
    res = run(
        "mailbox",
        *(address if command == "add" else ["set", "a@corp.example"]),
        "--timezone",
        typed,
    )
    assert ledger_digest(ledger_path) == before
    assert res.exit_code == 64
    assert res.stderr.strip() == (
        f"Error: --timezone: unknown time zone {typed!r}; did you mean {meant}? (an IANA name "
        f"is written exactly so)"
    )


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        # the system's files around the zones, not zones: 'localtime' is this host's
        # /etc/localtime (another host of a team ledger counts other days), and none of them is
        # in the tzdata package, where a host without system zone files looks them up
        ("localtime", "this machine's zone"),
        ("posixrules", "this machine's zone"),
        ("posix/Asia/Tokyo", "did you mean Asia/Tokyo?"),
        ("right/America/New_York", "did you mean America/New_York?"),
        # tzdata's "zone not set" (UTC shown as '-00'): taken before, the mailbox's days were
        # UTC's whatever zone was meant
        ("Factory", "tzdata's stand-in for a zone not set"),
    ],
)
def test_a_zone_files_name_that_is_no_iana_zone_is_refused(run, ledger_path, typed, hint):
    from tests.conftest import ledger_digest

    assert run("mailbox", "add", "a@corp.example", "--provider", "gmail").exit_code == 0
    before = ledger_digest(ledger_path)
    for args in (("set", "a@corp.example"), ("add", "b@corp.example", "--provider", "gmail")):
        res = run("mailbox", *args, "--timezone", typed)
        assert res.exit_code == 64, res.output
        assert res.stderr.startswith(f"Error: --timezone: unknown time zone {typed!r}; ")
        assert hint in res.stderr and res.stderr.count("\n") == 1, res.stderr
        assert "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


def test_provider_titles_read_in_a_sentence(run):
    """The custom provider's title carried CLI flags ('Any SMTP/IMAP server (give --smtp-host/
    --smtp-port and --imap-host/--imap-port)'), and every message that names a provider by its
    title said 'Check the Any SMTP/IMAP server (give --smtp-host/...) setup, in this order:'
    after a refused login, and 'Added me@lab.test (Any SMTP/IMAP server (give ...), ...)'."""
    from warmup.providers import checklist_text, providers

    for name, provider in providers().items():
        assert "--" not in provider.title and "(give" not in provider.title, name
    assert checklist_text(providers()["custom"]).startswith(
        "Check the custom SMTP/IMAP server setup, in this order:"
    )
    res = run(
        "mailbox", "add", "me@lab.test", "--provider", "custom", "--smtp-host", "127.0.0.1",
        "--imap-host", "127.0.0.1",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Added me@lab.test (custom SMTP/IMAP server, " in res.output, res.output


@pytest.mark.parametrize(
    ("security", "ports"),
    [("ssl", (465, 993)), ("starttls", (587, 143))],
)
def test_a_custom_mailbox_without_ports_gets_its_securitys_usual_ports(run, security, ports):
    """'--smtp-security starttls' without '--smtp-port' gave port 465 (and IMAP 993): STARTTLS
    on the implicit-TLS ports, which no server answers; the README's 'implicit TLS (465) or
    STARTTLS (587)' is the rule a user expects."""
    res = run(
        "mailbox", "add", "st@lab.test", "--provider", "custom",
        "--smtp-host", "mail.lab.test", "--smtp-security", security,
        "--imap-host", "mail.lab.test", "--imap-security", security,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    shown = json.loads(run("mailbox", "show", "st@lab.test", "--json").output)
    assert (shown["smtp"]["port"], shown["imap"]["port"]) == ports, shown
    # A port given stays the port given.
    assert run("mailbox", "set", "st@lab.test", "--smtp-port", "2525").exit_code == 0
    shown = json.loads(run("mailbox", "show", "st@lab.test", "--json").output)
    assert shown["smtp"]["port"] == 2525


@pytest.mark.parametrize(
    ("option", "given", "written"),
    [
        ("--smtp-host", "bücher.example", "xn--bcher-kva.example"),
        ("--imap-host", "почта.рф,backup.example", "xn--80a1acny.xn--p1ai,backup.example"),
    ],
)
def test_an_international_host_name_is_told_in_the_form_to_write(run, option, given, written):
    """'--smtp-host bücher.example' was "expected a host name or IP address": it is one, and
    the line did not say that warmup takes it in its xn-- form, as it says of an address."""
    hosts = {"--smtp-host": "smtp.lab.test", "--imap-host": "imap.lab.test", option: given}
    args = [a for pair in hosts.items() for a in pair]
    res = run("mailbox", "add", "me@lab.test", "--provider", "custom", *args)
    assert res.exit_code == 64, res.output
    assert res.output == (
        f"Error: {option} {given!r} has an international domain name; write it as {written}\n"
    )
    hosts[option] = written  # nothing was stored: the mailbox is added now, not "exists"
    args = [a for pair in hosts.items() for a in pair]
    assert run("mailbox", "add", "me@lab.test", "--provider", "custom", *args).exit_code == 0


@pytest.mark.parametrize("host", ["192.168.1.300", "999.999.999.999", "10.0.0", "12345"])
@pytest.mark.parametrize("option", ["--smtp-host", "--imap-host"])
def test_a_mistyped_ip_address_is_refused_not_kept_as_a_host_name(run, option, host):
    """'--smtp-host 192.168.1.300' was taken for a host name (its labels are letters, digits
    and hyphens): the mailbox was added, and its first send failed, the name not resolving
    (or '10.0.0' read by the resolver as 10.0.0.0). A name's last label is never a number."""
    hosts = {"--smtp-host": "smtp.lab.test", "--imap-host": "imap.lab.test", option: host}
    args = [a for pair in hosts.items() for a in pair]
    res = run("mailbox", "add", "me@lab.test", "--provider", "custom", *args)
    assert (res.exit_code, res.output) == (
        64,
        f"Error: {option} {host!r}: expected a host name or IP address (several, tried in "
        f"turn: primary,backup)\n",
    )
    assert "me@lab.test" not in run("mailbox", "list", "--json").output  # nothing was stored


def test_a_custom_mailbox_without_hosts_is_told_every_host_it_lacks(run):
    """'provider custom needs --smtp-host and --smtp-port': the port is optional, and once the
    SMTP host was given the IMAP one was asked for next, one try at a time."""
    res = run("mailbox", "add", "z@lab.test", "--provider", "custom")
    assert res.exit_code == 64, res.output
    assert "--smtp-host and --imap-host" in res.output and "port" not in res.output.split(":")[0]
    assert "--smtp-port" not in res.output, res.output
    res = run("mailbox", "add", "z@lab.test", "--provider", "custom", "--smtp-host", "a.lab.test")
    assert res.exit_code == 64, res.output
    assert "needs --imap-host" in res.output and "--smtp-host" not in res.output, res.output


@pytest.mark.parametrize(
    ("args", "smtp", "imap"),
    [
        (("--provider", "exmail", "--smtp-security", "starttls"), (587, "starttls"), (993, "ssl")),
        (("--provider", "exmail", "--imap-security", "starttls"), (465, "ssl"), (143, "starttls")),
        (("--provider", "m365", "--smtp-security", "ssl"), (465, "ssl"), (993, "ssl")),
        (
            (
                "--provider",
                "m365",
            ),
            (587, "starttls"),
            (993, "ssl"),
        ),
    ],
    ids=["exmail-starttls", "exmail-imap-starttls", "m365-ssl", "m365-preset"],
)
def test_a_preset_given_another_security_uses_that_securitys_port(run, args, smtp, imap):
    """``--provider exmail --smtp-security starttls`` kept the preset's port 465 (implicit TLS):
    STARTTLS there waits for a clear-text greeting the server never sends, so every send and
    sync hung to its timeout. A port left out is the security's usual one (README), unless the
    security is the preset's own."""
    assert run("mailbox", "add", BOX, *args).exit_code == 0
    [shown] = [json.loads(run("mailbox", "show", BOX, "--json").output)]
    assert (shown["smtp"]["port"], shown["smtp"]["security"]) == smtp, shown
    assert (shown["imap"]["port"], shown["imap"]["security"]) == imap, shown


def test_set_security_moves_a_preset_port_with_it(run):
    """The same through ``mailbox set``: exmail to starttls and back."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("mailbox", "set", BOX, "--smtp-security", "starttls").exit_code == 0
    shown = json.loads(run("mailbox", "show", BOX, "--json").output)
    assert (shown["smtp"]["port"], shown["smtp"]["security"]) == (587, "starttls")
    assert run("mailbox", "set", BOX, "--smtp-security", "ssl").exit_code == 0
    shown = json.loads(run("mailbox", "show", BOX, "--json").output)
    assert (shown["smtp"]["port"], shown["smtp"]["security"]) == (465, "ssl")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            (
                "add",
                BOX,
                "--provider",
                "custom",
                "--smtp-host",
                "mail.lab.test",
                "--imap-host",
                "mail.lab.test",
                "--smtp-port",
                "587",
            ),
            "--smtp-port 587 speaks starttls, not ssl: give --smtp-security starttls",
        ),
        (
            ("add", BOX, "--provider", "m365", "--smtp-port", "465"),
            "--smtp-port 465 speaks ssl, not starttls: give --smtp-security ssl",
        ),
        (
            (
                "add",
                BOX,
                "--provider",
                "exmail",
                "--imap-security",
                "starttls",
                "--imap-port",
                "993",
            ),
            "--imap-port 993 speaks ssl, not starttls",
        ),
        (("set", "old@corp.example", "--smtp-port", "587"), "--smtp-port 587 speaks starttls"),
    ],
    ids=["custom-ssl-587", "m365-465", "imap-starttls-993", "set-exmail-587"],
)
def test_a_port_that_speaks_the_other_security_is_refused(run, tmp_path: Path, args, words):
    """``--provider custom --smtp-port 587`` (security left at ssl) was taken: a TLS hello to a
    server greeting in clear text fails on every send. A well-known port given with the
    security it does not speak is one line, exit 64, the ledger untouched."""
    from tests.conftest import ledger_digest
    from tests.test_errors import assert_error

    assert run("mailbox", "add", "old@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(tmp_path / "ledger.db")
    assert_error(run("mailbox", *args), 64, words)
    assert ledger_digest(tmp_path / "ledger.db") == before


def test_set_started_restarts_a_rebound_mailbox_keeping_its_history(run, tmp_path: Path):
    """A mailbox re-bound (or left idle for months) after 'mailbox add' could not be told to
    warm up again: '--started' existed on 'add' only, so the user's choices were to keep sending
    at the old stage's volume from a mailbox the provider now treats as new, or 'remove --force'
    and lose its history. 'mailbox set --started DATE' restarts the walk with the history kept;
    '--started none' counts it all again; a bad date is one line, the ledger untouched."""
    import datetime as dt

    from tests.conftest import ledger_digest
    from tests.test_errors import assert_error

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines = ["mailbox,recipient,sent_at"]
    for d in range(30, 2, -1):  # a month of qualifying days, 60 a day
        for i in range(60):
            at = now - dt.timedelta(days=d, minutes=i)
            lines.append(f"{BOX},r{d}-{i}@example.com,{at.isoformat()}")
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    # quotas asked now: the exmail preset's is 0 on a CN holiday
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).exit_code == 0
    )
    assert run("import", str(tmp_path / "h.csv")).exit_code == 0

    def quota() -> dict:  # type: ignore[type-arg]
        [q] = json.loads(run("quota", BOX, "--json").output)
        return q

    warm = quota()
    assert warm["stage"] != "week 1" and warm["quota"] > 50, warm
    start = (now + dt.timedelta(hours=8)).date().isoformat()  # Asia/Shanghai's today
    res = run("mailbox", "set", BOX, "--started", start)
    assert res.exit_code == 0, res.output
    fresh = quota()
    assert (fresh["stage"], fresh["quota"], fresh["day"]) == ("week 1", 50, 1), fresh
    assert json.loads(run("mailbox", "show", BOX, "--json").output)["started"] == start
    before = ledger_digest(tmp_path / "ledger.db")
    assert_error(run("mailbox", "set", BOX, "--started", "1/12/2026"), 64, "--started")
    assert_error(run("mailbox", "set", BOX, "--started", "1999-01-01"), 65, "--started")
    assert ledger_digest(tmp_path / "ledger.db") == before
    assert run("mailbox", "set", BOX, "--started", "none").exit_code == 0
    assert (quota()["stage"], quota()["quota"]) == (warm["stage"], warm["quota"])


def test_a_stored_port_and_security_an_older_version_took_do_not_block_other_changes(
    run, tmp_path: Path
):
    """The port/security check applies to what 'mailbox set' changes: a mailbox an older
    version stored with starttls on 465 still takes '--cap 80', and is refused only when its
    port or security is set again without fixing the pair."""
    import sqlite3

    from tests.test_errors import assert_error

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    con = sqlite3.connect(tmp_path / "ledger.db")
    with con:
        con.execute("UPDATE mailbox SET smtp_port = 465, smtp_security = 'starttls'")
    con.close()
    res = run("mailbox", "set", BOX, "--cap", "80")
    assert res.exit_code == 0, res.output
    assert_error(run("mailbox", "set", BOX, "--smtp-security", "starttls"), 64, "465 speaks ssl")
    assert run("mailbox", "set", BOX, "--smtp-security", "ssl").exit_code == 0


def test_a_password_stored_for_an_oauth_mailbox_says_it_is_not_used(run, file_keyring: Path):
    """'mailbox login' of an m365 mailbox (OAuth unless told otherwise) stored the password
    and said only 'Stored': every send then asked for an OAuth login the user thought done.
    It says how to use the password, or how to log in with OAuth; a password mailbox does not."""
    assert run("mailbox", "add", "m@corp.example", "--provider", "m365").exit_code == 0
    res = run("mailbox", "login", "m@corp.example", input="s3cret\n")
    assert res.exit_code == 0, res.output
    assert "logs in with OAuth" in res.output and "--auth password" in res.output, res.output
    assert "mailbox login m@corp.example --oauth" in res.output
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "login", BOX, input="s3cret\n")
    assert res.exit_code == 0 and "OAuth" not in res.output, res.output


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
@pytest.mark.parametrize("kind", ["smtp", "imap"])
def test_an_empty_host_is_a_usage_error(run, ledger_path, kind, value):
    """'mailbox set --smtp-host ""' said "Updated" and the mailbox quietly went back to its
    provider's host; 'mailbox add' stored it too."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "set", BOX, f"--{kind}-host", "mail.corp.example")
    assert res.exit_code == 0
    res = run("mailbox", "set", BOX, f"--{kind}-host", value)
    assert res.exit_code == 64, res.output
    assert res.output == (
        f"Error: --{kind}-host {value!r}: no host in it; give the server's host name "
        f"(primary,backup for several) or leave --{kind}-host out\n"
    )
    shown = json.loads(run("mailbox", "show", BOX, "--json").stdout)
    assert shown[kind]["hosts"] == ["mail.corp.example"]  # unchanged
    other = "b@corp.example"
    res = run("mailbox", "add", other, "--provider", "exmail", f"--{kind}-host", value)
    assert res.exit_code == 64, res.output
    assert run("mailbox", "show", other).exit_code != 0  # not added


def test_a_slot_given_back_is_no_history_that_keeps_a_mailbox(run, file_keyring: Path):
    """A reservation released before anything left (no password stored, the message refused
    before its SMTP conversation: 'warmup run' gives such a slot back) counts nowhere, yet
    'mailbox remove' refused "mailbox ... has 1 send in its history; add --force" for a
    mailbox that had never sent a message. A send that counts still keeps it."""
    from warmup import Gate

    exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))  # the gate reserves now
    assert run("mailbox", "add", BOX, *exmail).exit_code == 0
    with Gate(BOX) as gate, gate.reserve(["lead@example.com"]) as slot:
        slot.settle("released")
    assert json.loads(run("quota", BOX, "--json").output)[0]["sent"] == 0
    res = run("mailbox", "remove", BOX)
    assert (res.exit_code, res.output) == (0, f"Removed {BOX}.\n")
    assert run("mailbox", "add", BOX, *exmail).exit_code == 0
    with Gate(BOX) as gate, gate.reserve(["lead@example.com"]) as slot:
        slot.settle("sent")
    res = run("mailbox", "remove", BOX)
    assert res.exit_code == 65
    assert "has 1 send in its history; add --force" in res.output


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # 'GMT+8' is how China's clocks are often written; IANA has no such zone, and the one
        # whose name looks like it, Etc/GMT+8, is UTC-08:00 (POSIX counts the sign backwards)
        ("GMT+8", "for UTC+08:00 write Etc/GMT-8"),
        ("UTC+08:00", "for UTC+08:00 write Etc/GMT-8"),
        ("utc-5", "for UTC-05:00 write Etc/GMT+5"),
        ("GMT+5:30", "for UTC+05:30 write the zone of a city there"),
    ],
)
def test_an_offset_given_as_a_zone_is_told_the_etc_name_whose_sign_is_backwards(
    run, ledger_path, typed, meant
):
    from tests.conftest import ledger_digest

    assert run("mailbox", "add", "a@corp.example", "--provider", "gmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("mailbox", "set", "a@corp.example", "--timezone", typed)
    assert res.exit_code == 64, res.output
    assert res.stderr.startswith(f"Error: --timezone: unknown time zone {typed!r}; {meant}")
    assert res.stderr.count("\n") == 1, res.stderr
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("command", ["add", "set"])
def test_an_etc_gmt_zone_is_taken_saying_its_sign_counts_backwards(run, command):
    """``--timezone Etc/GMT+8`` (typed for China's UTC+8) was taken without a word: its days
    began 16 hours late, at 08:00 UTC, and its windows and holidays fell on the wrong hours."""
    if command == "set":
        assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    extra = ["--provider", "exmail"] if command == "add" else []
    res = run("mailbox", command, "a@corp.example", *extra, "--timezone", "Etc/GMT+8")
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[0] + "\n" == (
        "note: Etc/GMT+8 is UTC-08:00 (the IANA Etc/GMT zones count the sign backwards); "
        "for UTC+08:00 write Etc/GMT-8, or better your city's zone (an IANA name like "
        "Asia/Shanghai)\n"
    )
    shown = run("mailbox", "show", "a@corp.example")
    assert "Etc/GMT+8" in shown.output  # taken as given: some want a fixed offset
    east = run("mailbox", "set", "a@corp.example", "--timezone", "Etc/GMT-8")
    assert east.exit_code == 0 and east.stderr.startswith("note: Etc/GMT-8 is UTC+08:00 (")
    kiribati = run("mailbox", "set", "a@corp.example", "--timezone", "Etc/GMT-14")
    assert kiribati.stderr == (  # no Etc/GMT+14 to name: no zone is 14 hours behind UTC
        "note: Etc/GMT-14 is UTC+14:00 (the IANA Etc/GMT zones count the sign backwards)\n"
    )
    utc = run("mailbox", "set", "a@corp.example", "--timezone", "Etc/GMT+0")
    assert utc.exit_code == 0 and utc.stderr == ""


def test_a_provider_typed_in_another_case_is_the_preset_and_stored_by_its_name(run, tmp_path):
    """``--provider Exmail`` (as the product writes it) was "unknown provider 'Exmail'; choose
    one of exmail, ...", where ``--auth OAuth`` and ``--security SSL`` are read in any case;
    an import's ``provider`` column, the same. The preset's own name is what is stored."""
    res = run("mailbox", "add", "a@corp.example", "--provider", "Exmail")
    assert res.exit_code == 0, res.output
    assert "Added a@corp.example (Tencent Enterprise Mail" in res.output
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider\n"
        "b@corp.example,lead@example.com,2026-12-01T10:00:00+08:00,NetEase\n"
    )
    assert run("import", str(log)).exit_code == 0
    listed = json.loads(run("mailbox", "list", "--json").output)
    assert {m["address"]: m["provider"] for m in listed} == {
        "a@corp.example": "exmail",
        "b@corp.example": "netease",
    }
    assert run("quota", "a@corp.example").exit_code == 0
    res = run("mailbox", "add", "c@corp.example", "--provider", "Exmial")
    assert res.exit_code == 64 and "unknown provider 'Exmial'" in res.output


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("tencent", "(Tencent Enterprise Mail (exmail.qq.com) is preset exmail)"),
        ("QQ", "(Tencent Enterprise Mail (exmail.qq.com) is preset exmail)"),
        ("163", "(NetEase Enterprise Mail (qiye.163.com) is preset netease)"),
        ("alibaba", "(Alibaba Mail (qiye.aliyun.com) is preset aliyun)"),
        ("google", "(Google Workspace (Gmail) is preset gmail)"),
        ("outlook", "(Microsoft 365 (Exchange Online) is preset m365)"),
        ("exmial", "(did you mean exmail?)"),
        ("m356", "(did you mean m365?)"),
    ],
)
def test_a_provider_named_by_its_vendor_or_misspelt_is_pointed_at_its_preset(run, typed, told):
    """``--provider tencent`` (the vendor the mission names, not the preset's name) was told
    only "unknown provider 'tencent'; choose one of exmail, netease, ...": nothing said which
    of them is Tencent's. The one preset whose title or hosts hold the word is named, or a
    near spelling; nothing is added; one line, 64."""
    assert run("mailbox", "add", "b@corp.example", "--provider", "exmail").exit_code == 0
    res = run("mailbox", "add", "a@corp.example", "--provider", typed)
    assert res.exit_code == 64, res.output
    assert res.output.count("\n") == 1, res.output
    assert f"unknown provider '{typed}' {told}; choose" in res.output
    listed = json.loads(run("mailbox", "list", "--json").output)
    assert [m["address"] for m in listed] == ["b@corp.example"]


@pytest.mark.parametrize("typed", ["mail", "hotmail", "smtp"])
def test_a_provider_word_that_names_no_one_preset_gets_no_guess(run, typed):
    """'mail' is in every title and 'smtp' in every host: no preset is guessed for them."""
    res = run("mailbox", "add", "a@corp.example", "--provider", typed)
    assert res.exit_code == 64 and f"unknown provider '{typed}'; choose one of exmail" in res.output


@pytest.mark.parametrize("oauth", [False, True], ids=["password", "oauth"])
def test_login_forget_says_when_nothing_was_stored(run, file_keyring: Path, oauth):
    """'login --forget' of a mailbox whose password (or OAuth login) was never stored, or was
    forgotten already, said "Forgot the stored password of ...": a user checking that a leaked
    password is gone from this machine was told it had been there."""
    flags = ["--forget", *(["--oauth"] if oauth else [])]
    what = "OAuth login" if oauth else "password"
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "login", BOX, *flags)
    assert (res.exit_code, res.output) == (
        0,
        f"No {what} of {BOX} is stored in the keyring; nothing to forget.\n",
    )
    if oauth:
        from warmup import oauth as oauth_mod

        oauth_mod.save(BOX, "client-1", "refresh-1")
    else:
        assert run("mailbox", "login", BOX, input="s3cret\n").exit_code == 0
    res = run("mailbox", "login", BOX, *flags)
    stored = "OAuth login" if oauth else "stored password"
    assert (res.exit_code, res.output) == (0, f"Forgot the {stored} of {BOX}.\n")
    assert json.loads(file_keyring.read_text()) == {}
    res = run("mailbox", "login", BOX, *flags)
    assert res.output == f"No {what} of {BOX} is stored in the keyring; nothing to forget.\n"


def test_show_says_why_a_mailbox_does_not_send(run, file_keyring):
    """'mailbox show' said "today  paused: 0/0 sent, ..." and no more: not why, nor until when,
    nor what to do; 'quota ADDRESS' lists the reasons, and show now lists the same."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("mailbox", "pause", BOX, "--reason", "IP review", "--until", "3d")
    assert res.exit_code == 0, res.output
    shown = run("mailbox", "show", BOX)
    assert shown.exit_code == 0, shown.output
    reasons = json.loads(run("mailbox", "show", BOX, "--json").stdout)["allowance"]["reasons"]
    assert reasons[-1].startswith("paused until ") and reasons[-1].endswith(": IP review")
    lines = shown.stdout.splitlines()
    today = next(i for i, line in enumerate(lines) if line.startswith("  today      paused:"))
    assert lines[today + 1 :] == [f"             - {r}" for r in reasons]
