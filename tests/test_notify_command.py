"""A notify command carrying a secret (``--token X``, ``?key=X``): refused by 'notify set',
never printed by 'notify show' or 'config show' (DESIGN.md invariant 6: never in the ledger,
argv or output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import cli
from warmup import notify
from warmup.ledger import open_ledger

SECRET = "s3cr3tT0ken42"

CARRYING = [
    (f"/usr/local/bin/page-oncall --token {SECRET}", "the value of --token"),
    (f"/usr/local/bin/page-oncall --token={SECRET}", "the value of --token"),
    (f"page --api-key {SECRET} --team mail", "the value of --api-key"),
    (f"env PAGER_TOKEN={SECRET} /usr/local/bin/page", "the value of PAGER_TOKEN="),
    (
        f"curl -sd @- https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={SECRET}",
        "a token in the URL https://qyapi.weixin.qq.com/...",
    ),
    (f"curl -d @- https://hooks.slack.com/services/T0/B0/{SECRET}", "a token in the URL"),
    (f"curl -d @- https://bot:{SECRET}@alerts.example.com/hook", "a token in the URL"),
    (f"curl -H 'Authorization: Bearer {SECRET}' https://x.example/a", "an Authorization header"),
    (f"curl -H 'Cookie: sid={SECRET}' https://x.example/a", "a Cookie header"),  # was "an Cookie"
    (f"curl -H 'X-Api-Key: {SECRET}' https://x.example/a", "an X-Api-Key header"),
    # a header named like a secret with no X- in front (GitLab's, many APIs'): kept before
    (f"curl -H 'PRIVATE-TOKEN: {SECRET}' https://x.example/a", "a PRIVATE-TOKEN header"),
    (f"curl -H 'Api-Key: {SECRET}' https://x.example/a", "an Api-Key header"),
    # a request body's secret: a form's pair after the first, a JSON member (were kept)
    (f"curl -d 'chat_id=42&token={SECRET}' https://x.example/a", "the value of token="),
    (
        f"""curl -d '{{"msgtype": "text", "secret": "{SECRET}"}}' https://x.example/a""",
        "the value of 'secret' in JSON",
    ),
    (f"sh -c 'page --password {SECRET} | logger'", "the value of --password"),
    # MySQL's password glued to -p (kept: no option named like a secret), openssl's pass:X
    (f"mysql -u ops -p{SECRET} warmup -e 'select 1'", "the password glued to -p"),
    (f"sudo /usr/bin/mysqladmin -p{SECRET} status | logger", "the password glued to -p"),
    (f"openssl enc -d -aes-256-cbc -pass pass:{SECRET} -in /etc/x", "the pass phrase in -pass"),
    (f"openssl rsa -passin pass:{SECRET} -in key.pem", "the pass phrase in -passin"),
    # kept before: curl's -u bundled after other short options, sshpass's -p, a variable
    # whose name runs "password" into another word
    (f"curl -fsSu ops:{SECRET} -d @- https://alerts.example.com/hook", "the password in -fsSu"),
    (f"sshpass -p {SECRET} ssh ops.example.com page", "the password after -p"),
    (f"sshpass -p{SECRET} ssh ops.example.com page", "the password glued to -p"),
    (f"env PGPASSWORD={SECRET} psql -h db.example.com -c 'select 1'", "the value of PGPASSWORD="),
    # kept before: the password glued to curl's -u, alone or after other short options
    (f"curl -uops:{SECRET} -d @- https://alerts.example.com/hook", "the password glued to -u"),
    (f"curl -fsSUops:{SECRET} -d @- https://alerts.example.com/h", "the password glued to -fsSU"),
    # kept before: any other value glued to curl's short option, after flags that take none,
    # and the pass phrase of curl's client certificate (CERTIFICATE:PASSWORD)
    (f"curl -fsSH'X-Api-Key: {SECRET}' https://x.example/a", "an X-Api-Key header"),
    (f"curl -dtoken={SECRET} https://x.example/a", "the value of token="),
    (f"curl -bsession={SECRET} https://x.example/a", "the value of session="),
    (f"curl -E client.pem:{SECRET} -d @- https://x.example/a", "the password in -E"),
    (f"curl -kEclient.pem:{SECRET} -d @- https://x.example/a", "the password in -kE"),
    (f"curl --cert=client.pem:{SECRET} -d @- https://x.example/a", "the password in --cert"),
]


