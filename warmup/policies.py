"""Policies by name: the built-in presets, and the policies stored in the ledger.

A mailbox refers to its policy by name. A name is a preset shipped with warmup (``default``,
``gentle``, ...) or a policy stored in the ledger with ``warmup policy add NAME FILE`` (its TOML
text, versioned: ``warmup policy set`` adds a version, the newest is in force). Stored in the
ledger rather than referred to by file path, a policy reads the same from any working directory
and on every host of a team sharing a PostgreSQL ledger. Giving ``--policy ./mine.toml`` where a
name is expected stores the file under its name (``mine``) and says so.

    spec = policy_for(ledger, box)        # the mailbox's policy, parsed (cached per version)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from warmup.errors import ConfigError, InvalidField, NotFound
from warmup.files import STANDARD_INPUT, home
from warmup.lazyre import compiled_later
from warmup.ledger import MailboxRow, Reads
from warmup.policy import eras
from warmup.policy.spec import (
    MAX_FILE,
    PolicySpec,
    load_policy,
    parse_policy,
    parse_policy_text,
    preset_names,
    preset_text,
    read_policy_file,
)
from warmup.words import byte_size

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.policy import History

NAME = compiled_later(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoredPolicy(NamedTuple):
    """A policy as ``warmup policy show`` tells it."""

    name: str
    version: int | None  # None: a built-in preset
    text: str
    source: str | None
    mailboxes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "preset": self.version is None,
            "source": self.source,
            "mailboxes": list(self.mailboxes),
            "text": self.text,
        }


def policy_for(ledger: Reads, box: MailboxRow) -> PolicySpec:
    """The policy ``box`` refers to, parsed; :class:`ConfigError` naming the mailbox when it
    cannot be used."""
    try:
        return resolve(ledger, box.policy)
    except (ConfigError, NotFound) as exc:  # a stored name gone: the set-up's fault, 78
        raise refused(box, exc) from None


def with_eras(ledger: Reads, hist: History) -> History:
    """``hist`` with the TOML texts of the stored policy versions its ``policy`` events name, so
    that the walk judges each day under the policy in force then (:mod:`warmup.policy.eras`);
    ``hist`` itself when it has none (most mailboxes: no read)."""
    wanted = eras.stored(e.reason for e in hist.events if e.kind == "policy")
    if not wanted:
        return hist
    texts = ledger.policy_versions(wanted)
    return dataclasses.replace(
        hist, policy_texts={eras.ref(n, v): text for (n, v), text in texts.items()}
    )


# What the text of a policy with a domain cap holds: the key as written, or an escape in a
# quoted key that TOML reads as it ("domain\u005fcap" = 45); each text found is parsed.
_CAP_SPELLINGS = ("domain_cap", "\\u", "\\U")


def capped_before(ledger: Reads, ids: Sequence[int]) -> set[int]:
    """The mailboxes of ``ids`` whose ``policy`` events name a stored policy version with a
    domain cap: the walk judges some of their days under it (:mod:`warmup.policy.eras`), so
    their histories must hold what the domain's other mailboxes sent on those days
    (:attr:`warmup.policy.walk.History.domain_days`) even where their policy now has none, or a
    version that drops the cap would re-judge the days it held back. A ledger that stores no
    such version (most) costs one statement on the small policy table."""
    texts, reasons = ledger.eras_naming(ids, _CAP_SPELLINGS)
    capped = set()
    for (name, version), text in texts.items():
        named = eras.ref(name, version)
        spec = eras.spec_of(named, {named: text})
        if spec is not None and spec.domain_cap is not None:
            capped.add((name, version))
    if not capped:
        return set()
    return {i for i, said in reasons.items() if eras.stored(said) & capped}


def refused(box: MailboxRow, exc: ConfigError | NotFound) -> ConfigError:
    """``exc`` (its policy cannot be used) said of mailbox ``box``: which mailbox, and the
    other way out, moving it to another policy."""
    if str(exc).startswith(f"mailbox {box.address}:") and isinstance(exc, ConfigError):
        return exc
    return ConfigError(
        f"mailbox {box.address}: {exc}; or put the mailbox on another policy with "
        f"'warmup mailbox set {shlex.quote(box.address)} --policy NAME'"
    )


def resolve(ledger: Reads, ref: str) -> PolicySpec:
    """A policy by name: a preset, else the newest version stored in the ledger; a file path
    (a ledger from before policies were stored, whose file could not be read then) still
    loads, from the file."""
    if ref in preset_names():
        return load_policy(ref)
    stored = ledger.policy_text(ref)
    if stored is not None:
        return _parse(ref, stored[0], stored[1])
    if _looks_like_file(ref):
        return load_policy(ref)
    near = near_name(ledger, ref)
    fix = (
        f"did you mean {near!r}? ('warmup policy list' lists them)"
        if near
        else f"add it with 'warmup policy add {shlex.quote(ref)} FILE'"
    )
    raise NotFound(
        f"policy {ref!r}: no such preset ({', '.join(preset_names())}) nor policy "
        f"stored in the ledger; {fix}"
    )


def near_name(ledger: Reads | None, ref: str) -> str | None:
    """The preset or stored policy ``ref`` most likely means (another case, a letter off), or
    None: the fix to offer for a name that names nothing. Storing a new policy under the
    mistyped name ('warmup policy add Default FILE') was offered for the preset default."""
    import difflib  # on the way to an error only: never on 'warmup quota's path

    names = list(preset_names())
    stored = getattr(ledger, "policy_names", None)  # not on every Reads: a rare path
    if stored is not None:
        names += stored()
    same = [n for n in names if n.lower() == ref.lower()]
    close = same or difflib.get_close_matches(ref, names, n=1, cutoff=0.8)
    return close[0] if close else None


@functools.lru_cache(maxsize=64)
def _parse(name: str, version: int, text: str) -> PolicySpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # stored before a check existed: say where
        raise ConfigError(
            f"policy {name} (version {version}): not valid TOML ({exc}); store a corrected "
            f"version with 'warmup policy set {shlex.quote(name)} FILE'"
        ) from None
    try:
        # Named as the mailboxes refer to it, not as the file called itself (a copy of a
        # preset keeps the preset's name = "..." line; a file stored as NAME needs none).
        spec = parse_policy(data, f"{name} (version {version})", name)
        return dataclasses.replace(spec, name=name)
    except ConfigError as exc:  # stored before a check existed, or by a newer warmup
        raise ConfigError(
            f"{exc}; store a corrected version with 'warmup policy set {shlex.quote(name)} FILE'"
        ) from None


def _looks_like_file(ref: str) -> bool:
    if ref.endswith(".toml") or "/" in ref:
        return True
    try:
        return home(ref, "policy file").is_file()
    except OSError:  # a name too long for a file name (ENAMETOOLONG): a name, not a file
        return False


def _read(path: str | Path, name: str) -> tuple[str, str, str]:
    """``(text, absolute path, the name the file gives itself)`` of a policy file to store as
    ``name``, checked: :class:`ConfigError` naming the key at fault if it is not a valid policy.
    The file needs no ``name`` line (the name it is stored under is the policy's): one that
    has none gives ``name``. A ``path`` of ``-`` is standard input (:data:`STANDARD_INPUT`):
    ``warmup policy show default | sed ... | warmup policy add mine -``."""
    if str(path) == "-":
        text = _read_stdin()
        own = parse_policy_text(text, str(STANDARD_INPUT), name).name
        return text, str(STANDARD_INPUT), own
    file = home(path, "policy file")
    text = read_policy_file(str(path))
    own = parse_policy_text(text, str(file), name).name  # one clear error naming the key
    # Kept in the ledger as text: a name's bytes that are no UTF-8 (a GBK file name) as \xNN.
    return text, os.fsencode(file.resolve()).decode("utf-8", "backslashreplace"), own


def _read_stdin() -> str:
    """A policy's TOML text on standard input, at most :data:`MAX_FILE` bytes, as a file's."""
    where = f"policy file {STANDARD_INPUT}"
    try:
        data = STANDARD_INPUT.read_bytes(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise ConfigError(
                f"{where}: larger than {byte_size(MAX_FILE)}; a policy is a few dozen lines"
            )
        return data.decode("utf-8-sig")  # a BOM from a Windows editor: skipped
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read it ({why})") from None


def _renamed(path: str | Path, own: str, name: str) -> str | None:
    """The note that the file's own ``name`` line is not the name it is stored under (which
    wins: the mailboxes refer to that one), or None when they agree."""
    if own == name:
        return None
    return (
        f"{STANDARD_INPUT if str(path) == '-' else path} names itself {own!r} (its name line); stored as {name!r}, the name given, "
        f"which mailboxes use"
    )


def _check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidField(
            "name",
            "{field} {value!r}: letters, digits, '.', '_' and '-', at most "
            "64, starting with a letter or digit",
            value=name,
        )
    if name in preset_names():
        raise InvalidField(
            "name",
            "{field} {value!r} is a built-in preset; give your policy another name",
            value=name,
        )
    if name.lower().endswith(".toml"):
        # --policy careful.toml reads as the file when one is there: stored under this name,
        # the stored text won and the file beside it, edited since, was ignored without a word
        raise InvalidField(
            "name",
            "{field} {value!r} ends in .toml, which --policy reads as a file name; give the "
            "name without it ({stem!r})",
            value=name,
            stem=name[: -len(".toml")] or "mine",
        )
    _not_a_case_variant(name, preset_names(), "the built-in preset")
    return name


def _not_a_case_variant(name: str, names: Iterable[str], what: str) -> None:
    """Refuse ``name`` when one of ``names`` is it in other letter case: 'DEFAULT' stored beside
    the 'default' preset, or 'Careful' beside 'careful', reads as the same policy in a listing
    while mailboxes follow one or the other by the exact name."""
    for other in names:
        if other != name and other.casefold() == name.casefold():
            instead = (
                f"'warmup policy set {other} FILE' stores a new version of it"
                if what == "the stored policy"
                else f"use {other!r}"
            )
            raise InvalidField(
                "name",
                "{field} {value!r} is "
                + f"{what} {other!r} in other letter case; {instead}, or give your policy a "
                "name of its own",
                value=name,
            )


def add(
    ledger: Ledger, name: str, path: str | Path, noted: Callable[[str], object] | None = None
) -> int:
    """Store the policy file ``path`` as ``name`` (version 1). ``noted`` is told when the
    file's own ``name`` line says another name (``name`` wins)."""
    text, source, own = _read(path, name)
    _check_name(name)
    _not_a_case_variant(name, ledger.policy_names(), "the stored policy")
    version = ledger.store_policy(name, text, source, replace=False)
    _tell(noted, _renamed(path, own, name))
    return version


