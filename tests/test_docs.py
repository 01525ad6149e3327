"""Every command documents itself (help with an ``Example:`` block) and appears in README.md."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from warmup.cli import COMMAND_MODULES, load_all
from warmup.errors import MissingFile

cli = load_all()

README = Path(__file__).resolve().parent.parent / "README.md"


def walk(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """(path, command) for the group itself and every command below it, depth first."""
    out: list[tuple[tuple[str, ...], click.Command]] = [(prefix, group)]
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += walk(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


COMMANDS = walk(cli)


def _id(path: tuple[str, ...]) -> str:
    return " ".join(("warmup", *path))


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[_id(p) for p, _ in COMMANDS])
def test_every_option_says_what_it_does(path: tuple[str, ...], cmd: click.Command):
    """'queue retry --expires' and 'record bounce --kind' showed in --help with no words."""
    options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
    bare = [p.opts[0] for p in options if not (p.help or "").strip()]
    assert not bare, f"{_id(path)}: options without help text: {', '.join(bare)}"


def test_there_are_commands():
    assert {"quota", "plan", "mailbox"} <= set(cli.commands)
    assert len(COMMANDS) > 5


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[_id(p) for p, _ in COMMANDS])
def test_help_has_an_example_block(path: tuple[str, ...], cmd: click.Command):
    text = cmd.help or ""
    assert text.strip(), f"{_id(path)} has no help docstring"
    lines = [line.strip() for line in text.splitlines()]
    assert "Example:" in lines, f"{_id(path)}: help has no 'Example:' block"
    i = lines.index("Example:")
    # Under \b, click keeps the example's line breaks instead of re-flowing them.
    assert i > 0 and lines[i - 1] == "\b", f"{_id(path)}: put '\\b' on the line before 'Example:'"
    example = [line for line in lines[i + 1 :] if line]
    assert any(re.search(r"(^|[|;&] *)warmup\b", line) for line in example), (
        f"{_id(path)}: the example block runs no warmup command"
    )
    if path:
        assert any(" ".join(path) in line for line in example), (
            f"{_id(path)}: the example does not use the command"
        )


def _readme() -> str:
    if not README.exists():
        pytest.fail(f"{README} does not exist yet: it must document every command")
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_top_level_command_in_readme(name: str):
    text = _readme()
    assert re.search(rf"warmup {re.escape(name)}\b|`{re.escape(name)}`", text), (
        f"README.md does not mention 'warmup {name}'"
    )


PAIRS = [p for p, c in COMMANDS if len(p) == 2]


@pytest.mark.parametrize("path", PAIRS, ids=[" ".join(p) for p in PAIRS])
def test_subcommand_in_readme(path: tuple[str, ...]):
    assert " ".join(path) in _readme(), f"README.md does not mention '{' '.join(path)}'"


def test_every_command_is_registered_for_lazy_loading():
    """The CLI imports a command's module only when it runs: the map must know every command."""
    assert set(cli.commands) == set(COMMAND_MODULES)


# A command line the README shows: `warmup` (or a path ending in it) and its words, up to what
# ends a shell command (a pipe, a list operator, a redirection, a closing quote or bracket).
_COMMAND_LINE = re.compile(r"(?:^|[\s;|&(\"'`])(?:[\w./-]*/)?warmup[ \t]+([^;|&)\"'`<>#\n]*)")


def _readme_command_lines() -> list[str]:
    """The `warmup ...` lines of the README's sh blocks and inline code spans."""
    text = _readme()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    lines = []
    for chunk in [*blocks, *spans]:
        for line in chunk.replace("\\\n", " ").splitlines():
            lines += [m.group(1).strip() for m in _COMMAND_LINE.finditer(line)]
    return [line for line in lines if line]


def _options(cmd: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in cmd.params:
        names |= {*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())}
    return names


