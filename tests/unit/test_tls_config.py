"""TLS settings: what a node refuses to start with, the contexts built from the files,
and which address a follower's redirect names for a plain and a TLS client."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from raftredis.config import ConfigError, NodeConfig
from raftredis.raft.types import Role, SoftState
from raftredis.replica.group import handshake_meta
from raftredis.replica.routing import Router
from raftredis.replica.tasks import TaskSet
from raftredis.tls import TlsError, TlsFiles, client_port_context, peer_contexts
from tests.tlscerts import make_tls_files


def _cfg(**kw: object) -> NodeConfig:
    return NodeConfig(**kw).finish()  # type: ignore[arg-type]


def _files(tmp: Path) -> dict[str, str]:
    f = make_tls_files(tmp)
    return {"tls_cert_file": str(f.node.cert), "tls_key_file": str(f.node.key),
            "tls_ca_cert_file": str(f.ca)}


def test_tls_needs_its_three_files() -> None:
    for kw in ({"tls_port": 7443}, {"tls_cluster": "yes"}):
        with pytest.raises(ConfigError, match="tls_cert_file .* is required with"):
            _cfg(**kw)
    with pytest.raises(ConfigError, match="tls_ca_cert_file"):
        _cfg(tls_port=7443, tls_cert_file="c.pem", tls_key_file="k.pem")
    assert _cfg().tls_files is None


@pytest.mark.parametrize(("kw", "name"), [
    ({"tls_auth_clients": "maybe"}, "tls_auth_clients"),
    ({"tls_cluster": "on"}, "tls_cluster"),
    ({"tls_port": 7000}, "tls_port"),  # the plain port's
    ({"tls_port": 70000}, "tls_port"),
    ({"tls_handshake_timeout_ms": 0}, "tls_handshake_timeout_ms"),
])
def test_bad_tls_values_name_the_setting(kw: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {name}"):
        _cfg(port=7000, **kw)


def test_with_the_plain_port_off_the_tls_port_is_the_base(tmp_path: Path) -> None:
    cfg = _cfg(port=0, tls_port=7443, **_files(tmp_path))
    assert (cfg.peer_port, cfg.announce_port, cfg.announce_tls_port) == (17443, 7443, 7443)
    assert handshake_meta(cfg) == {"client": "127.0.0.1:7443", "tls-client": "127.0.0.1:7443",
                                   "peer": "127.0.0.1:17443"}
    both = _cfg(port=7000, tls_port=7443, announce_tls_port=8443, **_files(tmp_path))
    assert handshake_meta(both) == {"client": "127.0.0.1:7000", "tls-client": "127.0.0.1:8443",
                                    "peer": "127.0.0.1:17000"}
    assert handshake_meta(_cfg(port=7000)) == {"client": "127.0.0.1:7000", "peer": "127.0.0.1:17000"}


def test_contexts_verify_as_configured(tmp_path: Path) -> None:
    files = TlsFiles(**{k.removeprefix("tls_"): v for k, v in _files(tmp_path).items()})
    verify = {a: client_port_context(files, a).verify_mode for a in ("yes", "no", "optional")}
    assert verify == {"yes": ssl.CERT_REQUIRED, "no": ssl.CERT_NONE,
                      "optional": ssl.CERT_OPTIONAL}
    peer = peer_contexts(files)
    assert peer.server.verify_mode == peer.client.verify_mode == ssl.CERT_REQUIRED
    assert peer.client.minimum_version == ssl.TLSVersion.TLSv1_2


def test_an_unusable_file_is_named(tmp_path: Path) -> None:
    good = TlsFiles(**{k.removeprefix("tls_"): v for k, v in _files(tmp_path).items()})
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    for bad, name in ((TlsFiles(str(tmp_path / "junk.pem"), good.key_file, good.ca_cert_file),
                       "tls-cert-file"),
                      (TlsFiles(good.cert_file, good.key_file, str(tmp_path / "none.pem")),
                       "tls-ca-cert-file")):
        with pytest.raises(TlsError, match=name):
            peer_contexts(bad)


class _Clock:
    def monotonic(self) -> float:
        return 1.0

    def wall_ms(self) -> int:
        return 1000


def test_redirects_name_the_leaders_tls_address_to_tls_clients() -> None:
    loop = asyncio.new_event_loop()
    try:
        router = Router(2, "h2:7001", _Clock(), TaskSet(loop), loop, 1.0, 0.1, lambda: True,
                        "h2:7444")
        router.learn_address(1, "h1:7000")
        router.on_soft_state(SoftState(1, Role.FOLLOWER))
        # Before the leader's TLS address is known a TLS client is sent to its plain one.
        assert str(router.redirect_now(5, tls=True)) == "MOVED 5 h1:7000"
        router.learn_address(1, "h1:7443", tls=True)
        assert str(router.redirect_now(5)) == "MOVED 5 h1:7000"
        assert str(router.redirect_now(5, tls=True)) == "MOVED 5 h1:7443"
        assert str(router.redirect(9, lambda: None, tls=True)) == "MOVED 9 h1:7443"
        assert router.address(2, tls=True) == "h2:7444"
    finally:
        loop.close()
