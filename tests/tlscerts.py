"""Test certificates, made with the `openssl` command line (the commands the README
gives): a CA, and certificates it signs for 127.0.0.1 / localhost, usable by servers
and clients alike. EC P-256 keys, so making a set takes a few milliseconds."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate (tls-ca-cert-file, redis-cli --cacert)
    node: CertPair  # signed by the CA, for 127.0.0.1: nodes and clients use it


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=30)
    if done.returncode:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")


def make_ca(directory: Path, name: str = "ca") -> CertPair:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-new", *_CURVE, "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "30", "-subj", f"/CN=raftredis test {name}", cwd=directory)
    return CertPair(directory / f"{name}.crt", directory / f"{name}.key")


def make_cert(directory: Path, ca: CertPair, name: str = "node") -> CertPair:
    """A certificate for 127.0.0.1 and localhost, signed by `ca`."""
    ext = directory / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-new", *_CURVE, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=raftredis {name}", cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "30", "-extfile", ext.name,
             cwd=directory)
    return CertPair(directory / f"{name}.crt", directory / f"{name}.key")


def make_tls_files(directory: Path, name: str = "ca") -> TlsFiles:
    """A CA named `name` and one certificate it signs (a second call with another name
    makes certificates this CA does not trust)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is not installed")
    ca = make_ca(directory, name)
    return TlsFiles(ca.cert, make_cert(directory, ca, f"{name}-node"))


def serve_flags(files: TlsFiles) -> list[str]:
    """The `raftredis serve` flags for these files."""
    return ["--tls-cert-file", str(files.node.cert), "--tls-key-file", str(files.node.key),
            "--tls-ca-cert-file", str(files.ca)]
