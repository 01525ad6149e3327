"""The user's config file: defaults for the command line, below flags and the environment.

``$WARMUP_CONFIG``, else ``config.toml`` in the platform's config folder
(``~/.config/warmup/config.toml`` on Linux, via platformdirs). Every key is optional::

    db = "postgresql+psycopg://warmup@db.corp.example/warmup"   # as --db / $WARMUP_DB
    mailbox = "sales@corp.example"    # warmup send's mailbox when none is given
    pool = "outreach"                 # warmup run --pool

    [output]
    quiet = false                     # as --quiet
    verbose = false                   # as --verbose
    color = true                      # false: never colour (as NO_COLOR)

    [notify]                          # as $WARMUP_NOTIFY_WEBHOOK / $WARMUP_NOTIFY_COMMAND
    webhook = "https://hooks.example/warmup"
    command = "notify-send warmup"

    [smtp]
    chunking = false                  # as $WARMUP_SMTP_CHUNKING=off: never BDAT, always DATA

    [commands.plan]                   # any option of any command, by its name
    days = 60
    [commands."queue add"]
    campaign = "november"

A relative ``db`` path is relative to the folder holding this file, not to the working directory.

Order: a flag, then the environment, then this file, then the built-in default. A file that
cannot be read or holds an unknown key is a configuration error (exit 78) naming the key; so
is a ``$WARMUP_CONFIG`` naming no file (the default file may be missing: no config), but
``/dev/null`` is no config, as git, pip and ssh read it. A file
holding a secret (:func:`secret_keys`) that the group or others can read is warned of, once per
process, and still used.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmup.errors import ConfigError, WarmupError
from warmup.files import home, read_regular
from warmup.lazyre import compiled_later

ENV = "WARMUP_CONFIG"
TOP: dict[str, type] = {"db": str, "mailbox": str, "pool": str}
TABLES: dict[str, dict[str, type]] = {
    "output": {"quiet": bool, "verbose": bool, "color": bool},
    "notify": {"webhook": str, "command": str},
    "smtp": {"chunking": bool},
}


@dataclass(frozen=True)
class Config:
    """What the file says (``values``: dotted keys, e.g. ``output.quiet``) and where it is."""

    path: Path
    exists: bool
    values: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def default_map(self) -> dict[str, Any]:
        """click's ``default_map`` for the ``warmup`` group: options below flags and env."""
        out: dict[str, Any] = {}
        for name, options in self.commands.items():
            node = out
            for part in name.split():
                node = node.setdefault(part, {})
            node.update({option.replace("-", "_"): v for option, v in options.items()})
        if "db" in self.values:  # the root's --db (its parameter; "db" is the db group's table)
            out["db_url"] = self.values["db"]
        for key in ("quiet", "verbose"):
            if f"output.{key}" in self.values:
                out[key] = self.values[f"output.{key}"]
        if "mailbox" in self.values:
            out.setdefault("send", {}).setdefault("address", self.values["mailbox"])
        if "pool" in self.values:
            out.setdefault("run", {}).setdefault("pool", self.values["pool"])
        return out


def path() -> Path:
    """Where the config file is (it need not exist)."""
    given = os.environ.get(ENV)
    if given:
        return home(given, f"${ENV}")
    if sys.platform.startswith("linux"):  # platformdirs' XDG rule, without its 13 ms import
        xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
        return base / "warmup" / "config.toml"
    import platformdirs

    return platformdirs.user_config_path("warmup") / "config.toml"


_LOADED: dict[Path, Config] = {}


WEBHOOK_ENV = "WARMUP_NOTIFY_WEBHOOK"


def load() -> Config:
    """The config file, read once per process; a missing default file is an empty config (a
    missing ``$WARMUP_CONFIG`` is :class:`ConfigError`). The
    webhook of ``$WARMUP_NOTIFY_WEBHOOK`` (above the file's) is checked here too, as the file's
    is, on every call: the environment may change between calls, the file is read once."""
    where = path()
    cfg = _LOADED[where] if where in _LOADED else _load(where)
    _check_env_webhook()
    return cfg


def _check_env_webhook() -> None:
    """``$WARMUP_NOTIFY_WEBHOOK`` refused as the file's webhook is, naming the variable: it
    was taken, and only the first event (days later, in a worker's log) found it
    undeliverable. Empty is unset, as :mod:`warmup.notify` reads it."""
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        _check_webhook(
            url,
            f"${WEBHOOK_ENV}",
            lambda key, why: ConfigError(f"{key}: {why}"),
            "or unset it",
        )


