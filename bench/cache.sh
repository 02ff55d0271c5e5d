#!/usr/bin/env bash
# bench/cache.sh: hot-key GET through redisgate with the read cache off, on and strict, in one
# run, under several layouts (shared or pinned cores) and Redis round trips (delay proxy).
# Usage and the meaning of every number: bench/README.md, "bench/cache.sh: the read cache".
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

# ---------------------------------------------------------------- settings (env) ----------
RUNS=${RUNS:-3}                       # runs per mode; the tables show the median
DURATION=${DURATION:-5s}              # wrk -d per run (N, Ns or Nm)
CONNS=${CONNS:-50}                    # wrk -c
VALUE_SIZE=${VALUE_SIZE:-64}          # bytes of the value every GET reads
LAYOUTS=${LAYOUTS:-"shared pinned"}   # shared: nothing pinned; pinned: gateway alone on core 1
RTTS=${RTTS:-"0 0.5ms"}               # emulated Redis round trips (0: straight to Redis)
MODES=${MODES:-"off on strict"}       # cache modes, one gateway each
POOL_SIZE=${POOL_SIZE:-4}             # redisgate --pool-size
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}        # wrk --timeout
WARMUP=${WARMUP:-1s}                  # one unrecorded wrk run per gateway (0 = none)
WAIT_IDLE=${WAIT_IDLE:-30}            # seconds to wait at start for the CPU to be >= 80 % idle
NOISE_LIMIT=${NOISE_LIMIT:-10}        # % of the machine used by other processes that makes a run NOISY
RETRY_NOISY=${RETRY_NOISY:-1}         # extra attempts of a NOISY run (the least disturbed one is kept)
RETRY_BUDGET=${RETRY_BUDGET:-8}       # at most this many extra attempts in the whole benchmark
REDISGATE_BIN=${REDISGATE_BIN:-}      # use this binary instead of building ./cmd/redisgate
REDISGATE_REF=${REDISGATE_REF:-}      # build this git revision (git archive) instead of the working tree
RESULTS_FILE=${RESULTS_FILE:-$BENCH_DIR/cache-results-latest.md}
KEEP_TMP=${KEEP_TMP:-0}               # 1: keep the temp dir (logs) after the run

# ---------------------------------------------------------------- helpers -----------------
BENCH_TAG=cache-bench   # prefix of every message (log, die, cleanup and the traps in lib.sh)
# shellcheck source=SCRIPTDIR/lib.sh
source "$BENCH_DIR/lib.sh"   # the helpers shared with run.sh; installs cleanup on exit

# Kept here because run.sh's versions differ: median and errs_sum (these skip empty values), run_bg
# (this one drops the reaped pid from PIDS), server_pids and check_alive (other servers).

REDIS_PID="" PROXY_PID=""
declare -A GATE_PID=() GATE_PORT=() GATE_TOKEN=()
# server_pids: the servers whose CPU lib.sh's noise accounting counts as the benchmark's own
server_pids() { echo "$REDIS_PID $PROXY_PID ${GATE_PID[*]}"; }

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaps it
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# microseconds in a round trip: 0, 500us (or µs), 0.5ms, 1s; empty output when malformed
rtt_us() {
  awk -v s="$1" 'BEGIN {
    if (s ~ /^0*\.?0*$/ && s != "" && s != ".") { print 0; exit }
    if (!match(s, /^[0-9]*\.?[0-9]+/)) exit
    n = substr(s, 1, RLENGTH); u = substr(s, RLENGTH + 1)
    if (u == "us" || u == "µs") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else exit
    printf "%.0f\n", n * m }'
}

# median of the numbers given as arguments (mean of the middle two for an even count)
median() {
  printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) printf "%.6g\n", v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'
}
fmt() { awk -v f="$1" -v x="$2" 'BEGIN { if (x == "n/a" || x == "") print "n/a"; else printf f "\n", x }'; }


