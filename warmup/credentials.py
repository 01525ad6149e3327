"""Where a mailbox's (client-specific) password comes from — never the ledger, logs or argv.

Order: a ``--password-command`` typed on the command line (:func:`typed_command`: a flag
typed wins over the environment and the config file, as everywhere in the CLI); then
``WARMUP_PASSWORD`` (or the same handed over through a pipe, see :func:`hand_over`); then a
password command not typed (``WARMUP_PASSWORD_COMMAND``, a ``[commands.X]`` password-command
of the config file, a library caller's ``password_command``); then the system keyring
(service ``warmup``, user = the address), filled by ``warmup mailbox login``. A password
command is run through the shell, its first output line is the password, like msmtp's
``passwordeval``; at most 64 KiB of output and a minute; no NUL in the password. The keyring
module is imported only when it is needed.

``warmup mailbox login`` refuses a keyring backend that keeps passwords unencrypted (keyrings.alt's
``PlaintextKeyring`` writes them base64-encoded to a file): there a password command that reads a
file the user protects is as safe and says what it is.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from warmup.errors import ConfigError

SERVICE = "warmup"
HANDOVER_VAR = "WARMUP_PASSWORD_FD"  # the number of the pipe, never the secret
_MAX_HANDOVER = 4096
_handed_over: str | None = None
_typed: str | None = None  # the --password-command typed on the command line (typed_command)


# What to do without a keyring: where a password is read from, and where one is to be stored
# ('mailbox login' has no --password-command of its own: it named one it could not take).
_READ_FIX = "set WARMUP_PASSWORD in the environment or use --password-command 'CMD'"
_STORE_FIX = (
    "nothing stored: give the password when sending instead, in WARMUP_PASSWORD or "
    "WARMUP_PASSWORD_COMMAND, or with --password-command 'CMD' on send, run and doctor"
)


def _keyring(fix: str = _READ_FIX) -> ModuleType:
    try:
        import keyring
        from keyring.backends import fail, null

        backend = keyring.get_keyring()
    except Exception as exc:  # PYTHON_KEYRING_BACKEND naming nothing, a backend failing to load
        raise ConfigError(
            f"the system keyring cannot be loaded ({type(exc).__name__}; check "
            f"PYTHON_KEYRING_BACKEND); {fix}"
        ) from None
    example = " (e.g. 'pass show mail/sales')" if fix is _READ_FIX else ""
    if isinstance(backend, fail.Keyring):
        raise ConfigError(f"no system keyring is available on this machine; {fix}{example}")
    if isinstance(backend, null.Keyring):
        # 'keyring --disable' (the cure for pip waiting on a locked keyring) selects it: it
        # keeps nothing, so login said "Stored" and the next send "no password: run login".
        raise ConfigError(
            f"the system keyring is turned off ({backend_name(backend)}, as 'keyring "
            f"--disable' leaves it): it keeps nothing; {fix}{example}"
        )
    return keyring


def _writer(backend: Any) -> Any:
    """The backend that a ``set_password`` on ``backend`` writes to."""
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend) and backend.backends:
        return backend.backends[0]  # the chain writes to its first (highest-priority) member
    return backend


def backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def stores_plaintext(backend: Any) -> bool:
    """Whether ``backend`` is known to keep passwords unencrypted (by its class or scheme)."""
    names = (c.__name__.lower() for c in type(backend).__mro__)
    scheme = str(getattr(backend, "scheme", "")).lower()
    return any("plaintext" in n for n in names) or scheme.startswith("no encr")


def store_password(address: str, password: str, fix: str = "") -> str:
    """Store ``password`` in the system keyring; returns the backend's name.

    :class:`ConfigError` if the keyring is missing, refuses, or would not encrypt it (``fix``:
    what to do instead, when not a mailbox's WARMUP_PASSWORD or --password-command).
    """
    if not password:
        raise ConfigError("empty password: nothing stored")
    return store_secret(SERVICE, address, usable(password, "standard input"), fix)


def store_secret(service: str, user: str, secret: str, fix: str = "") -> str:
    """Store ``secret`` under ``service``/``user`` in an encrypting system keyring; returns the
    backend's name (:class:`ConfigError` if there is none, or it refuses; ``fix``: as for
    :func:`store_password`)."""
    fix = fix or _STORE_FIX
    keyring = _keyring(fix)
    target = _writer(keyring.get_keyring())
    if stores_plaintext(target):
        raise ConfigError(
            f"the keyring backend {backend_name(target)} keeps passwords unencrypted in a file; "
            f"use an encrypting keyring (Secret Service, KWallet, macOS Keychain, Windows "
            f"Credential Locker), or {fix}"
        )
    try:
        keyring.set_password(service, user, secret)
    except ConfigError:
        raise
    except Exception as exc:  # keyring backends raise their own types
        raise KeyringRefused(
            f"the system keyring refused to store it ({type(exc).__name__}); "
            f"use WARMUP_PASSWORD or --password-command instead",
            type(exc).__name__,
        ) from None
    return backend_name(target)


class KeyringRefused(ConfigError):
    """The keyring failed to store a secret; ``cause``: the backend's exception's type name."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def read_secret(service: str, user: str) -> str | None:
    """What the system keyring holds under ``service``/``user`` (None: nothing)."""
    try:
        return _keyring().get_password(service, user)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"the system keyring failed ({type(exc).__name__})") from None


