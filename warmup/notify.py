"""Notifications: a webhook and/or a command told when a mailbox is paused, held or stepped back,
a campaign finishes, or a worker stops with work left.

Where they go: ``warmup notify set --webhook URL --command CMD`` stores them in the ledger (so
every host of a shared ledger notifies the same way), but a webhook URL that carries a token
(a WeCom or Slack robot's key, in its path or query) is read from standard input (``--webhook
-``, never a command line) and kept in this host's system keyring, the ledger holding only its
masked form; ``$WARMUP_NOTIFY_WEBHOOK``/``$WARMUP_NOTIFY_COMMAND`` and the config file's
``[notify]`` take precedence.

Each event is one JSON object (``{"event": "paused", "mailbox": ..., "at": ISO UTC,
"reason": ..., ...}``), POSTed to the webhook and written to the command's standard input; a
group robot's webhook (WeCom, DingTalk, Feishu/Lark, Slack: :func:`_for_robot`) gets it as the
text message it shows instead, and its JSON verdict (``errcode``, Feishu's ``code``) says whether
it was delivered.
Delivery never blocks nor fails sending: events go through a bounded queue to one background
thread, each try has a timeout, a failed one is retried with back-off, and a delivery that
still fails is logged once (the webhook's URL masked: it may carry a token), never raised.
Nothing here imports HTTP code until an event is posted to a webhook.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import queue
import re
import shlex
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from warmup import credentials
from warmup.cmdsecrets import masked_command, said_masked, secret_in
from warmup.config import mask, webhook_fault
from warmup.errors import ConfigError, InvalidField
from warmup.words import shown as escaped

if TYPE_CHECKING:
    from warmup.ledger import Ledger
    from warmup.policy import Allowance

EVENTS = ("paused", "hold", "step_back", "campaign_finished", "worker_stopped", "test")
KEYS = {"webhook": "notify.webhook", "command": "notify.command"}
ENV = {"webhook": "WARMUP_NOTIFY_WEBHOOK", "command": "WARMUP_NOTIFY_COMMAND"}
# A webhook URL that carries a token (in its user, path or query: what mask() hides) is kept in
# this host's system keyring, as passwords are; the ledger holds only its masked form, under
# this key, so every host can say where notifications go (invariant 6: no secret in the ledger).
IN_KEYRING = "notify.webhook_keyring"
KEYRING_SERVICE, KEYRING_USER = "warmup-notify", "webhook"


def has_token(url: str) -> bool:
    """Whether ``url`` carries what may be a token (what :func:`mask` hides)."""
    return mask(url) != url


TIMEOUT = 5.0  # seconds per try
TRIES = 4
BACKOFF = 1.0  # seconds before the second try; doubles per try
DRAIN = 10.0  # at most this long, at close, for the events still queued
QUEUE_SIZE = 100

_log = logging.getLogger("warmup.notify")


# A piece of a webhook's URL that may be its token, should a server quote it back: at least 8
# characters with a digit (a WeCom key, a Slack hook's last part), or 16 without (a short word
# of the path, "send" or "hook", would garble the line if masked, and hide nothing).
_TOKEN_LIKE = re.compile(r"(?=[^\d]*\d).{8,}|.{16,}")


def unquoted(text: str, url: str) -> str:
    """``text`` (a server's answer, an error) with ``url`` masked (:func:`mask`) and whatever of
    it may carry a token (userinfo, path, query, and each part of them that looks like a key:
    :data:`_TOKEN_LIKE`, or a password of 4 characters or more) replaced by ``***``, as it is,
    percent-decoded or -encoded, or in base64 (HTTP basic authentication's ``user:password``).
    A robot's answer naming its key (an errmsg, a reason phrase quoting the path) put the token
    in the log line that only ever showed the URL masked."""
    from warmup.words import scrubbed

    text = text.replace(url, mask(url))
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return text
    whole = [parts.path.strip("/"), parts.query, parts.fragment, user or ""]
    pieces = {p for p in whole + re.split(r"[/&=;]", "&".join(whole)) if _TOKEN_LIKE.fullmatch(p)}
    if password and len(password) >= 4:  # shorter, it would garble the line, and hide nothing
        pieces.add(password)
    for piece in list(pieces):
        pieces |= {unquote(piece), quote(unquote(piece), safe="")}
    if user is not None:  # basic authentication's credentials, base64-encoded
        pieces.add(f"{unquote(user)}:{unquote(password or '')}")
    for piece in sorted(pieces - {""}, key=len, reverse=True):
        text = scrubbed(text, piece)
    return text


def check_webhook(url: str) -> str:
    """``url`` if it is an http(s) URL with a host, else :class:`InvalidField` naming the fix."""
    fault = webhook_fault(url)
    if fault:
        raise InvalidField(
            "webhook",
            "{field} {url!r} {fault}; give one like https://hooks.example.com/warmup",
            url=mask(url),
            fault=fault,
        )
    return url


def configure(
    ledger: Ledger,
    webhook: str | None = None,
    command: str | None = None,
    *,
    clear: bool = False,
) -> None:
    """Store where notifications go (``clear``: forget both first). An empty string forgets
    that target. A webhook with a token (:func:`has_token`) goes to this host's system keyring
    and the ledger keeps only its masked form (:data:`IN_KEYRING`); one without, to the
    ledger."""
    values: dict[str, str | None] = dict.fromkeys([*KEYS.values(), IN_KEYRING]) if clear else {}
    url = check_webhook(webhook) if webhook else None
    if command is not None:
        try:
            words = shlex.split(command)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise InvalidField(
                "command",
                "{field} {command!r} cannot be split into words ({why}); quote it as a shell would",
                command=command,
                why=exc,
            ) from None
        if command and not words:
            raise InvalidField("command", "{field} is blank; give the program to run")
        if any("\udc80" <= c <= "\udcff" for c in command):  # argv's bytes that are no UTF-8
            raise InvalidField(
                "command",
                "{field} {command!r} is not UTF-8 text; the ledger keeps text: name the "
                "program by a path in UTF-8 (or a script that runs it)",
                command=command,
            )
        secret = secret_in(command)
        if secret:  # invariant 6: never in the ledger, never in a process's argv
            raise InvalidField(
                "command",
                "{field} carries what looks like a secret ({what}): the ledger would keep it and "
                "every user of this machine would see it in the running command's arguments; "
                "have the program read it from a file or an environment variable (or run a "
                "script that does), and name only that here",
                what=secret,
            )
        values[KEYS["command"]] = command or None
    if webhook is not None:  # checked all: the keyring is written last but for the ledger
        values[KEYS["webhook"]] = values[IN_KEYRING] = None
        if url is not None and has_token(url):
            try:
                credentials.store_secret(KEYRING_SERVICE, KEYRING_USER, url)
            except ConfigError as exc:
                raise ConfigError(
                    f"cannot keep the webhook's token in this host's keyring "
                    f"({str(exc).split(';')[0]}); nothing was stored: set "
                    f"${ENV['webhook']}, or webhook in the config file's [notify] (chmod 600)"
                ) from None
            values[IN_KEYRING] = mask(url)
        else:
            values[KEYS["webhook"]] = url
    gone = values.get(IN_KEYRING) is None and (clear or webhook is not None)
    # The token, where this host holds it, goes too; a host without it (the webhook was set on
    # another, or this one has no keyring to hold it) still forgets the ledger's webhook.
    if gone and ledger.settings(IN_KEYRING).get(IN_KEYRING) and _from_keyring():
        credentials.forget_password(KEYRING_USER, KEYRING_SERVICE)
    if values:
        ledger.set_settings(values)


def shown(found: dict[str, str]) -> dict[str, str]:
    """The targets as they may be printed: the webhook masked, and whatever in the command
    looks like a secret (:func:`warmup.cmdsecrets.masked_command`)."""
    return {k: shown_target(k, v) for k, v in found.items()}


def shown_target(name: str, value: str) -> str:
    """One target (``webhook`` or ``command``) as it may be printed."""
    if name == "webhook":
        return mask(value)
    return masked_command(value) if name == "command" else value


def targets(ledger: Ledger) -> dict[str, str]:
    """Where notifications go: ``webhook`` and/or ``command`` (the environment, then the
    config file's ``[notify]``, then the ledger's settings)."""
    return {name: value for name, (value, _) in sourced_targets(ledger).items()}


def sourced_targets(ledger: Ledger) -> dict[str, tuple[str, str]]:
    """:func:`targets`, each with where it is set: ``$WARMUP_NOTIFY_...``, ``config file
    PATH`` or ``the ledger``."""
    return _sourced(ledger)[0]


def _sourced(ledger: Ledger) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """:func:`sourced_targets`, and the ledger's ``notify.`` settings it read."""
    from warmup import config

    stored = ledger.settings("notify.")
    cfg = config.load()
    found = {}
    for name, key in KEYS.items():
        for value, where in (
            (os.environ.get(ENV[name]), f"${ENV[name]}"),
            (cfg.get(f"notify.{name}"), f"config file {cfg.path}"),
            (stored.get(key), "the ledger"),
        ):
            if value:
                found[name] = (value, where)
                break
    if "webhook" not in found and stored.get(IN_KEYRING):
        url = _from_keyring()
        if url:
            found["webhook"] = (url, "this host's keyring")
    return found, stored


def elsewhere(ledger: Ledger) -> str | None:
    """The masked webhook the ledger says is in a host's keyring, when it is not in this
    host's (set on another host of a shared ledger): None when it is here, or none is set."""
    return elsewhere_of(ledger.settings(IN_KEYRING).get(IN_KEYRING))


def elsewhere_of(masked: str | None) -> str | None:
    """:func:`elsewhere` of the ledger's masked webhook ``masked``."""
    return masked if masked and not _from_keyring() else None


def _from_keyring() -> str | None:
    """The webhook this host's keyring holds (None: none, or a keyring that cannot be read:
    notifications never stop a command)."""
    try:
        return credentials.read_secret(KEYRING_SERVICE, KEYRING_USER)
    except ConfigError:
        return None


def check_targets(ledger: Ledger) -> None:
    """:class:`ConfigError` if the webhook can never be posted to (one from the environment or
    the config file: 'notify set' refuses such a URL), naming where it is set."""
    webhook = sourced_targets(ledger).get("webhook")
    fault = webhook and webhook_fault(webhook[0])
    if webhook and fault:
        raise ConfigError(
            f"the webhook in {webhook[1]} ({mask(webhook[0])}) {fault}; give one like "
            f"https://hooks.example.com/warmup"
        )


def event(
    name: str, mailbox: str | None, at: dt.datetime, reason: str, **extra: object
) -> dict[str, Any]:
    """One event's JSON object (``None`` extras left out)."""
    body: dict[str, Any] = {
        "event": name,
        "mailbox": mailbox,
        "at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "reason": reason,
    }
    for key, value in extra.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        if value is not None:
            body[key] = value
    return body


def _ascii(text: str) -> str:
    """``text`` with its non-ASCII characters percent-encoded (UTF-8), the rest as it is."""
    return re.sub(r"[^\x00-\x7f]+", lambda m: quote(m[0]), text)


# Group robots take their own message, not warmup's event: WeCom's (qyapi.weixin.qq.com
# /cgi-bin/webhook/send?key=) and DingTalk's (oapi.dingtalk.com/robot/send?access_token=)
# {"msgtype": "text", "text": {"content": ...}}, Feishu's and Lark's (open.feishu.cn,
# open.larksuite.com /open-apis/bot/v2/hook/TOKEN) {"msg_type": "text", "content": {"text":
# ...}}, Slack's (hooks.slack.com/services/...) {"text": ...}. Told apart by the URL's path (a
# proxy or a relay on another host keeps it).
_ROBOT_PATHS = (("/cgi-bin/webhook/send", "key="), ("/robot/send", "access_token="))
_SLACK_PATH = re.compile(r"/services/T\w+/B\w+/[\w-]+")
_FEISHU_PATH = re.compile(r"/open-apis/bot/v2/hook/[\w-]+")
_ROBOT_MAX = 2000  # bytes: WeCom shows at most 2048 of a text message


def _robot(url: str) -> str | None:
    """Which group robot ``url`` is (``wecom`` for WeCom's and DingTalk's format, ``feishu``,
    ``slack``), None for any other webhook."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    path = parts.path.rstrip("/")
    if any(path.endswith(end) and key in parts.query for end, key in _ROBOT_PATHS):
        return "wecom"
    if _FEISHU_PATH.fullmatch(path):
        return "feishu"
    return "slack" if _SLACK_PATH.fullmatch(path) else None


def _for_robot(url: str, body: dict[str, Any]) -> bytes | None:
    """The message a group robot at ``url`` shows for ``body``; None for any other webhook
    (which gets the event's JSON)."""
    robot = _robot(url)
    if robot is None:
        return None
    extra = [
        f"{k}={json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v}"
        for k, v in sorted(body.items())
        if k not in ("event", "mailbox", "reason", "at")
    ]
    text = f"warmup: {body['event']} {body.get('mailbox') or 'outbox'}: {body['reason']}"
    text += f" ({', '.join([*extra, 'at ' + str(body['at'])])})"
    if len(text.encode()) > _ROBOT_MAX:
        text = text.encode()[: _ROBOT_MAX - 3].decode(errors="ignore") + "..."
    message: dict[str, Any] = {"text": text}  # Slack's
    if robot == "wecom":
        message = {"msgtype": "text", "text": {"content": text}}
    elif robot == "feishu":
        message = {"msg_type": "text", "content": {"text": text}}
    return json.dumps(message, ensure_ascii=False).encode()


_VERDICT_MAX = 65_536  # bytes of a JSON answer read for its errcode

# Feishu's answers (HTTP 200 either way) that a later try may not get: 11232, too many a
# minute. What it says for a signed robot (19021) or a keyword robot (19024) gets its fix.
_FEISHU_AGAIN = frozenset({"11232"})
_FEISHU_FIX = {
    "19021": "warmup does not sign its messages: turn the robot's signature check off, or "
    "allow this host's IP address instead",
    "19024": "the robot shows only messages with its keywords: add the keyword 'warmup' "
    "(every message starts with it)",
}


def _verdict(resp: Any, robot: str | None = None) -> OSError | None:
    """The failure a robot's 2xx JSON answer states (WeCom, DingTalk: ``errcode`` not 0;
    Feishu: ``code`` not 0), read within the request's deadline; None when it states none, or
    is no such answer."""
    if "json" not in (resp.headers.get("Content-Type") or "").lower():
        return None
    raw = resp.read(_VERDICT_MAX + 1)
    if len(raw) > _VERDICT_MAX:
        return None
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    if robot == "feishu" and answer.get("code") not in (None, 0, "0"):
        code = answer["code"]
        why = f"the robot answered code {code}: {answer.get('msg')}"  # escaped when logged
        fix = _FEISHU_FIX.get(str(code))
        if fix:
            why += f"; {fix}"
        return OSError(why) if str(code) in _FEISHU_AGAIN else _Refused(why)
    code = answer.get("errcode")
    if code in (None, 0, "0"):
        return None
    why = f"the robot answered errcode {code}: {answer.get('errmsg')}"  # escaped when logged
    # -1: busy; 45009: too many messages a minute: those pass. Any other, the same request
    # gets again (a wrong key, a message it does not take).
    return OSError(why) if str(code) in ("-1", "45009") else _Refused(why)


class _Unsendable(OSError):
    """A webhook URL that can never be posted to (:func:`webhook_fault`)."""


class _Refused(OSError):
    """An answer the same request would get again: a redirect, or a 4xx but those that ask to
    try later (:data:`_TRY_AGAIN`): a wrong token (401/403), a removed hook (404/410)."""


SAID_MAX = 300  # characters of a failing command's last line in the log: a reason, not a dump
_TRY_AGAIN = frozenset({408, 425, 429})  # timeout, too early, too many requests


class Notifier:
    """Delivers events in the background to a webhook and/or a command; see the module doc.

    ``send`` returns at once; ``close`` waits (at most ``drain`` seconds) for what is queued.
    ``log`` gets one line per delivery that failed every try; ``failed`` counts them, and
    ``given_up`` says ``close`` left events undelivered (still being tried, or queued).
    """

    def __init__(
        self,
        webhook: str | None = None,
        command: str | None = None,
        *,
        log: Callable[[str], object] | None = None,
        timeout: float = TIMEOUT,
        tries: int = TRIES,
        backoff: float = BACKOFF,
        drain: float = DRAIN,
    ) -> None:
        self.webhook = webhook
        self.command = command
        self.log = log or _log.warning
        self.timeout = timeout
        self.tries = tries
        self.backoff = backoff
        self.drain = drain
        self.failed = 0
        self.given_up = False
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._closing = threading.Event()
        self._full_said = False
        self._thread: threading.Thread | None = None
        self._trying = ""  # the delivery in progress, for close() to say what it gave up on
        self._child: int | None = None  # the command's process group while it runs

    @property
    def active(self) -> bool:
        return bool(self.webhook or self.command)

    def send(self, body: dict[str, Any]) -> None:
        """Queue one event (see :func:`event`); never blocks, never raises."""
        if not self.active or self._closing.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="warmup-notify", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            if not self._full_said:
                self._full_said = True
                self.log(
                    f"notification dropped: {QUEUE_SIZE} events wait already ({body['event']})"
                )

    def close(self) -> None:
        """Deliver what is queued, waiting at most ``drain`` seconds, then stop."""
        self._closing.set()
        if self._thread is None:
            return
        deadline = time.monotonic() + self.drain  # for the stop mark and the thread together
        try:
            self._queue.put(None, timeout=self.drain)
        except queue.Full:
            pass
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            self.given_up = True
            # Which target kept it, and how its tries went: a webhook that never answers in
            # time was given up on with no word of it, nor of what to check.
            trying = f" while trying {self._trying}" if self._trying else ""
            self.log(f"notifications not delivered within {self.drain:g} s; given up{trying}")
            # A command still running is stopped with its children: left to the process's
            # exit, which ends the thread waiting for it, it ran on (a hung pager, one more
            # after every run of warmup), reading the event nobody waits for any longer.
            child = self._child
            if child is not None:
                from warmup import childcmd

                childcmd.kill_group(child)
        self._thread = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the background thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            # close() sets _closing before it queues the stop mark, which a full queue may not
            # take: then the queue tried out is the end (send queues nothing once closing).
            if self._closing.is_set() and self._queue.empty():
                return
            body = self._queue.get()
            if body is None:
                return
            data = json.dumps(body, sort_keys=True).encode()
            if self.webhook:
                posted = _for_robot(self.webhook, body) or data
                self._deliver(body, f"webhook {mask(self.webhook)}", self._post, posted)
            if self.command:
                self._deliver(body, "notify command", self._run_command, data)

    def _deliver(
        self, body: dict[str, Any], target: str, once: Callable[[bytes], None], data: bytes
    ) -> None:
        error = ""
        made = 0
        for n in range(self.tries):
            if n:
                time.sleep(self.backoff * 2 ** (n - 1))
            made += 1
            last = f"; try {n}: {error}" if error else ""
            self._trying = f"{target} (try {made} of {self.tries}{last})"
            try:
                once(data)
                self._trying = ""
                return
            except _Unsendable as exc:  # a malformed URL: trying again cannot help
                self.failed += 1
                self._trying = ""
                self.log(
                    f"notification {body['event']} for {body.get('mailbox') or 'the outbox'} "
                    f"not delivered to {target}: {exc}"
                )
                return
            except Exception as exc:  # every failure is the target's; none reaches sending
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if self.webhook:
                    error = unquoted(error, self.webhook)
                # A server's reason phrase, a command's stderr: never a terminal's escapes.
                error = escaped(error)
                if isinstance(exc, _Refused):  # the same request gets the same answer
                    break
        self.failed += 1
        self._trying = ""
        self.log(
            f"notification {body['event']} for {body.get('mailbox') or 'the outbox'} not "
            f"delivered to {target} after {made} {'try' if made == 1 else 'tries'}: {error}"
        )

    def _post(self, data: bytes) -> None:
        import http.client
        import urllib.error
        import urllib.request

        from warmup.httpdeadline import Deadline

        assert self.webhook is not None
        fault = webhook_fault(self.webhook)
        if fault:  # from the environment or the config file, never checked by 'notify set'
            raise _Unsendable(f"the webhook URL {fault}")
        url, headers = self.webhook, {"Content-Type": "application/json", "User-Agent": "warmup"}
        parts = urlsplit(url)
        if parts.username is not None:  # user:password@ in the URL: HTTP basic authentication
            login = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        # http.client sends the request line and Host as ASCII: encode the rest as a browser
        # would, an international domain name as its xn-- form (checked by webhook_fault).
        host = parts.hostname or ""
        if not host.isascii():
            port = f":{parts.port}" if parts.port is not None else ""
            parts = parts._replace(netloc=host.encode("idna").decode() + port)
        url = parts._replace(path=_ascii(parts.path), query=_ascii(parts.query)).geturl()
        req = urllib.request.Request(url, data=data, method="POST", headers=headers)
        try:
            # The status is the answer, but for a robot's JSON verdict (:func:`_verdict`): any
            # other body, unread, can be neither huge nor endless.
            with Deadline(self.timeout) as deadline:
                try:
                    with deadline.opener().open(req, timeout=self.timeout) as resp:
                        refused = _verdict(resp, _robot(self.webhook))
                    if refused:
                        raise refused
                except (OSError, http.client.HTTPException) as exc:
                    # Cut short at the deadline: the connection lost, or its answer broken.
                    if deadline.ran_out(exc):
                        raise OSError(f"no complete answer within {self.timeout:g} s") from None
                    if isinstance(exc, http.client.HTTPException):
                        raise OSError(f"a broken HTTP answer: {type(exc).__name__}") from None
                    raise
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise _Refused(
                    f"HTTP {exc.code} {exc.reason}: a redirect, not followed; set the webhook "
                    f"to the URL it points to"
                ) from None
            if 400 <= exc.code < 500 and exc.code not in _TRY_AGAIN:
                raise _Refused(f"HTTP {exc.code} {exc.reason}") from None
            raise OSError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise OSError(str(exc.reason)) from None
        except ValueError:  # http.client.InvalidURL and the like quote the URL: never its token
            raise OSError("the webhook URL cannot be posted to") from None

    def _started(self, group: int) -> None:
        self._child = group

    def _run_command(self, data: bytes) -> None:
        from warmup import childcmd

        assert self.command is not None
        env = credentials.child_env()
        try:
            # Its standard error, at most 64 KiB of it, says why it failed; its output is unused.
            returncode, err = childcmd.run(
                shlex.split(self.command),
                timeout=self.timeout,
                env=env,
                keep="stderr",
                data=data,
                started=self._started,
            )
        except childcmd.CommandFault as exc:
            raise OSError(str(exc)) from None
        finally:
            self._child = None
        if returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()
            how = f"exit {returncode}" if returncode > 0 else childcmd.exit_words(returncode)
            # A program quoting its own argv ("unknown option --token=X"), its own token from
            # its environment, a header or a URL with a password: logged, never the secret
            # (cut first, bounding the work: masking shortens no line by thousands)
            said = said_masked(last[-1][: SAID_MAX * 16], self.command, env) if last else ""
            if len(said) > SAID_MAX:
                said = said[: SAID_MAX - 3] + "..."
            raise OSError(how + (f": {said}" if said else ""))


HEALTH_KEY = "notify.health:"  # + address: the health last seen, so each change is told once
_HEALTH_WORDS = (
    ("paused", "paused: "),
    ("step_back", "steps back a stage"),
    ("hold", "holds the ramp"),
)


def health_of(a: Allowance) -> tuple[str, str] | None:
    """The mailbox's health as its bounce (and complaint) rates make it, and the reason: ``ok``,
    ``hold``, ``step_back`` or ``paused``; None while a pause by hand or a provider back-off
    hides it (those are told where they are recorded)."""
    if a.status == "paused" and any(
        r.startswith(("paused since", "paused until")) for r in a.reasons
    ):
        return None
    for health, words in _HEALTH_WORDS:
        if health == "paused" and a.status != "paused":
            continue
        why = next((r for r in a.reasons if words in r), None)
        if why is not None:
            return health, why
    return "ok", ""


def observe(
    ledger: Ledger,
    notifier: Notifier,
    a: Allowance,
    at: dt.datetime,
    seen: dict[str, str] | None = None,
) -> None:
    """Tell ``notifier`` when ``a`` shows the mailbox newly paused, held or stepped back by its
    rates, compared with the health last seen (kept in the ledger, so a cron ``run --once`` or
    ``bounces sync`` tells each change once). ``seen``: the stored values, already read."""
    if not notifier.active:
        return
    found = health_of(a)
    if found is None:
        return
    health, why = found
    key = HEALTH_KEY + a.mailbox
    if seen is None:
        seen = ledger.settings(key)
    if seen.get(key, "ok") == health:
        return
    ledger.set_settings({key: health}, at)
    seen[key] = health
    if health != "ok":
        notifier.send(event(health, a.mailbox, at, why, cause="bounce_rate"))


def notifier_for(ledger: Ledger, log: Callable[[str], object] | None = None) -> Notifier:
    """A :class:`Notifier` to the ledger's (or the environment's) targets; an inactive one when
    none is set, which costs nothing."""
    sourced, stored = _sourced(ledger)
    found = {name: value for name, (value, _) in sourced.items()}
    notifier = Notifier(found.get("webhook"), found.get("command"), log=log)
    masked = stored.get(IN_KEYRING)
    if masked and "webhook" not in found:
        # Its events would be dropped without a word, as if no webhook were set.
        notifier.log(
            f"notifications: the webhook {masked} is not in this host's keyring (set on another "
            f"host, or a keyring this host cannot read): this host does not post to it; run "
            f"'warmup notify set --webhook -' here, or set ${ENV['webhook']}"
        )
    return notifier