# ---------------------------------------------------------------- checks ------------------
for tool in redis-server redis-cli redis-benchmark wrk curl ss taskset getconf awk sed sort timeout base64 od; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found in PATH (see bench/README.md)"
done
command -v go >/dev/null 2>&1 || die "required tool 'go' not found in PATH (it builds the delay proxy, and redisgate unless REDISGATE_BIN is set)"
if [ -n "$REDISGATE_BIN" ]; then
  [ -f "$REDISGATE_BIN" ] && [ -x "$REDISGATE_BIN" ] || die "REDISGATE_BIN=$REDISGATE_BIN is not an executable file"
fi
for v in WAIT_IDLE NOISE_LIMIT RETRY_NOISY RETRY_BUDGET; do is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"; done
for v in RUNS CONNS VALUE_SIZE POOL_SIZE; do
  is_uint "${!v}" && [ "${!v}" -gt 0 ] || die "$v must be a positive integer, got '${!v}'"
done
DUR_S=$(dur_secs "$DURATION")
is_uint "$DUR_S" && [ "$DUR_S" -gt 0 ] || die "DURATION must look like 5s, 5 or 1m, got '$DURATION'"
is_uint "$(dur_secs "$WRK_TIMEOUT")" || die "WRK_TIMEOUT must look like 2s, got '$WRK_TIMEOUT'"
if [ "$WARMUP" != 0 ]; then is_uint "$(dur_secs "$WARMUP")" || die "WARMUP must look like 1s or 0, got '$WARMUP'"; fi
read -r -a LAYOUT_LIST <<<"$LAYOUTS"
read -r -a RTT_LIST <<<"$RTTS"
read -r -a MODE_LIST <<<"$MODES"
[ "${#LAYOUT_LIST[@]}" -gt 0 ] && [ "${#RTT_LIST[@]}" -gt 0 ] && [ "${#MODE_LIST[@]}" -gt 0 ] || die "LAYOUTS, RTTS and MODES must not be empty"
for l in "${LAYOUT_LIST[@]}"; do [[ $l == shared || $l == pinned ]] || die "LAYOUTS must hold 'shared' and/or 'pinned', got '$LAYOUTS'"; done
for m in "${MODE_LIST[@]}"; do [[ $m == off || $m == on || $m == strict ]] || die "MODES must hold 'off', 'on' and/or 'strict', got '$MODES'"; done
declare -A RTT_US=()
for r in "${RTT_LIST[@]}"; do
  RTT_US[$r]=$(rtt_us "$r")
  [ -n "${RTT_US[$r]}" ] || die "RTTS must hold round trips like 0, 500us, 0.5ms or 2ms, got '$r'"
done

# ---------------------------------------------------------------- environment -------------
NPROC=$(nproc 2>/dev/null || echo 1)
CLK_TCK=$(getconf CLK_TCK)
ALL_CPUS=$(taskset -cp $$ | sed 's/.*: *//')   # the cores this script may use (unpinned processes get these)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
UPTIME=$(uptime)
LOAD1=$(awk '{print $1}' /proc/loadavg)
log "uptime: $UPTIME (the load average includes the last minutes; the idle share below is now)"
log "cores: $NPROC ($ALL_CPUS), CLK_TCK $CLK_TCK"
wait_idle

TMP=$(mktemp -d "${TMPDIR:-/tmp}/redisgate-cache-bench.XXXXXX")
RAW="$TMP/raw.md"; : >"$RAW"

# ---------------------------------------------------------------- redis, builds -----------
VALUE=$(printf 'v%.0s' $(seq 1 "$VALUE_SIZE"))
VALUE_B64=$(printf '%s' "$VALUE" | base64 -w0)
KEY=benchkey
rand32() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }   # 32 hex characters

pick_port RPORT
log "starting redis-server on 127.0.0.1:$RPORT"
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --daemonize no \
  --dir "$TMP" --logfile "$TMP/redis.log" &
REDIS_PID=$!; PIDS+=("$REDIS_PID")
wait_until 10 "$REDIS_PID" redis-server "$TMP/redis.log" \
  sh -c "[ \"\$(timeout 2 redis-cli -h 127.0.0.1 -p $RPORT PING)\" = PONG ]"
