# bench/lib.sh: the shell helpers that bench/run.sh and bench/cache.sh share, and nothing else.
# shellcheck shell=bash disable=SC2034  # the variables set here are read by the sourcing scripts
#
# Sourced by both scripts, never run: it defines functions and the state they keep, and installs
# the EXIT/INT/TERM/ERR traps (cleanup). Whatever differs between the two scripts stays in them.
#
# The sourcing script must, before sourcing it:
#   set -Eeuo pipefail, and set BENCH_TAG, the prefix of every message ("bench", "cache-bench")
# and, before it calls the helpers that read them, set:
#   KEEP_TMP                               cleanup: 1 keeps TMP
#   TMP                                    its temp dir, once made (cleanup removes it; "" = none)
#   RAW                                    raw: the file of the raw report
#   NOISE_LIMIT, RETRY_NOISY, RETRY_BUDGET raw, best_of
#   WAIT_IDLE, NPROC, LOAD1, UPTIME        wait_idle (it updates LOAD1 and UPTIME after waiting)
#   REPO_DIR, REDISGATE_BIN, REDISGATE_REF build_redisgate
#   RPORT                                  rcli: Redis's port
#   RESULTS_FILE                           write_report (with TMP/header.md and TMP/table.md)
# and define:
#   server_pids            prints the pids of the servers it started, whose CPU the noise
#                          accounting counts as the benchmark's own (empty or exited pids are fine)
# and add every background process it starts to PIDS, which cleanup stops on exit (forget_pid
# once it has reaped one, as run_bg does).
#
# It provides: log, die, cleanup, is_uint, dur_secs, maxof, kv, fmt_int, us_to_ms, ratio,
# pick_port, wait_until, jiffies, machine_jiffies, own_jiffies, noise_begin, noise_end,
# cpu_idle_pct, wait_idle, build_redisgate, raw, best_of, errs_of, rcli, write_report,
# forget_pid, run_bg; the
# variables TMP="" and PIDS=() for the script to fill; and LAST_OTHER, OTHER_ALL, RETRIES_USED,
# RESULT, ATTEMPTS, IDLE, GATE_BIN and GIT_REV, which those functions set.

log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%T)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$BENCH_TAG" "$*" >&2; exit 1; }

TMP=""
PIDS=()            # every background process the script started and has not reaped, killed on exit

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  local pid alive=()
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; alive+=("$pid"); fi
  done
  local i
  for i in $(seq 1 50); do
    local still=()
    for pid in "${alive[@]}"; do kill -0 "$pid" 2>/dev/null && still+=("$pid"); done
    alive=("${still[@]}")
    [ "${#alive[@]}" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "$KEEP_TMP" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ]; }; then
      printf '[%s] logs kept in %s\n' "$BENCH_TAG" "$TMP" >&2
    else
      rm -rf "$TMP"
    fi
  fi
  [ "$rc" -ne 0 ] && printf '[%s] exited with status %d\n' "$BENCH_TAG" "$rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'printf "\n[%s] interrupted\n" "$BENCH_TAG" >&2; exit 130' INT
trap 'printf "[%s] terminated\n" "$BENCH_TAG" >&2; exit 143' TERM
trap 'printf "[%s] ERROR: command failed (line %s): %s\n" "$BENCH_TAG" "$LINENO" "$BASH_COMMAND" >&2' ERR

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# seconds in a wrk-style duration: 5, 5s, 2m
dur_secs() {
  case $1 in
    *[0-9]s) echo "${1%s}" ;;
    *[0-9]m) echo $(( ${1%m} * 60 )) ;;
    *) echo "$1" ;;
  esac
}

maxof() { printf '%s\n' "$@" | sort -g | tail -n1; }

# value of key=... in a "BENCH k=v k=v" line
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

fmt_int() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else printf "%.0f\n", x }'; }
us_to_ms() { awk -v x="$1" 'BEGIN { if (x == "n/a") print x; else printf "%.2f\n", x/1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f\n", a/b }'; }

USED_PORTS=" "
# pick_port VAR: a free loopback TCP port below the ephemeral range, not handed out before
pick_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
      USED_PORTS+="$p "
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  die "no free TCP port found"
}

