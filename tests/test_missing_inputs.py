"""Every command that reads a file, given one that is not there: one line naming it, what
failed and what to do, exit 66 (sysexits' EX_NOINPUT: an input file that is not there, as for a
SQLite ledger named that does not exist), the ledger untouched.

click's ``Path(exists=True)`` said "Invalid value for 'FILE': File 'x' does not exist. (see
'warmup policy add --help')" where 'import' and 'suppress --from' said warmup's own "x: cannot
read it (No such file or directory)": two wordings of one fault. Both are now the latter, with
its fix (:func:`warmup.files.missing_file`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ledger_digest

BOX = "a@corp.example"

# Each parameter that names a file a command reads (command, its option or argument) -> the
# command, with MISSING where the missing file goes; a file it needs beside is GIVEN.
READS: dict[tuple[str, str], tuple[str, ...]] = {
    ("import", "FILE"): ("import", "MISSING"),
    ("queue add", "--csv"): (
        "queue", "add", "--mailbox", BOX, "--csv", "MISSING", "--template", "GIVEN"
    ),
    ("queue add", "--template"): (
        "queue", "add", "--mailbox", BOX, "--csv", "GIVEN", "--template", "MISSING"
    ),
    ("queue add", "--eml"): ("queue", "add", "--mailbox", BOX, "--eml", "MISSING"),
    ("bounces parse", "FILES"): ("bounces", "parse", "MISSING"),
    ("suppress add", "--from"): ("suppress", "add", "--reason", "asked", "--from", "MISSING"),
    ("suppress remove", "--from"): ("suppress", "remove", "--from", "MISSING"),
    ("mailbox add", "--policy"): (
        "mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", "MISSING"
    ),
    ("mailbox set", "--policy"): ("mailbox", "set", BOX, "--policy", "MISSING"),
    ("policy add", "FILE"): ("policy", "add", "mine", "MISSING"),
    ("policy set", "FILE"): ("policy", "set", "mine", "MISSING"),
    ("send", "--eml"): ("send", BOX, "--eml", "MISSING"),
    ("send", "--body-file"): (
        "send", BOX, "--to", "x@example.com", "--subject", "hi", "--body-file", "MISSING"
    ),
    ("send", "--html-file"): (
        "send", BOX, "--to", "x@example.com", "--body", "hi", "--html-file", "MISSING"
    ),
    ("send", "--attach"): ("send", BOX, "--to", "x@example.com", "--body", "hi", "--attach", "MISSING"),
}  # fmt: skip
COMMANDS = list(READS.values())
# Files written, not read: their missing folder is said apart (test_plots, test_plan_report_edges).
WRITES = {("plot", "--out"), ("demo", "--plot")}


def _file_params() -> set[tuple[str, str]]:
    """Every (command, option or argument) of the click tree that takes a file: a click.Path,
    or a FILE in its metavar (``--policy NAME|FILE``)."""
    import click

    from tests.clitree import params

    found = set()
    for command, param in params():
        metavar = param.metavar or ""
        if isinstance(param.type, click.Path) or "FILE" in metavar.split("|"):
            name = param.opts[-1] if isinstance(param, click.Option) else None
            found.add((command, name or param.human_readable_name))
    return found


def test_every_command_that_reads_a_file_is_checked_for_one_missing():
    """A command (or option) added that reads a file joins READS, so the test below runs it."""
    assert _file_params() == set(READS) | WRITES


@pytest.mark.parametrize("key", list(READS), ids=" ".join)
def test_a_missing_input_file_is_one_line_and_exit_66(
    key: tuple[str, str], run, ledger_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    given = tmp_path / "given.csv"
    given.write_text("email\nx@example.com\n")
    monkeypatch.chdir(tmp_path)
    missing = "missing.toml"  # .toml: --policy takes it for a file, not a policy's name
    before = ledger_digest(ledger_path)
    res = run(
        *(missing if a == "MISSING" else str(given) if a == "GIVEN" else a for a in READS[key])
    )
    label = "policy file " if key[1] == "--policy" else "" if key[1][0] != "-" else f"{key[1]} "
    assert (res.exit_code, res.stdout, res.stderr) == (
        66,
        "",
        f"Error: {label}{missing}: cannot read it (No such file or directory); check the path, "
        f"relative to {tmp_path}\n",
    )
    assert ledger_digest(ledger_path) == before


DATA_FILE_COMMANDS = [c for c in COMMANDS if c[:2] in (("bounces", "parse"), ("policy", "add"))]


@pytest.mark.parametrize("loop", [False, True], ids=["dangling", "loop"])
@pytest.mark.parametrize("args", DATA_FILE_COMMANDS, ids=" ".join)
def test_a_broken_symbolic_link_is_said_to_be_one(
    args: tuple[str, ...], loop: bool, run, ledger_path: Path, tmp_path: Path
) -> None:
    """A symbolic link whose target is gone (or a loop of links) given as a file was "File
    'x' does not exist." while 'ls' listed it there: the user looked for a typo in the name."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    link = tmp_path / "returned.eml"
    if loop:
        (tmp_path / "other.eml").symlink_to(link)
        link.symlink_to(tmp_path / "other.eml")
        why = "cannot be read (Too many levels of symbolic links)"
    else:
        link.symlink_to(tmp_path / "gone.eml")
        why = f"is a symbolic link to '{tmp_path / 'gone.eml'}', which does not exist"
    before = ledger_digest(ledger_path)
    res = run(*(str(link) if a == "MISSING" else a for a in args))
    assert res.exit_code == (64 if loop else 66), res.output  # a dangling one: nothing there
    assert res.output.count("\n") == 1 and "does not exist." not in res.output, res.output
    assert f"'{link}' {why}; give the file itself" in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_missing_file_whose_name_is_not_utf8_is_named_by_its_bytes(
    args: tuple[str, ...], run, ledger_path: Path, tmp_path: Path
) -> None:
    """A name in Latin-1 (a file copied from an old Windows share) that click found missing was
    "File 'caf\ufffd.csv' does not exist." (a character in place of the byte, naming a file no
    one has), and one --attach refused for its name 'caf\\udce9.csv' (Python's stand-in); the
    ledger's own reads wrote 'caf\\xe9.csv', as ls -b does. Every command now writes that."""
    import os

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    given = tmp_path / "given.csv"
    given.write_text("email\nx@example.com\n")
    missing = tmp_path / os.fsdecode(b"caf\xe9.csv")
    before = ledger_digest(ledger_path)
    res = run(
        *(str(missing) if a == "MISSING" else str(given) if a == "GIVEN" else a for a in args)
    )
    assert res.exit_code == 66, res.output
    assert res.output.count("\n") == 1, res.output
    assert f"{tmp_path}/caf\\xe9.csv" in res.output, res.output
    assert "\ufffd" not in res.output and "\\udc" not in res.output, res.output
    assert ledger_digest(ledger_path) == before


