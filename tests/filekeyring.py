"""A keyring backend backed by a JSON file, so tests exercise ``warmup mailbox login`` for real
across processes on a machine without a desktop keyring."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


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
    """A keyring whose every call fails (a locked or crashed Secret Service, D-Bus gone)."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the keyring daemon went away")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the keyring daemon went away")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("the keyring daemon went away")


class UnloadableKeyring(BrokenKeyring):
    """A keyring backend that fails as it is made."""

    def __init__(self) -> None:
        raise RuntimeError("cannot connect to the keyring daemon")
