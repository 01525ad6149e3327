"""The TLS context of SMTP connections is made once and shared (a pool's members each made
their own, the CA file read and parsed again each time), and made again as soon as what it was
made from changes: the CA file rewritten or replaced at the same path, ``SSL_CERT_FILE`` naming
another. Real TLS servers on loopback (``ScriptedServer``), real certificates (``TestPKI``)."""

from __future__ import annotations

import os

import pytest

from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Script, ScriptedServer
from warmup import smtpconnect
from warmup.errors import Unavailable
from warmup.smtp import Session, Target

BOX = "a@corp.example"


def _logs_in(port: int) -> bool:
    """Whether a session with ``127.0.0.1:port`` (implicit TLS) is opened: its certificate
    trusted; False when the certificate is not."""
    try:
        session = Session(Target(("127.0.0.1",), port, "ssl", BOX, SMTP_PASSWORD, timeout=5))
    except Unavailable as exc:
        assert "TLS certificate not trusted" in str(exc), exc
        return False
    session.close()
    return True


def test_one_context_while_nothing_it_reads_changes(pki, ssl_cert_env):
    first = smtpconnect._context()
    assert smtpconnect._context() is first
    with ScriptedServer(Script(tls=pki.server_ssl_context())) as server:
        assert _logs_in(server.port) and _logs_in(server.port)
    assert smtpconnect._context() is first


@pytest.mark.parametrize("how", ["rewritten", "replaced", "renamed"])
def test_a_ca_file_changed_at_its_path_is_read_again(how, pki, tmp_path, monkeypatch):
    """The trusted CA changes between two connections (the same ``SSL_CERT_FILE``): the second
    trusts the new one only, as a fresh context would (kept, it still trusted the old CA and
    not the new)."""
    trust = tmp_path / "trust.pem"
    trust.write_bytes(pki.ca_pem_path.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(trust))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with (
        ScriptedServer(Script(tls=pki.server_ssl_context())) as trusted,
        ScriptedServer(Script(tls=pki.untrusted_server_ssl_context())) as other,
    ):
        assert _logs_in(trusted.port) and not _logs_in(other.port)
        stat = trust.stat()
        new = pki.untrusted_ca_pem_path.read_bytes()
        if how == "rewritten":  # in place, its modification time put back
            trust.write_bytes(new)
            os.utime(trust, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        elif how == "replaced":  # another file moved over it (a package update)
            fresh = tmp_path / "fresh.pem"
            fresh.write_bytes(new)
            os.replace(fresh, trust)
        else:  # SSL_CERT_FILE names another file
            moved = tmp_path / "other.pem"
            moved.write_bytes(new)
            monkeypatch.setenv("SSL_CERT_FILE", str(moved))
        assert _logs_in(other.port) and not _logs_in(trusted.port)


def test_a_ca_file_that_appears_is_read(pki, tmp_path, monkeypatch):
    """``SSL_CERT_FILE`` naming no file (nothing trusted), then the file written there."""
    trust = tmp_path / "later.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(trust))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    with ScriptedServer(Script(tls=pki.server_ssl_context())) as server:
        assert not _logs_in(server.port)
        trust.write_bytes(pki.ca_pem_path.read_bytes())
        assert _logs_in(server.port)