def forget_password(address: str, service: str = SERVICE) -> bool:
    """Delete what the keyring holds for ``address``; whether it held anything (nothing stored
    is fine: False). A keyring that fails is :class:`ConfigError`: the secret may still be
    there, so never say it is gone."""
    keyring = _keyring()
    from keyring.errors import PasswordDeleteError

    try:
        # Asked first: backends differ on deleting nothing (some raise, some do not), and
        # 'login --forget' said "Forgot the stored password" of a mailbox that had none.
        held = keyring.get_password(service, address) is not None
        keyring.delete_password(service, address)
    except PasswordDeleteError:
        return False  # nothing was stored
    except Exception as exc:
        raise ConfigError(
            f"the system keyring failed ({type(exc).__name__}); nothing was forgotten"
        ) from None
    return held


def forget_all(address: str, secrets: dict[str, str]) -> tuple[str, ...]:
    """Delete what the keyring holds for ``address`` under each service of ``secrets`` (service
    -> what it is: "password", ...); returns what it held. A machine with no keyring holds none.
    A keyring that cannot be loaded or fails is :class:`ConfigError`: it may still hold them."""
    forgotten = []
    try:
        import keyring
        from keyring.backends import fail, null

        if isinstance(keyring.get_keyring(), (fail.Keyring, null.Keyring)):
            return ()
        for service, what in secrets.items():
            if keyring.get_password(service, address) is not None:
                keyring.delete_password(service, address)
                forgotten.append(what)
    except Exception as exc:  # keyring backends raise their own types
        raise ConfigError(f"the system keyring failed ({type(exc).__name__})") from None
    return tuple(forgotten)


def sendable(secret: str, what: str) -> str:
    """``secret`` if the SMTP and IMAP logins can send it, else :class:`ConfigError` naming
    ``what`` ("the password for a@b.com") and never quoting it. smtplib and imaplib encode a
    password as ASCII (a UnicodeEncodeError, after connecting, whose text quotes the character
    and its position), and imaplib writes a line break as the end of its LOGIN command: the
    password's tail went to the server as a command of its own."""
    if not secret.isascii() or "\r" in secret or "\n" in secret:
        raise ConfigError(
            f"{what} holds characters other than ASCII or a line break, which the SMTP and "
            f"IMAP logins cannot send; use the provider's client-specific (app) password"
        )
    return secret


def usable(secret: str, source: str) -> str:
    """``secret`` if SMTP and IMAP can log in with it (see :func:`sendable`; no NUL either),
    else :class:`ConfigError` naming ``source`` ("WARMUP_PASSWORD"), never quoting it."""
    sendable(secret, f"the password from {source}")
    if "\x00" in secret:  # AUTH PLAIN's separator: the server would read another login
        what = {"the password command": "the command prints", "the keyring": "is stored"}.get(
            source, "was given"
        )
        raise ConfigError(
            f"the password from {source} holds a NUL character, which the SMTP and IMAP "
            f"logins cannot send; check what {what}"
        )
    return secret


def typed_command(command: str | None) -> None:
    """Note that ``command`` is the ``--password-command`` typed on this command line (None:
    none was): :func:`get_password` then runs it before reading ``WARMUP_PASSWORD`` (a stale
    one exported in the shell refused the login the typed command's password would have
    made)."""
    global _typed
    _typed = command


