#!/usr/bin/env bash
# SIP load benchmark: SIPp UAC -> sbc -> SIPp UAS on 127.0.0.1 at fixed call rates (signalling
# only, no RTP). For each rate it reports the sbc's CPU time per call (user+sys from
# /proc/<pid>/stat), failed calls, and at the end the sbc's peak RSS and the highest rate with zero
# failed calls. Bounded: each rate runs `SECS` seconds of calls.
#
#   benches/sipp/sipp-bench.sh                 # rates 200 500 1000 2000, 5 s each
#   SECS=10 benches/sipp/sipp-bench.sh 100 300 # chosen rates
#   MEDIA=0 benches/sipp/sipp-bench.sh 1000    # signalling only: no SDP, so no relay ports
#
# By default SIPp's built-in uac/uas scenarios run (SDP offer and answer: every call also
# allocates and binds four relay sockets); MEDIA=0 uses uac-signalling.xml/uas-signalling.xml
# here, without SDP, which is the SIP path alone.
#
# Needs sipp (Debian package sip-tester: bash .ci/deps). Not a test: figures wander on shared VMs.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v sipp >/dev/null || { echo "sipp not found: bash .ci/deps (apt-get install sip-tester)" >&2; exit 1; }
RATES=("$@"); [ ${#RATES[@]} -gt 0 ] || RATES=(200 500 1000 2000)
SECS=${SECS:-5}
MEDIA=${MEDIA:-1}
if [ "$MEDIA" = 0 ]; then
  UAC=(-sf benches/sipp/uac-signalling.xml); UAS=(-sf benches/sipp/uas-signalling.xml)
else
  UAC=(-sn uac); UAS=(-sn uas)
fi
cargo build --release --quiet --bin sbc
SBC=target/release/sbc
TMP=$(mktemp -d /tmp/sipp-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

CUST=15060; CORE=15080; UAS_PORT=15090; ADMIN=15099
cat > "$TMP/sbc.toml" <<CFG
[general]
log_level = "warn"

[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:$CUST" }]
media_address = "127.0.0.1"
rtp_port_min = 50000
rtp_port_max = 54999

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:$CORE" }]
media_address = "127.0.0.1"
rtp_port_min = 55000
rtp_port_max = 59999

[[route]]
name = "to-uas"
from_interface = "customer"
next_hop = "127.0.0.1:$UAS_PORT"
transport = "udp"
to_interface = "core"

[admin]
listen = "127.0.0.1:$ADMIN"
CFG
$SBC --config "$TMP/sbc.toml" > "$TMP/sbc.log" 2>&1 &
SBC_PID=$!; PIDS+=("$SBC_PID")
sipp "${UAS[@]}" -i 127.0.0.1 -p $UAS_PORT -bg -trace_err -error_file "$TMP/uas_err.log" > /dev/null 2>&1 || true
sleep 0.5
UAS_PID=$(pgrep -f "sipp ${UAS[*]} -i 127.0.0.1 -p $UAS_PORT" | head -1 || true)
[ -n "$UAS_PID" ] && PIDS+=("$UAS_PID")
kill -0 "$SBC_PID" || { cat "$TMP/sbc.log"; exit 1; }

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SBC_PID/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$SBC_PID/stat"; }
printf "%8s %8s %8s %8s %14s %14s\n" rate calls ok failed cpu_us_per_call sys_us_per_call
best=0
for r in "${RATES[@]}"; do
  n=$((r * SECS))
  before=$(cpu_ticks); sys_before=$(sys_ticks)
  sipp "${UAC[@]}" -i 127.0.0.1 -p 0 127.0.0.1:$CUST -r "$r" -m "$n" -l $((r * 4)) \
       -timeout $((SECS * 3 + 20))s -timeout_error -trace_stat -stf "$TMP/uac_$r.csv" \
       -fd 1 > /dev/null 2>&1 || true
  after=$(cpu_ticks); sys_after=$(sys_ticks)
  stat=$(tail -1 "$TMP/uac_$r.csv")
  hdr=$(head -1 "$TMP/uac_$r.csv")
  col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
  ok=$(echo "$stat" | cut -d';' -f"$(col 'SuccessfulCall(C)')")
  failed=$(echo "$stat" | cut -d';' -f"$(col 'FailedCall(C)')")
  us=$(awk -v d=$((after - before)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
  sys_us=$(awk -v d=$((sys_after - sys_before)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
  printf "%8s %8s %8s %8s %14s %14s\n" "$r" "$n" "$ok" "$failed" "$us" "$sys_us"
  if [ "$failed" = "0" ] && [ "$ok" = "$n" ]; then best=$r; fi
done
echo "peak RSS of sbc: $(awk '/VmHWM/ {print $2, $3}' /proc/$SBC_PID/status)"
echo "highest rate with zero failed calls: $best calls/s"
