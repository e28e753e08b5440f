"""The peer port: message codec, framing, authenticated handshake, PeerTransport."""

from raftredis.transport.codec import CodecError, Encoder, decode, encode
from raftredis.transport.framing import FrameDecoder, FrameError
from raftredis.transport.handshake import HandshakeError
from raftredis.transport.peers import PeerTransport

__all__ = [
    "CodecError",
    "Encoder",
    "FrameDecoder",
    "FrameError",
    "HandshakeError",
    "PeerTransport",
    "decode",
    "encode",
]
