#!/usr/bin/env bash
# bench/resp.sh: redis-benchmark GET/SET against (a) Redis directly, (b) nutcracker (twemproxy)
# in front of the same Redis and (c) redisgate's Redis-protocol listener (--resp-listen), with
# the rate limiter off and on; prints requests/s and the ratios to Redis direct.
#
# Usage: bench/resp.sh            (N=100000 requests per run; CASES as below)
#        N=20000 CASES="50:1" bench/resp.sh
# Needs redis-server, redis-benchmark and nutcracker (Debian package nutcracker) on PATH.
set -Eeuo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-100000}                          # redis-benchmark -n per run
CASES=${CASES:-"50:1 1000:1 50:16"}     # CLIENTS:PIPELINE pairs (-c, -P)
POOL_SIZE=${POOL_SIZE:-4}               # redisgate --pool-size
TOKEN=resp-bench-token-0123456789abcdef

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
redis-server --port "$rport" --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_port "$rport"

nport=$(free_port)
cat >"$tmp/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$nport
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: $POOL_SIZE
  servers:
    - 127.0.0.1:$rport:1
YML
nutcracker -c "$tmp/nutcracker.yml" -o "$tmp/nutcracker.log" &
pids+=($!)
wait_port "$nport"

go build -o "$tmp/redisgate" "$REPO_DIR/cmd/redisgate"
start_gate() { # $1: port, rest: extra flags
	local port=$1
	shift
	"$tmp/redisgate" --listen 127.0.0.1:0 --resp-listen "127.0.0.1:$port" --admin-listen '' --upstream "redis://127.0.0.1:$rport" \
		--token "$TOKEN" --pool-size "$POOL_SIZE" --isolation off --log-level error --max-conns-per-ip 0 "$@" >"$tmp/gate-$port.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
}
gport=$(free_port)
start_gate "$gport"
lport=$(free_port)
start_gate "$lport" --limit-ip 1000000/s --limit-token 1000000/s --limit-db 15

rps() { # $1 port, $2 clients, $3 pipeline, rest: extra args; prints "get set" requests/s
	redis-benchmark -h 127.0.0.1 -p "$1" -c "$2" -P "$3" -n "$N" -t get,set -q "${@:4}" 2>/dev/null |
		tr '\r' '\n' | awk '/requests per second/ {for (i=1;i<=NF;i++) if ($i ~ /^[0-9.]+$/) {print $i; break}}' | paste -sd' '
}

printf '| -c | -P | target | GET req/s | SET req/s | GET vs Redis | SET vs Redis |\n|---|---|---|---|---|---|---|\n'
for c in $CASES; do
	clients=${c%%:*} pipe=${c##*:}
	read -r dg ds <<<"$(rps "$rport" "$clients" "$pipe")"
	for t in "redis:$rport:" "nutcracker:$nport:" "redisgate:$gport:-a $TOKEN" "redisgate+limiter:$lport:-a $TOKEN"; do
		name=${t%%:*} rest=${t#*:} port=${rest%%:*} extra=${rest#*:}
		if [[ $name == redis ]]; then g=$dg s=$ds; else
			# shellcheck disable=SC2086
			read -r g s <<<"$(rps "$port" "$clients" "$pipe" $extra)"
		fi
		printf '| %s | %s | %s | %s | %s | %.2f | %.2f |\n' "$clients" "$pipe" "$name" "$g" "$s" \
			"$(echo "$g / $dg" | bc -l)" "$(echo "$s / $ds" | bc -l)"
	done
done
