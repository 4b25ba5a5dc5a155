#!/usr/bin/env bash
# Memory per concurrent call of an sbc binary: PSS (/proc/PID/smaps_rollup) idle, then with CALLS
# calls held up at once by SIPp (uac-hold*.xml: answered, then a pause of HOLD_S s before BYE),
# for MEDIA=0 (no SDP) and MEDIA=1 (SDP offer/answer, one audio stream: relay sockets). A fresh sbc
# per MEDIA. Reports (PSS_held - PSS_idle) / CALLS in kB, and the sbc's peak RSS (VmHWM).
#
#   flock /tmp/cpu.lock bash hold.sh SBC_BINARY [CALLS] [RATE] [HOLD_S]    # defaults 2000 400 25
#
# Loopback only. Relay ranges hold 8000 ports per side (4 per call per side, more than the 2 needed),
# below the ephemeral port range. Bounded: SIPp is killed after CALLS/RATE + HOLD_S + 60 s.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; . "$HERE/lib.sh"
SBC=$(readlink -f "${1:?usage: hold.sh SBC_BINARY [CALLS] [RATE] [HOLD_S]}")
CALLS=${2:-2000}; RATE=${3:-400}; HOLD_S=${4:-25}
ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d /tmp/bn-hold.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5
             for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT
CUST=15160; CORE=15180; UAS_PORT=15190; ADMIN=15199
sbc_cfg "$TMP/sbc.toml" $CUST $CORE $UAS_PORT $ADMIN 16000 23999 24000 31999
echo "sbc: $SBC ($(sha256sum "$SBC" | cut -c1-12))  calls=$CALLS rate=$RATE hold=${HOLD_S}s nofile=$(ulimit -n)"
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
printf "%5s %9s %9s %9s %9s %6s %6s %6s %6s %12s %9s %9s\n" media pss_idle pss_held pss_after rss_held active relay fds ok_fail kB_per_call hwm_kB sipp_ret
for MEDIA in 0 1; do
  if [ $MEDIA = 0 ]; then UAC=(-sf "$HERE/uac-hold.xml"); UAS=(-sf "$HERE/uas-signalling.xml")
  else UAC=(-sf "$HERE/uac-hold-sdp.xml"); UAS=(-sn uas); fi
  "$SBC" --config "$TMP/sbc.toml" > "$TMP/sbc.log" 2>&1 &
  S=$!; PIDS+=("$S")
  wait_http $ADMIN 10 || { echo "sbc not ready"; cat "$TMP/sbc.log"; exit 1; }
  sipp "${UAS[@]}" -i 127.0.0.1 -p $UAS_PORT -nostdin > /dev/null 2>&1 &
  PIDS+=("$!")
  sleep 2
  kill -0 "${PIDS[1]}" 2>/dev/null || { echo "SIPp UAS did not start (port $UAS_PORT busy?)"; exit 1; }
  p_idle=$(pss $S)
  rm -f "$TMP/uac.csv"
  timeout $((CALLS / RATE + HOLD_S + 60)) sipp "${UAC[@]}" -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$RATE" -m "$CALLS" \
      -l "$CALLS" -d $((HOLD_S * 1000)) -nostdin -timeout $((CALLS / RATE + HOLD_S + 50))s -timeout_error \
      -trace_stat -stf "$TMP/uac.csv" -fd 1 > /dev/null 2>&1 &
  U=$!; PIDS+=("$U")
  # wait (bounded) until every call is up, then let it settle for 2 s
  active=0
  for ((i = 0; i < (CALLS / RATE + HOLD_S - 3) * 5; i++)); do
    active=$(metric $ADMIN sbc_calls_active); active=${active:-0}
    [ "${active%.*}" -ge "$CALLS" ] && break
    sleep 0.2
  done
  sleep 2
  p_held=$(pss $S); r_held=$(rss $S)
  active=$(metric $ADMIN sbc_calls_active); relay=$(metric $ADMIN sbc_relay_sessions_active)
  fds=$(ls /proc/$S/fd | wc -l)
  wait "$U" 2>/dev/null || true
  sleep 2
  p_after=$(pss $S); hwm=$(awk '/VmHWM/ {print $2}' /proc/$S/status)
  ok=$(sipp_col "$TMP/uac.csv" 'SuccessfulCall(C)'); failed=$(sipp_col "$TMP/uac.csv" 'FailedCall(C)')
  ret=$(sipp_col "$TMP/uac.csv" 'Retransmissions(C)')
  kb=$(awk -v h="$p_held" -v i="$p_idle" -v n="$CALLS" 'BEGIN{printf "%.2f", (h-i)/n}')
  printf "%5s %9s %9s %9s %9s %6s %6s %6s %6s %12s %9s %9s\n" "$MEDIA" "$p_idle" "$p_held" "$p_after" "$r_held" "$active" "${relay:-?}" "$fds" "$ok/$failed" "$kb" "$hwm" "$ret"
  [ "${active%.*}" -ge "$CALLS" ] || echo "WARNING: only $active calls were up when PSS was taken"
  stop_all
done
echo "(PSS/RSS in kB; pss_after = 2 s after the last BYE; kB_per_call = (pss_held - pss_idle) / calls; fds = open fds while held)"