def test_readme_command_lines_name_real_commands_and_options():
    """Every command line the README shows runs a command that exists, with options it has: a
    renamed or removed option left behind in the README fails here, not on a new user."""
    lines = _readme_command_lines()
    assert len(lines) > 100, lines  # the extraction found the README's commands
    root = _options(cli)
    wrong = []
    for line in lines:
        words = line.split()
        cmd: click.Command = cli
        path: list[str] = []
        while words:
            word = words[0].strip("[]()")
            if isinstance(cmd, click.Group) and word in cmd.commands:
                cmd, path = cmd.commands[word], [*path, word]
            elif not (cmd is cli and word.split("=")[0] in root):
                break
            words.pop(0)
        if cmd is cli or not path:
            if words and not words[0].startswith(("-", "[", "(")) and words[0] != "ADDRESS":
                wrong.append(f"'warmup {line}': no command {words[0]!r}")
            continue
        if isinstance(cmd, click.Group):
            continue  # prose naming a group ('warmup mailbox pause/resume')
        have = _options(cmd) | root
        for word in words:
            if word == "--":
                break  # the wrapped COMMAND's own arguments
            name = word.strip("[]()").split("=")[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", name) and name not in have:
                wrong.append(f"'warmup {line}': {' '.join(path)} has no option {name}")
    assert not wrong, "\n".join(wrong)


def test_readme_lists_the_commands_that_create_a_ledger():
    """The README names the commands that create a missing SQLite ledger (every other one
    refuses it, so a mistyped --db never becomes an empty ledger); 'notify set' creates one
    too and was missing from the list."""
    found = re.search(
        r"Only commands that write\s*\((.*?)\) create a\s+missing SQLite ledger", _readme(), re.S
    )
    assert found, "README.md no longer lists the commands that create a ledger"
    listed = {re.sub(r"'s target$", "", name) for name in re.findall(r"`([^`]+)`", found[1])}
    creating = {
        " ".join(path) for path, cmd in COMMANDS if getattr(cmd.callback, "creates_ledger", False)
    }
    # db migrate and db copy (its target) open the ledger themselves, creating it.
    assert listed == creating | {"db migrate", "db copy"}


# What ends one command of a shell line, and what only redirects it.
_SHELL_LISTS = {"|", "||", "&&", ";", "&"}
_REDIRECTS = {">", ">>", "<", ">&", "<&", ">|"}
# A word a synopsis puts where the reader writes their own: [--json], TEXT, NAME|FILE, ...
_PLACEHOLDER = re.compile(r"[\[\]]|\.\.\.|^[A-Z][A-Z_]*$")


def _warmup_argvs(line: str) -> list[list[str]]:
    """The argument lists of the ``warmup`` commands in one shell line (a pipe's or a list's
    members; redirections and comments dropped), or none when the line is a synopsis."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # an unclosed quote: prose, not a command line
        return []
    commands: list[list[str]] = [[]]
    skip = False
    for word in words:
        if word in _SHELL_LISTS:
            commands.append([])
        elif word in _REDIRECTS:
            if commands[-1] and commands[-1][-1].isdigit():  # 2>/dev/null
                commands[-1].pop()
            skip = True
        elif skip:
            skip = False  # the redirection's target
        else:
            commands[-1].append(word)
    argvs = []
    for words in commands:
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value before the command
            words = words[1:]
        if words and re.fullmatch(r"(\$ )?([\w./-]*/)?warmup", words[0]):
            argvs.append(words[1:])
        elif words[:2] and words[0] == "$" and re.fullmatch(r"([\w./-]*/)?warmup", words[1]):
            argvs.append(words[2:])  # a shell prompt's '$ warmup ...'
    return [argv for argv in argvs if not any(_PLACEHOLDER.search(w) for w in argv)]


def _shown_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) for every whole ``warmup`` command of the README's sh blocks and of each
    command's help Example block."""
    shown = []
    for block in re.findall(r"```sh\n(.*?)```", _readme(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            shown += [("README.md", argv) for argv in _warmup_argvs(line)]
    for path, cmd in COMMANDS:
        lines = (cmd.help or "").splitlines()
        at = [line.strip() for line in lines].index("Example:")
        for line in "\n".join(lines[at + 1 :]).replace("\\\n", " ").splitlines():
            shown += [(f"'{_id(path)} --help'", argv) for argv in _warmup_argvs(line)]
    return shown


def _parse(argv: list[str]) -> None:
    """Parse ``argv`` as ``warmup`` would, down to its command, running nothing: each option's
    and argument's value is converted and checked as when it runs."""
    ctx = cli.make_context("warmup", list(argv), default_map={})
    cmd: click.Command = cli
    rest = _unparsed(ctx)
    while isinstance(cmd, click.Group) and rest:
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        cmd = sub
        ctx = cmd.make_context(name, rest, parent=ctx)
        rest = _unparsed(ctx) if isinstance(cmd, click.Group) else []


def _unparsed(ctx: click.Context) -> list[str]:
    """What a group's context leaves for its subcommand (click 8.2 renamed the attribute)."""
    own = vars(ctx)
    return [*own.get("_protected_args", own.get("protected_args", [])), *ctx.args]


def test_shown_commands_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every whole command line the README's sh blocks and the help examples show parses as
    warmup parses it: a choice that is no longer one (`--kind`, `--state`, `--format`), a
    value its option refuses (a duration, a range), an argument missing or one too many. Files
    the commands name are the reader's own: each is made, empty, in a folder of its own."""
    monkeypatch.chdir(tmp_path)
    shown = _shown_commands()
    assert len(shown) > 100, shown  # the extraction found the commands
    wrong = []
    for where, argv in shown:
        for _ in range(8):
            try:
                _parse(argv)
            except click.exceptions.Exit:  # --help, --version
                pass
            except MissingFile as exc:
                made = tmp_path / exc.path
                made.parent.mkdir(parents=True, exist_ok=True)
                made.touch()
                continue
            except click.ClickException as exc:
                wrong.append(f"{where}: 'warmup {' '.join(argv)}': {exc.format_message()}")
            break
    assert not wrong, "\n".join(wrong)


# Options whose time must still be ahead when the command runs: a pause's end, and a queued
# message's first moment (its expiry counts from it).
_AHEAD_ONLY = {"--until", "--not-before"}
# Commands whose --at asks about a moment of a mailbox: none before the reader added it.
_ASKED_AT = {"quota", "plan", "report", "plot"}


def test_shown_commands_give_no_date_that_passes():
    """A command shown with a fixed date where only a time ahead is taken stops working on
    that date: README's 'queue add --not-before 2026-12-01T09:00 --expires 3d' was refused
    once December came ("the messages would expire ... already past"), as 'mailbox pause
    --until 2027-01-04' would be in January. Shown commands give a span (3d) or a time of
    day (09:00), which hold whenever they are typed. So does a question's --at: a fixed day
    is before the mailbox the reader has just added, refused (65)."""
    wrong = []
    for where, argv in _shown_commands():
        for i, word in enumerate(argv):
            name, _, value = word.partition("=")
            if not value and i + 1 < len(argv):
                value = argv[i + 1]
            # a question's --at: 'quota sales@corp.example --at 2026-11-29T09:00:00+08:00',
            # typed after the Quick start's 'mailbox add', was refused (65), added later
            dated = name in _AHEAD_ONLY or (name == "--at" and argv[0] in _ASKED_AT)
            if dated and re.match(r"\d{4}[-/]", value):
                wrong.append(f"{where}: 'warmup {' '.join(argv)}': {name} {value}")
    assert not wrong, "\n".join(wrong)


ROOT = README.parent
# A path the README names in a code span or a link: words and dots between slashes.
_PATH = re.compile(r"(?:\.\./|\./)?[\w.-]+(?:/[\w.*-]+)+/?")


def _named_paths() -> set[str]:
    """The repository paths the README names (in code spans, sh blocks and links) that begin at
    one of the repository's top-level entries, or leave it (``../``)."""
    text = _readme()
    spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r"```sh\n(.*?)```", text, re.S)
    words = [w for span in spans for w in re.split(r"[\s,;()=]+", span)]
    words += re.findall(r"\]\(([^)#\s]+)\)", text)
    top = {entry.name for entry in ROOT.iterdir()} - {".venv"}  # the set-up makes .venv
    found = set()
    for word in words:
        word = word.strip("'\"")
        if _PATH.fullmatch(word) and not re.match(r"\w+://", word):
            first = word.removeprefix("./").split("/")[0]
            if first in top or first == "..":
                found.add(word)
    return found


def test_readme_names_files_the_repository_has():
    """A file the README names (a module, a test, a bench, a sample) is in a clone: "See
    `../shared/DESIGN.md`" named a file outside the repository, which no reader of a clone
    has. A module that became a package (`warmup/reports.py`, told as history) counts as its
    folder; a pattern (`tests/corpus/dsn/eml/*.eml`) must match a file."""
    paths = _named_paths()
    assert len(paths) > 30, paths  # the extraction found the README's paths
    wrong = []
    for name in sorted(paths):
        path = Path(os.path.normpath(ROOT / name.rstrip("/")))
        if not path.is_relative_to(ROOT):
            wrong.append(f"{name}: outside the repository")
        elif not (glob.glob(str(path)) or (path.suffix == ".py" and path.with_suffix("").is_dir())):
            wrong.append(f"{name}: no such file")
    assert not wrong, "\n".join(wrong)


def _transcripts() -> list[list[tuple[str, list[str]]]]:
    """The README's sh blocks that show a session (``$ warmup ...`` lines, each followed by
    what it printed), as a list of (command line, output lines) per block."""
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", _readme(), re.S):
        if not block.startswith("$ "):
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def _unstamped(text: str) -> str:
    """``text`` with the instants that say when its rows were written (now, in UTC: a
    suppression's SINCE) replaced by a placeholder of the same width; the times of what the
    session recorded, in the mailbox's zone, stay."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "YYYY-MM-DD HH:MM UTC", text)


def test_readme_session_prints_what_it_shows():
    """The README's one session (`suppress soft`, its `--apply`, the address then listed) is
    run as shown, on the history its output describes (a mailbox whose three sends to
    full@example.com, 2026-11-02 to 2026-11-10, each soft-bounced for a full mailbox), and
    prints what the README shows, column names, wording and widths included: a renamed
    column or a changed line fails here. A command piped to another program (`| jq`) is run
    through the shell with warmup's output, when the program is here."""
    sessions = _transcripts()
    assert sessions, "README.md no longer shows a session ('$ warmup ...' and its output)"
    runner = CliRunner()

    def run(*args: str) -> str:
        res = runner.invoke(cli, list(args), catch_exceptions=False)
        assert res.exit_code == 0, (args, res.stderr)
        return res.stdout

    run("mailbox", "add", "sales@corp.example", "--provider", "exmail")
    for day in ("2026-11-02", "2026-11-06", "2026-11-10"):
        run("record", "send", "sales@corp.example", "--to", "full@example.com",
            "--at", f"{day}T09:00")  # fmt: skip
        run("record", "bounce", "sales@corp.example", "--to", "full@example.com",
            "--kind", "soft", "--status", "5.2.2", "--at", f"{day}T09:05")  # fmt: skip
    wrong = []
    for steps in sessions:
        for line, shown in steps:
            command, _, rest = line.partition("|")
            argv = [w for w in shlex.split(command) if w != "2>/dev/null"]
            assert argv[0] == "warmup", line
            printed = run(*argv[1:])
            if rest:
                program = shlex.split(rest)[0]
                if not shutil.which(program):
                    continue  # not here: what warmup printed is not checked, but it ran
                printed = subprocess.run(
                    rest, shell=True, input=printed, capture_output=True, text=True, check=True
                ).stdout
            if _unstamped(printed).splitlines() != _unstamped("\n".join(shown)).splitlines():
                wrong.append(f"$ {line}\nshown:\n" + "\n".join(shown) + f"\nprinted:\n{printed}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("args", [[], ["--fast"]], ids=["whole", "fast"])
def test_check_script_names_the_extra_it_needs(tmp_path: Path, args: list[str]):
    """README's `./scripts/check` in a clone set up as its first command does (`pip install -e
    .`, no dev extra) said `.venv/bin/ruff: No such file or directory`, exit 127: it names the
    extra to install, exit 69, and runs nothing."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "check"
    shutil.copy2(ROOT / "scripts" / "check", script)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    if args:  # --fast needs ruff alone: one that is there, and mypy is not asked for
        ruff = tmp_path / ".venv" / "bin" / "ruff"
        ruff.write_text('#!/bin/sh\necho ruff "$@"\n')
        ruff.chmod(0o755)
    res = subprocess.run([str(script), *args], capture_output=True, text=True, check=False)
    if args:
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines() == [
            "ruff check warmup tests bench data",
            "ruff format --check warmup tests bench data",
        ]
    else:
        assert res.returncode == 69, res
        assert res.stderr == (
            "scripts/check: .venv/bin/ruff is missing: install the dev extra, "
            ".venv/bin/pip install -e '.[dev]' (./scripts/test installs it)\n"
        )


def test_readme_module_sizes_are_current():
    """The Design section's count of modules over STYLE.md's ~500 lines is the package's own:
    it said "42 of 167 modules are longer, none over 900" when 50 of 175 were, ten over 900.
    A module that grows past 500, or a new module, updates the sentence with it."""
    found = re.search(
        r"(\d+) of (\d+) modules are\s+longer(?: \(\d{4}-\d\d-\d\d\))?, (\w+)(?: of them)? over 900",
        _readme(),
    )
    assert found, "README.md no longer says how many modules are over ~500 lines"
    sizes = [len(path.read_bytes().splitlines()) for path in (ROOT / "warmup").rglob("*.py")]
    words = {"no": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
             "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}  # fmt: skip
    shown = (int(found[1]), int(found[2]), words.get(found[3], -1))
    actual = (sum(n > 500 for n in sizes), len(sizes), sum(n > 900 for n in sizes))
    assert shown == actual, f"README.md says {shown} (over 500, modules, over 900): {actual}"


# The corpora README.md counts, and the folders each count is made of.
_CORPUS_COUNTS = {
    r"on the (\d+) real messages of\s+`tests/corpus/dsn/`": ("dsn/eml",),
    r"(\d+) fixtures written from documented formats": (
        "written",
        "vendors",
        "published",
        "crossed",
    ),
    r"`unseen6/`, (\d+) notices": (
        "unseen",
        "unseen2",
        "unseen3",
        "unseen4",
        "unseen5",
        "unseen6",
    ),
}


@pytest.mark.parametrize("pattern", sorted(_CORPUS_COUNTS))
def test_readme_corpus_counts_are_current(pattern: str):
    """The Bounces section's counts of the corpora are the folders' own: it said "240
    fixtures written from documented formats" once `tests/corpus/crossed/` had grown from 17
    to 32 notices (256 in all)."""
    found = re.search(pattern, _readme())
    assert found, f"README.md no longer says /{pattern}/"
    corpus = ROOT / "tests" / "corpus"
    files = sum(len(list((corpus / folder).glob("*.eml"))) for folder in _CORPUS_COUNTS[pattern])
    assert int(found[1]) == files, f"README.md says {found[0]!r}: the folders hold {files}"
