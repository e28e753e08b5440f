"""Server commands answered by the node itself: CONFIG, LATENCY, INFO, TIME, COMMAND."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register


def _spec(name: str, arity: int, flags: set[str], acl: set[str], summary: str, since: str,
          **kw) -> CommandSpec:
    return CommandSpec(name=name, arity=arity, flags=frozenset(flags),
                       acl_categories=frozenset(acl), summary=summary, since=since,
                       group="server", **kw)


_ADMIN = {"@admin", "@slow", "@dangerous"}
_ADMIN_FLAGS = {"admin", "noscript", "loading", "stale"}
_CMD = {"loading", "stale"}
_CMD_ACL = {"@slow", "@connection"}

register(
    _spec(
        "config", -2, set(), {"@slow"}, "A container for server configuration commands.", "2.0.0",
        subcommands=(
            _spec("config|get", -3, {"admin", "noscript", "loading", "stale"}, _ADMIN,
                  "Returns the effective values of configuration parameters.", "2.0.0"),
            _spec("config|set", -4, {"admin", "noscript", "loading", "stale"}, _ADMIN,
                  "Sets configuration parameters in-flight.", "2.0.0"),
            _spec("config|resetstat", 2, {"admin", "noscript", "loading", "stale"}, _ADMIN,
                  "Resets the server's statistics.", "2.0.0"),
            _spec("config|rewrite", 2, {"admin", "noscript", "loading", "stale"}, _ADMIN,
                  "Persists the effective configuration to file.", "2.8.0"),
            _spec("config|help", 2, {"loading", "stale"}, {"@slow"},
                  "Returns helpful text about the different subcommands.", "5.0.0"),
        ),
    ),
    _spec(
        "latency", -2, set(), {"@slow"}, "A container for latency diagnostics commands.",
        "2.8.13",
        subcommands=tuple(
            _spec(f"latency|{name}", arity, _ADMIN_FLAGS, _ADMIN, summary, since)
            for name, arity, summary, since in (
                ("doctor", 2, "Returns a human-readable latency analysis report.", "2.8.13"),
                ("graph", 3, "Returns a latency graph for an event.", "2.8.13"),
                ("histogram", -2, "Returns the cumulative distribution of latencies of a "
                 "subset or all commands.", "7.0.0"),
                ("history", 3, "Returns timestamp-latency samples for an event.", "2.8.13"),
                ("latest", 2, "Returns the latest latency samples for all events.", "2.8.13"),
                ("reset", -2, "Resets the latency data for one or more events.", "2.8.13"),
            )
        ) + (
            _spec("latency|help", 2, {"loading", "stale"}, {"@slow"},
                  "Returns helpful text about the different subcommands.", "2.8.13"),
        ),
    ),
    _spec("debug", -2, _ADMIN_FLAGS, _ADMIN,
          "A container for debugging commands.", "1.0.0"),
    _spec("info", -1, {"loading", "stale"}, {"@slow", "@dangerous"},
          "Returns information and statistics about the server.", "1.0.0"),
    _spec("time", 1, {"loading", "stale", "fast"}, {"@fast"},
          "Returns the server time.", "2.6.0"),
    _spec(
        "command", -1, {"loading", "stale"}, _CMD_ACL,
        "Returns detailed information about all commands.", "2.8.13",
        subcommands=(
            _spec("command|count", 2, _CMD, _CMD_ACL, "Returns a count of commands.", "2.8.13"),
            _spec("command|info", -2, _CMD, _CMD_ACL,
                  "Returns information about one, multiple or all commands.", "2.8.13"),
            _spec("command|docs", -2, _CMD, _CMD_ACL,
                  "Returns documentary information about one, multiple or all commands.", "7.0.0"),
            _spec("command|list", -2, _CMD, _CMD_ACL,
                  "Returns a list of command names.", "7.0.0"),
            _spec("command|getkeys", -4, _CMD, _CMD_ACL,
                  "Extracts the key names from an arbitrary command.", "2.8.13"),
            _spec("command|getkeysandflags", -4, _CMD, _CMD_ACL,
                  "Extracts the key names and access flags for an arbitrary command.", "7.0.0"),
            _spec("command|help", 2, _CMD, _CMD_ACL,
                  "Returns helpful text about the different subcommands.", "5.0.0"),
        ),
    ),
)

# ACL: answered by the node (SETUSER and DELUSER then go through the log); flags and
# categories as Redis 7's COMMAND INFO gives them.
_ACL_ADMIN_FLAGS = {"admin", "noscript", "loading", "stale"}
_ACL_PLAIN_FLAGS = {"noscript", "loading", "stale"}
register(
    _spec(
        "acl", -2, set(), {"@slow"}, "A container for Access List Control commands.", "6.0.0",
        subcommands=tuple(
            _spec(f"acl|{name}", arity, flags, _ADMIN if "admin" in flags else {"@slow"},
                  summary, since)
            for name, arity, flags, summary, since in (
                ("cat", -2, _ACL_PLAIN_FLAGS,
                 "Lists the ACL categories, or the commands inside a category.", "6.0.0"),
                ("deluser", -3, _ACL_ADMIN_FLAGS,
                 "Deletes ACL users, and terminates their connections.", "6.0.0"),
                ("dryrun", -4, _ACL_ADMIN_FLAGS,
                 "Simulates the execution of a command by a user, without executing the "
                 "command.", "7.0.0"),
                ("genpass", -2, _ACL_PLAIN_FLAGS,
                 "Generates a pseudorandom, secure password that can be used to identify ACL "
                 "users.", "6.0.0"),
                ("getuser", 3, _ACL_ADMIN_FLAGS, "Lists the ACL rules of a user.", "6.0.0"),
                ("help", 2, {"loading", "stale"},
                 "Returns helpful text about the different subcommands.", "6.0.0"),
                ("list", 2, _ACL_ADMIN_FLAGS, "Dumps the effective rules in ACL file format.",
                 "6.0.0"),
                ("load", 2, _ACL_ADMIN_FLAGS, "Reloads the rules from the configured ACL file.",
                 "6.0.0"),
                ("log", -2, _ACL_ADMIN_FLAGS,
                 "Lists recent security events generated due to ACL rejections.", "6.0.0"),
                ("save", 2, _ACL_ADMIN_FLAGS,
                 "Saves the effective ACL rules in the configured ACL file.", "6.0.0"),
                ("setuser", -3, _ACL_ADMIN_FLAGS, "Creates and modifies an ACL user and its rules.",
                 "6.0.0"),
                ("users", 2, _ACL_ADMIN_FLAGS, "Lists all ACL users.", "6.0.0"),
                ("whoami", 2, _ACL_PLAIN_FLAGS,
                 "Returns the authenticated username of the current connection.", "6.0.0"),
            )
        ),
    ),
)