[ "$(rcli SET "$KEY" "$VALUE")" = OK ] || die "SET $KEY failed"

# Redis commands run so far, INFO itself left out (the script's own INFO calls)
redis_calls() {
  rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" {s += $3} END {printf "%d\n", s}'
}

build_redisgate
NEED_PROXY=0
for r in "${RTT_LIST[@]}"; do [ "${RTT_US[$r]}" -gt 0 ] && NEED_PROXY=1; done
if [ "$NEED_PROXY" = 1 ]; then
  log "building the delay proxy (bench/delayproxy)"
  run_bg "$TMP/build-proxy.log" timeout 600 go -C "$REPO_DIR" build -o "$TMP/delayproxy" ./bench/delayproxy || {
    cat "$TMP/build-proxy.log" >&2; die "go build ./bench/delayproxy failed"; }
fi

# ---------------------------------------------------------------- layouts -----------------
# set_layout NAME: where Redis runs (re-pinned in place), and the prefixes of the other commands:
# GATE_CPU for anything on the gateways' cores, GATE_PIN for the gateways themselves, CLIENT_PIN
# for wrk and the delay proxy
GATE_CPU=() GATE_PIN=() CLIENT_PIN=()
set_layout() {
  case $1 in
    shared)
      taskset -a -p -c "$ALL_CPUS" "$REDIS_PID" >/dev/null || die "taskset on redis-server failed"
      GATE_CPU=() GATE_PIN=(env -u GOMAXPROCS) CLIENT_PIN=() ;;
    pinned)
      taskset -a -p -c 0 "$REDIS_PID" >/dev/null || die "taskset -c 0 on redis-server failed"
      GATE_CPU=(taskset -c 1) GATE_PIN=(env GOMAXPROCS=1 taskset -c 1) CLIENT_PIN=(taskset -c 0) ;;
  esac
}

# start_proxy DELAY: the delay proxy in front of Redis, on CLIENT_PIN's cores; sets PROXY_PID, PROXY_ADDR
start_proxy() {
  local out="$TMP/proxy.$LABEL.out"
  "${CLIENT_PIN[@]}" "$TMP/delayproxy" -target "127.0.0.1:$RPORT" -delay "$1" >"$out" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  wait_until 10 "$PROXY_PID" "delay proxy" "$out" grep -q '^listening ' "$out"
  PROXY_ADDR=$(awk '$1 == "listening" {print $2; exit}' "$out")
  [[ $PROXY_ADDR == 127.0.0.1:* ]] || die "delay proxy printed '$(head -n1 "$out")'"
}

# gate_get MODE [HEADER]: the body of GET /get/benchkey through MODE's gateway
gate_get() {
  local h=()
  [ -n "${2:-}" ] && h=(-H "$2")
  curl -s --max-time 2 -H "Authorization: Bearer ${GATE_TOKEN[$1]}" "${h[@]}" "http://127.0.0.1:${GATE_PORT[$1]}/get/$KEY"
}

# start_gateway MODE UPSTREAM: one redisgate with MODE's cache settings on a free port
start_gateway() {
  local mode=$1 up=$2 port flags=() logf="$TMP/redisgate.$LABEL.$1.log" body
  case $mode in
    off) flags=(--cache=false) ;;
    on) flags=(--cache=true) ;;
    strict) flags=(--cache=true --cache-strict=true) ;;
  esac
  pick_port port
  GATE_PORT[$mode]=$port GATE_TOKEN[$mode]=$(rand32)
  "${GATE_PIN[@]}" "$GATE_BIN" --listen "127.0.0.1:$port" --upstream "redis://$up" --token "${GATE_TOKEN[$mode]}" \
    --admin-listen '' --max-conns-per-ip 0 --max-conns 0 --pool-size "$POOL_SIZE" --log-level warn "${flags[@]}" >"$logf" 2>&1 &
  GATE_PID[$mode]=$!; PIDS+=("${GATE_PID[$mode]}")
  wait_until 15 "${GATE_PID[$mode]}" "redisgate ($mode)" "$logf" \
    sh -c "curl -s --max-time 2 -H 'Authorization: Bearer ${GATE_TOKEN[$mode]}' http://127.0.0.1:$port/get/$KEY | grep -q result"
  # twice each: with the cache on, the first read fills it and the second is a hit
  local i
  for i in 1 2; do
    body=$(gate_get "$mode" 'Upstash-Encoding: base64' || true)
    [ "$body" = "{\"result\":\"$VALUE_B64\"}" ] || die "redisgate ($mode) answered '$body' with Upstash-Encoding: base64, want {\"result\":\"$VALUE_B64\"}"
    body=$(gate_get "$mode" || true)
    [ "$body" = "{\"result\":\"$VALUE\"}" ] || die "redisgate ($mode) answered '$body', want {\"result\":\"$VALUE\"}"
  done
}

