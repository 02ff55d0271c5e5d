#!/usr/bin/env bash
# bench/cluster.sh: redisgate on a 3-primary Redis Cluster vs the same gateway on one Redis node,
# in one run on the same machine, printed as ratios (issue 18's benchmarks):
#   1. GET /get/KEY at CONNS connections: cluster req/s ÷ single-node req/s (the routing
#      overhead; target ≥ 0.9), with each gateway's and its Redis's CPU µs per request;
#   2. POST /pipeline of PIPE_KEYS GETs whose keys spread over all slots (split per primary,
#      sent concurrently, reassembled in order) vs the same pipeline on the single node;
#   3. C10K HTTP connections on the cluster gateway: the most Redis connections each primary
#      saw from it while they ran (target ≤ POOL_SIZE + 2: the pool and the slot-map reader).
# Every figure comes with the load of the machine and the CPU other processes used meanwhile.
# Usage: bench/cluster.sh (settings below, from the environment); results in RESULTS_FILE.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

# ---------------------------------------------------------------- settings (env) ----------
RUNS=${RUNS:-3}                   # runs per scenario and gateway; the table shows the median
DURATION=${DURATION:-5s}          # wrk -d per run
CONNS=${CONNS:-50}                # scenarios 1 and 2: connections
PIPE_KEYS=${PIPE_KEYS:-100}       # scenario 2: GETs per /pipeline
POOL_SIZE=${POOL_SIZE:-4}         # redisgate --pool-size (per primary on a cluster)
C10K=${C10K:-10000}               # scenario 3: HTTP connections
C10K_TIMEOUT=${C10K_TIMEOUT:-5s}  # scenario 3: wrk --timeout
WRK_THREADS=${WRK_THREADS:-1}     # wrk -t
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}    # wrk --timeout, scenarios 1 and 2
SCENARIOS=${SCENARIOS:-"1 2 3"}   # which scenarios to run
WAIT_IDLE=${WAIT_IDLE:-30}        # seconds to wait at start for the CPU to be >= 80 % idle
NOISE_LIMIT=${NOISE_LIMIT:-10}    # % of the machine used by other processes that makes a run NOISY
RETRY_NOISY=${RETRY_NOISY:-1}     # extra attempts of a NOISY run (the least disturbed one is kept)
RETRY_BUDGET=${RETRY_BUDGET:-6}   # at most this many extra attempts in the whole benchmark
VALUE_SIZE=64                     # bytes of every value read
REDISGATE_BIN=${REDISGATE_BIN:-}  # use this binary instead of building ./cmd/redisgate
REDISGATE_REF=${REDISGATE_REF:-}  # build this git revision instead of the working tree
RESULTS_FILE=${RESULTS_FILE:-$BENCH_DIR/cluster-results-latest.md}
KEEP_TMP=${KEEP_TMP:-0}           # 1: keep the temp dir (logs) after the run

BENCH_TAG=cluster-bench
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"