@pytest.mark.parametrize(("command", "what"), CARRYING, ids=[w for _, w in CARRYING])
def test_notify_set_refuses_a_command_carrying_a_secret(command, what, ledger_path):
    """It was stored as given and shown in full by 'notify show': a token in the ledger (every
    reader of a shared ledger), on screen, and in the argv of every run of it. Refused in one
    line saying what looks like a secret and what to do, exit 64, the secret never quoted,
    nothing stored."""
    open_ledger().close()
    before = ledger_digest(ledger_path)
    res = cli("notify", "set", "--command", command)
    assert res.returncode == 64, res.stderr
    assert res.stderr.startswith(f"Error: --command carries what looks like a secret ({what}")
    assert "read it from a file or an environment variable" in res.stderr
    assert res.stderr.count("\n") == 1 and res.stdout == ""
    assert SECRET not in res.stderr
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(("command", "what"), CARRYING, ids=[w for _, w in CARRYING])
def test_what_the_command_says_of_its_own_argv_is_masked_of_each_secret(command, what):
    """A failing command's last line of standard error is logged as its reason; a program may
    quote its argv there (a usage line, "unknown option --token=X"). What
    :func:`secret_values` gives, each replaced, leaves none of the secret in the words the
    program was given, as they are or percent-encoded (a URL's piece)."""
    import shlex
    from urllib.parse import quote

    from warmup.cmdsecrets import secret_values

    said = " ".join(shlex.split(command))
    said += " " + quote(said, safe="")
    values = secret_values(command)
    assert values, what
    for value in values:
        said = said.replace(value, "***").replace(quote(value, safe=""), "***")
    assert SECRET not in said, said


def test_the_library_refuses_it_too_naming_its_own_parameter(ledger_path):
    ledger = open_ledger()
    with pytest.raises(notify.InvalidField) as err:
        notify.configure(ledger, command=CARRYING[0][0])
    assert str(err.value).startswith("command carries what looks like a secret")
    assert notify.targets(ledger) == {}
    ledger.close()


KEPT = [
    "/usr/local/bin/page-oncall --team mail",
    "sh -c 'cat > /tmp/warmup-last-event.json'",
    "/usr/local/bin/page-oncall --token-file /etc/page/token",
    "env PAGER_TOKEN_FILE=/etc/page/token page",
    # another variable's value handed on in the environment, as the refusal advises: the
    # ledger and every argv hold only its name (was refused as "the value of PAGER_TOKEN=")
    "sh -c 'PAGER_TOKEN=\"$WARMUP_PAGE_TOKEN\" exec /usr/local/bin/page --team mail'",
    "sh -c 'PAGER_TOKEN=${WARMUP_PAGE_TOKEN} /usr/local/bin/page'",
    "curl --key client.pem -d @- https://ops.example.com/api/alert",
    "curl -H 'Content-Type: application/json' -d @- https://ops.example.com/api/alert",
    "curl -H 'X-Request-Id: 12345678' -d @- https://ops.example.com/api/alert",
    # numbers and dates in a URL are no token (a chat's id, a day): were "a token in the URL"
    "curl -d @- 'https://ops.example.com/api/alert?chat_id=-1001234567890&since=2026-12-01'",
    "curl -d @- https://ops.example.com/teams/20261201/alerts",
    "curl -d 'chat_id=42&text=warmup' https://ops.example.com/api/alert",
    # options about a secret, not holding one: were "the value of --cookie-jar" and the like
    "curl --cookie-jar /tmp/warmup.cookies -d @- https://ops.example.com/api/alert",
    "page --auth-scheme basic --session-timeout 30 --token-ttl 3600 --auth-host auth.example.com",
    """curl -d '{"msgtype": "text", "token_file": "/etc/page/token"}' https://ops.example.com/a""",
    "page --auth-type basic --no-auth-cache",
    "python3 -c 'import sys; print(sys.stdin.read())'",
    # openssl's pass phrase named by where it is (was "the value of -pass"), a -p that is no
    # MySQL password (tar's, ssh's), MySQL's -p alone (it asks)
    "openssl enc -d -aes-256-cbc -pass env:WARMUP_PAGE_KEY -in /etc/page/token.enc",
    "openssl enc -d -aes-256-cbc -pass file:/etc/page/pass -in /etc/page/token.enc",
    "openssl rsa -passin fd:3 -in /etc/page/key.pem",
    "openssl enc -d -pass stdin -in /etc/page/token.enc",
    "tar -cpf /tmp/warmup-events.tar /tmp/events",
    "ssh -p2222 ops.example.com page",
    "mysql -p warmup",
    "sshpass -f /etc/page/pass ssh ops.example.com page",
    "env PGPASSFILE=/etc/page/pgpass psql -h db.example.com -c 'select 1'",
    "sh -c 'sort -su a:b | logger -t warmup'",
    "curl -HUser-Agent:warmup -d @- https://ops.example.com/api/alert",  # a header, not -U
    "curl --cert client.pem --key client.key -d @- https://ops.example.com/api/alert",
    "curl -XPOST -o/tmp/warmup-alert.log -d @- https://ops.example.com/api/alert",
    "curl --cert 'pkcs11:token=ops;object=alert' -d @- https://ops.example.com/api/alert",
]


