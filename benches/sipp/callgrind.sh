#!/usr/bin/env bash
# Instructions per call of an sbc binary under valgrind --tool=callgrind, with
# [relay] io_backend = "mmsg" (valgrind does not support io_uring). Three runs, each a fresh sbc
# under callgrind for the same wall time: idle (no calls), MEDIA=0 (CALLS calls, no SDP) and
# MEDIA=1 (CALLS calls, SDP: relay sockets). Per call = (Ir_run - Ir_idle) / CALLS.
#
#   flock /tmp/cpu.lock bash callgrind.sh SBC_BINARY [CALLS] [RATE]     # defaults 200 20
#
# Out files stay in $OUT (default /tmp/bn-callgrind) for callgrind_annotate. Loopback only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/lib.sh"
SBC=$(readlink -f "${1:?usage: callgrind.sh SBC_BINARY [CALLS] [RATE]}")
CALLS=${2:-200}; RATE=${3:-20}
OUT=${OUT:-/tmp/bn-callgrind}; mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bn-cg.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
             for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
CUST=15360; CORE=15380; UAS_PORT=15390; ADMIN=15399
sbc_cfg "$TMP/sbc.toml" $CUST $CORE $UAS_PORT $ADMIN 50000 54999 55000 59999 $'[relay]\nio_backend = "mmsg"'
# Load phase: CALLS/RATE s of calls plus 6 s for the last calls (SIPp's default -d 0, retransmits
# under valgrind's slowness) and the sbc's post-call work; the idle run sleeps the same.
LOAD_S=$((CALLS / RATE + 6))
echo "sbc: $SBC ($(sha256sum "$SBC" | cut -c1-12))  calls=$CALLS rate=$RATE load_phase=${LOAD_S}s io_backend=mmsg"

run() {
  local name=$1 media=$2 vg t0 rest
  rm -f "$OUT/$name.out"
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.out" "$SBC" --config "$TMP/sbc.toml" \
      > "$TMP/sbc-$name.log" 2>&1 &
  vg=$!; PIDS+=("$vg")
  wait_http $ADMIN 120 || { echo "sbc not ready under valgrind" >&2; cat "$TMP/sbc-$name.log" >&2; exit 1; }
  sleep 1
  t0=$(date +%s)
  if [ "$media" != idle ]; then
    scenario "$media"
    sipp "${UAS[@]}" -i 127.0.0.1 -p $UAS_PORT -nostdin > /dev/null 2>&1 &
    local uas=$!; PIDS+=("$uas"); sleep 0.5
    kill -0 "$uas" 2>/dev/null || { echo "SIPp UAS did not start (port $UAS_PORT busy?)" >&2; exit 1; }
    timeout $((LOAD_S * 3 + 30)) sipp "${UAC[@]}" -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$RATE" -m "$CALLS" \
        -l $((RATE * 10)) -nostdin -timeout $((LOAD_S * 3 + 20))s -timeout_error \
        -trace_stat -stf "$TMP/$name.csv" -fd 1 > /dev/null 2>&1 || true
    echo "$name: ok=$(sipp_col "$TMP/$name.csv" 'SuccessfulCall(C)') failed=$(sipp_col "$TMP/$name.csv" 'FailedCall(C)') retrans=$(sipp_col "$TMP/$name.csv" 'Retransmissions(C)') active_after=$(metric $ADMIN sbc_calls_active)"
  else
    # The load runs read /metrics once (above); so does the idle run, so that the scrape (about
    # 2 M instructions: every family encoded) is subtracted rather than counted as call work.
    metric $ADMIN sbc_calls_active > /dev/null
  fi
  rest=$((LOAD_S - ($(date +%s) - t0)))
  if [ "$rest" -gt 0 ]; then sleep "$rest"; else echo "$name: load phase overran by $((-rest)) s"; fi
  kill -TERM "$vg"; wait "$vg" 2>/dev/null || true
  stop_all   # the UAS too, else the next run's UAS cannot bind its port
}
ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
run idle idle; run m0 0; run m1 1
I=$(ir "$OUT/idle.out"); A=$(ir "$OUT/m0.out"); B=$(ir "$OUT/m1.out")
echo
printf "%-8s %16s %18s\n" run Ir Ir_per_call_net
printf "%-8s %16s %18s\n" idle "$I" -
printf "%-8s %16s %18s\n" MEDIA=0 "$A" "$(awk -v a="$A" -v i="$I" -v n="$CALLS" 'BEGIN{printf "%.0f", (a-i)/n}')"
printf "%-8s %16s %18s\n" MEDIA=1 "$B" "$(awk -v a="$B" -v i="$I" -v n="$CALLS" 'BEGIN{printf "%.0f", (a-i)/n}')"
echo "out files: $OUT/{idle,m0,m1}.out  (callgrind_annotate FILE | head -40)"
