"""The relay's TLS: a certificate made for one run, so that a script written for the provider
(implicit TLS on 465, STARTTLS on 587, a client that verifies the server) changes only its host
and port to reach the relay.

    tls = RelayTLS.make("127.0.0.1")   # an EC P-256 key and a self-signed certificate
    tls.context                         # the server side of the relay's handshakes
    tls.child_env()                     # WARMUP_SMTP_CAFILE, SSL_CERT_FILE, ...
    tls.close()                         # the files removed

The certificate names ``127.0.0.1``, ``::1``, ``localhost`` and the relay's own address. Its key
lives in this process's memory only: it reaches OpenSSL through an anonymous memory file
(``memfd_create``, read through ``/proc/self/fd``), or where there is none through a file in a
folder only this user can enter that is unlinked as soon as it is read. Nothing else can sign
with it, and trust in it ends with the run: the certificate's file (``WARMUP_SMTP_CAFILE``) is
removed when the relay stops.

Clients that verify by default read their trust from the environment, which the command gets:
OpenSSL's (Python's ``ssl.create_default_context()``, curl, PHP, Ruby, Go) from
``SSL_CERT_FILE``, set to a bundle of what it trusted before (the file ``SSL_CERT_FILE`` named,
or the system's bundle) and this certificate; Node's (nodemailer) from ``NODE_EXTRA_CA_CERTS``,
added to its own roots (with the file the user set there, if any); curl's ``CURL_CA_BUNDLE``,
when set, likewise. With no bundle to start from
``SSL_CERT_FILE`` is left alone: a bundle of this certificate alone would take the system's
roots from the command's other TLS connections.

``cryptography`` is imported here only, when a relay starts: ``warmup quota`` and a one-message
``warmup send`` never load it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field

# A run paces a warm-up's messages minutes apart, for days or weeks (a wrapped daemon for
# months): a certificate that expired mid-run would fail every later handshake. Its key lives
# only in this process, so a long life costs nothing; 397 days is the most clients that cap a
# certificate's life (Apple's, Chrome's) take. A day back covers a clock set slightly wrong.
VALID_FOR = dt.timedelta(days=397)
VALID_BEFORE = dt.timedelta(days=1)
NAMES = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")
CERT_NAME = "relay-cert.pem"
# The relay's run folders, this one's and the sendmail shim's (warmup.wrap): ``PREFIX``, the
# warmup process's PID, ``-`` and more; a later run removes those of a process that is gone.
RUN_FOLDERS = "warmup-relay-"
# Trust files a client reads before SSL_CERT_FILE, each given as a copy with the relay's
# certificate added when the environment names one: curl's own, and Node's extra CAs (Node
# reads no SSL_CERT_FILE: it gets the relay's certificate alone when the variable is unset).
OWN_BUNDLES = ("CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


@dataclass
class RelayTLS:
    """The relay's certificate, its server context, and the files handed to the command."""

    context: ssl.SSLContext
    folder: str
    cafile: str
    extra: dict[str, str] = field(default_factory=dict)  # SSL_CERT_FILE, NODE_EXTRA_CA_CERTS

    @classmethod
    def make(cls, host: str, now: dt.datetime | None = None) -> RelayTLS:
        """A new key and certificate for ``host`` (a loopback address) and the usual loopback
        names, in a new folder of this user's (``warmup-relay-PID-...``, removed by
        :meth:`close`, or by a later run's :func:`warmup.wrap.clean_stale_shims` if this
        process is killed)."""
        cert_pem, key_pem = _certificate(host, now or dt.datetime.now(dt.UTC))
        folder = tempfile.mkdtemp(prefix=f"{RUN_FOLDERS}{os.getpid()}-tls-")  # 0700
        try:
            cafile = os.path.join(folder, CERT_NAME)
            _write(cafile, cert_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            _load_key(context, cafile, key_pem, folder)
            return cls(context, folder, cafile, _trust_files(folder, cert_pem))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def child_env(self) -> dict[str, str]:
        """What the command's environment gets: the certificate's path, and the trust files."""
        return {"WARMUP_SMTP_CAFILE": self.cafile, "SMTP_CAFILE": self.cafile, **self.extra}

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _certificate(host: str, now: dt.datetime) -> tuple[bytes, bytes]:
    """A self-signed certificate for the loopback names and ``host`` (PEM), and its key's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"warmup relay {host}")])
    ips = dict.fromkeys(ipaddress.ip_address(a) for a in (*ADDRESSES, host))
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in NAMES]
    sans += [x509.IPAddress(ip) for ip in ips]
    own = x509.SubjectKeyIdentifier.from_public_key(public)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    # Its own issuer, as strict verifiers (Python 3.13's default context) want it said
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - VALID_BEFORE)
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(own, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(own), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _load_key(
    context: ssl.SSLContext, certfile: str, key_pem: bytes, folder: str, anonymous: bool = True
) -> None:
    """``context.load_cert_chain`` with a key that never lies in a file that outlives this call:
    OpenSSL reads paths only, so an anonymous memory file (unless not ``anonymous``), or a file
    in ``folder`` unlinked once read."""
    fd = -1
    try:
        if anonymous:
            fd = os.memfd_create("warmup-relay-key")  # close-on-exec: never the command's
    except (AttributeError, OSError):  # not Linux, or a kernel without memfd
        pass
    if fd >= 0:
        try:
            os.write(fd, key_pem)
            context.load_cert_chain(certfile, f"/proc/self/fd/{fd}")
            return
        except OSError:  # no /proc mounted: the file below
            pass
        finally:
            os.close(fd)
    path = os.path.join(folder, "key.pem")
    try:
        _write(path, key_pem)
        context.load_cert_chain(certfile, path)
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _trust_files(folder: str, cert_pem: bytes) -> dict[str, str]:
    """``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS`` and ``CURL_CA_BUNDLE`` for the command, each
    keeping what it trusted before and adding the relay's certificate."""
    env: dict[str, str] = {}
    base = ssl.get_default_verify_paths().cafile  # SSL_CERT_FILE's file, or the system's
    bundle = _read(base) if base else None
    if bundle is not None:
        env["SSL_CERT_FILE"] = _joined(folder, "SSL_CERT_FILE", bundle, cert_pem)
    for name in OWN_BUNDLES:
        path = os.environ.get(name)
        own = _read(path) if path else None
        if own is not None:
            env[name] = _joined(folder, name, own, cert_pem)
        elif name == "NODE_EXTRA_CA_CERTS":
            env[name] = os.path.join(folder, CERT_NAME)
    return env


def _joined(folder: str, name: str, first: bytes, cert_pem: bytes) -> str:
    """A file of ``first`` and then ``cert_pem``, named for its variable."""
    path = os.path.join(folder, f"{name.lower()}.pem")
    _write(path, first + (b"" if first.endswith(b"\n") or not first else b"\n") + cert_pem)
    return path


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