# wait_until SECONDS PID NAME LOGFILE CMD...: poll CMD until it succeeds; fail if PID dies
wait_until() {
  local secs=$1 pid=$2 name=$3 logf=$4; shift 4
  local deadline=$(( $(date +%s) + secs ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited during start-up; last lines of $logf:"
      tail -n 20 "$logf" >&2 || true
      die "$name did not start"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name not ready after ${secs}s; last lines of $logf:"
      tail -n 20 "$logf" >&2 || true
      die "$name not ready"
    fi
    sleep 0.1
  done
}

# jiffies PID: user+system CPU time of the process (all its threads) in clock ticks; 0 without PID
jiffies() {
  [ -n "$1" ] || { echo 0; return 0; }
  awk '{sub(/^.*\) /, ""); print $12+$13}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Foreign CPU: how much of the machine something other than this benchmark used during a run
# (another benchmark, a build...). Busy user+system jiffies of the machine minus those of our
# servers (server_pids), of this shell and of every child it has reaped (wrk, redis-benchmark,
# curl, redis-cli...). Approximate (interrupt time is left out on both sides); a run above ~10 %
# is suspect.
machine_jiffies() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d\n", t, $2+$3+$4}' /proc/stat; }
own_jiffies() {
  local pid s=0 f
  for pid in $(server_pids); do s=$(( s + $(jiffies "$pid") )); done
  f=$(awk '{sub(/^.*\) /, ""); print $12+$13+$14+$15}' "/proc/$$/stat")
  echo $(( s + f ))
}
NOISE_START="" OTHER_ALL=() LAST_OTHER=0
noise_begin() { NOISE_START="$(machine_jiffies) $(own_jiffies)"; }
# noise_end: sets LAST_OTHER to the foreign CPU in % of the whole machine since noise_begin
noise_end() {
  local now; now="$(machine_jiffies) $(own_jiffies)"
  LAST_OTHER=$(awk -v a="$NOISE_START" -v b="$now" 'BEGIN { split(a, x, " "); split(b, y, " ");
    t = y[1]-x[1]; o = (y[2]-x[2]) - (y[3]-x[3]); v = 0; if (t > 0) v = 100*o/t; if (v < 0) v = 0; printf "%.0f\n", v }')
}

# CPU idle over one second, now (the load average also remembers the last minutes)
cpu_idle_pct() {
  local a b
  a=$(awk '$1 == "cpu" {t=0; for (i=2; i<=NF; i++) t+=$i; printf "%d %d\n", t, $5+$6}' /proc/stat); sleep 1
  b=$(awk '$1 == "cpu" {t=0; for (i=2; i<=NF; i++) t+=$i; printf "%d %d\n", t, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[1]-x[1]; v = 100; if (d > 0) v = 100*(y[2]-x[2])/d; printf "%.0f\n", v }'
}
# wait_idle: sets IDLE; when less than 80 % of the CPU is idle, waits up to WAIT_IDLE seconds
# for it (then updates LOAD1 and UPTIME), and warns with the busiest processes if it stays busy
wait_idle() {
  local idle_deadline
  IDLE=$(cpu_idle_pct)
  log "CPU idle over the last second: ${IDLE}%"
  if [ "$IDLE" -lt 80 ] && [ "$WAIT_IDLE" -gt 0 ]; then
    log "waiting up to ${WAIT_IDLE}s for the CPU to be at least 80% idle"
    idle_deadline=$(( $(date +%s) + WAIT_IDLE ))
    while [ "$IDLE" -lt 80 ] && [ "$(date +%s)" -lt "$idle_deadline" ]; do IDLE=$(cpu_idle_pct); done
    log "CPU idle over the last second: ${IDLE}%"
    LOAD1=$(awk '{print $1}' /proc/loadavg); UPTIME=$(uptime)
  fi
  if [ "$IDLE" -lt 80 ]; then
    log "WARNING: the machine is busy (load $LOAD1 on $NPROC cores, ${IDLE}% idle): numbers will be noisy. Busiest processes now:"
    top -b -n 2 -d 0.5 -o %CPU 2>/dev/null | awk '/^top -/ {n++} n == 2' | sed -n '7,12p' >&2 || true
  fi
}

# build_redisgate: sets GATE_BIN and GIT_REV: REDISGATE_BIN as it is, or ./cmd/redisgate built
# into TMP from the commit REDISGATE_REF (git archive) or from the working tree
build_redisgate() {
  if [ -n "$REDISGATE_BIN" ]; then
    GATE_BIN=$REDISGATE_BIN
    GIT_REV="(prebuilt $REDISGATE_BIN)"
  else
    GATE_BIN="$TMP/redisgate"
    local src_dir=$REPO_DIR
    if [ -n "$REDISGATE_REF" ]; then
      GIT_REV=$(git -C "$REPO_DIR" rev-parse --short "$REDISGATE_REF^{commit}" 2>/dev/null) || die "REDISGATE_REF=$REDISGATE_REF is not a commit"
      log "building redisgate from commit $GIT_REV ($REDISGATE_REF)"
      src_dir="$TMP/src"; mkdir -p "$src_dir"
      git -C "$REPO_DIR" archive "$GIT_REV" | tar -x -C "$src_dir" || die "git archive $GIT_REV failed"
    else
      log "building redisgate from the working tree"
      GIT_REV=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
      if [ -n "$(git -C "$REPO_DIR" status --porcelain -- . ':!bench' 2>/dev/null)" ]; then GIT_REV+=" + uncommitted changes (working tree)"; fi
    fi
    run_bg "$TMP/build.log" timeout 600 go -C "$src_dir" build -o "$GATE_BIN" ./cmd/redisgate || {
      cat "$TMP/build.log" >&2; die "go build ./cmd/redisgate failed (REDISGATE_REF=HEAD builds the last commit instead of the working tree)"; }
  fi
}

# raw LINE: one line of the raw report; after a measured run (RUN_NOTE=1, the default) it
# appends the foreign CPU share of that run, the attempts it took, and NOISY when over the limit
raw() {
  local line=$*
  if [ "${RUN_NOTE:-1}" = 1 ]; then
    OTHER_ALL+=("$LAST_OTHER")
    line+="  other CPU ${LAST_OTHER}%"
    [ "${ATTEMPTS:-1}" -gt 1 ] && line+=" (best of $ATTEMPTS attempts)"
    [ "$LAST_OTHER" -gt "$NOISE_LIMIT" ] && line+="  NOISY"
  fi
  printf '%s\n' "$line" | tee -a "$RAW"
}

RETRIES_USED=0
# best_of FUNC ARGS...: run FUNC, which sets RESULT and LAST_OTHER. When something outside the
# benchmark used more than NOISE_LIMIT % of the CPU meanwhile, run it again (RETRY_NOISY more
# times per run, RETRY_BUDGET in the whole benchmark) and keep the least disturbed attempt.
# Sets RESULT, LAST_OTHER and ATTEMPTS.
best_of() {
  local best="" best_other=-1
  ATTEMPTS=0
  while :; do
    "$@"
    ATTEMPTS=$(( ATTEMPTS + 1 ))
    if [ "$best_other" -lt 0 ] || [ "$LAST_OTHER" -lt "$best_other" ]; then best=$RESULT best_other=$LAST_OTHER; fi
    [ "$LAST_OTHER" -le "$NOISE_LIMIT" ] && break
    { [ "$ATTEMPTS" -le "$RETRY_NOISY" ] && [ "$RETRIES_USED" -lt "$RETRY_BUDGET" ]; } || break
    RETRIES_USED=$(( RETRIES_USED + 1 ))
    log "other processes used ${LAST_OTHER}% of the CPU during that run: repeating it"
  done
  RESULT=$best LAST_OTHER=$best_other
}

# errs_of LINE: the connect/read/write/timeout/non-2xx errors of a BENCH line, as e1/e2/...
errs_of() { echo "$(kv "$1" connect)/$(kv "$1" read)/$(kv "$1" write)/$(kv "$1" timeout)/$(kv "$1" non2xx)"; }

# rcli ARGS...: redis-cli against the benchmark's Redis (RPORT), under a timeout
rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }

# write_report: the report (TMP/header.md, the raw runs, TMP/table.md) into RESULTS_FILE and on stdout
write_report() {
  cat "$TMP/header.md" "$RAW" "$TMP/table.md" >"$RESULTS_FILE"
  echo
  echo "=============================================================================="
  cat "$RESULTS_FILE"
  log "written to $RESULTS_FILE"
}

# forget_pid PID: drop a reaped process from PIDS, so that cleanup never signals a reused pid
forget_pid() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# run_bg OUTFILE CMD...: run CMD with its output in OUTFILE and wait for it. It runs in the
# background so that bash acts on Ctrl-C at once (bash defers traps while a foreground command
# runs) and so that cleanup can kill it by pid.
run_bg() {
  local out=$1; shift
  "$@" >"$out" 2>&1 &
  local pid=$! rc=0
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}
