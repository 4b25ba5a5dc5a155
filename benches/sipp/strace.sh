#!/usr/bin/env bash
# System calls per call of an sbc binary: the sbc runs under `strace -c -f` (all threads) while
# SIPp makes CALLS calls at RATE calls/s, MEDIA=0 (no SDP) and MEDIA=1 (SDP, relay sockets)
# separately, plus an idle run (same sbc, no calls, same wall time as the MEDIA=0 run) whose counts
# are subtracted (startup, shutdown and timers). Loopback only; default io_backend (auto).
#
#   flock /tmp/cpu.lock bash strace.sh SBC_BINARY [CALLS] [RATE] [TOP]     # defaults 2000 200 16
#
# Prints per run: total syscalls, syscalls per call (raw and idle-subtracted) and the TOP syscalls
# per call (idle-subtracted). Raw strace -c tables are kept in $OUT (default /tmp/bn-strace).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/lib.sh"
SBC=$(readlink -f "${1:?usage: strace.sh SBC_BINARY [CALLS] [RATE] [TOP]}")
CALLS=${2:-2000}; RATE=${3:-200}; TOP=${4:-16}
OUT=${OUT:-/tmp/bn-strace}; mkdir -p "$OUT"
command -v strace >/dev/null || { echo "strace missing" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bn-strace.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
             for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
CUST=15260; CORE=15280; UAS_PORT=15290; ADMIN=15299
sbc_cfg "$TMP/sbc.toml" $CUST $CORE $UAS_PORT $ADMIN 50000 54999 55000 59999
echo "sbc: $SBC ($(sha256sum "$SBC" | cut -c1-12))  calls=$CALLS rate=$RATE"

# run NAME MEDIA|idle [IDLE_SECS]: sbc under strace; prints wall seconds of the load phase.
run() {
  local name=$1 media=$2 st sbc_pid t0 t1
  strace -c -f -o "$OUT/$name.strace" "$SBC" --config "$TMP/sbc.toml" > "$TMP/sbc.log" 2>&1 &
  st=$!; PIDS+=("$st")
  wait_http $ADMIN 15 || { echo "sbc not ready" >&2; cat "$TMP/sbc.log" >&2; exit 1; }
  sbc_pid=$(pgrep -P "$st" | head -1)
  t0=$(date +%s.%N)
  if [ "$media" = idle ]; then
    sleep "$3"
  else
    scenario "$media"
    sipp "${UAS[@]}" -i 127.0.0.1 -p $UAS_PORT -nostdin > /dev/null 2>&1 &
    local uas=$!; sleep 0.5
    kill -0 "$uas" 2>/dev/null || { echo "SIPp UAS did not start (port $UAS_PORT busy?)" >&2; exit 1; }
    timeout $((CALLS / RATE * 3 + 30)) sipp "${UAC[@]}" -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$RATE" -m "$CALLS" \
        -l $((RATE * 4)) -nostdin -timeout $((CALLS / RATE * 3 + 20))s -timeout_error \
        -trace_stat -stf "$TMP/$name.csv" -fd 1 > /dev/null 2>&1 || true
    echo "$name: ok=$(sipp_col "$TMP/$name.csv" 'SuccessfulCall(C)') failed=$(sipp_col "$TMP/$name.csv" 'FailedCall(C)') retrans=$(sipp_col "$TMP/$name.csv" 'Retransmissions(C)')" >&2
    kill -INT "$uas" 2>/dev/null || true; sleep 0.3; kill -KILL "$uas" 2>/dev/null || true
  fi
  t1=$(date +%s.%N)
  kill -TERM "$sbc_pid"; wait "$st" 2>/dev/null || true; PIDS=()
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}'
}
# counts FILE -> "syscall calls" lines (strace -c table; the errors column comes after calls)
counts() { awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {print $NF, $4}' "$1"; }
total() { awk '$NF == "total" {print $4}' "$1"; }

d0=$(run m0 0); d1=$(run m1 1)
idle_s=$d0; run idle idle "$idle_s" > /dev/null
idle_total=$(total "$OUT/idle.strace")
echo "idle run: ${idle_s}s, $idle_total syscalls (startup + shutdown + timers)"
for m in m0 m1; do
  tot=$(total "$OUT/$m.strace"); d=$([ $m = m0 ] && echo "$d0" || echo "$d1")
  echo
  echo "== MEDIA=${m#m}: load phase ${d}s, total syscalls $tot, per call raw $(awk -v t="$tot" -v n="$CALLS" 'BEGIN{printf "%.2f", t/n}'), minus idle $(awk -v t="$tot" -v i="$idle_total" -v n="$CALLS" 'BEGIN{printf "%.2f", (t-i)/n}')"
  printf "%-22s %12s %12s\n" syscall per_call_net per_call_raw
  join -a1 -e 0 -o 0,1.2,2.2 <(counts "$OUT/$m.strace" | sort) <(counts "$OUT/idle.strace" | sort) |
    awk -v n="$CALLS" '{printf "%-22s %12.2f %12.2f\n", $1, ($2-$3)/n, $2/n}' | sort -k2 -g -r | head -"$TOP"
done
echo; echo "raw strace -c tables: $OUT/{m0,m1,idle}.strace"