stop_servers() {
  local m
  for m in "${!GATE_PID[@]}"; do stop_pid "${GATE_PID[$m]}"; done
  GATE_PID=() GATE_PORT=() GATE_TOKEN=()
  stop_pid "$PROXY_PID"; PROXY_PID=""
}

check_alive() {
  local m
  for m in "${!GATE_PID[@]}"; do
    kill -0 "${GATE_PID[$m]}" 2>/dev/null || { tail -n 30 "$TMP/redisgate.$LABEL.$m.log" >&2; die "redisgate ($m) died ($1)"; }
  done
  kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server died ($1)"
  if [ -n "$PROXY_PID" ]; then kill -0 "$PROXY_PID" 2>/dev/null || die "delay proxy died ($1)"; fi
}

# ping_rtt HOST:PORT: median round trip of one client's PINGs there, in ms, from the gateways' cores
ping_rtt() {
  local f="$TMP/rtt.$RANDOM.out"
  run_bg "$f" timeout 30 "${GATE_CPU[@]}" redis-benchmark -h "${1%:*}" -p "${1##*:}" -c 1 -n 1000 -t ping_mbulk --csv \
    || { cat "$f" >&2; die "redis-benchmark against $1 failed"; }
  awk -F'","' '/PING_MBULK/ {print $5 + 0}' "$f"
}

# ---------------------------------------------------------------- runner ------------------
# measure_once MODE [DURATION]: one wrk run against MODE's gateway, with the CPU time of the
# gateway, Redis and the delay proxy and Redis's command count read before and after.
# RESULT: "rps p50_us p99_us errors gateway_us_per_req gateway_cores redis_us_per_req redis_cmds_per_req proxy_us_per_req"
measure_once() {
  local mode=$1 dur=${2:-$DURATION} f="$TMP/wrk.$LABEL.$1.$RANDOM.out" rc=0
  local gpid=${GATE_PID[$mode]} c0 g0 r0 p0 c1 g1 r1 p1 L
  c0=$(redis_calls); g0=$(jiffies "$gpid"); r0=$(jiffies "$REDIS_PID"); p0=$(jiffies "$PROXY_PID")
  noise_begin
  run_bg "$f" env BENCH_TOKEN="${GATE_TOKEN[$mode]}" timeout -k 5 $(( $(dur_secs "$dur") + 60 )) "${CLIENT_PIN[@]}" \
    wrk -t1 -c"$CONNS" -d"$dur" --timeout "$WRK_TIMEOUT" --latency -H 'Upstash-Encoding: base64' \
    -s "$BENCH_DIR/wrk.lua" "http://127.0.0.1:${GATE_PORT[$mode]}/get/$KEY" || rc=$?
  noise_end
  g1=$(jiffies "$gpid"); r1=$(jiffies "$REDIS_PID"); p1=$(jiffies "$PROXY_PID"); c1=$(redis_calls)
  L=$(grep '^BENCH ' "$f" | tail -n1 || true)
  if [ "$rc" -ne 0 ] || [ -z "$L" ] || [ "$(kv "$L" requests)" -eq 0 ]; then
    cat "$f" >&2; die "wrk against redisgate ($mode) failed (exit $rc)"
  fi
  RESULT=$(awk -v n="$(kv "$L" requests)" -v d="$(kv "$L" duration_us)" -v hz="$CLK_TCK" \
    -v g="$(( g1 - g0 ))" -v r="$(( r1 - r0 ))" -v p="$(( p1 - p0 ))" -v c="$(( c1 - c0 ))" \
    -v rps="$(kv "$L" rps)" -v p50="$(kv "$L" p50_us)" -v p99="$(kv "$L" p99_us)" -v e="$(errs_of "$L")" 'BEGIN {
      t = 1e6 / hz   # microseconds per jiffy
      printf "%s %s %s %s %.2f %.2f %.2f %.4f %.2f\n", rps, p50, p99, e, g*t/n, g/hz/(d/1e6), r*t/n, c/n, p*t/n }')
}

