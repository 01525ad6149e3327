"""The wall clock of a test run, moved: every Python process started with this directory on
``PYTHONPATH`` and ``WARMUP_TEST_CLOCK_SHIFT`` (seconds, a float) set reads the time that many
seconds away, so the suite can be run as if it were another time of day or another date
(``scripts/clock-sweep``). Tests pass ``now`` to the policy; what this finds is a test, or a
command's default of "now", that holds only at some hours (a send "an hour ago" that is
yesterday, a day that ends between a test's two reads of the clock).

Moved for every module: ``time.time``/``time_ns`` and the argument-less ``localtime``/
``gmtime``/``ctime``/``strftime``. Moved for warmup's and the tests' own modules (those pytest
loads too): ``datetime.now``/``utcnow``/``today``. Their imports of ``datetime``, at the top or
in a function, get a copy of the module whose ``datetime`` is a stand-in: a subclass whose
clock is moved, that makes real instances, that every real instance passes ``isinstance`` for,
and that is named ``datetime``. ``date`` is the real class (``type(day) is dt.date`` holds; no
code of warmup's asks ``date.today()``). The datetime module itself is left alone: compiled
modules (pandas) built against its types crash on a stand-in. Not moved: the monotonic clocks
(timeouts, sleeps, asyncio's loop), and what runs outside Python: Dovecot (which stamps a
message APPENDed with a date ahead of its clock with its own time, so scripts/clock-sweep moves
the clock back only), PostgreSQL, OpenSSL's certificate checks. Every process of a run gets the
same shift, since it is given, not measured.
"""

from __future__ import annotations

import os

_SHIFT = os.environ.get("WARMUP_TEST_CLOCK_SHIFT")

if _SHIFT:
    import builtins
    import datetime as _datetime
    import importlib.abc
    import importlib.machinery
    import sys
    import time as _time
    import types
    from typing import Any

    shift = float(_SHIFT)
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _real_localtime, _real_gmtime = _time.localtime, _time.gmtime
    _real_ctime, _real_strftime = _time.ctime, _time.strftime
    _RealDateTime = _datetime.datetime

    def _now() -> float:
        return _real_time() + shift

    def _now_ns() -> int:
        return _real_time_ns() + round(shift * 1e9)

    def _localtime(secs: Any = None) -> _time.struct_time:
        return _real_localtime(_now() if secs is None else secs)

    def _gmtime(secs: Any = None) -> _time.struct_time:
        return _real_gmtime(_now() if secs is None else secs)

    def _ctime(secs: Any = None) -> str:
        return _real_ctime(_now() if secs is None else secs)

    def _strftime(fmt: str, t: Any = None) -> str:
        return _real_strftime(fmt, _real_localtime(_now()) if t is None else t)

    # The stand-in passes for the real class; a subclass of it (warmup's Live, made from the
    # stand-in a moved module sees) stays an ordinary subclass: its own instances, and only
    # they, are of it, or every datetime passed for a Live one.
    class _Meta(type):
        def __instancecheck__(cls, obj: object) -> bool:
            if cls is FakeDateTime:
                return isinstance(obj, _RealDateTime)
            return type.__instancecheck__(cls, obj)

        def __subclasscheck__(cls, sub: type) -> bool:
            if cls is FakeDateTime:
                return issubclass(sub, _RealDateTime)
            return type.__subclasscheck__(cls, sub)

    class FakeDateTime(_RealDateTime, metaclass=_Meta):
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            if cls is FakeDateTime:
                return _RealDateTime(*args, **kwargs)
            return super().__new__(cls, *args, **kwargs)

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return _RealDateTime.fromtimestamp(_now(), tz)

        @classmethod
        def today(cls) -> Any:
            return cls.now()

        @classmethod
        def utcnow(cls) -> Any:
            return cls.now(_datetime.UTC).replace(tzinfo=None)

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            return handler.generate_schema(_RealDateTime)  # SQLModel's fields of warmup.ledger

    # named as the real one, for messages that name a type
    FakeDateTime.__name__ = FakeDateTime.__qualname__ = "datetime"
    FakeDateTime.__module__ = "datetime"

    _module = types.ModuleType("datetime", _datetime.__doc__)
    _module.__dict__.update(
        {k: v for k, v in vars(_datetime).items() if not k.startswith("__")},
        datetime=FakeDateTime,
    )
    _SWAP = {id(_datetime): _module, id(_RealDateTime): FakeDateTime}
    _real_import = builtins.__import__

    def _import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        if name == "datetime" and level == 0:
            return _module
        return _real_import(name, globals, locals, fromlist, level)

    _BUILTINS = {**vars(builtins), "__import__": _import}

    def _swap(module: types.ModuleType, *, before: bool = False) -> None:
        """``before`` the module runs: its imports of ``datetime`` (at the top or in a
        function) get the stand-ins. After: the names it holds for the real ones, swapped."""
        names = vars(module)
        if before:
            names["__builtins__"] = _BUILTINS
            return
        for name, value in list(names.items()):
            if id(value) in _SWAP:
                names[name] = _SWAP[id(value)]

    def _ours(name: str) -> bool:
        return name.split(".")[0] in ("warmup", "tests") or name.startswith(("test_", "conftest"))

    def _pendulum(name: str) -> bool:
        """pendulum's modules are swapped after they run (its classes derive from the real
        ones), so ``pendulum.now()``, which the tests ask, is moved too."""
        return name.split(".")[0] == "pendulum"

    class _Loader(importlib.abc.Loader):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:  # files, resources, source: the inner's
            return getattr(self.inner, name)

        def create_module(self, spec: Any) -> Any:
            return self.inner.create_module(spec)

        def exec_module(self, module: types.ModuleType) -> None:
            if module.__name__ == "_pytest.assertion.rewrite":
                self.inner.exec_module(module)
                _wrap_rewriter(module.AssertionRewritingHook)
                return
            if _ours(module.__name__):
                _swap(module, before=True)
            self.inner.exec_module(module)
            _swap(module)

    def _wrap_rewriter(hook: Any) -> None:
        """pytest loads test modules with a finder of its own, ahead of this one: its loader
        swaps them too."""
        inner = hook.exec_module

        def exec_module(self: Any, module: types.ModuleType) -> None:
            if _ours(module.__name__):
                _swap(module, before=True)
            inner(self, module)
            if _ours(module.__name__):
                _swap(module)

        hook.exec_module = exec_module

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if not (_ours(name) or _pendulum(name) or name == "_pytest.assertion.rewrite"):
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
            return spec

    sys.meta_path.insert(0, _Finder())
    _time.time, _time.time_ns = _now, _now_ns
    _time.localtime, _time.gmtime, _time.ctime, _time.strftime = (
        _localtime,
        _gmtime,
        _ctime,
        _strftime,
    )
