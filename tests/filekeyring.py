"""A keyring backend backed by a JSON file, so tests exercise ``warmup mailbox login`` for real
across processes on a machine without a desktop keyring."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["WARMUP_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        p = self._path()
        return json.loads(p.read_text()) if p.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}/{username}", None)
        self._path().write_text(json.dumps(data))


class BrokenKeyring(KeyringBackend):
    """A keyring whose every call fails (a locked or crashed Secret Service, D-Bus gone).

    Named by ``PYTHON_KEYRING_BACKEND`` only: its priority is below the fail keyring's (0), so
    keyring's detection, which makes every backend class a process has imported, never picks
    it for another test."""

    priority = -1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the keyring daemon went away")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the keyring daemon went away")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("the keyring daemon went away")


class UnloadableKeyring(BrokenKeyring):
    """A keyring backend that fails as it is loaded (keyring reads a backend's priority to
    load it). Not viable, so keyring's detection in a test process skips it: a backend that
    raised as it was made broke every later test of the worker that asked for the keyring."""

    @properties.classproperty
    def priority(cls) -> float:  # type: ignore[override]
        raise RuntimeError("cannot connect to the keyring daemon")


class ReadOnlyKeyring(FileKeyring):
    """The file keyring, whose writes fail (a Secret Service collection locked since the
    login, a full disk): what is stored can be read, nothing new kept."""

    priority = -1  # type: ignore[assignment]  # named only, as BrokenKeyring

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the collection is locked")
