"""What a mailbox logs in with: its password, or an OAuth :class:`~warmup.oauth.Bearer`.

The one place that reads a mailbox's auth setting (:func:`warmup.api.auth_of`) for a login, so
the gate, ``bounces sync``, the worker and ``doctor`` agree; ``warmup.oauth`` (and its HTTP
client) is imported only for a mailbox that uses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmup import credentials
from warmup.api import auth_of
from warmup.ledger import MailboxRow
from warmup.providers import get_provider

if TYPE_CHECKING:
    from warmup.oauth import Bearer


def secret_for(
    box: MailboxRow,
    command: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> str | Bearer:
    """A :class:`~warmup.oauth.Bearer` when ``box`` logs in with OAuth, else its password
    (:func:`warmup.credentials.get_password`, with ``command`` as the password command)."""
    if auth_of(box) == "oauth":
        from warmup.oauth import Bearer

        provider = get_provider(box.provider, of=box.address)
        return Bearer(box.address, provider, clock) if clock else Bearer(box.address, provider)
    return credentials.get_password(box.address, command)
