"""A campaign name that names nothing is a usage error (README: exit 64, whatever a name names),
for `queue list --campaign` as for `queue cancel --campaign`: a typo ("Dec" for "dec") printed
"No messages." and exit 0, so a script checking a campaign's unknown messages saw none."""

from __future__ import annotations

from tests.conftest import ledger_digest
from tests.gatekit import cli
from tests.outboxkit import plain, pool_of


def queue_dec(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pool_of(1, tmp_path, n=1)  # nothing listens: nothing is sent here
    eml = tmp_path / "offer.eml"
    eml.write_bytes(bytes(plain("lead@example.com")))
    res = cli("queue", "add", "--pool", "P", "--campaign", "dec", "--eml", str(eml))
    assert res.returncode == 0, res.stderr


def test_listing_a_campaign_the_outbox_lacks_is_one_line_and_64(ledger_path, tmp_path):
    queue_dec(tmp_path)
    res = cli("queue", "list", "--campaign", "nov")
    assert (res.returncode, res.stdout) == (64, "")
    assert res.stderr == "Error: no campaign 'nov' in the outbox; see 'warmup queue status'\n"
    res = cli("queue", "list", "--campaign", "nov", "--json")
    assert (res.returncode, res.stdout) == (64, "")


def test_a_campaign_named_in_another_case_is_pointed_at(ledger_path, tmp_path):
    queue_dec(tmp_path)
    for command in ("list", "cancel"):
        res = cli("queue", command, "--campaign", "Dec")
        assert res.returncode == 64
        assert res.stderr == (
            "Error: no campaign 'Dec' in the outbox (there is 'dec': names are case-sensitive); "
            "see 'warmup queue status'\n"
        )
    assert "queued" in cli("queue", "list", "--campaign", "dec").stdout  # nothing cancelled


def test_a_campaign_with_no_message_in_the_state_asked_is_no_error(ledger_path, tmp_path):
    queue_dec(tmp_path)
    res = cli("queue", "list", "--campaign", "dec", "--state", "sent")
    assert (res.returncode, res.stdout) == (0, "No messages --campaign dec --state sent.\n")


def test_no_message_of_a_pool_is_not_an_empty_outbox(ledger_path, tmp_path):
    """'queue status --pool Q' of a pool nothing is queued to said "The outbox is empty"
    while pool P's campaign waited in it, and 'queue list --state sent' said "No messages."
    where 'bounces list --kind hard' says "No bounces --kind hard.": each names what it was
    asked for, exit 0; only an empty outbox is called empty, by both."""
    assert cli("mailbox", "add", "q@corp.example", "--provider", "exmail").returncode == 0
    for command in ("list", "status"):
        res = cli("queue", command)
        assert (res.returncode, res.stdout) == (
            0,
            "The outbox is empty; queue messages with 'warmup queue add'.\n",
        )
    queue_dec(tmp_path)
    assert cli("pool", "add", "Q", "q@corp.example").returncode == 0
    res = cli("queue", "status", "--pool", "Q")
    assert (res.returncode, res.stdout, res.stderr) == (0, "No messages --pool Q.\n", "")
    res = cli("queue", "list", "--state", "sent")
    assert (res.returncode, res.stdout, res.stderr) == (0, "No messages --state sent.\n", "")


def test_cancel_of_an_id_and_a_campaign_at_once_says_which_to_give(ledger_path, tmp_path):
    """'queue cancel 1 --campaign dec' was answered "give a message ID or --campaign NAME",
    the user having given both: it now says not both, and what each would cancel."""
    queue_dec(tmp_path)
    res = cli("queue", "cancel", "1", "--campaign", "dec")
    assert res.returncode == 64
    assert res.stderr == (
        "Error: give a message ID or --campaign NAME, not both: 'warmup queue cancel 1' cancels "
        "that message, 'warmup queue cancel --campaign dec' every queued message of the "
        "campaign\n"
    )
    assert "queued" in cli("queue", "list", "--campaign", "dec").stdout  # nothing cancelled


def test_a_blank_pool_campaign_or_mailbox_is_refused_as_send_refuses_it(ledger_path, tmp_path):
    """``--pool "$POOL"`` or ``--campaign "$CAMPAIGN"`` with the variable unset was "pool ''
    not found", "'' is not a name" or "no campaign '' in the outbox", and a blank --mailbox
    beside --pool "give exactly one of --mailbox ADDRESS and --pool NAME", where 'send' (and
    README, of every option) says the value is blank: that line, exit 64, nothing queued."""
    queue_dec(tmp_path)
    eml = str(tmp_path / "offer.eml")
    before = ledger_digest(ledger_path)
    for command, *args, option in (
        ("add", "--pool", "P", "--eml", eml, "--mailbox"),
        ("add", "--mailbox", "a@corp.example", "--eml", eml, "--pool"),
        ("add", "--pool", "P", "--eml", eml, "--campaign"),
        ("list", "--campaign"),
        ("cancel", "--campaign"),
        ("mark", "sent", "--campaign"),
        ("status", "--pool"),
    ):
        res = cli("queue", command, *args, option, "")
        assert (res.returncode, res.stdout, res.stderr) == (
            64,
            "",
            f"Error: Invalid value for '{option}': blank; give the value, or leave the option "
            f"out (see 'cli queue {command} --help')\n",
        ), res.stderr
    res = cli("send", "a@corp.example", "--to", "x@example.com", "--body", "hi", "--pool", "")
    assert res.stderr.startswith("Error: Invalid value for '--pool': blank; give the value, ")
    assert ledger_digest(ledger_path) == before


def test_a_message_id_that_is_none_is_said_alike_by_every_queue_command(ledger_path, tmp_path):
    """'queue show', 'cancel' and 'retry' said click's "'x1' is not a valid integer." and
    looked '-1' up ("no message -1 in the outbox"), where 'queue mark' said what an ID is in a
    line of its own form ("message ID 'x1': expected a number, as 'warmup queue list'
    shows"): one line for the four, in the form every number given takes, exit 64; an ID
    that is a number but names nothing stays "no message N"."""
    queue_dec(tmp_path)
    before = ledger_digest(ledger_path)
    for given, why in (
        ("x1", "expected a number, as 'warmup queue list' shows"),
        ("-1", "expected a number, as 'warmup queue list' shows"),
        ("\uff14\uff12", "digits must be 0-9: write '42'"),
        ("4_2", "write a whole number with the digits 0-9 alone: write '42'"),
    ):
        for command in (["show"], ["cancel"], ["retry"], ["mark"]):
            words = ["sent"] if command == ["mark"] else []
            res = cli("queue", *command, "--", given, *words)
            assert (res.returncode, res.stdout, res.stderr) == (
                64,
                "",
                f"Error: Invalid value for 'ID': {given!r}: {why} (see 'cli queue {command[0]} "
                f"--help')\n",
            ), (command, given)
    for command in (["show"], ["cancel"], ["retry"], ["mark"]):
        res = cli("queue", *command, "--", "42", *(["sent"] if command == ["mark"] else []))
        assert (res.returncode, res.stderr) == (
            64,
            "Error: no message 42 in the outbox; see 'warmup queue list'\n",
        ), command
    assert ledger_digest(ledger_path) == before