@pytest.mark.parametrize("command", KEPT)
def test_a_command_that_names_where_its_secret_is_is_kept(command, ledger_path):
    """A file, a variable's name, a plain URL: no secret, stored and shown as given."""
    res = cli("notify", "set", "--command", command)
    assert res.returncode == 0, res.stderr
    assert f"Command: {command}\n" in res.stdout
    assert notify.targets(open_ledger())["command"] == command


def test_show_masks_a_secret_command_from_the_environment_the_file_or_an_older_ledger(
    ledger_path, tmp_path: Path
):
    """$WARMUP_NOTIFY_COMMAND and the config file may hold such a command (the user's own
    places), and a ledger may from an older warmup: 'notify show' and 'config show' printed it
    whole. Each shows it masked; the ledger's draws a warning."""
    command = f"/usr/local/bin/page-oncall --token {SECRET} --team mail"
    shown = "/usr/local/bin/page-oncall --token *** --team mail"
    ledger = open_ledger()
    ledger.set_settings({notify.KEYS["command"]: command})  # as an older warmup stored it
    ledger.close()
    conf = tmp_path / "config.toml"
    conf.write_text(f"[notify]\ncommand = {json.dumps(command)}\n", encoding="utf-8")
    conf.chmod(0o600)
    for env in ({}, {"WARMUP_NOTIFY_COMMAND": command}, {"WARMUP_CONFIG": str(conf)}):
        res = cli("notify", "show", env=env)
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"Command: {shown}\n"
        as_json = cli("notify", "show", "--json", env=env)
        assert json.loads(as_json.stdout) == {"command": shown}
        config = cli("config", "show", "--json", env=env)
        assert config.returncode == 0, config.stderr
        settings = json.loads(config.stdout)["settings"]
        (row,) = [r for r in settings if r["key"] == "notify.command"]
        assert row["value"] == shown
        for out in (res, as_json, config):
            assert SECRET not in out.stdout + out.stderr
    warned = cli("notify", "show")
    assert "warning: the ledger's notify command carries what looks like a secret" in (
        warned.stderr
    )


def test_config_show_masks_a_secret_command_given_as_notify_sets_default(tmp_path: Path):
    """``[commands."notify set"] command = ...`` (a default for 'notify set --command') was
    printed whole by 'config show', table and JSON, while ``[notify] command`` was masked."""
    command = f"/usr/local/bin/page-oncall --token {SECRET} --team mail"
    conf = tmp_path / "config.toml"
    conf.write_text(f'[commands."notify set"]\ncommand = {json.dumps(command)}\n', encoding="utf-8")
    conf.chmod(0o600)
    env = {"WARMUP_CONFIG": str(conf)}
    table = cli("config", "show", env=env)
    as_json = cli("config", "show", "--json", env=env)
    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    (row,) = [r for r in json.loads(as_json.stdout)["settings"] if r["key"].endswith("set.command")]
    assert row["value"] == "/usr/local/bin/page-oncall --token *** --team mail"
    assert "--token *** --team mail" in table.stdout
    for out in (table, as_json):
        assert SECRET not in out.stdout + out.stderr


def test_a_shell_scripts_leading_assignment_is_masked_not_the_script_with_it(ledger_path):
    """``sh -c 'PAGER_TOKEN=X /usr/local/bin/page --team mail'``: the script was taken whole
    as one assignment, so 'notify show' printed ``sh -c PAGER_TOKEN=***``, another command
    than the one that runs. Only the token is masked; the rest of the script is shown."""
    command = f"sh -c 'PAGER_TOKEN={SECRET} /usr/local/bin/page --team mail | logger'"
    ledger = open_ledger()
    ledger.set_settings({notify.KEYS["command"]: command})  # as an older warmup stored it
    ledger.close()
    res = cli("notify", "show")
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "Command: sh -c 'PAGER_TOKEN=*** /usr/local/bin/page --team mail | logger'\n"
    )
    assert SECRET not in res.stdout + res.stderr
    refused = cli("notify", "set", "--command", command)
    assert refused.returncode == 64
    assert "(the value of PAGER_TOKEN=)" in refused.stderr