def test_an_attachment_whose_name_is_not_utf8_is_named_by_its_bytes(
    run, ledger_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"caf\xe9.pdf")
    Path(name).write_bytes(b"%PDF-1.4\n")
    res = run("send", BOX, "--to", "x@example.com", "--body", "hi", "--attach", name)
    assert res.exit_code == 65, res.output
    assert res.output.startswith("Error: --attach 'caf\\xe9.pdf': the file's name is not UTF-8")
    assert "\\udc" not in res.output, res.output


@pytest.mark.parametrize(
    "args",
    [
        ("quota", "MAILBOX"),
        ("suppress", "add", "MAILBOX", "--reason", "asked"),
        ("queue", "list", "--campaign", "CAMPAIGN"),
    ],
    ids=" ".join,
)
def test_an_address_or_name_not_in_utf8_is_quoted_by_its_bytes(
    args: tuple[str, ...], run, ledger_path: Path
) -> None:
    """An address or campaign typed in a GBK terminal was quoted as repr() writes its bytes,
    'x\\udcff@corp.example' (Python's stand-in), where a pool's name or a file's was 'p\\xff',
    as ls -b shows it. Both now; a backslash typed stays as typed."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    value = {"MAILBOX": "x\udcff@corp.example", "CAMPAIGN": "c\udcff"}
    res = run(*(value.get(a, a) for a in args))
    assert res.exit_code in (64, 65), res.output
    assert res.output.count("\n") == 1 and "\\udc" not in res.output, res.output
    assert ("'x\\xff@corp.example'" if "MAILBOX" in args else "'c\\xff'") in res.output
    assert ledger_digest(ledger_path) == before
    typed = run("quota", "x\\udcff@corp.example")  # the six characters, typed
    assert "'x\\\\udcff@corp.example'" in typed.output, typed.output