def get_password(address: str, command: str | None = None) -> str:
    """The password for ``address``, or :class:`ConfigError` saying how to provide one."""
    if command is not None and command == _typed:
        take_handed_over()  # read early all the same: the other secrets it holds go back
        return usable(_from_command(command, address), "the password command")
    env = os.environ.get("WARMUP_PASSWORD") or take_handed_over()
    if env:
        return usable(env, "WARMUP_PASSWORD")
    command = command or os.environ.get("WARMUP_PASSWORD_COMMAND")
    if command:
        return usable(_from_command(command, address), "the password command")
    try:
        return _from_keyring(address)
    except ConfigError as exc:
        if not (os.environ.get("WARMUP_SMTP_HOST") and os.environ.get("WARMUP_SMTP_PASSWORD")):
            raise
        # Inside 'warmup send ADDR -- COMMAND': the wrapper took the password out of the
        # command's environment on purpose, and "set WARMUP_PASSWORD" sent one the wrong way.
        raise ConfigError(
            f"{exc}; inside 'warmup send ADDRESS -- COMMAND' (as here) send through the run's "
            f"relay instead: the sendmail on the command's PATH, or SMTP to $WARMUP_SMTP_HOST "
            f"port $WARMUP_SMTP_PORT with $WARMUP_SMTP_USER and $WARMUP_SMTP_PASSWORD"
        ) from None


class NoPassword(ConfigError):
    """No password for a mailbox: none in ``$WARMUP_PASSWORD``, none (or no keyring) in the
    keyring. One may come without a word to warmup (an environment of the next run, a keyring
    filled by other means than 'warmup mailbox login'): ``warmup run`` looks again each pass."""


def _from_keyring(address: str) -> str:
    """The password the system keyring holds for ``address`` (:func:`get_password`)."""
    try:
        secret = _keyring().get_password(SERVICE, address)
    except ConfigError as exc:
        raise NoPassword(str(exc)) from None
    except Exception as exc:
        raise NoPassword(
            f"the system keyring failed ({type(exc).__name__}); use "
            f"WARMUP_PASSWORD or --password-command"
        ) from None
    if not secret:
        raise NoPassword(
            f"no password for {address}: store it with 'warmup mailbox login "
            f"{shlex.quote(address)}', or set WARMUP_PASSWORD, or use --password-command 'CMD'"
        )
    return usable(secret, "the keyring")


# Every secret warmup itself reads from its environment (or a way to one): no command warmup
# starts gets them, a wrapped command (the relay's one-time credentials instead), a notify
# command (a ledger shared by a team names it) or a password command alike.
SECRET_VARS = (
    "WARMUP_PASSWORD",
    "WARMUP_PASSWORD_COMMAND",
    HANDOVER_VAR,
    "WARMUP_OVERFLOW_PASSWORD",
    "WARMUP_OAUTH_CLIENT_SECRET",
    # A robot's webhook URL carries its token (a host without a keyring keeps it here).
    "WARMUP_NOTIFY_WEBHOOK",
)


