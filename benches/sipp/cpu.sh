#!/usr/bin/env bash
# CPU time per call of an sbc binary under SIPp load on 127.0.0.1: sipp-bench.sh's
# logic (SIPp UAC -> sbc -> SIPp UAS, sbc utime+stime from /proc/PID/stat, all threads) with the
# binary as a parameter and no cargo build. MEDIA=0 (signalling only: uac/uas-signalling.xml, no
# SDP) and MEDIA=1 (SIPp built-in uac/uas, SDP offer/answer, so 4 relay sockets per call) run
# alternately, ROUNDS times each, each run with a fresh sbc.
#
#   flock /tmp/cpu.lock bash cpu.sh SBC_BINARY [RATE] [SECS] [ROUNDS]     # defaults 1000 5 2
#
# Differs from sipp-bench.sh in the config only by [limits] max_calls = 0, source_rate_per_s = 0
# (see lib.sh). Bounded: each run is RATE*SECS calls, SIPp killed after SECS*3+20 s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/lib.sh"
SBC=$(readlink -f "${1:?usage: cpu.sh SBC_BINARY [RATE] [SECS] [ROUNDS]}")
RATE=${2:-1000}; SECS=${3:-5}; ROUNDS=${4:-2}
command -v sipp >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bn-cpu.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
             for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
CUST=15060; CORE=15080; UAS_PORT=15090; ADMIN=15099
sbc_cfg "$TMP/sbc.toml" $CUST $CORE $UAS_PORT $ADMIN 50000 54999 55000 59999
TCK=$(getconf CLK_TCK)
echo "sbc: $SBC ($(sha256sum "$SBC" | cut -c1-12))  rate=$RATE secs=$SECS rounds=$ROUNDS"
printf "%6s %6s %8s %8s %8s %8s %14s %14s %10s\n" round media rate calls ok failed cpu_us_per_call sys_us_per_call hwm_kB
declare -A ALL
for round in $(seq 1 "$ROUNDS"); do
  for MEDIA in 0 1; do
    scenario $MEDIA
    "$SBC" --config "$TMP/sbc.toml" > "$TMP/sbc.log" 2>&1 &
    SBC_PID=$!; PIDS+=("$SBC_PID")
    sipp "${UAS[@]}" -i 127.0.0.1 -p $UAS_PORT -nostdin -trace_err -error_file "$TMP/uas_err.log" > /dev/null 2>&1 &
    PIDS+=("$!")
    wait_http $ADMIN 10 || { echo "sbc not ready"; cat "$TMP/sbc.log"; exit 1; }
    sleep 0.5
    kill -0 "${PIDS[1]}" 2>/dev/null || { echo "SIPp UAS did not start (port $UAS_PORT busy?)"; exit 1; }
    t0=$(awk '{print $14 + $15}' /proc/$SBC_PID/stat); s0=$(awk '{print $15}' /proc/$SBC_PID/stat)
    n=$((RATE * SECS)); rm -f "$TMP/uac.csv"
    timeout $((SECS * 3 + 30)) sipp "${UAC[@]}" -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$RATE" -m "$n" -l $((RATE * 4)) \
         -nostdin -timeout $((SECS * 3 + 20))s -timeout_error -trace_stat -stf "$TMP/uac.csv" -fd 1 > /dev/null 2>&1 || true
    t1=$(awk '{print $14 + $15}' /proc/$SBC_PID/stat); s1=$(awk '{print $15}' /proc/$SBC_PID/stat)
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$SBC_PID/status)
    ok=$(sipp_col "$TMP/uac.csv" 'SuccessfulCall(C)'); failed=$(sipp_col "$TMP/uac.csv" 'FailedCall(C)')
    us=$(awk -v d=$((t1 - t0)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    sus=$(awk -v d=$((s1 - s0)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    printf "%6s %6s %8s %8s %8s %8s %14s %14s %10s\n" "$round" "$MEDIA" "$RATE" "$n" "$ok" "$failed" "$us" "$sus" "$hwm"
    ALL[$MEDIA]+="$us "
    stop_all
  done
done
for MEDIA in 0 1; do
  echo "MEDIA=$MEDIA cpu_us_per_call runs: ${ALL[$MEDIA]} mean: $(echo ${ALL[$MEDIA]} | tr ' ' '\n' | awk '{s+=$1} END {printf "%.1f", s/NR}')"
done