# adds the e1/e2/... error tuples given as arguments
errs_sum() { printf '%s\n' "$@" | grep -v '^$' | awk -F/ '{for (i = 1; i <= NF; i++) s[i] += $i; n = NF} END {
  out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? "/" : "") s[i]; print out }'; }
errs_zero() { [[ $1 =~ ^(0/)*0$ ]]; }

# ---------------------------------------------------------------- report header -----------
{
  echo "# redisgate read cache benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), redisgate $GIT_REV"
  echo "- host: $NPROC cores ($ALL_CPUS), CLK_TCK $CLK_TCK, redis $(redis-server --version | awk '{print $3}' | tr -d 'v='), $( (wrk --version 2>&1 || true) | head -n1 | awk '{print $1, $2}')"
  echo "- load at start: $(sed 's/.*load average/load average/' <<<"$UPTIME"), CPU idle ${IDLE}%"
  echo "- RUNS=$RUNS DURATION=$DURATION CONNS=$CONNS VALUE_SIZE=$VALUE_SIZE POOL_SIZE=$POOL_SIZE LAYOUTS=\"$LAYOUTS\" RTTS=\"$RTTS\" MODES=\"$MODES\""
  echo "- load: wrk -t1 -c$CONNS -d$DURATION --timeout $WRK_TIMEOUT, GET /get/$KEY ($VALUE_SIZE-byte value) with Authorization: Bearer and Upstash-Encoding: base64"
  echo
  echo "## Raw runs"
  echo
  echo "errors = connect/read/write/timeout/non-2xx (any non-zero marks the run ERRORS);"
  echo "gateway / redis / proxy = CPU µs per request (and the gateway's load in cores); cmds = Redis commands per request;"
  echo "other CPU = share of the machine used by processes outside the benchmark during the run"
  echo "(NOISY above $NOISE_LIMIT %; such a run is repeated up to $RETRY_NOISY time(s) and the least disturbed attempt kept)"
  echo
  echo '```'
} >"$TMP/header.md"
cat "$TMP/header.md"

