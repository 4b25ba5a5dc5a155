#!/usr/bin/env bash
# User and system CPU time per call of SIP elements under the same SIPp load, each element in turn
# (A B C A B C ...), inside a network namespace of this script's own that has only loopback.
# Signalling only: SIPp's uac_nosdp.xml / uas_bench.xml of the shared bench (no SDP, so no relay
# work). Each element listens on 127.0.0.1:5060 and forwards to the SIPp UAS on 127.0.0.1:5080.
#
#   BENCH=../shared/bench ROUNDS=3 bash benches/sipp/cpu-split.sh RATE SECONDS 'CMD' ['CMD' ...]
#   HOLD_MS (default 100) is how long each call stays up, so RATE*HOLD_MS/1000 calls are up at
#   once: e.g. HOLD_MS=10000 at 300 calls/s keeps ~3,000 calls live (lookups that grow with the
#   number of calls show there).
#   e.g. ... cpu-split.sh 1000 10 "target/release/sbc --config ../shared/bench/sbc-perf.toml" \
#            "kamailio -f ../shared/bench/kamailio-proxy.cfg -DD -E -m 1024 -M 64"
#
# Prints each run (utime, stime and their sum per call, from /proc/<pid>/stat of every process of
# the element's session) and the medians per element. The kernel's part is what loopback costs
# the element for the datagrams it sends and receives; it wanders more than the user part between
# runs on a shared 2-core VM (whether SIPp and the element share a core). Needs root, sipp.
set -uo pipefail
RATE="$1"; DUR="$2"; shift 2
BENCH="$(readlink -f "${BENCH:-../shared/bench}")"; ROUNDS="${ROUNDS:-3}"; NS=sbc-cpu-split
command -v sipp >/dev/null || { echo "sipp missing (bash .ci/deps)"; exit 1; }
[ -f "$BENCH/uac_nosdp.xml" ] || { echo "no $BENCH/uac_nosdp.xml (set BENCH)"; exit 1; }
ip netns del $NS 2>/dev/null; ip netns add $NS; ip -n $NS link set lo up
trap 'for p in $(ip netns pids $NS 2>/dev/null); do kill -KILL $p 2>/dev/null; done; ip netns del $NS 2>/dev/null' EXIT

# One run of CMD: prints "user sys total ok failed" (µs per call).
run_one() {
  ip netns exec $NS bash -s "$1" "$RATE" "$DUR" "$BENCH" "${HOLD_MS:-100}" <<'EOF'
SERVER="$1"; RATE="$2"; DUR="$3"; BENCH="$4"; HOLD_MS="$5"
OUT=$(mktemp -d /tmp/cpu-split.XXXX)
setsid bash -c "exec $SERVER" >"$OUT/server.log" 2>&1 & S=$!
sleep 2
kill -0 $S 2>/dev/null || { echo "server failed: $(tail -3 "$OUT/server.log")" >&2; exit 1; }
sess_cpu() {
  local u=0 s=0 f line
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    line=${line##*) }; set -- $line
    if [ "$4" = "$S" ]; then u=$((u + ${12})); s=$((s + ${13})); fi
  done
  echo $u $s
}
sipp -sf "$BENCH/uas_bench.xml" -i 127.0.0.1 -p 5080 -nostdin -buff_size 4194304 >/dev/null 2>&1 & U=$!
sleep 1
read -r u0 s0 < <(sess_cpu)
# The shared UAC holds each call 100 ms: HOLD_MS replaces that pause.
sed "s|<pause milliseconds=\"100\"/>|<pause milliseconds=\"$HOLD_MS\"/>|" "$BENCH/uac_nosdp.xml" > "$OUT/uac.xml"
grep -q "<pause milliseconds=\"$HOLD_MS\"/>" "$OUT/uac.xml" || { echo "no 100 ms pause in uac_nosdp.xml" >&2; exit 1; }
timeout $((DUR*3+HOLD_MS/1000+30)) sipp -sf "$OUT/uac.xml" 127.0.0.1:5060 -i 127.0.0.1 -p 5070 -r "$RATE" \
  -m $((RATE*DUR)) -d "$HOLD_MS" -l 30000 -nostdin -buff_size 4194304 -trace_screen \
  -screen_file "$OUT/uac.screen" >/dev/null 2>&1
sleep 1
read -r u1 s1 < <(sess_cpu)
kill -INT $U 2>/dev/null; sleep 1; kill -KILL $U 2>/dev/null; wait $U 2>/dev/null
for p in $(ps -o pid= -s $S 2>/dev/null); do kill -TERM $p 2>/dev/null; done; sleep 1
for p in $(ps -o pid= -s $S 2>/dev/null); do kill -KILL $p 2>/dev/null; done
ok=$(awk -F'|' '/Successful call/{print $3+0; exit}' "$OUT/uac.screen" 2>/dev/null); ok=${ok:-0}
fl=$(awk -F'|' '/Failed call/{print $3+0; exit}' "$OUT/uac.screen" 2>/dev/null); fl=${fl:-0}
hz=$(getconf CLK_TCK)
if [ "$ok" -gt 0 ]; then
  u=$(( (u1 - u0) * 1000000 / hz / ok )); s=$(( (s1 - s0) * 1000000 / hz / ok ))
  echo "$u $s $((u + s)) $ok $fl"
else
  echo "NA NA NA 0 $fl"
fi
rm -rf "$OUT"
EOF
}

declare -A U S T
for r in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $(($# - 1))); do
    cmd="${@:$((i + 1)):1}"
    read -r u s t ok fl < <(run_one "$cmd")
    echo "round $r element $i: user=$u sys=$s total=$t us/call ok=$ok failed=$fl  ($cmd)"
    U[$i]+="$u "; S[$i]+="$s "; T[$i]+="$t "
  done
done
med() { tr ' ' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "NA")}'; }
for i in $(seq 0 $(($# - 1))); do
  echo "median element $i: user=$(echo ${U[$i]} | med) sys=$(echo ${S[$i]} | med) total=$(echo ${T[$i]} | med) us/call  (${@:$((i + 1)):1})"
done