def child_env() -> dict[str, str]:
    """This process's environment without its secrets (:data:`SECRET_VARS`), for a command
    warmup starts (a password command, a notify command): a child's environment is readable in
    /proc, and the command need not be one the user trusts with the overflow channel or OAuth
    app."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARS}


COMMAND_TIMEOUT = 60.0  # seconds for a password command, output and exit
MAX_COMMAND_OUTPUT = 65_536  # bytes: a password is one short line


def on_terminal() -> bool:
    """Whether warmup's standard error is a terminal: a person watching, who configured the
    command. Anything else (a service's journal, cron's mail, a file, a pipe into a script's
    log) may be kept and read by others."""
    return os.isatty(2)


# Where a password command's standard error goes when warmup's is a terminal: straight there
# (None), or, once the command ended, to a function (:func:`command_errors_to`).
_errors_to: Callable[[str], object] | None = None


@contextlib.contextmanager
def command_errors_to(show: Callable[[str], object]) -> Iterator[None]:
    """While it lasts, what a password command writes on standard error, when warmup's is a
    terminal (:func:`on_terminal`), is handed to ``show`` as text once the command ended,
    instead of going to the terminal as it comes: ``warmup run``'s live view writes it above
    itself (under it, the next redraw wiped it and left the view's top lines behind)."""
    global _errors_to
    before, _errors_to = _errors_to, show
    try:
        yield
    finally:
        _errors_to = before


def _from_command(command: str, address: str) -> str:
    """The first line a password command prints. Its output is read up to
    :data:`MAX_COMMAND_OUTPUT` bytes, never more (see :mod:`warmup.childcmd`). Its standard error
    (why it failed: "mail/sales is not in the password store") goes to warmup's own when that
    is a terminal (:func:`on_terminal`), as msmtp's passwordeval and git's credential helpers
    do (through :func:`command_errors_to`'s function when one is set: ``warmup run``'s live
    view), and nowhere else: never kept, never quoted in an error (which may reach a log, the
    ledger, a notification), since it may hold the secret or the command's own argv.

    The command gets the mailbox's address in ``$WARMUP_MAILBOX``: a worker sends from every
    member of a pool with the one ``--password-command``, and without the address a machine
    with no keyring could give them only one password ('pass show "mail/$WARMUP_MAILBOX"')."""
    from warmup import childcmd

    shown, show = on_terminal(), _errors_to
    try:
        returncode, out = childcmd.run(
            command,
            timeout=COMMAND_TIMEOUT,
            env={**child_env(), "WARMUP_MAILBOX": address},
            limit=MAX_COMMAND_OUTPUT,
            show_other=shown and show is None,
            other=(lambda said: show(said.decode(errors="replace"))) if shown and show else None,
        )
    except childcmd.TooMuch as exc:
        raise ConfigError(
            f"the password command {exc}; it should print the password on its first line"
        ) from None
    except childcmd.CommandFault as exc:
        raise ConfigError(f"the password command {exc}") from None
    if returncode != 0:
        # The command's output may hold the secret: never echo it.
        how = childcmd.exit_words(returncode)
        raise ConfigError(
            f"the password command failed with {how}"
            if returncode > 0
            else f"the password command was {how}"
        )
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the password command printed bytes that are not UTF-8 text") from None
    secret = text.split("\n", 1)[0].rstrip("\r")
    if not secret:
        raise ConfigError("the password command printed nothing")
    return secret


# What ``warmup send ADDR -- CMD`` re-executes itself without (:func:`warmup.wrap.shed_password`):
# these handed over through a pipe (the webhook: the gate notifies of a throttle), the rest of
# :data:`SECRET_VARS` dropped (unused there).
HANDED_VARS = ("WARMUP_PASSWORD", "WARMUP_OAUTH_CLIENT_SECRET", "WARMUP_NOTIFY_WEBHOOK")


def hand_over(values: dict[str, str]) -> int:
    """An inheritable pipe's read end holding ``values`` (names of :data:`SECRET_VARS` to
    their values), for a process about to re-execute itself without them in its environment
    (whose initial copy /proc/PID/environ shows)."""
    data = b"\0".join(os.fsencode(f"{name}={value}") for name, value in values.items())
    if len(data) > _MAX_HANDOVER:
        raise ConfigError(
            f"{' and '.join(values)} together are longer than {_MAX_HANDOVER} bytes; use "
            f"--password-command or 'warmup mailbox login' instead"
        )
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)  # fits the pipe's buffer: nobody needs to read yet
    finally:
        os.close(write_end)
    if read_end < 3:
        # Started with a standard stream closed ('>&-'): the pipe took its number, and the
        # re-executed process would write its output into it (then into a closed descriptor).
        import fcntl

        moved = fcntl.fcntl(read_end, fcntl.F_DUPFD, 3)
        os.close(read_end)
        read_end = moved
    os.set_inheritable(read_end, True)
    return read_end


def take_handed_over() -> str | None:
    """The password handed over by :func:`hand_over` (``$WARMUP_PASSWORD_FD``), or None; the
    other secrets handed over with it go back into ``os.environ``.

    Read and closed on the first call, which should come early: until then another process of
    the same user could read the pipe through /proc/PID/fd.
    """
    global _handed_over
    number = os.environ.pop(HANDOVER_VAR, None)
    if number is None:
        return _handed_over
    try:
        fd = int(number)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise OSError("not a pipe")
    except (ValueError, OSError, OverflowError):  # OverflowError: past a C int (fstat's)
        raise ConfigError(
            f"{HANDOVER_VAR}={number!r} is not a pipe warmup handed over; unset "
            f"it (warmup sets it for itself)"
        ) from None
    try:
        data = os.read(fd, _MAX_HANDOVER + 1)
    finally:
        os.close(fd)
    for item in os.fsdecode(data).split("\0") if data else ():
        name, _, value = item.partition("=")
        if name == "WARMUP_PASSWORD":
            _handed_over = value or None
        elif name in SECRET_VARS:
            # Back where warmup reads it; /proc/PID/environ shows only the initial environment,
            # and every command warmup starts gets child_env(), without it.
            os.environ[name] = value
    return _handed_over