# ---------------------------------------------------------------- measurements ------------
declare -A R_RPS=() R_P50=() R_P99=() R_GW=() R_LOAD=() R_RD=() R_CMD=() R_PX=() R_ERR=() R_BAD=() NOTE=()
DONE_CASES=() SKIPPED=()
ERROR_RUNS=0
for layout in "${LAYOUT_LIST[@]}"; do
  if [ "$layout" = pinned ] && [ "$NPROC" -lt 2 ]; then
    log "layout pinned skipped: it needs 2 cores (gateway on core 1, the rest on core 0); this machine has $NPROC"
    SKIPPED+=("pinned (needs 2 cores, this machine has $NPROC)")
    continue
  fi
  set_layout "$layout"
  for rtt in "${RTT_LIST[@]}"; do
    LABEL="$layout.rtt$rtt"
    case_key="$layout|$rtt"
    us=${RTT_US[$rtt]}
    direct=$(ping_rtt "127.0.0.1:$RPORT")
    if [ "$us" -gt 0 ]; then
      half=$(awk -v u="$us" 'BEGIN { printf "%gus\n", u / 2 }')
      start_proxy "$half"
      UPSTREAM=$PROXY_ADDR
      via=$(ping_rtt "$PROXY_ADDR")
      NOTE[$case_key]="Redis behind the delay proxy (-delay $half each way); one client's PING round trip p50: $via ms through it, $direct ms straight to Redis"
    else
      UPSTREAM="127.0.0.1:$RPORT"
      NOTE[$case_key]="Redis straight on loopback; one client's PING round trip p50: $direct ms"
    fi
    log "$layout, RTT $rtt: ${NOTE[$case_key]}"
    for mode in "${MODE_LIST[@]}"; do start_gateway "$mode" "$UPSTREAM"; done
    RUN_NOTE=0 raw "--- $layout, RTT $rtt: ${NOTE[$case_key]}; gateways $(for m in "${MODE_LIST[@]}"; do printf '%s=pid %s ' "$m" "${GATE_PID[$m]}"; done)"
    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
      log "warm-up: $WARMUP per gateway (not recorded)"
      for mode in "${MODE_LIST[@]}"; do measure_once "$mode" "$WARMUP"; done
    fi
    for run in $(seq 1 "$RUNS"); do
      # rotate the order, so that no mode always runs first or right after another's load
      n=${#MODE_LIST[@]} s=$(( (run - 1) % ${#MODE_LIST[@]} ))
      order=("${MODE_LIST[@]:$s}" "${MODE_LIST[@]:0:$s}")
      for mode in "${order[@]}"; do
        best_of measure_once "$mode"
        read -r rps p50 p99 err gw load rd cmd px <<<"$RESULT"
        k="$case_key|$mode"
        R_RPS[$k]+="$rps " R_P50[$k]+="$p50 " R_P99[$k]+="$p99 " R_GW[$k]+="$gw " R_LOAD[$k]+="$load "
        R_RD[$k]+="$rd " R_CMD[$k]+="$cmd " R_PX[$k]+="$px " R_ERR[$k]+="$err "
        mark=""
        if ! errs_zero "$err"; then mark="  ERRORS"; R_BAD[$k]=$(( ${R_BAD[$k]:-0} + 1 )); ERROR_RUNS=$(( ERROR_RUNS + 1 )); fi
        pxs=""; [ "$us" -gt 0 ] && pxs=$(printf '  proxy %5.2f µs' "$px")
        raw "$(printf '%-6s rtt=%-6s %-6s run %d: %7.0f req/s  p50 %5.2f ms  p99 %5.2f ms  errors %s  gateway %5.2f µs (%.2f cores)  redis %5.2f µs  %6.4f cmds%s%s' \
          "$layout" "$rtt" "$mode" "$run" "$rps" "$(us_to_ms "$p50")" "$(us_to_ms "$p99")" "$err" "$gw" "$load" "$rd" "$cmd" "$pxs" "$mark")"
        check_alive "$layout, RTT $rtt, $mode"
      done
    done
    stop_servers
    DONE_CASES+=("$case_key")
  done
done

# ---------------------------------------------------------------- tables ------------------
LOG_LINES=0
for f in "$TMP"/redisgate.*.log; do
  [ -e "$f" ] || continue
  LOG_LINES=$(( LOG_LINES + $( (grep -v '^redisgate listening on ' "$f" || true) | wc -l) ))
done
{
  echo '```'
  echo
  echo "## Results (median of $RUNS runs of $DURATION; latencies in ms; CPU in µs per request)"
  for c in "${DONE_CASES[@]}"; do
    layout=${c%%|*} rtt=${c#*|}
    echo
    echo "### $layout, RTT $rtt"
    echo
    echo "${NOTE[$c]}."
    echo
    echo "| cache | req/s | ÷ off | p50 | p99 | gateway CPU/req | gateway cores | Redis CPU/req | Redis cmds/req | proxy CPU/req | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    off_rps=n/a
    # shellcheck disable=SC2086
    [ -n "${R_RPS[$c|off]:-}" ] && off_rps=$(median ${R_RPS[$c|off]})
    for mode in "${MODE_LIST[@]}"; do
      k="$c|$mode"
      # shellcheck disable=SC2086
      rps=$(median ${R_RPS[$k]})
      r=$(ratio "$rps" "$off_rps"); [ "$mode" != off ] && [ "$r" != n/a ] && r="**$r**"
      px=n/a
      # shellcheck disable=SC2086
      [ "${RTT_US[$rtt]}" -gt 0 ] && px=$(fmt %.2f "$(median ${R_PX[$k]})")
      # shellcheck disable=SC2086
      e=$(errs_sum ${R_ERR[$k]}); errs_zero "$e" || e="$e (${R_BAD[$k]} run(s) with errors)"
      # shellcheck disable=SC2086
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$mode" "$(fmt_int "$rps")" "$r" \
        "$(us_to_ms "$(median ${R_P50[$k]})")" "$(us_to_ms "$(median ${R_P99[$k]})")" \
        "$(fmt %.1f "$(median ${R_GW[$k]})")" "$(fmt %.2f "$(median ${R_LOAD[$k]})")" \
        "$(fmt %.1f "$(median ${R_RD[$k]})")" "$(fmt %.4f "$(median ${R_CMD[$k]})")" "$px" "$e"
    done
  done
  if [ "${#DONE_CASES[@]}" -gt 1 ]; then
    echo
    echo "## Summary: req/s with the cache on and strict ÷ off (medians)"
    echo
    printf '| layout | RTT | off req/s |'; for m in "${MODE_LIST[@]}"; do [ "$m" != off ] && printf ' %s ÷ off |' "$m"; done
    printf ' p99 ms (%s) |\n' "$(IFS=/; echo "${MODE_LIST[*]}")"
    printf '|---|---|---:|'; for m in "${MODE_LIST[@]}"; do [ "$m" != off ] && printf -- '---:|'; done; printf -- '---:|\n'
    for c in "${DONE_CASES[@]}"; do
      off_rps=n/a
      # shellcheck disable=SC2086
      [ -n "${R_RPS[$c|off]:-}" ] && off_rps=$(median ${R_RPS[$c|off]})
      printf '| %s | %s | %s |' "${c%%|*}" "${c#*|}" "$(fmt_int "$off_rps")"
      # shellcheck disable=SC2086
      for m in "${MODE_LIST[@]}"; do [ "$m" != off ] && printf ' %s |' "$(ratio "$(median ${R_RPS[$c|$m]})" "$off_rps")"; done
      # shellcheck disable=SC2086
      printf ' %s |\n' "$(for m in "${MODE_LIST[@]}"; do us_to_ms "$(median ${R_P99[$c|$m]})"; done | paste -sd/ -)"
    done
  fi
  echo
  echo "- columns: bench/README.md, \"bench/cache.sh: the read cache\"; errors = connect/read/write/timeout/non-2xx summed over all runs ($ERROR_RUNS run(s) with errors)"
  for s in "${SKIPPED[@]}"; do echo "- skipped: $s"; done
  MAX_OTHER=$(maxof 0 "${OTHER_ALL[@]}")
  NOISY_RUNS=$(printf '%s\n' "${OTHER_ALL[@]}" | awk -v l="$NOISE_LIMIT" '$1 > l {n++} END {print n+0}')
  echo "- other CPU: up to ${MAX_OTHER}% of the machine used by processes outside this benchmark during a run (median $(median "${OTHER_ALL[@]}")%); $NOISY_RUNS of ${#OTHER_ALL[@]} recorded runs NOISY (> $NOISE_LIMIT %) after $RETRIES_USED repeat(s)$( [ "$NOISY_RUNS" -gt 0 ] && echo ": treat those numbers with suspicion")"
  echo "- redisgate logs at --log-level warn: $LOG_LINES line(s)"
  echo "- load at end: $(sed 's/.*load average/load average/' <<<"$(uptime)")"
} >"$TMP/table.md"

if [ "$LOG_LINES" -gt 0 ]; then
  { echo; echo "First redisgate log lines:"; echo; echo '```'
    for f in "$TMP"/redisgate.*.log; do grep -v '^redisgate listening on ' "$f" | sed "s|^|$(basename "$f" .log): |" || true; done | head -n 10
    echo '```'; } >>"$TMP/table.md"
fi

write_report
