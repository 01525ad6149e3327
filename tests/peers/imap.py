"""A raw-socket IMAP server on 127.0.0.1 that plays a script: the openings and login answers
Dovecot will not give (a greeting a byte at a time, ``* BYE``, ``PREAUTH``, no STARTTLS on a
STARTTLS port, a BAD to AUTHENTICATE, a hang-up after a refusal), like
:class:`tests.peers.smtp.ScriptedServer` for SMTP."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

from tests.peers.smtp import ScriptedPeer, echoed


@dataclass(frozen=True)
class Flood:
    """``head``, then ``line`` over and over until ``total`` bytes are sent or the client hangs
    up: a server that answers without end (``head``: an IDLE's ``+``, or the start of a line
    ``line`` never ends). What it managed to send is added to :attr:`ImapServer.flooded` (what
    it sent, not what was read: the two sockets' buffers, a few MiB, sit between)."""

    line: bytes
    total: int
    head: bytes = b""


Step = bytes | str | Flood | None
Reply = Step | list[Step]


@dataclass(frozen=True)
class Turns:
    """Successive answers to one command on one connection: its i-th call gets ``answers[i]``
    (each a :data:`Reply`), the last one every later call. A server that says one thing to a
    UID SEARCH and, after a refused MOVE, another."""

    answers: tuple[Reply, ...]

    def __init__(self, *answers: Reply) -> None:
        if not answers:
            raise ValueError("Turns needs at least one answer")
        object.__setattr__(self, "answers", answers)


@dataclass
class ImapScript:
    """What an :class:`ImapServer` does with one connection.

    ``greeting``: the first line(s), or None to close at once. ``tls``: a server context to wrap
    the connection in first (implicit TLS); ``starttls``: the context STARTTLS switches to.
    ``trickle``: seconds between the greeting's bytes. ``replies``: a command (``CAPABILITY``,
    ``LOGIN``, ``AUTHENTICATE``, ``STARTTLS``, or two words: ``UID SEARCH``...) to its answer, ``{tag}`` standing for the
    command's tag; a list answers the command with its first item and each line the client
    sends next (an AUTHENTICATE's responses) with the next one; a :class:`Flood`, as an answer
    or in a list, streams its lines as that answer. ``None`` closes the connection
    without a word, ``"rst"`` resets it, ``"hangup"`` (in a list) closes it without reading
    the client's next line; :class:`Turns` answers each call of the command in turn. An
    answer may quote the line it answers back (:func:`tests.peers.smtp.echoed`).
    ``dribble``: a command to the seconds between the bytes of its
    answer (each within a socket timeout, the whole answer not), ``step`` bytes at a time."""

    greeting: bytes | None = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] ready\r\n"
    replies: dict[str, Reply | Turns] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    starttls: ssl.SSLContext | None = None
    trickle: float = 0.0
    dribble: dict[str, float] = field(default_factory=dict)
    step: int = 1
    # Sent right after the greeting, before any command is read: a server that greets, then
    # goes on talking.
    flood: Flood | None = None


CAPABILITIES = b"IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=XOAUTH2"
_DEFAULT_REPLIES: dict[str, Reply] = {
    "CAPABILITY": b"* CAPABILITY " + CAPABILITIES + b"\r\n{tag} OK done\r\n",
    "LOGIN": b"{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n",
    "AUTHENTICATE": [b"+ \r\n", b"{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n"],
    "LOGOUT": b"* BYE bye\r\n{tag} OK done\r\n",
    "STARTTLS": b"{tag} OK begin TLS now\r\n",
    "NOOP": b"{tag} OK done\r\n",
}


class ImapServer(ScriptedPeer[ImapScript]):
    """Plays ``scripts[i]`` to its i-th connection (the last to every later one): a first host
    that fails one way and a backup that works, on one port (``127.0.0.1`` and ``localhost``
    reach the same server). ``commands`` lists every line read, per connection."""

    def __init__(self, *scripts: ImapScript) -> None:
        super().__init__(list(scripts) or [ImapScript()])
        self.flooded: list[int] = []  # the bytes each Flood managed to send, in order

    def _flood(self, conn: socket.socket, flood: Flood) -> bool:
        """Play ``flood``; False when the client hung up before it ended."""
        chunk = flood.line * max(1, 65_536 // len(flood.line))
        sent = 0
        try:
            conn.sendall(flood.head)
            while sent < flood.total and not self._stop.is_set():
                part = chunk[: flood.total - sent]
                conn.sendall(part)
                sent += len(part)
        except OSError:
            return False
        finally:
            with self._lock:
                self.flooded.append(sent)
        return True

    def verbs(self) -> list[list[str]]:
        """The command of each line read (its second word), per connection."""
        return [
            [(line.split(b" ") + [b"", b""])[1].strip().upper().decode() for line in conn]
            for conn in self.commands
        ]

    def _talk(self, conn: socket.socket, script: ImapScript, seen: list[bytes]) -> None:
        try:
            conn.settimeout(30)
            if script.tls is not None:
                conn = script.tls.wrap_socket(conn, server_side=True)
            self._converse(conn, script, seen)
        except OSError:  # the client hung up, or a handshake failed
            pass
        finally:
            conn.close()

    def _converse(self, conn: socket.socket, script: ImapScript, seen: list[bytes]) -> None:
        tls: list[socket.socket] = []  # the connection after STARTTLS: _talk closes the one before
        try:
            self._exchange(conn, script, seen, tls)
        finally:
            for sock in tls:
                sock.close()

    def _exchange(
        self, conn: socket.socket, script: ImapScript, seen: list[bytes], tls: list[socket.socket]
    ) -> None:
        if not self._greet(conn, script.greeting, script.trickle):
            return
        if script.flood is not None and not self._flood(conn, script.flood):
            return
        replies = {**_DEFAULT_REPLIES, **script.replies}
        calls: dict[str, int] = {}  # how often each scripted command was answered
        reader = conn.makefile("rb")
        while line := reader.readline():
            seen.append(line)
            tag, _, rest = line.partition(b" ")
            words = rest.split(b" ", 2)
            verb = words[0].strip().upper().decode("ascii", "replace")
            # "UID SEARCH", "UID FETCH": scripted apart when the script names them.
            both = " ".join(w.strip().upper().decode("ascii", "replace") for w in words[:2])
            key = both if both in replies else verb
            reply = replies.get(key, b"{tag} BAD unknown command\r\n")
            if isinstance(reply, Turns):
                n = calls.get(key, 0)
                calls[key] = n + 1
                reply = reply.answers[min(n, len(reply.answers) - 1)]
            steps = reply if isinstance(reply, list) else [reply]
            last = line
            for n, step in enumerate(steps):
                if step == "hangup":
                    return
                if n:
                    last = reader.readline()
                    if not last:
                        return
                    seen.append(last)
                if isinstance(step, Flood):
                    if not self._flood(conn, step):
                        return
                    continue
                step = echoed(step, last)
                if isinstance(step, bytes):
                    step = step.replace(b"{tag}", tag)
                if not self._reply(
                    conn, step, script.dribble.get(both, script.dribble.get(verb, 0.0)), script.step
                ):
                    return
            if verb == "STARTTLS" and script.starttls is not None:
                reader.close()
                conn = script.starttls.wrap_socket(conn, server_side=True)
                tls.append(conn)
                reader = conn.makefile("rb")
            if verb == "LOGOUT":
                return
