#!/usr/bin/env bash
# soak.sh: redisgate under moderate load for SOAK (default 10m) with Redis restarted twice;
# reports goroutines, heap and RSS at the start, after each restart and at the end, and the
# requests that failed. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
SOAK=${SOAK:-10m}
RATE_CONNS=${RATE_CONNS:-20}
cd "$(dirname "$0")/.."
for t in redis-server redis-cli wrk curl go; do command -v $t >/dev/null || { echo "soak: $t missing" >&2; exit 1; }; done
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { local v=$1; case $v in *m) echo $(( ${v%m} * 60 ));; *s) echo "${v%s}";; *) echo "$v";; esac; }

rport=$(free_port); gport=$(free_port); aport=$(free_port)
start_redis() { redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --logfile "$tmp/redis.log" & rpid=$!; pids+=("$rpid"); for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "redis did not start" >&2; exit 1; }
start_redis
go build -o "$tmp/redisgate" ./cmd/redisgate
token=soak-token-$(date +%s%N)
"$tmp/redisgate" --listen 127.0.0.1:$gport --upstream redis://127.0.0.1:$rport --token "$token" --admin-listen 127.0.0.1:$aport --max-conns-per-ip 0 --max-conns 0 --pprof --log-level error > "$tmp/gw.log" 2>&1 &
gpid=$!; pids+=("$gpid")
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$aport/healthz" >/dev/null && break; sleep 0.1; done
redis-cli -p "$rport" set soak:key "$(head -c 64 /dev/zero | tr '\0' x)" >/dev/null

sample() {
  local label=$1
  local g heap rss
  g=$(curl -s "http://127.0.0.1:$aport/debug/pprof/goroutine?debug=1" | awk 'NR==1 {print $4}') || true
  heap=$(curl -s "http://127.0.0.1:$aport/debug/pprof/heap?debug=1" | awk '/^# HeapInuse/ {print int($4/1024/1024)}') || true
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$gpid/status) || true
  printf '%-22s goroutines %5s  heap-in-use %4s MiB  RSS %4s MiB\n' "$label" "$g" "$heap" "$rss"
}
total=$(secs "$SOAK")
third=$(( total / 3 ))
echo "soak: $SOAK of GET at $RATE_CONNS connections; Redis restarted at $third s and $((2*third)) s"
sample "start (idle)"
wrk -t1 -c"$RATE_CONNS" -d"${total}s" --timeout 2s -H "Authorization: Bearer $token" "http://127.0.0.1:$gport/get/soak:key" > "$tmp/wrk.txt" 2>&1 &
wpid=$!; pids+=("$wpid")
sleep 5; sample "under load"
for n in 1 2; do
  sleep $(( third - 5 ))
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
  sleep 1
  start_redis
  redis-cli -p "$rport" set soak:key "$(head -c 64 /dev/zero | tr '\0' x)" >/dev/null
  sleep 4; sample "after restart $n"
done
wait "$wpid" || true
sleep 12; sample "end (idle, 12 s after)"
echo "wrk:"; grep -E "requests in|Requests/sec|Socket errors|Non-2xx" "$tmp/wrk.txt" | sed 's/^/  /' || true
