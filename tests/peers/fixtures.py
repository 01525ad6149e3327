"""pytest fixtures for the loopback peers. Register with ``pytest_plugins = ["tests.peers.fixtures"]``.

- ``pki`` (session): the test PKI.
- ``ssl_cert_env``: SSL_CERT_FILE points at the test CA for the test (returns the path).
- ``smtp_ssl`` / ``smtp_starttls`` / ``smtp_plain``: a started SmtpSink per test.
- ``dovecot`` (session): one Dovecot instance; ``dovecot_clean``: the same instance, running,
  with INBOX emptied and every other folder deleted before the test.
- ``silent_server``: a listener that never greets; ``closed_port``: (host, port) refusing.
- ``dns_server``: a DNS server on loopback serving the records the test writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.dns import DnsServer
from tests.peers.dovecot import DOVECOT, Dovecot
from tests.peers.smtp import HOST, SilentServer, SmtpSink, free_port
from tests.peers.tls import TestPKI

SMTP_USER = "a@corp.example"
SMTP_PASSWORD = "s3cret-pass"
IMAP_USER = "bounces@corp.example"
IMAP_PASSWORD = "b0unce-pass"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def ssl_cert_env(pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_pem_path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return pki.ca_pem_path


def _sink(mode: str, pki: TestPKI) -> Iterator[SmtpSink]:
    sink = SmtpSink(mode, user=SMTP_USER, password=SMTP_PASSWORD, pki=pki)  # type: ignore[arg-type]
    with sink:
        yield sink


@pytest.fixture
def smtp_ssl(pki: TestPKI) -> Iterator[SmtpSink]:
    yield from _sink("ssl", pki)


@pytest.fixture
def smtp_starttls(pki: TestPKI) -> Iterator[SmtpSink]:
    yield from _sink("starttls", pki)


@pytest.fixture
def smtp_plain(pki: TestPKI) -> Iterator[SmtpSink]:
    yield from _sink("plain", pki)


@pytest.fixture(scope="session")
def dovecot(pki: TestPKI) -> Iterator[Dovecot]:
    if not Path(DOVECOT).exists():
        why = "dovecot is not installed (apt-get install -y --no-install-recommends dovecot-imapd)"
        if os.environ.get("CI"):
            pytest.fail(why)  # never let CI go green by skipping the IMAP tests
        pytest.skip(why)
    with Dovecot(pki, user=IMAP_USER, password=IMAP_PASSWORD) as server:
        yield server


@pytest.fixture
def dovecot_clean(dovecot: Dovecot) -> Dovecot:
    if not dovecot.running:  # a previous test may have stopped it
        dovecot.start()
    dovecot.reset()
    return dovecot


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture
def closed_port() -> tuple[str, int]:
    return HOST, free_port()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A DNS server on loopback with an empty zone: the test writes its records."""
    with DnsServer() as server:
        yield server
