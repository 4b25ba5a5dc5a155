# Shared helpers of the sbc measurement scripts in benches/sipp/ (sourced, not run). Loopback only.
# sbc_cfg FILE CUST CORE UAS ADMIN CUST_RTP_MIN CUST_RTP_MAX CORE_RTP_MIN CORE_RTP_MAX [EXTRA_TOML]
# Writes the config of benches/sipp/sipp-bench.sh with the given ports, plus
# [limits] max_calls = 0 (the default 1000 would refuse hold.sh's 2000 concurrent calls) and
# source_rate_per_s = 0 (checked 2026-12-07 on 710ac38: without a realm the per-source limit does
# not bite, 2000 calls at 1000/s all succeed with the defaults and sbc_rate_limited_requests_total
# stays 0, so this only guards against a future change), plus EXTRA_TOML appended verbatim.
sbc_cfg() {
  local f=$1 cust=$2 core=$3 uas=$4 admin=$5 cmin=$6 cmax=$7 kmin=$8 kmax=$9 extra=${10:-}
  cat > "$f" <<CFG
[general]
log_level = "warn"

[[interface]]
name = "customer"
listen = [{ transport = "udp", address = "127.0.0.1:$cust" }]
media_address = "127.0.0.1"
rtp_port_min = $cmin
rtp_port_max = $cmax

[[interface]]
name = "core"
listen = [{ transport = "udp", address = "127.0.0.1:$core" }]
media_address = "127.0.0.1"
rtp_port_min = $kmin
rtp_port_max = $kmax

[[route]]
name = "to-uas"
from_interface = "customer"
next_hop = "127.0.0.1:$uas"
transport = "udp"
to_interface = "core"

[limits]
max_calls = 0
source_rate_per_s = 0

[admin]
listen = "127.0.0.1:$admin"
$extra
CFG
}

# wait_http PORT SECONDS: until http://127.0.0.1:PORT/metrics answers (sbc ready), else fail.
wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/metrics" && return 0
    sleep 0.1
  done
  return 1
}

# metric PORT NAME: value of an unlabelled metric from /metrics (empty if absent).
# (awk reads to the end: exiting at the match would make curl fail with EPIPE under pipefail.)
metric() { curl -s -m 2 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n && v == "" {v = $2} END {print v}'; }

# sipp_col CSV NAME: value of column NAME in the last line of a SIPp -trace_stat CSV.
sipp_col() {
  local hdr c
  hdr=$(head -1 "$1"); c=$(echo "$hdr" | tr ';' '\n' | grep -n "^$2\$" | cut -d: -f1)
  tail -1 "$1" | cut -d';' -f"$c"
}

# scenario MEDIA -> sets UAC/UAS arrays: MEDIA=0 the signalling-only pair of benches/sipp,
# MEDIA=1 SIPp's built-in uac/uas (SDP offer and answer, one audio stream).
scenario() {
  local here; here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ "$1" = 0 ]; then
    UAC=(-sf "$here/uac-signalling.xml"); UAS=(-sf "$here/uas-signalling.xml")
  else
    UAC=(-sn uac); UAS=(-sn uas)
  fi
}