REDIS_PID="" NODE_PIDS=() SGATE_PID="" CGATE_PID=""
server_pids() { echo "$REDIS_PID ${NODE_PIDS[*]} $SGATE_PID $CGATE_PID"; }
CLK_TCK=$(getconf CLK_TCK)
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) printf "%.6g\n", v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'
}
cpu_us() { awk -v j="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (n > 0) printf "%.1f\n", j * 1e6 / hz / n; else print "n/a" }'; }

# ---------------------------------------------------------------- checks ------------------
for tool in redis-server redis-cli wrk curl ss awk sed sort timeout getconf; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH (see bench/README.md)"
done
[ -n "$REDISGATE_BIN" ] || command -v go >/dev/null 2>&1 || die "required tool 'go' not found in PATH (or set REDISGATE_BIN)"
for v in RUNS CONNS PIPE_KEYS POOL_SIZE C10K WRK_THREADS; do is_uint "${!v}" && [ "${!v}" -gt 0 ] || die "$v must be a positive integer, got '${!v}'"; done
for v in WAIT_IDLE NOISE_LIMIT RETRY_NOISY RETRY_BUDGET; do is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"; done
for s in $SCENARIOS; do [[ $s =~ ^[1-3]$ ]] || die "SCENARIOS must hold numbers 1 to 3, got '$SCENARIOS'"; done
DUR_S=$(dur_secs "$DURATION"); is_uint "$DUR_S" || die "DURATION must look like 5s or 1m, got '$DURATION'"
NOFILE=$(ulimit -n)
if [[ " $SCENARIOS " == *" 3 "* ]] && [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $(( C10K + 1000 )) ]; then
  ulimit -n $(( C10K + 1000 )) 2>/dev/null || log "WARNING: open-file limit $NOFILE is below C10K + 1000 = $(( C10K + 1000 )): wrk and the gateway will run out of descriptors"
  NOFILE=$(ulimit -n)
fi
NPROC=$(nproc); LOAD1=$(awk '{print $1}' /proc/loadavg); UPTIME=$(uptime)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/redisgate-cluster-bench.XXXXXX")
RAW="$TMP/raw.md"; : >"$RAW"
wait_idle
build_redisgate

# ---------------------------------------------------------------- servers -----------------
TOKEN="cluster-bench-token-$RANDOM$RANDOM"
start_redis() { # start_redis PORT DIR [ARGS...]: a redis-server in the background; prints its pid
  local port=$1 dir=$2; shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no --dir "$dir" \
    --loglevel warning "$@" >"$dir/log" 2>&1 &
  echo $!
}
pick_port RPORT
REDIS_PID=$(start_redis "$RPORT" "$TMP/single"); PIDS+=("$REDIS_PID")
wait_until 10 "$REDIS_PID" redis "$TMP/single/log" redis-cli -p "$RPORT" ping
NODE_PORTS=()
for i in 1 2 3; do
  pick_port NPORT; NODE_PORTS+=("$NPORT")
  pid=$(start_redis "$NPORT" "$TMP/node$i" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000)
  NODE_PIDS+=("$pid"); PIDS+=("$pid")
  wait_until 10 "$pid" "cluster node $i" "$TMP/node$i/log" redis-cli -p "$NPORT" ping
done
log "creating a cluster of 3 primaries on ports ${NODE_PORTS[*]}"
run_bg "$TMP/create.log" timeout 60 redis-cli --cluster create "${NODE_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes || {
  cat "$TMP/create.log" >&2; die "redis-cli --cluster create failed"; }
cluster_ok() { local p; for p in "${NODE_PORTS[@]}"; do redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || return 1; done; }
wait_until 30 "${NODE_PIDS[0]}" "the cluster" "$TMP/node1/log" cluster_ok
SEEDS=$(printf '127.0.0.1:%s,' "${NODE_PORTS[@]}"); SEEDS=${SEEDS%,}

