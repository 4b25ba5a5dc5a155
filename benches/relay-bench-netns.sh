#!/bin/sh
# Runs relay-bench inside a network namespace this script creates (and always deletes), with
# Receive Packet Steering on that namespace's loopback sending every received packet to the
# generator/sink CPU.
#
# Why: on the host's loopback a forwarder's send runs the SINK's whole receive path (softirq:
# ip_rcv, UDP lookup and enqueue) on the forwarder's own CPU, and with CONFIG_IRQ_TIME_ACCOUNTING
# unset that time is charged to the forwarder thread. On a real network the receiver's stack runs
# on another host. With RPS the forwarder's send only queues the packet to the other CPU's backlog
# (and kicks it with an IPI when that backlog is idle); the receive processing runs there.
#
# Usage: benches/relay-bench-netns.sh [relay-bench options...]
#   e.g. flock /tmp/cpu.lock benches/relay-bench-netns.sh --streams 1000 --rate 50 --duration 10 --json
# Environment:
#   RELAY_BENCH  the relay-bench binary [default: target/release/relay-bench next to this script]
#   RPS_CPU      the CPU that gets the loopback receive work [default: the generator/sink CPU,
#                i.e. the (workers+1)-th CPU this script may run on, as relay-bench pins it]
# Needs root (ip netns). Touches only the namespace it creates: the host's own lo is left as is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bench=${RELAY_BENCH:-$here/../target/release/relay-bench}
if [ ! -x "$bench" ]; then
    echo "relay-bench-netns: no relay-bench binary at $bench (build it, or set RELAY_BENCH)" >&2
    exit 2
fi

# --workers N decides which CPU relay-bench gives the generator and sink (the one after the
# forwarders' CPUs).
workers=1
prev=
for a in "$@"; do
    case "$a" in
        --workers=*) workers=${a#--workers=} ;;
    esac
    if [ "$prev" = "--workers" ]; then workers=$a; fi
    prev=$a
done

if [ -z "${RPS_CPU:-}" ]; then
    # Cpus_allowed_list looks like "0-1" or "0,2-3": expand it and take entry number workers+1.
    allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
    RPS_CPU=$(echo "$allowed" | tr ',' '\n' | awk -F- '{ if (NF == 2) { for (c = $1; c <= $2; c++) print c } else print $1 }' |
        sed -n "$((workers + 1))p")
    if [ -z "$RPS_CPU" ]; then
        echo "relay-bench-netns: fewer than $((workers + 1)) CPUs allowed ($allowed): nothing to steer to" >&2
        exit 2
    fi
fi
# The rps_cpus file takes a hex CPU mask, in comma-separated 32-bit words for CPUs >= 32.
mask=$(awk -v c="$RPS_CPU" 'BEGIN {
    w = int(c / 32); s = sprintf("%x", 2 ^ (c % 32)); for (i = 0; i < w; i++) s = s ",00000000"; print s }')

ns=relay-bench-$$
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM HUP

# `ip netns exec` mounts a fresh sysfs, so /sys/class/net/lo below is the namespace's loopback.
ip netns exec "$ns" sh -c '
    set -eu
    mask=$1; shift
    ip link set lo up
    echo "$mask" > /sys/class/net/lo/queues/rx-0/rps_cpus
    echo "relay-bench-netns: namespace '"$ns"', lo rps_cpus=$(cat /sys/class/net/lo/queues/rx-0/rps_cpus)" >&2
    exec "$@"
' sh "$mask" "$bench" "$@"
