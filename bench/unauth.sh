#!/usr/bin/env bash
# bench/unauth.sh: redisgate's memory under hostile connections, on loopback, in about a minute.
#
#   bench/unauth.sh                       # defaults below
#   CONNS=1000 PHASE=10 bench/unauth.sh
#
# Builds ./cmd/redisgate (working tree, or REDISGATE_REF / REDISGATE_BIN as in bench/run.sh) and
# bench/unauthload, starts redis-server and redisgate on free loopback ports, and runs phases of
# hostile load while one client with a valid token sends a GET every 10 ms. For each phase it
# prints the gateway's RSS before and at its peak (VmRSS of /proc/PID/status, sampled every
# 100 ms), the peak of redisgate_request_body_bytes_in_flight, what the hostile connections were
# answered, and the token client's latency percentiles:
#   unauth-body   CONNS connections without a token announce BODY-byte bodies and trickle one
#                 byte a second; each connection answered and closed is opened again after 1 s
#   slow-headers  CONNS connections trickle their headers one byte a second (slowloris)
#   auth-body     AUTH_CONNS connections with the token send AUTH_BODY-byte bodies, 16 KiB
#                 every 200 ms (a body takes 12 s at that pace); past the in-flight budget they
#                 get 503 and send again after 1 s
# These run on a gateway started with --max-conns-per-ip 5000: from one IP, the default per-IP
# cap (1024) would refuse most of the connections. A last phase (default-cap) runs slow-headers
# against a gateway with every default to show what the cap does.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

CONNS=${CONNS:-2000}              # hostile connections of unauth-body and slow-headers
BODY=${BODY:-10000000}            # Content-Length they announce
AUTH_CONNS=${AUTH_CONNS:-500}     # connections of auth-body
AUTH_BODY=${AUTH_BODY:-1000000}   # their body
PHASE=${PHASE:-15}                # seconds per phase (default-cap: a third of it)
REDISGATE_BIN=${REDISGATE_BIN:-}  # use this binary instead of building ./cmd/redisgate
REDISGATE_REF=${REDISGATE_REF:-}  # build this git revision instead of the working tree
GATE_FLAGS=${GATE_FLAGS:-}        # more flags for the gateway under test (e.g. --max-inflight-body 64MiB)
PHASES=${PHASES:-"unauth-body slow-headers auth-body default-cap"}   # which phases run, in this order
KEEP_TMP=${KEEP_TMP:-0}

BENCH_TAG=unauth-bench
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"   # log, die, cleanup (on exit), pick_port, wait_until, build_redisgate, run_bg

REDIS_PID="" GATE_PID=""
server_pids() { echo "$REDIS_PID $GATE_PID"; }

for tool in redis-server redis-cli go curl ss timeout; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
for v in CONNS BODY AUTH_CONNS AUTH_BODY PHASE; do is_uint "${!v}" || die "$v=${!v} is not a whole number"; done
[ "$PHASE" -le 30 ] || die "PHASE=$PHASE: at most 30 s per phase"

# Every connection is a file descriptor on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $(( CONNS + AUTH_CONNS + 1000 )) ] || die "ulimit -n is $(ulimit -n): too low for $CONNS connections"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/unauth-bench.XXXXXX")
build_redisgate
run_bg "$TMP/build-load.log" go -C "$REPO_DIR" build -o "$TMP/unauthload" ./bench/unauthload || { cat "$TMP/build-load.log" >&2; die "building bench/unauthload failed"; }

pick_port RPORT
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --maxclients 20000 >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_until 10 "$REDIS_PID" redis-server "$TMP/redis.log" rcli ping
rcli set benchkey "$(head -c 64 /dev/zero | tr '\0' v)" >/dev/null

TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# start_gateway FLAGS...: starts redisgate; sets GATE_PID, GPORT, APORT
start_gateway() {
  pick_port GPORT; pick_port APORT
  "$GATE_BIN" --upstream "redis://127.0.0.1:$RPORT" --token "$TOKEN" --listen "127.0.0.1:$GPORT" \
    --admin-listen "127.0.0.1:$APORT" --log-level warn "$@" >"$TMP/gate-$GPORT.log" 2>&1 &
  GATE_PID=$!; PIDS+=("$GATE_PID")
  wait_until 15 "$GATE_PID" redisgate "$TMP/gate-$GPORT.log" curl -sf "http://127.0.0.1:$APORT/readyz"
}
stop_gateway() {
  kill -TERM "$GATE_PID" 2>/dev/null || true
  wait "$GATE_PID" 2>/dev/null || true
  forget_pid "$GATE_PID"; GATE_PID=""
}

# phase NAME SECONDS ARGS...: one run of unauthload against the running gateway
RESULTS=()
phase() {
  local name=$1 secs=$2; shift 2
  [[ " $PHASES " == *" $name "* ]] || return 0
  sleep 2 # let the previous phase's connections close
  log "phase $name: ${secs}s"
  local line
  line=$(timeout $(( secs + 30 )) "$TMP/unauthload" -addr "127.0.0.1:$GPORT" -token "$TOKEN" -pid "$GATE_PID" \
    -metrics "http://127.0.0.1:$APORT/metrics" -phase "$name" -duration "${secs}s" "$@") || die "unauthload failed in phase $name"
  echo "$line"
  RESULTS+=("$line")
}

log "gateway under test: --max-conns-per-ip 5000 (raised: all connections come from 127.0.0.1) $GATE_FLAGS"
# shellcheck disable=SC2086 # GATE_FLAGS is a list of flags
start_gateway --max-conns-per-ip 5000 $GATE_FLAGS
phase unauth-body "$PHASE" -mode unauth-body -conns "$CONNS" -body "$BODY" -chunk 1 -interval 1s
phase slow-headers "$PHASE" -mode slow-headers -body 0 -conns "$CONNS" -chunk 1 -interval 1s
phase auth-body "$(( PHASE + 5 ))" -mode auth-body -conns "$AUTH_CONNS" -body "$AUTH_BODY" -chunk 16384 -interval 200ms
stop_gateway

if [[ " $PHASES " == *" default-cap "* ]]; then
  log "gateway with every default (--max-conns-per-ip 1024)"
  start_gateway
  phase default-cap "$(( PHASE / 3 + 1 ))" -mode slow-headers -body 0 -conns "$CONNS" -chunk 1 -interval 1s
  stop_gateway
fi

echo
echo "== bench/unauth.sh, $(date -u +'%Y-%m-%d %H:%M UTC')"
echo "redisgate $GIT_REV; $(go version | awk '{print $3}'); redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; ulimit -n $(ulimit -n)"
echo "gateway defaults: --memory-limit 1GiB, --max-inflight-body 256MiB (a quarter of it), --header-timeout 10s, --read-timeout 30s, --max-conns 10000"
echo
printf '%-13s %-22s %-10s %-10s %-10s %-14s %-32s %-9s %-9s %-9s\n' phase hostile "RSS base" "RSS peak" growth "body in flight" "hostile answers" "p50" "p99" "errors"
for line in "${RESULTS[@]}"; do
  printf '%-13s %-22s %-10s %-10s %-10s %-14s %-32s %-9s %-9s %-9s\n' "$(kv "$line" phase)" \
    "$(kv "$line" conns)x$(kv "$line" announced)B" "$(kv "$line" rss_base_mib)MiB" "$(kv "$line" rss_peak_mib)MiB" \
    "$(kv "$line" rss_growth_mib)MiB" "$(kv "$line" body_in_flight_peak_mib)MiB" "$(kv "$line" hostile_statuses)" \
    "$(kv "$line" client_p50)" "$(kv "$line" client_p99)" "$(kv "$line" client_errors)/$(kv "$line" client_ok)"
done