@pytest.mark.parametrize(
    ("command", "shown", "what"),
    [
        (
            f"curl -u ops:{SECRET} -d @- https://alerts.example.com/hook",
            "curl -u ops:*** -d @- https://alerts.example.com/hook",
            "the password in -u",
        ),
        (
            f"curl --user=ops:{SECRET} -d @- https://alerts.example.com/hook",
            "curl --user=ops:*** -d @- https://alerts.example.com/hook",
            "the password in --user",
        ),
        (
            f"sh -c 'curl -sU proxy -U ops:{SECRET} -d @- https://alerts.example.com/hook'",
            "sh -c 'curl -sU proxy -U ops:*** -d @- https://alerts.example.com/hook'",
            "the password in -U",
        ),
        (  # the container's user is no login, the -u of the program run in it is
            f"docker exec -u app:staff pager curl -u ops:{SECRET} https://alerts.example.com/h",
            "docker exec -u app:staff pager curl -u ops:*** https://alerts.example.com/h",
            "the password in -u",
        ),
        (
            f"podman run --user app:app img /bin/page --user ops:{SECRET}",
            "podman run --user app:app img /bin/page --user ops:***",
            "the password in --user",
        ),
    ],
)
def test_curls_user_and_password_is_a_secret(command, shown, what, ledger_path):
    """``curl -u USER:PASSWORD`` (basic authentication, as a webhook behind one is posted to)
    was stored and shown whole: "user" names no secret, and no other rule saw the password."""
    open_ledger().close()
    before = ledger_digest(ledger_path)
    res = cli("notify", "set", "--command", command)
    assert res.returncode == 64, res.stderr
    assert f"carries what looks like a secret ({what})" in res.stderr
    assert SECRET not in res.stderr and ledger_digest(ledger_path) == before
    ledger = open_ledger()
    ledger.set_settings({notify.KEYS["command"]: command})  # as an older warmup stored it
    ledger.close()
    show = cli("notify", "show")
    assert show.stdout == f"Command: {shown}\n"


@pytest.mark.parametrize(
    "command",
    [
        "docker run --rm -i -u 1000:1000 pager:1 page",
        "curl -u ops -d @- https://alerts.example.com/hook",
        "sh -c 'sort -u | logger -t warmup'",
        # USER:GROUP to run as, or a flag before a file: refused as "a password in -u", such
        # a command could not be set at all
        "docker exec -i -u app:staff pager page --team mail",
        "podman run --rm -i --user=app:app pager:1 page",
        "chpst -u pager:pager /usr/local/bin/page",
        "sh -c 'sort -u /etc/warmup/a:b | logger -t warmup'",
    ],
)
def test_a_user_without_a_password_is_kept(command, ledger_path):
    res = cli("notify", "set", "--command", command)
    assert res.returncode == 0, res.stderr
    assert notify.targets(open_ledger())["command"] == command


@pytest.mark.parametrize("word", ["a" * 50_000, "a" * 50_000 + "://x", "x=" + "a1" * 25_000])
def test_checking_a_long_command_takes_linear_time(word: str):
    """Finding URLs in a command tried a scheme at every letter of a long word and scanned the
    rest of it each time: 20 KB took 10 s of CPU, 100 KB minutes ('notify set' seemed hung).
    CPU time, not the wall clock (a loaded machine); a quadratic scan costs a minute here."""
    import time

    from warmup.cmdsecrets import masked_command, secret_in

    start = time.process_time()
    secret_in(f"notify-send {word}")
    masked_command(f"notify-send {word}")
    assert time.process_time() - start < 2


@pytest.mark.parametrize(
    "line",
    ["a" * 65_536, "x-" * 32_768, "a=" * 32_768, "a: " * 21_000, "X-a-" * 16_000 + "Token: x"],
)
def test_masking_a_long_line_a_command_said_takes_linear_time(line: str):
    """A failing notify command's last line (up to 64 KiB) is masked of what looks like a
    credential before it is logged: a name tried at every letter of a long word, or a header
    name ``x-...token`` backtracked at every ``x-``, took minutes of the notifier's thread
    for one line. CPU time, as above."""
    import time

    from warmup.cmdsecrets import said_masked

    start = time.process_time()
    said_masked(line, "page --token=tk-5e1f0a9b27c4", {"PAGE_TOKEN": "tk-5e1f0a9b27c4"})
    assert time.process_time() - start < 2
