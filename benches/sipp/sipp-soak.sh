#!/usr/bin/env bash
# Soak: SIPp UAC -> sbc -> SIPp UAS on 127.0.0.1 at RATE calls/s with SDP (SIPp's built-in uac/uas:
# every call allocates relay ports) for SECS seconds, then TAIL seconds without load. Samples the
# sbc's RSS and PSS every STEP seconds; prints the series, the calls made/failed, and the RSS at the
# end of the load and after the tail (is memory given back, does it grow without bound?).
#
#   flock /tmp/cpu.lock bash benches/sipp/sipp-soak.sh SBC_BINARY [RATE=300] [SECS=600] [TAIL=30] [STEP=10]
#
# Loopback only; bounded (SIPp stops after RATE*SECS calls, and is killed at SECS+60 s).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/lib.sh"
SBC=$(readlink -f "${1:?usage: sipp-soak.sh SBC_BINARY [RATE] [SECS] [TAIL] [STEP]}")
RATE=${2:-300}; SECS=${3:-600}; TAIL=${4:-30}; STEP=${5:-10}
ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/sipp-soak.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
             for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
CUST=15460; CORE=15480; UAS_PORT=15490; ADMIN=15499
sbc_cfg "$TMP/sbc.toml" $CUST $CORE $UAS_PORT $ADMIN 6000 9999 10000 13999
"$SBC" --config "$TMP/sbc.toml" > "$TMP/sbc.log" 2>&1 &
S=$!; PIDS+=("$S")
wait_http $ADMIN 10 || { echo "sbc not ready"; cat "$TMP/sbc.log"; exit 1; }
sipp -sn uas -i 127.0.0.1 -p $UAS_PORT -nostdin > /dev/null 2>&1 &
PIDS+=("$!")
sleep 1
echo "sbc: $SBC ($(sha256sum "$SBC" | cut -c1-12))  rate=$RATE secs=$SECS tail=$TAIL"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$S/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$S/smaps_rollup"; }
timeout $((SECS + 60)) sipp -sn uac -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$RATE" -m $((RATE * SECS)) -l $((RATE * 10)) \
    -nostdin -timeout $((SECS + 50))s -trace_stat -stf "$TMP/uac.csv" -fd 5 > /dev/null 2>&1 &
U=$!; PIDS+=("$U")
printf "%6s %9s %9s %7s\n" t_s rss_kB pss_kB calls
t=0
while kill -0 "$U" 2>/dev/null && [ $t -le $((SECS + 60)) ]; do
  printf "%6s %9s %9s %7s\n" $t "$(rss)" "$(pss)" "$(metric $ADMIN sbc_calls_active)"
  sleep "$STEP"; t=$((t + STEP))
done
end_rss=$(rss)
sleep "$TAIL"
ok=$(sipp_col "$TMP/uac.csv" 'SuccessfulCall(C)'); failed=$(sipp_col "$TMP/uac.csv" 'FailedCall(C)')
echo "calls ok=$ok failed=$failed; RSS at the end of the load ${end_rss} kB, after ${TAIL} s idle $(rss) kB; VmHWM $(awk '/VmHWM/ {print $2}' /proc/$S/status) kB"