def _load(where: Path) -> Config:
    # WARMUP_CONFIG=/dev/null: no config, as git, pip and ssh -F read it (it was refused, 78,
    # as "not a regular file": every command of a script that meant to ignore the file failed)
    if str(where) == os.devnull:
        _LOADED[where] = Config(where, False)
        return _LOADED[where]
    try:
        raw = tomllib.loads(_read(where))
    except FileNotFoundError:
        if os.environ.get(ENV):  # named on purpose: a typo would run with no config at all
            raise ConfigError(
                f"${ENV} names {where}, which does not exist; fix the path or unset {ENV}"
            ) from None
        cfg = Config(where, False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {where}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {where}: {exc}; fix it or move it away") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            f"config file {where}: arrays or tables nested too deeply; fix it or move it away"
        ) from None
    else:
        cfg = _parse(where, raw)
        _warn_if_exposed(cfg)
    _LOADED[where] = cfg
    return cfg


def shown(key: str, value: Any) -> Any:
    """``value`` of ``key`` as it may be printed: a URL with its password masked (``db``,
    ``[commands."db copy"] to``); other values as they are. (A webhook, ``notify.webhook`` or a
    command's ``webhook`` option, hides more: :func:`mask`, also :func:`warmup.notify.mask`; a
    command, :func:`warmup.cmdsecrets.masked_command`, which ``config show`` applies.)"""
    if not isinstance(value, str):
        return value
    if "://" in value:
        from warmup.ledger import mask_url

        return mask_url(value)
    return value


