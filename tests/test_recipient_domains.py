"""Recipient-domain limits (issue #12): one mailbox never floods one receiving provider."""

from __future__ import annotations

import json

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file
from warmup.errors import ConfigError
from warmup.policy.spec import parse_policy


def capped_policy(tmp_path, caps: str):  # type: ignore[no-untyped-def]
    path = policy_file(tmp_path / "capped.toml", daily=50)
    path.write_text(path.read_text() + f"\n[recipient_domains]\n{caps}\n")
    return path


def send(to: str):  # type: ignore[no-untyped-def]
    return cli("send", BOX, "--to", to, "--subject", "hi", "--body", "hello", env=PASSWORD_ENV)


def test_a_third_send_to_a_capped_domain_waits_for_tomorrow(smtp_ssl, ssl_cert_env, tmp_path):
    """Acceptance 6: with "qq.com" = 2, a third send to a qq.com recipient the same day exits 75
    naming the recipient-domain cap; a send to another domain goes through."""
    add_box(smtp_ssl.port, "--policy", str(capped_policy(tmp_path, '"qq.com" = 2')))
    assert send("a@qq.com").returncode == 0
    assert send("b@QQ.com").returncode == 0
    third = send("c@qq.com")
    assert third.returncode == 75
    assert "recipient-domain cap" in third.stderr and "qq.com" in third.stderr
    assert len(third.stderr.strip().splitlines()) == 1
    # --dry-run says the same without reserving or connecting (it said "allowed now")
    dry = cli("send", BOX, "--to", "c@qq.com", "--subject", "hi", "--body", "x", "--dry-run")
    assert dry.returncode == 75 and "recipient-domain cap" in dry.stderr, dry.stderr
    other = cli("send", BOX, "--to", "d@example.com", "--subject", "hi", "--body", "x", "--dry-run")
    assert other.returncode == 0, other.stderr
    assert send("d@example.com").returncode == 0
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [
        ("a@qq.com",),
        ("b@qq.com",),
        ("d@example.com",),
    ]
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["sent"] == 3  # the refused message cost no slot
    assert any("qq.com 2/day (2 sent)" in r for r in quota["reasons"])


def test_the_default_caps_every_other_domain_and_a_message_counts_all_its_recipients(
    smtp_ssl, ssl_cert_env, tmp_path
):
    add_box(
        smtp_ssl.port, "--policy", str(capped_policy(tmp_path, 'default = 2\n"big.example" = 5'))
    )
    two = cli(
        "send",
        BOX,
        "--to",
        "a@x.example",
        "--to",
        "b@x.example",
        "--subject",
        "s",
        "--body",
        "b",
        env=PASSWORD_ENV,
    )
    assert two.returncode == 0
    assert send("c@x.example").returncode == 75  # the default: 2 a day to x.example
    for i in range(5):
        assert send(f"r{i}@big.example").returncode == 0
    assert send("r5@big.example").returncode == 75


def test_bad_recipient_domain_tables_name_the_key():
    base = {
        "name": "p",
        "ceiling": 50,
        "growth_factor": 2,
        "stage": [{"name": "s", "days": 0, "daily": 50}],
    }
    for caps, words in (
        ({"qq.com": -1}, 'recipient_domains."qq.com"'),
        ({"not a domain": 3}, "expected a domain"),
        ({"qq.com": "many"}, 'recipient_domains."qq.com"'),
        ("3", "expected a [recipient_domains] table"),
    ):
        try:
            parse_policy({**base, "recipient_domains": caps})
        except ConfigError as exc:
            assert words in str(exc), str(exc)
        else:
            raise AssertionError(f"{caps!r} accepted")


def test_a_default_of_0_that_lets_nothing_be_mailed_is_refused_where_a_policy_is_given(tmp_path):
    """``default = 0`` alone loaded; then every send exited 75 for good while ``warmup quota``
    said ``ok 50``. Refused like ``domain_cap = 0``: 78, one line, nothing stored."""
    path = capped_policy(tmp_path, "default = 0")
    for args in (
        ("policy", "add", "nothing", str(path)),
        ("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(path)),
    ):
        res = cli(*args)
        assert res.returncode == 78, (args, res.stderr)
        assert "recipient_domains.default: 0 lets no recipient domain be mailed" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "nothing" not in cli("policy", "list").stdout
    assert cli("mailbox", "list", "--json").stdout.strip() in ("", "[]")
