#!/usr/bin/env bash
# redis-py's own tests/test_commands.py against a one-node raftredis leader and a real
# redis-server on this machine, side by side (takes several minutes per server, so it is
# not part of the default test suite).
#
#   tools/redispy_compat.sh [WORKDIR]
#
# Needs redis-server on PATH and the redis-py version the project tests with installed
# (its source is fetched with `pip download --no-binary`). Prints each run's summary
# line; the full reports are left in WORKDIR.
set -euo pipefail

work=${1:-$(mktemp -d /tmp/redispy-compat.XXXXXX)}
repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(python3 -c "import redis; print(redis.__version__)")
mkdir -p "$work"
cd "$work"
if [ ! -d "redis-$version" ]; then
  pip download --no-deps --no-binary :all: "redis==$version" >/dev/null
  tar xzf "redis-$version.tar.gz"
fi
port_of() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
ref_port=$(port_of)
raft_port=$(port_of)
peer_port=$(port_of)

redis-server --port "$ref_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  >"$work/redis-server.log" 2>&1 &
ref_pid=$!
RAFTREDIS_SECRET=$(python3 -c "import os; print(os.urandom(16).hex())") \
  PYTHONPATH="$repo" python3 -m raftredis serve --port "$raft_port" --peer-port "$peer_port" \
  --data-dir "$work/raft-data" --fsync everysec >"$work/raftredis.log" 2>&1 &
raft_pid=$!
trap 'kill "$ref_pid" "$raft_pid" 2>/dev/null || true' EXIT

for port in "$ref_port" "$raft_port"; do
  for _ in $(seq 1 300); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
done

run() {  # name port [extra pytest arguments]
  local name=$1 port=$2
  shift 2
  (cd "$work/redis-$version" && PYTHONPATH="$repo/tools" timeout 1800 python3 -m pytest \
     tests/test_commands.py --redis-url="redis://127.0.0.1:$port/0" -q -p no:cacheprovider \
     -rfE --timeout=60 "$@" >"$work/$name.txt" 2>&1) || true
  echo "$name: $(grep -E '^[0-9]+ (failed|passed)|^=+ .*(passed|failed)' "$work/$name.txt" | tail -1)"
}
run redis-server "$ref_port"
# raftredis says cluster_enabled:1; run redis-py's suite as against a standalone server
run raftredis "$raft_port" --redis-cluster-nodes=1 -p redispy_standalone
echo "reports in $work"