def secret_keys(
    values: dict[str, Any], commands: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """The keys of ``values`` (and of the ``commands`` tables, as ``commands.NAME.OPTION``) that
    hold a secret: a URL with a password, a webhook URL with user info, a path or a query
    (where services put the token, as :func:`mask` hides)."""
    from urllib.parse import urlsplit

    found = []
    pairs = list(values.items()) + [
        (f"commands.{name}.{option}", value)
        for name, options in (commands or {}).items()
        for option, value in options.items()
    ]
    for key, value in pairs:
        if not isinstance(value, str):
            continue
        if key.rpartition(".")[2] == "webhook":
            try:
                parts = urlsplit(value)
                exposed = bool(
                    "@" in parts.netloc or parts.path.strip("/") or parts.query or parts.fragment
                )
            except ValueError:  # unreadable: it may hold anything
                exposed = True
        else:
            exposed = shown(key, value) != value
        if exposed:
            found.append(key)
    return found


def _warn_if_exposed(cfg: Config) -> None:
    """One line on standard error when the file holds a secret and the group or others may
    read it (as ssh says of a private key), without refusing: the user decides."""
    if os.name != "posix":
        return
    keys = secret_keys(cfg.values, cfg.commands)
    if not keys:
        return
    try:
        mode = os.stat(cfg.path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o044:
        import shlex

        sys.stderr.write(
            f"warning: config file {cfg.path} holds a secret ({', '.join(keys)}) and others can "
            f"read it (mode {mode:04o}); make it private with "
            f"'chmod 600 {shlex.quote(str(cfg.path))}'\n"
        )


MAX_FILE = 1_000_000  # bytes: a config file is a few lines


def _read(where: Path) -> str:
    """The file's text: a regular file of at most :data:`MAX_FILE` bytes (a named pipe would
    make every command wait for a writer, /dev/zero read without end)."""
    data = read_regular(where, f"config file {where}", MAX_FILE, f"point {ENV} at one")
    return data.decode("utf-8-sig")  # Notepad's byte order mark, which tomllib refuses


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` a mistyped ``word`` most likely meant, or None: a refusal that
    names it saves reading a list for it."""
    import difflib  # only on the way to an error

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def meant(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean 'quiet'?"`` (the :func:`nearest` choice, after ``prefix``) or ``""``."""
    close = nearest(word, choices)
    return f"; did you mean {prefix + close!r}?" if close else ""


def table_name(command: str) -> str:
    """How the config file names ``command``'s table: ``[commands.plan]``,
    ``[commands."queue add"]``."""
    bare = command and all(c.isascii() and (c.isalnum() or c in "-_") for c in command)
    return f"[commands.{command}]" if bare else f'[commands."{command}"]'


def _parse(where: Path, raw: dict[str, Any]) -> Config:
    values: dict[str, Any] = {}
    commands: dict[str, dict[str, Any]] = {}

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"config file {where}: {key}: {why}")

    holding = _nul_key(raw)
    if holding is not None:  # TOML's "\u0000", which no argument or environment variable can
        # carry: a ledger path's was a traceback from os.path; a notify command's "embedded null
        # byte" at each event (after 4 tries, exit 69); a campaign's, a name matching nothing
        raise bad(
            holding,
            "holds a NUL character (\\u0000), which no file name, URL, name or command can; "
            "remove it",
        )
    for key, value in raw.items():
        if key in TOP:
            if not isinstance(value, TOP[key]):
                raise bad(key, f"expected a {TOP[key].__name__}")
            if key == "db" and not str(value).strip():  # else the default ledger, silently
                raise bad(key, "expected a SQLite path or a ledger URL, not blank")
            if key == "mailbox" and isinstance(value, str):  # else refused as if typed (65)
                from warmup.addresses import normalize

                try:
                    normalize(value, "mailbox address")
                except WarmupError as exc:
                    raise bad(key, str(exc)) from None
            if key == "db":
                value = _beside(where, value, key)
            values[key] = value
        elif key in TABLES:
            if not isinstance(value, dict):
                raise bad(key, "expected a table")
            for sub, v in value.items():
                kind = TABLES[key].get(sub)
                if kind is None:
                    hint = meant(sub, TABLES[key], f"{key}.")
                    raise bad(
                        f"{key}.{sub}", f"unknown key{hint} (known: {', '.join(TABLES[key])})"
                    )
                if not isinstance(v, kind):
                    raise bad(f"{key}.{sub}", f"expected a {kind.__name__}")
                if (key, sub) == ("notify", "webhook") and isinstance(v, str):
                    # else accepted, and every event logged as undeliverable at first use
                    _check_webhook(v, f"{key}.{sub}", bad)
                values[f"{key}.{sub}"] = v
        elif key == "commands":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise bad(key, 'expected tables such as [commands.plan] or [commands."queue add"]')
            for name, options in value.items():
                if not name.split():  # no command to give the options to
                    raise bad(table_name(name), "expected a command name, such as [commands.plan]")
                commands[name] = {}
                for option, v in options.items():
                    at = f"{table_name(name)} {option}"
                    value = _option(v, at, bad)
                    if option == "db" or (name.split() == ["db", "copy"] and option == "to"):
                        if not isinstance(value, str):  # else db = 5 named ./5, the cwd's
                            raise bad(at, f"expected a SQLite path or a ledger URL, not {v!r}")
                        value = _beside(where, value, at)
                    # kept as written, for a message to name the key as the file does ("--to",
                    # not "__to"); default_map() gives click its parameter name
                    commands[name][option] = value
        else:
            known = [*TOP, *TABLES, "commands"]
            raise bad(key, f"unknown key{meant(key, known)} (known: {', '.join(known)})")
    return Config(where, True, values, commands)


def _nul_key(raw: dict[str, Any]) -> str | None:
    """The first key of the file (named as :func:`_parse` names it) whose value holds a NUL
    character, in a list or table too; None if none does. The value is not quoted: it may be a
    secret (a URL's password, a command's token)."""

    def holds(value: Any) -> bool:
        if isinstance(value, str):
            return "\0" in value
        if isinstance(value, list):
            return any(holds(v) for v in value)
        if isinstance(value, dict):
            return any(holds(k) or holds(v) for k, v in value.items())
        return False

    for key, value in raw.items():
        if key == "commands" and isinstance(value, dict):
            for name, options in value.items():
                if not isinstance(options, dict):
                    continue
                for option, v in options.items():
                    if holds(v):
                        return f"{table_name(name)} {option}"
        elif isinstance(value, dict) and key in TABLES:
            for sub, v in value.items():
                if holds(v):
                    return f"{key}.{sub}"
        elif holds(value):
            return key
    return None


# A host as one is typed without a scheme in front ("hooks.example.com/...", "localhost:8080/
# ..."): a domain name ending in letters, an IPv4 address or localhost, with an optional port.
# Nothing else of a URL that has no "//" is shown: it may be the token itself.
_HOST_LIKE = compiled_later(
    r"(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|localhost|\d{1,3}(?:\.\d{1,3}){3})"
    r"(?::\d{1,5})?",
    re.ASCII | re.IGNORECASE,
)
# Schemes that name no secret, shown for a URL that has one but no host ("mailto:...")
_KNOWN_SCHEMES = frozenset(["http", "https", "ftp", "ftps", "ws", "wss", "mailto", "file", "smtp"])


def _hostless(url: str, scheme: str) -> str:
    """:func:`mask` of a URL without ``//host``: the host typed without a scheme and whether
    more follows (``hooks.example.com/...``), else the scheme (``mailto:...``), else
    ``(URL without a host)``."""
    head = re.match(r"[^/?#]*", url)
    host = head.group(0) if head else ""
    if _HOST_LIKE.fullmatch(host):
        return host + ("/..." if url[len(host) :].strip("/") else "")
    if scheme.lower() in _KNOWN_SCHEMES:
        return f"{scheme}:..." if url[len(scheme) + 1 :] else f"{scheme}:"
    return "(URL without a host)"


def mask(url: str) -> str:
    """The URL without what may carry a token: userinfo, path, query and fragment.

    Never raises: a URL that cannot be read (a bad port, a broken ``[IPv6]`` host), as
    ``$WARMUP_NOTIFY_WEBHOOK`` or the config file may hold one, is ``(unreadable URL)``; one
    without a host (no ``//``) is shown as :func:`_hostless` says, never as ``://?/...``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        if not parts.netloc:
            return _hostless(url, parts.scheme)
        host = parts.hostname or "?"
        if ":" in host:  # an IPv6 address, bracketed as in the URL
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(unreadable URL)"
    rest = "/..." if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{rest}"


# What http.client refuses in a request's URL (white space and control characters): such a URL
# could never be posted to, and its refusal would quote the path and query, token and all.
_UNSENDABLE = compiled_later(r"[\x00-\x20\x7f]")


def webhook_fault(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (never quoting it: it may carry a token), or None if it
    can. Here, not in :mod:`warmup.notify`, so that loading the file checks its webhook without
    importing what sends one."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number or out of range)
    except ValueError:
        return "has a host or port that cannot be read"
    if not parts.netloc and _HOST_LIKE.fullmatch(re.split(r"[/?#]", url, maxsplit=1)[0]):
        return "has no http:// or https:// in front"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http:// or https:// URL with a host"
    if not parts.hostname.isascii():
        from warmup.addresses import IDNA_DEVIATIONS

        # IDNA 2003 (what a host is posted as) would post to another domain, token and all
        if IDNA_DEVIATIONS.search(parts.hostname):
            return (
                "has a host with ß, ς or a zero-width joiner, which IDNA 2003 (Python's) would "
                "post to another domain (straße to strasse, not xn--strae-oqa): write the host "
                "in its xn-- form"
            )
        try:
            parts.hostname.encode("idna")
        except UnicodeError:
            return "has a host that is not a valid international domain name"
    if _UNSENDABLE.search(url):
        return "contains white space or a control character"
    return None


def _check_webhook(
    url: str, key: str, bad: Callable[[str, str], ConfigError], unset: str = "or remove the key"
) -> None:
    """The file's webhook (or the environment's) as ``notify set`` checks one typed: an
    http(s) URL with a host, or :class:`ConfigError` naming the key (the URL masked: it may
    carry a token); ``unset``: how to do without one."""
    if not url.strip():
        raise bad(key, f"expected an http:// or https:// URL, not blank; {unset}")
    fault = webhook_fault(url)
    if fault:
        raise bad(key, f"{mask(url)} {fault}; give one like https://hooks.example.com/warmup")


def _beside(where: Path, value: Any, key: str) -> Any:
    """A ledger path of the file, relative to the file's folder (a URL, or a value of another
    type, as it is): the file is read from anywhere, and against the working directory a cron
    job and a shell kept two ledgers."""
    if not isinstance(value, str) or "://" in value or not value.strip():
        return value
    from warmup.ledger import not_a_path

    fault = not_a_path(value)
    if fault is not None:
        raise ConfigError(f"config file {where}: {key}: {fault}")
    return str(where.absolute().parent / home(value, f"config file {where}: {key}"))


def _option(value: Any, key: str, bad: Callable[[str, str], ConfigError]) -> Any:
    """A ``[commands.NAME]`` value as click can convert it: one value, or a list of values for a
    repeatable option. A TOML date or time becomes the text the user wrote: click's ``int()``
    raises TypeError on anything but text and numbers (a traceback, exit 1)."""
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            raise bad(key, "expected a list of values, not of lists or tables")
        return [_option(v, key, bad) for v in value]
    if isinstance(value, dict):
        raise bad(key, "expected a value, not a table")
    if isinstance(value, (dt.date, dt.time)):  # a dt.datetime is a dt.date
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):  # click's int() overflows
        raise bad(key, f"{value} is not a finite number")
    return value