def _tell(noted: Callable[[str], object] | None, note: str | None) -> None:
    if note and noted is not None:
        noted(note)


def update(
    ledger: Ledger, name: str, path: str | Path, noted: Callable[[str], object] | None = None
) -> int:
    """A new version of the stored policy ``name``; its mailboxes follow it from now on (an event
    on each marks the change). The new version's number. ``noted`` as for :func:`add`."""
    if name in preset_names():
        raise InvalidField(
            "name",
            "{field} {value!r} is a built-in preset and cannot change; "
            "copy it ('warmup policy show {value} > mine.toml'), edit it, and "
            "'warmup policy add mine mine.toml'",
            value=name,
        )
    text, source, own = _read(path, name)
    held = ledger.policy_text(name)
    if held is None and not NAME.match(name):
        # No policy is stored under a name no policy may take: said before the ledger is asked
        # (a name from undecodable argv bytes was a UnicodeEncodeError traceback from SQLite).
        raise NotFound(
            f"policy {name!r} not found; add it with 'warmup policy add NAME FILE' (NAME: "
            "letters, digits, '.', '_' and '-')"
        )
    version = ledger.store_policy(name, text, source, replace=True)
    if held is None or held[1] != text:  # the same text again stores nothing: nothing to note
        _tell(noted, _renamed(path, own, name))
    return version


