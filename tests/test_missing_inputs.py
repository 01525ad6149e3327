"""Every command that reads a file, given one that is not there: one line naming it, exit 64,
the ledger untouched.

A file named that is not there is a name that names nothing, a usage error (64), as README's
exit codes say ("a file to read that is not there"); 66 (EX_NOINPUT) is only the SQLite ledger
named that does not exist. Whether click's ``Path(exists=True)`` or warmup's own read finds it
missing, the code is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ledger_digest

BOX = "a@corp.example"

# (the command, with MISSING where the missing file goes); a file it needs beside is given
COMMANDS = [
    ("import", "MISSING"),
    ("queue", "add", "--mailbox", BOX, "--csv", "MISSING", "--template", "GIVEN"),
    ("queue", "add", "--mailbox", BOX, "--csv", "GIVEN", "--template", "MISSING"),
    ("queue", "add", "--mailbox", BOX, "--eml", "MISSING"),
    ("bounces", "parse", "MISSING"),
    ("suppress", "add", "--reason", "asked", "--from", "MISSING"),
    ("mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", "MISSING"),
    ("mailbox", "set", BOX, "--policy", "MISSING"),
    ("policy", "add", "mine", "MISSING"),
    ("policy", "set", "mine", "MISSING"),
    ("send", BOX, "--eml", "MISSING"),
    ("send", BOX, "--to", "x@example.com", "--subject", "hi", "--body-file", "MISSING"),
    ("send", BOX, "--to", "x@example.com", "--body", "hi", "--html-file", "MISSING"),
    ("send", BOX, "--to", "x@example.com", "--body", "hi", "--attach", "MISSING"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_missing_input_file_is_one_line_and_exit_64(
    args: tuple[str, ...], run, ledger_path: Path, tmp_path: Path
) -> None:
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    given = tmp_path / "given.csv"
    given.write_text("email\nx@example.com\n")
    missing = tmp_path / "missing.file"
    before = ledger_digest(ledger_path)
    res = run(
        *(str(missing) if a == "MISSING" else str(given) if a == "GIVEN" else a for a in args)
    )
    assert res.exit_code == 64, res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert str(missing) in res.output and "Traceback" not in res.output
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
    assert res.exit_code == 64, res.output
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
    assert res.exit_code == 64, res.output
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
