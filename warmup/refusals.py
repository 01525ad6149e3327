"""What the gate says when it refuses: the plan does not allow a message now (exit 75, with
when it will), a recipient is suppressed (exit 65), or a message is to more recipients than any
day's quota can ever take (exit 65: no later try would)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from warmup import addresses
from warmup.errors import DataError, TempFail
from warmup.policy import Allowance
from warmup.policy.engine import per_domain
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.ledger import MailboxRow
    from warmup.policy.spec import PolicySpec


class NotAllowed(TempFail):
    """The plan does not allow this message now (exit 75); :attr:`allowance` says why."""

    def __init__(self, message: str, allowance: Allowance) -> None:
        super().__init__(message)
        self.allowance = allowance


class Suppressed(DataError):
    """Some recipients are suppressed (exit 65); nothing was reserved."""

    def __init__(self, message: str, recipients: dict[str, str]) -> None:
        super().__init__(message)
        self.recipients = recipients


def refusal(allowance: Allowance, wanted: int = 1, tz: str = "UTC") -> str:
    """One line: why the mailbox cannot send now and when it can."""
    a = allowance
    if a.status == "paused":
        why = next((r for r in a.reasons if r.startswith("paused")), "paused")
        return f"{a.mailbox} is {why}"
    if a.status == "closed":
        why = next((r for r in a.reasons if r.startswith("closed")), "closed today")
        return f"{a.mailbox}: {why.split(': quota 0')[0]}{_when(a, tz)}"
    # the domain cap leaves less than the quota: it binds, and is what to name
    domain = next((r for r in a.reasons if r.startswith("domain cap ")), None)
    if a.status == "exhausted" or a.remaining <= 0:
        when = _when(a, tz)
        if domain is not None:
            said = domain.removeprefix("domain cap ")
            return f"{a.mailbox}: the domain cap is used ({said}){when or '; try tomorrow'}"
        return (
            f"{a.mailbox}: today's quota is used ({a.sent} of {a.quota} sent)"
            f"{when or '; try tomorrow'}"
        )
    if a.remaining < wanted:
        of = f"{a.sent} of {a.quota} sent" if domain is None else domain
        return (
            f"{a.mailbox}: only {a.remaining} of today's quota left ({of}), {wanted} wanted; "
            f"send to at most {a.remaining} or try tomorrow"
        )
    if a.status == "paced":
        why = next((r for r in reversed(a.reasons) if r.startswith(("pacing", "outside"))), "paced")
        return f"{a.mailbox}: {why}"
    return f"{a.mailbox}: not allowed now ({a.status}){_when(a, tz)}"


def _when(a: Allowance, tz: str) -> str:
    """``"; next allowed at 2026-12-08 09:12:30 CST"``, or "" when the plan names no time.
    Worked out only for the refusals that say it: a paced one names its gap instead, and the
    worker words one for each member of a paced pool twice a slot (~0.1 ms each, pendulum)."""
    if a.next_send_at is None:
        return ""
    return f"; next allowed at {_local_text(a.next_send_at, tz)}"


def suppressed_refusal(bad: dict[str, str]) -> Suppressed:
    listed = ", ".join(f"{r} ({why})" for r, why in bad.items())
    return Suppressed(
        f"suppressed recipient(s), not sent: {listed}; remove with "
        f"'warmup suppress remove ADDRESS' if this is wrong",
        bad,
    )


def _local_text(ts: dt.datetime, tz: str) -> str:
    import pendulum

    return pendulum.instance(ts).in_timezone(tz).format("YYYY-MM-DD HH:mm:ss zz")


def day_top(
    box: MailboxRow, spec: PolicySpec, provider_limit: int | None = None
) -> tuple[int, str]:
    """The most recipients any day's quota of ``box`` (under ``spec``) can be, and what sets
    it: the policy's ceiling, its highest daily volume, its domain cap, the provider's
    published limit (``provider_limit``) or the mailbox's cap. Each bounds every day's quota
    (see :mod:`warmup.policy.walk`): a message to more waited for "tomorrow" for ever."""
    bounds = [
        (spec.ceiling, "its policy's ceiling"),
        (max(max(st.daily_from, st.daily_to) for st in spec.stages), "its policy's top volume"),
    ]
    if spec.domain_cap is not None:
        bounds.append((spec.domain_cap, "its policy's domain cap, shared by the domain"))
    if provider_limit is not None:
        bounds.append((provider_limit, "its provider's daily limit"))
    if box.cap:  # 0: paused (an old ledger's), which the plan says, exit 75
        bounds.append((box.cap, "its cap"))
    return min(bounds, key=lambda b: b[0])  # the first named of equal bounds


def check_fits(
    recipients: Sequence[str],
    box: MailboxRow,
    spec: PolicySpec,
    provider_limit: int | None = None,
) -> None:
    """:class:`DataError` when ``recipients`` are more than any day's quota of ``box`` can
    be (:func:`day_top`), or more at one receiving domain than the policy's recipient-domain
    cap for it: no later try would take them."""
    rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
    n = len(rcpts)
    top, why = day_top(box, spec, provider_limit)
    if n > top:
        raise DataError(
            f"{n} recipients in one message; {box.address} never sends to more than "
            f"{top} a day ({why}): split it into messages of at most "
            f"{plural(top, 'recipient')}"
        )
    caps = spec.recipient_domains
    if not caps:
        return
    for domain, count in sorted(per_domain(rcpts).items()):
        cap = caps.cap_for(domain)
        if cap == 0:
            raise DataError(
                f"{box.address} never mails anyone at {domain} (its policy's recipient-domain "
                f"cap there is 0): leave {plural(count, 'recipient')} at {domain} out"
            )
        if cap is not None and count > cap:
            raise DataError(
                f"{plural(count, 'recipient')} at {domain} in one message; {box.address} never "
                f"sends to more than {cap} a day there (its policy's recipient-domain cap): "
                f"split it into messages of at most {plural(cap, 'recipient')} at {domain}"
            )
