"""TLS contexts for the client port and the peer link, built from the node's files
(Python's ssl, OpenSSL underneath). Only building and checking: no sockets here.

As in Redis 6+: one certificate and key serve both the client port and the peer link
(where each node is server to those that dial it and client to those it dials), and
one CA file is what a certificate must chain to. Protocols TLSv1.2 and TLSv1.3 only
(Redis's default tls-protocols).

Client port (`tls-auth-clients`): yes, a client must present a certificate signed by
the CA; optional, one is verified if presented; no, none is asked for.

Peer link (`tls-cluster yes`): mutual TLS, both sides must present a certificate signed
by the cluster CA. Host names are not checked (nodes are often addressed by IP, and the
handshake inside the TLS stream already proves which node answers): the CA signature is
what admits a node to the link, the cluster secret's handshake what identifies it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

AUTH_CLIENTS = ("no", "yes", "optional")
_VERIFY = {"no": ssl.CERT_NONE, "yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL}


class TlsError(ValueError):
    """A certificate, key or CA file cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_file: str
    key_file: str
    ca_cert_file: str


@dataclass(frozen=True, slots=True)
class PeerTls:
    """The peer link's two sides: `server` for connections peers dial to us, `client`
    for those we dial."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def _load(ctx: ssl.SSLContext, files: TlsFiles) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(files.cert_file, files.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load tls-cert-file {files.cert_file!r} with tls-key-file "
                       f"{files.key_file!r}: {exc}") from None
    try:
        ctx.load_verify_locations(cafile=files.ca_cert_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load tls-ca-cert-file {files.ca_cert_file!r}: {exc}") from None
    return ctx


def client_port_context(files: TlsFiles, auth_clients: str) -> ssl.SSLContext:
    """The server side of the client port's TLS listener."""
    if auth_clients not in _VERIFY:
        raise TlsError(f"tls-auth-clients {auth_clients!r}: expected one of "
                       + ", ".join(AUTH_CLIENTS))
    ctx = _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), files)
    ctx.verify_mode = _VERIFY[auth_clients]
    return ctx


def peer_contexts(files: TlsFiles) -> PeerTls:
    """Both sides of the peer link: each requires the other's CA-signed certificate."""
    server = _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), files)
    server.verify_mode = ssl.CERT_REQUIRED
    client = _load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), files)
    client.check_hostname = False  # (must be turned off before verify_mode may change)
    client.verify_mode = ssl.CERT_REQUIRED
    return PeerTls(server, client)