GATE_ARGS=(--token "$TOKEN" --pool-size "$POOL_SIZE" --admin-listen "" --log-level error --max-conns-per-ip 0 --max-conns $(( C10K + 1000 )))
pick_port SPORT; pick_port CPORT
"$GATE_BIN" --listen "127.0.0.1:$SPORT" --upstream "redis://127.0.0.1:$RPORT" "${GATE_ARGS[@]}" >"$TMP/single-gate.log" 2>&1 &
SGATE_PID=$!; PIDS+=("$SGATE_PID")
"$GATE_BIN" --listen "127.0.0.1:$CPORT" --cluster "$SEEDS" "${GATE_ARGS[@]}" >"$TMP/cluster-gate.log" 2>&1 &
CGATE_PID=$!; PIDS+=("$CGATE_PID")
gate_up() { curl -sf --max-time 2 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/ping" >/dev/null; }
wait_until 20 "$SGATE_PID" "single-node gateway" "$TMP/single-gate.log" gate_up "$SPORT"
wait_until 20 "$CGATE_PID" "cluster gateway" "$TMP/cluster-gate.log" gate_up "$CPORT"

# The data, written through each gateway: one value read by scenario 1, PIPE_KEYS keys over
# all slots read by scenario 2.
VALUE=$(head -c "$VALUE_SIZE" /dev/zero | tr '\0' v)
KEY=bench:key
PIPE_BODY="[" FILL="[[\"SET\",\"$KEY\",\"$VALUE\"]"
for i in $(seq 0 $(( PIPE_KEYS - 1 ))); do
  PIPE_BODY+="[\"GET\",\"bench:$i\"],"; FILL+=",[\"SET\",\"bench:$i\",\"$VALUE\"]"
done
PIPE_BODY="${PIPE_BODY%,}]" FILL+="]"
for port in "$SPORT" "$CPORT"; do
  out=$(curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" -d "$FILL" "http://127.0.0.1:$port/pipeline") || die "filling through port $port failed"
  [ "$(grep -o '"OK"' <<<"$out" | wc -l)" -eq $(( PIPE_KEYS + 1 )) ] || die "filling through port $port: $out"
done
SLOTS_USED=$(for i in $(seq 0 $(( PIPE_KEYS - 1 ))); do redis-cli -p "${NODE_PORTS[0]}" cluster keyslot "bench:$i"; done | sort -u | wc -l)
PRIMARIES_USED=$(for p in "${NODE_PORTS[@]}"; do redis-cli -p "$p" dbsize; done | awk '$1 > 0' | wc -l)
log "the pipeline's $PIPE_KEYS keys are in $SLOTS_USED slots on $PRIMARIES_USED primaries"

# ---------------------------------------------------------------- runners -----------------
# wrk_once TIMEOUT CONNS URL [ENV=VAL...]: one wrk run; RESULT gets its BENCH line
wrk_once() {
  local to=$1 conns=$2 url=$3; shift 3
  local f="$TMP/wrk.$RANDOM.out" rc=0
  noise_begin
  run_bg "$f" env "$@" timeout -k 5 $(( DUR_S + 60 )) \
    wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --timeout "$to" -s "$BENCH_DIR/wrk.lua" "$url" || rc=$?
  noise_end
  RESULT=$(grep '^BENCH ' "$f" | tail -n1 || true)
  if [ "$rc" -ne 0 ] || [ -z "$RESULT" ]; then cat "$f" >&2; die "wrk against $url failed (exit $rc)"; fi
}
redis_jiffies() { local s=0 p; for p in "$@"; do s=$(( s + $(jiffies "$p") )); done; echo "$s"; }
# measure single|cluster get|pipeline: one run; RESULT gets the BENCH line plus gate_cpu_us and
# redis_cpu_us (the gateway's and its Redis servers' CPU per request)
measure() {
  local port gpid rpids url env
  case $1 in
    single) port=$SPORT gpid=$SGATE_PID rpids=("$REDIS_PID") ;;
    cluster) port=$CPORT gpid=$CGATE_PID rpids=("${NODE_PIDS[@]}") ;;
  esac
  case $2 in
    get) url="http://127.0.0.1:$port/get/$KEY" env=("BENCH_TOKEN=$TOKEN") ;;
    pipeline) url="http://127.0.0.1:$port/pipeline" env=("BENCH_TOKEN=$TOKEN" BENCH_METHOD=POST "BENCH_BODY=$PIPE_BODY") ;;
  esac
  local g0 r0 g1 r1 n
  g0=$(jiffies "$gpid"); r0=$(redis_jiffies "${rpids[@]}")
  wrk_once "$WRK_TIMEOUT" "$CONNS" "$url" "${env[@]}"
  g1=$(jiffies "$gpid"); r1=$(redis_jiffies "${rpids[@]}")
  n=$(kv "$RESULT" requests)
  RESULT+=" gate_cpu_us=$(cpu_us $(( g1 - g0 )) "$n") redis_cpu_us=$(cpu_us $(( r1 - r0 )) "$n")"
}

declare -A RPS=() P99=() GCPU=() RCPU=() ERRS=()
for s in $SCENARIOS; do
  case $s in 1) shape=get ;; 2) shape=pipeline ;; *) continue ;; esac
  for srv in single cluster; do measure "$srv" "$shape" >/dev/null 2>&1 || true; done # warm-up, unrecorded (1 run each)
  for run in $(seq 1 "$RUNS"); do
    for srv in single cluster; do # alternated, so that a slow spell of the machine hits both
      best_of measure "$srv" "$shape"
      L=$RESULT k="$srv/$shape"
      RPS[$k]+="$(kv "$L" rps) "; P99[$k]+="$(kv "$L" p99_us) "; GCPU[$k]+="$(kv "$L" gate_cpu_us) "; RCPU[$k]+="$(kv "$L" redis_cpu_us) "
      ERRS[$k]+="$(errs_of "$L") "
      raw "$(printf 'S%s %-8s %-8s c=%d run %d: %9.0f req/s  p99 %7.2f ms  gateway %6s µs/req  redis %6s µs/req  errors %s' \
        "$s" "$srv" "$shape" "$CONNS" "$run" "$(kv "$L" rps)" "$(us_to_ms "$(kv "$L" p99_us)")" "$(kv "$L" gate_cpu_us)" "$(kv "$L" redis_cpu_us)" "$(errs_of "$L")")"
    done
  done
done