def adopt(ledger: Ledger, ref: str) -> tuple[str, str | None]:
    """The name a mailbox should refer to for ``ref``, and a note for the user.

    A preset or stored name is checked and kept. A file path is stored in the ledger under its
    file name (``mine.toml`` -> ``mine``; the same text already stored under that name is
    reused; another text gets ``mine-2`` ...) so the mailbox never depends on the file again.
    """
    if not ref.strip():
        # --policy "$POLICY" with the variable unset: 'mailbox add' took it for no --policy
        # and put the mailbox on its provider's preset without a word
        raise InvalidField(
            "policy",
            "{field}: blank; give a preset or stored policy's name ('warmup policy list') or "
            "a TOML file, or leave {field} out for the provider's preset",
        )
    if ref in preset_names() or ledger.policy_text(ref) is not None:
        resolve(ledger, ref)
        _not_shadowed(ledger, ref)
        return ref, None
    if not _looks_like_file(ref):
        resolve(ledger, ref)  # raises: no such preset nor stored policy
    base = Path(ref).stem
    if not NAME.match(base) or base in preset_names():
        base = "policy"
    text, source, _ = _read(ref, base)
    name, n = base, 1
    while True:
        held = ledger.policy_text(name)
        if held is None:
            ledger.store_policy(name, text, source, replace=False)
            return name, f"stored policy file {ref} in the ledger as {name!r}"
        if held[1] == text:
            return name, None
        n += 1
        name = f"{base}-{n}"


