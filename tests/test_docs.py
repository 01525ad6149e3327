"""Every command documents itself (help with an ``Example:`` block) and appears in README.md."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from warmup.cli import COMMAND_MODULES, load_all

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
