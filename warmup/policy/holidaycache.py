"""The ``holidays`` library's answers, kept on disk between processes.

A ``warmup quota`` or ``warmup send`` of a mailbox whose policy has a calendar (exmail's CN, by
default) asks the library a few things: whether the policy's country is one it knows and what
its subdivisions are (as the policy is read), the last year of China's announced schedule it
holds, and this year's holidays and make-up working days. Importing it to ask them (its base
classes, every calendar system, its version read through importlib.metadata, the country's
module) was ~40 ms of each such command. The answers are kept in
``$XDG_CACHE_HOME/warmup/holidays`` (``~/.cache/warmup/holidays``), one JSON file per country
code, and a file is read only for exactly what its answers were computed with (its name is a
digest of them, its content names them again):

- the library's version and the folder it is installed in (a new version may correct a past
  holiday; another environment may hold another copy), read from its installed metadata
  (``holidays-VERSION.dist-info`` next to the package) without importing it. A library without
  exactly one such folder next to it (a source checkout, whose code changes under one version
  number) is never cached;
- the locale settings its gettext translates the holidays' names by (``LANGUAGE``, ``LC_ALL``,
  ``LC_MESSAGES``, ``LANG``);
- :data:`FORMAT`, this module's layout.

A file that cannot be read, is not JSON, holds something unexpected, or is not this user's
own (or is writable by others) is ignored (and replaced); one that cannot be written is not
kept. Either way the library answers, as without
a cache: a cache can make a command faster, never change what it says.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
# What gettext reads to choose a language (gettext.find), in its order.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
_CODE = re.compile(r"^[A-Z]{2,3}$")  # ISO 3166 alpha-2 or alpha-3: the only file names made


@functools.cache
def installed() -> tuple[str, str] | None:
    """``(version, folder)`` of the installed holidays library, as its metadata next to the
    package says (what ``holidays.__version__`` reads through importlib.metadata), without
    importing it; None when it is not installed so (or not at all)."""
    try:
        spec = importlib.util.find_spec("holidays")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    site = package.parent
    try:
        infos = [n for n in os.listdir(site) if _is_dist_info(n)]
        if len(infos) != 1:
            return None
        with open(site / infos[0] / "METADATA", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the end of the headers
                if line.startswith("Version:"):
                    return line[len("Version:") :].strip(), str(package.resolve())
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _is_dist_info(name: str) -> bool:
    return (
        name.lower().startswith("holidays-")
        and name.endswith(".dist-info")
        and name[len("holidays-") : len("holidays-") + 1].isdigit()
    )


def folder() -> Path | None:
    """Where the files are: ``$XDG_CACHE_HOME/warmup/holidays`` (``~/.cache``) on Linux, as
    platformdirs says; None when there is no home to keep them in."""
    try:
        if sys.platform.startswith("linux"):  # platformdirs' XDG rule, without its import
            xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
            base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
            return base / "warmup" / "holidays"
        import platformdirs

        return platformdirs.user_cache_path("warmup") / "holidays"
    except (RuntimeError, KeyError, OSError):  # no home directory
        return None


def get(code: str, section: str, name: str) -> Any:
    """What the file of ``code`` keeps under ``section``/``name``, or None."""
    kept = _store(code)
    return None if kept is None else kept.data.get(section, {}).get(name)


def put(code: str, section: str, name: str, value: Any) -> None:
    """Keep ``value`` (JSON) under ``section``/``name`` in the file of ``code``, if it may be."""
    kept = _store(code)
    if kept is not None:
        kept.data.setdefault(section, {})[name] = value
        kept.write()


class _Store:
    """One country's file, as read once by this process, and written again with each answer
    it adds (the last writer of two processes wins: the other's answer is computed again)."""

    def __init__(self, path: Path, key: dict[str, Any]) -> None:
        self.path = path
        self.key = key
        self.data: dict[str, Any] = {"key": key}
        try:
            with open(path, encoding="utf-8") as f:
                # only a file of this user's, as written below: one planted in a shared
                # $XDG_CACHE_HOME could close or open days
                st = os.fstat(f.fileno())
                if hasattr(os, "geteuid") and (st.st_uid != os.geteuid() or st.st_mode & 0o022):
                    return
                data = json.load(f)
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("key") == key:
            self.data = {k: v for k, v in data.items() if k == "key" or isinstance(v, dict)}

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(tmp, flags, 0o600)
            with open(fd, "w", encoding="utf-8") as f:
                json.dump(self.data, f, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _store(code: str) -> _Store | None:
    library = installed()
    where = folder()
    if library is None or where is None or not _CODE.match(code):
        return None
    locale = tuple(os.environ.get(v) for v in LOCALE_VARIABLES)
    return _opened(where, code, library, locale)


@functools.cache
def _opened(
    where: Path, code: str, library: tuple[str, str], locale: tuple[str | None, ...]
) -> _Store:
    key = {
        "format": FORMAT,
        "country": code,
        "version": library[0],
        "installed": library[1],
        "locale": list(locale),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return _Store(where / f"{code}-{digest}.json", key)