def _not_shadowed(ledger: Ledger, ref: str) -> None:
    """Refuse ``ref`` when it names both a policy stored under a file-like name (``x.toml``,
    from before such names were refused) and a file here that says something else: taken as the
    stored name, the file the user had just edited was ignored while the command said
    "Updated"."""
    if ref in preset_names() or not ref.lower().endswith(".toml"):
        return
    try:
        held = ledger.policy_text(ref)
        path = home(ref, "policy file")
        if held is None or not path.is_file() or read_policy_file(str(path)) == held[1]:
            return
    except (OSError, ConfigError):  # the file cannot be read: the stored name is meant
        return
    raise InvalidField(
        "policy",
        "{field} {value!r} names both the policy stored under that name and the file "
        "{value}, which differs from it; for the file, store it with 'warmup policy set "
        "{value} {value}' first, or give the stored policy a name without .toml",
        value=ref,
    )


def listing(ledger: Ledger) -> list[dict[str, Any]]:
    """Every policy a mailbox can use: presets (built in) and stored ones, with their users."""
    stored = ledger.policies()
    users: dict[str, list[str]] = {}
    for box in ledger.mailboxes():
        users.setdefault(box.policy, []).append(box.address)
    presets = [
        {
            "name": name,
            "version": None,
            "preset": True,
            "source": "built in",
            "created_at": None,
            "mailboxes": users.get(name, []),
        }
        for name in preset_names()
    ]
    return presets + [{**p, "preset": False} for p in stored]


def show(ledger: Ledger | None, name: str) -> StoredPolicy:
    """A preset's text, or a stored policy's newest version (``ledger`` None: there is none yet,
    only the presets)."""
    boxes = ledger.mailboxes() if ledger is not None else []
    users = tuple(b.address for b in boxes if b.policy == name)
    if name in preset_names():
        return StoredPolicy(name, None, preset_text(name), "built in", users)
    stored = ledger.policy_text(name) if ledger is not None else None
    if stored is None:
        raise NotFound(f"policy {name!r} not found; 'warmup policy list' shows them")
    assert ledger is not None  # only a ledger stores policies
    source = next((p["source"] for p in ledger.policies() if p["name"] == name), None)
    return StoredPolicy(name, stored[0], stored[1], source, users)
