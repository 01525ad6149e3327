"""A throw-away PKI for the loopback peers, built with ``trustme``."""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


class TestPKI:
    """A test CA plus a server certificate for 127.0.0.1 and localhost, written to a temp dir.

    - ``ca_pem_path``: the CA a client trusts (usable as ``SSL_CERT_FILE``).
    - ``cert_path`` / ``key_path``: the server chain and key (PEM), e.g. for Dovecot.
    - ``server_ssl_context()``: for implicit-TLS and STARTTLS servers.
    - ``untrusted_server_ssl_context()`` (and ``untrusted_cert_path`` / ``untrusted_key_path``):
      a server certificate for the same names issued by a second, unrelated CA that the
      client does not trust.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: str | Path | None = None) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="warmup-pki-"))
        self.directory.mkdir(parents=True, exist_ok=True)

        self.ca = trustme.CA(organization_name="warmup test CA")
        self.server_cert = self.ca.issue_cert(*SERVER_NAMES)
        self.untrusted_ca = trustme.CA(organization_name="warmup UNTRUSTED CA")
        self.untrusted_cert = self.untrusted_ca.issue_cert(*SERVER_NAMES)

        self.ca_pem_path = self._write("ca.pem", self.ca.cert_pem)
        self.cert_path = self._write("server-chain.pem", *self.server_cert.cert_chain_pems)
        self.key_path = self._write("server-key.pem", self.server_cert.private_key_pem)
        self.untrusted_ca_pem_path = self._write("untrusted-ca.pem", self.untrusted_ca.cert_pem)
        self.untrusted_cert_path = self._write(
            "untrusted-chain.pem", *self.untrusted_cert.cert_chain_pems
        )
        self.untrusted_key_path = self._write(
            "untrusted-key.pem", self.untrusted_cert.private_key_pem
        )
        if self._own_dir:
            atexit.register(self.cleanup)

    def _write(self, name: str, *blobs: trustme.Blob) -> Path:
        path = self.directory / name
        path.write_bytes(b"".join(blob.bytes() for blob in blobs))
        return path

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting the trusted certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def untrusted_server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting a certificate from the unrelated CA."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.untrusted_cert.configure_cert(ctx)
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_pem_path))

    def cleanup(self) -> None:
        """Remove the temp directory (only if this object created it)."""
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)
