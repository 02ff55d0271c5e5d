#!/usr/bin/env bash
# bench/resp-conns.sh: N client connections (default 10,000) to redisgate's Redis-protocol
# listener, all open at once, each running AUTH, SET and GET of a key of its own and then one
# more command (bench/respconns); prints how many connections Redis sees (the gateway's pool,
# blocking and pub/sub connections, not the clients') and the gateway's resident memory.
#
# Usage: bench/resp-conns.sh        N=2000 bench/resp-conns.sh
# Needs redis-server and go; raises ulimit -n to N + 1000 (the clients and the gateway are
# separate processes: each holds N sockets).
set -Eeuo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-10000}
POOL_SIZE=${POOL_SIZE:-4}
TOKEN=resp-conns-token-0123456789abcdef

need=$((N + 1000))
if [[ $(ulimit -n) -lt $need ]]; then
	ulimit -n "$need" 2>/dev/null || { echo "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $need needed for N=$N" >&2; exit 1; }
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

rport=$(free_port)
redis-server --port "$rport" --save '' --appendonly no --daemonize no --maxclients 1000 >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_port "$rport"

go build -o "$tmp/redisgate" "$REPO_DIR/cmd/redisgate"
go build -o "$tmp/respconns" "$REPO_DIR/bench/respconns"
gport=$(free_port)
"$tmp/redisgate" --listen 127.0.0.1:0 --resp-listen "127.0.0.1:$gport" --admin-listen '' --upstream "redis://127.0.0.1:$rport" \
	--token "$TOKEN" --pool-size "$POOL_SIZE" --isolation off --log-level error --max-conns-per-ip 0 --max-conns 0 >"$tmp/gate.log" 2>&1 &
gpid=$!
pids+=($gpid)
wait_port "$gport"

echo "load: $(uptime)"
echo "redisgate --pool-size $POOL_SIZE (blocking connections 2, one pub/sub connection); Redis --maxclients 1000"
printf '| client connections | all opened and served in | one more command on each in | Redis connected_clients | gateway RSS | clients RSS |\n|---|---|---|---|---|---|\n'
"$tmp/respconns" -addr "127.0.0.1:$gport" -token "$TOKEN" -n "$N" -pid "$gpid" -redis "127.0.0.1:$rport"
