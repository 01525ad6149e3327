"""A gate's way in to its mailbox's SMTP server: the login and the one session.

The login is the password the gate was given, else the mailbox's stored secret
(:func:`warmup.logins.secret_for`: the keyring, the environment, a password command, an OAuth
login), read once and kept (an OAuth access token is cached in it), and read again after the
server refused it: the user may store the right one meanwhile. The session is opened on first
use, with failover across the mailbox's hosts, and kept for the next message; a refused login
is said with the provider's setup checklist. :class:`~warmup.gate.Gate` holds one
:class:`SmtpLink` and takes turns on it (one message at a time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmup.providers import checklist_text

if TYPE_CHECKING:
    from warmup.gateprocess import Left
    from warmup.ledger import MailboxRow
    from warmup.oauth import Bearer
    from warmup.providers import Provider
    from warmup.smtp import Session, Target


class SmtpLink:
    """The login and SMTP session of one gate (see the module docstring). ``left``: the gate's
    :class:`~warmup.gateprocess.Left`, told of the session so that a gate never closed still
    says goodbye to the server."""

    def __init__(self, password: str | None, password_command: str | None, left: Left) -> None:
        self._password = password
        self._password_command = password_command
        self._left = left
        self._secret: str | Bearer | None = None
        self.session: Session | None = None

    @property
    def connected(self) -> bool:
        """Whether a session is open (the next message goes on it without a login)."""
        return self.session is not None and self.session.smtp is not None

    def forget(self) -> None:
        """Read the login again at the next connection (the mailbox's way in may have
        changed)."""
        self._secret = None

    def target(
        self, box: MailboxRow, timeout: float | None, clock: Callable[[], dt.datetime]
    ) -> Target:
        """Where and as whom ``box`` logs in, its secret read if it is not kept."""
        from warmup import api, logins, smtp

        ep = api.endpoints(box)
        if self._password:
            password: str | Bearer = self._password
        else:
            if self._secret is None:  # kept: an OAuth access token is cached in it
                self._secret = logins.secret_for(box, self._password_command, clock)
            password = self._secret
        return smtp.Target(
            ep.smtp_hosts,
            ep.smtp_port,
            ep.smtp_security,
            box.address,
            password,
            timeout or smtp.DEFAULT_TIMEOUT,
        )

    def connect(
        self,
        box: MailboxRow,
        provider: Provider,
        timeout: float | None,
        clock: Callable[[], dt.datetime],
    ) -> Session:
        """A new session, with failover across ``box``'s hosts (:meth:`close` the old first)."""
        from warmup import smtp

        try:
            self.session = self._left.session = smtp.Session(self.target(box, timeout, clock))
        except smtp.AuthFailed as exc:
            # Read again next time: the user may store the right one meanwhile (a worker
            # or relay that kept a refused password failed until it was restarted).
            self._secret = None
            raise smtp.AuthFailed(f"{exc}\n{checklist_text(provider)}") from None
        return self.session

    def close(self) -> None:
        """Close the session (QUIT); the next message connects again."""
        if self.session is not None:
            self.session.close()
            self.session = self._left.session = None
