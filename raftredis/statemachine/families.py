"""Every data command family, imported so `registry.DEFS` and `registry.HANDLERS` are
complete. A family module that is missing is an ImportError here, never a silent gap."""

from __future__ import annotations

from raftredis.statemachine import (  # noqa: F401  (each module declares its commands)
    bitfield,
    bitmaps,
    dump,
    generic,
    geo,
    hashes,
    hyperloglog,
    lcs,
    lists,
    memcmds,
    mpop,
    scripts,
    sets,
    sort,
    streamgroups,
    streaminfo,
    streamread,
    streams,
    strings,
    zsetops,
    zsets,
)
from raftredis.statemachine.registry import DEFS, HANDLERS, CommandDef

__all__ = ["DEFS", "HANDLERS", "CommandDef"]
