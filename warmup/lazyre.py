"""Regular expressions compiled when first used, not when their module is imported.

Every command imports the modules that check times, addresses, fields and policy text, and
compiling their ~35 patterns cost ~3.5 ms of each ``warmup quota``, which uses three of them.
:func:`compiled_later` gives a stand-in that compiles its pattern on the first use of one of
its methods (``match``, ``sub``, ...) and keeps that method: later calls cost what they cost on
the pattern itself. A pattern with a mistake raises where it is first used, so each one is
exercised by a test of the code that uses it.
"""

from __future__ import annotations

import re
from typing import Any, AnyStr, cast


class _Later:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._pattern = pattern
        self._flags = flags

    def __getattr__(self, name: str) -> Any:  # only for what is not kept yet
        if name.startswith("__"):  # copy, pickle and friends probing: not a pattern's
            raise AttributeError(name)
        value = getattr(re.compile(self._pattern, self._flags), name)
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        return repr(re.compile(self._pattern, self._flags))


def compiled_later(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, made on first use: use its methods and attributes
    (``.fullmatch(text)``, ``.pattern``); it is no :class:`re.Pattern` to ``re.sub`` and the
    other module-level functions."""
    return cast("re.Pattern[AnyStr]", _Later(pattern, flags))