# Scenario 3: C10K connections on the cluster gateway; the Redis connections of each primary
# sampled while they run.
C10K_LINE="" MAX_CONNS=()
primary_clients() { timeout 5 redis-cli -p "$1" info clients 2>/dev/null | tr -d '\r' | awk -F: '$1 == "connected_clients" {print $2 - 1}'; }
if [[ " $SCENARIOS " == *" 3 "* ]]; then
  base=(); for p in "${NODE_PORTS[@]}"; do base+=("$(primary_clients "$p")"); MAX_CONNS+=(0); done
  f="$TMP/c10k.out"
  noise_begin
  BENCH_TOKEN="$TOKEN" BENCH_TALLY=1 timeout -k 5 $(( DUR_S + 60 )) \
    wrk -t"$WRK_THREADS" -c"$C10K" -d"$DURATION" --timeout "$C10K_TIMEOUT" -s "$BENCH_DIR/wrk.lua" "http://127.0.0.1:$CPORT/get/$KEY" >"$f" 2>&1 &
  wpid=$!; PIDS+=("$wpid")
  while kill -0 "$wpid" 2>/dev/null; do
    for i in "${!NODE_PORTS[@]}"; do
      n=$(primary_clients "${NODE_PORTS[$i]}"); [ -n "$n" ] && [ "$n" -gt "${MAX_CONNS[$i]}" ] && MAX_CONNS[$i]=$n
    done
    sleep 0.5
  done
  rc=0; wait "$wpid" || rc=$?; forget_pid "$wpid"
  noise_end
  L=$(grep '^BENCH ' "$f" | tail -n1 || true)
  [ -n "$L" ] || { cat "$f" >&2; die "wrk with $C10K connections failed (exit $rc)"; }
  C10K_LINE=$L ATTEMPTS=1
  raw "$(printf 'S3 cluster  c=%d: %9.0f req/s  p99 %7.2f ms  errors %s  statuses %s  most Redis connections per primary %s (before %s; pool %d)' \
    "$C10K" "$(kv "$L" rps)" "$(us_to_ms "$(kv "$L" p99_us)")" "$(errs_of "$L")" "$(kv "$L" status)" "${MAX_CONNS[*]}" "${base[*]}" "$POOL_SIZE")"
fi

# ---------------------------------------------------------------- report ------------------
{
  echo "# redisgate on a Redis Cluster vs one node ($(date -u +%F' '%T) UTC)"
  echo
  echo "- command: \`bench/cluster.sh\` (RUNS=$RUNS DURATION=$DURATION CONNS=$CONNS PIPE_KEYS=$PIPE_KEYS POOL_SIZE=$POOL_SIZE C10K=$C10K WRK_THREADS=$WRK_THREADS)"
  echo "- redisgate $GIT_REV; redis $(redis-server --version | awk '{print $3}' | tr -d 'v='); $NPROC cores; open-file limit $NOFILE"
  echo "- load before the run: $UPTIME (CPU idle ${IDLE}% over one second)"
  echo "- cluster: 3 primaries, no replicas, \`redis-cli --cluster create\`; the pipeline's $PIPE_KEYS keys in $SLOTS_USED slots on $PRIMARIES_USED primaries"
  echo "- \"other CPU\": the share of the machine other processes used during the run (NOISY above $NOISE_LIMIT %)"
  echo
  echo '```'
} >"$TMP/header.md"
{
  echo '```'
  echo
  echo "| scenario | single node req/s | cluster req/s | cluster ÷ single | gateway CPU µs/req single → cluster | Redis CPU µs/req single → cluster (all primaries) |"
  echo "|---|---|---|---|---|---|"
  for s in $SCENARIOS; do
    case $s in 1) shape=get name="GET, c=$CONNS" ;; 2) shape=pipeline name="/pipeline of $PIPE_KEYS GETs over all slots, c=$CONNS" ;; *) continue ;; esac
    # shellcheck disable=SC2086
    a=$(median ${RPS[single/$shape]}) b=$(median ${RPS[cluster/$shape]})
    # shellcheck disable=SC2086
    echo "| $name | $(fmt_int "$a") | $(fmt_int "$b") | **$(ratio "$b" "$a")** | $(median ${GCPU[single/$shape]}) → $(median ${GCPU[cluster/$shape]}) | $(median ${RCPU[single/$shape]}) → $(median ${RCPU[cluster/$shape]}) |"
  done
  if [ -n "$C10K_LINE" ]; then
    echo
    echo "C10K ($C10K connections, GET, cluster gateway): $(fmt_int "$(kv "$C10K_LINE" rps)") req/s, errors $(errs_of "$C10K_LINE"), statuses $(kv "$C10K_LINE" status); most Redis connections per primary: ${MAX_CONNS[*]} (--pool-size $POOL_SIZE; target ≤ $(( POOL_SIZE + 2 )))."
  fi
  echo
  echo "Medians of $RUNS runs each; gateway CPU is utime + stime of its process per request."
} >"$TMP/table.md"
write_report
