#!/usr/bin/env bash
# Control-plane benchmark (issue 3 point 6; a benchmark, never a test).
# In one run: a 3-node sanfs cluster and a 3-node etcd cluster (Debian
# etcd-server), same layout, every member on 127.0.0.1 with its own ports and
# its data directory under /var/tmp (ext4, not tmpfs). Measures, with the same
# C client (bench/cluster_client.c) and one persistent local connection per
# client for both systems:
#   committed update latency p50/p99 with 1 client  (on the leader / ADM)
#   updates per second with 16 concurrent clients   (on the leader / ADM)
#   local query rate with 16 clients                 (on a follower:
#     sanfs CCD query from the node's copy, etcd serializable range;
#     also with QP_DEPTH requests pipelined per connection)
# Prints a markdown table (absolute figures, ratio sanfs/etcd) and writes it
# to bench/out/cluster.md. Whole run < 2 minutes. See bench/README-cluster.md.
# Usage: bench/cluster_bench.sh [BUILD_DIR]     (default: ./build)
# Knobs: UPD_SECS (8) UPD_MAX (8000) CONC_SECS (8) CONC_MAX (16000)
#        Q_SECS (5) Q_CLIENTS (16) QP_CLIENTS (4) QP_DEPTH (16)
# Targets (for reading, not asserted): sanfs p50 update latency <= etcd's;
# local queries >= 100,000/s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
SANCTL=$build/cli/sanctl
SANFSD=$build/node/sanfsd
CLIENT=$build/bench/cluster_client
UPD_SECS=${UPD_SECS:-8} UPD_MAX=${UPD_MAX:-8000}
CONC_SECS=${CONC_SECS:-8} CONC_MAX=${CONC_MAX:-16000}
Q_SECS=${Q_SECS:-5} Q_CLIENTS=${Q_CLIENTS:-16} QP_CLIENTS=${QP_CLIENTS:-4} QP_DEPTH=${QP_DEPTH:-16}
for b in "$SANCTL" "$SANFSD" "$CLIENT"; do
	[ -x "$b" ] || { echo "cluster_bench: $b missing: build first (meson setup build && ninja -C build)" >&2; exit 1; }
done
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "cluster_bench: etcd-server (etcd, etcdctl) not installed" >&2; exit 1; }
export ETCDCTL_API=3
load0=$(cut -d" " -f1-3 /proc/loadavg)

T=$(mktemp -d /var/tmp/sanfs-cbench-XXXXXX)
fstype=$(df --output=fstype "$T" | tail -1)
case $fstype in tmpfs | overlayfs) echo "cluster_bench: /var/tmp is $fstype, need ext4/xfs" >&2; rm -rf "$T"; exit 1 ;; esac
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	{ wait; } 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "cluster_bench: $*" >&2; exit 1; }
. "$(dirname "$0")/../tests/cluster/ports.sh"
base=$(port_base) || die "no free port block"

# --- sanfs: 3 nodes, Raft ports base+10/20/30 (control channel = port+1) ---
echo "starting sanfs (3 nodes, state in $T/s*) ..." >&2
"$SANCTL" bootstrap --state "$T/s1" --id 1 --address 127.0.0.1:$((base + 10)) >"$T/token" 2>"$T/bootstrap.log" ||
	die "sanctl bootstrap failed"
"$SANFSD" --state "$T/s1" --foreground >"$T/s1.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$T/s1/sanfsd.sock" ] && break; sleep 0.1; done
for i in 2 3; do
	"$SANCTL" join --state "$T/s$i" --id $i --address 127.0.0.1:$((base + 10 * i)) --token - <"$T/token" >/dev/null ||
		die "sanctl join $i failed"
	"$SANFSD" --state "$T/s$i" --foreground >"$T/s$i.log" 2>&1 &
	pids+=($!)
done
n=0
for _ in $(seq 150); do
	n=$("$SANCTL" --state "$T/s1" node list 2>/dev/null | grep -c ' active ' || true)
	[ "$n" = 3 ] && break
	sleep 0.2
done
[ "$n" = 3 ] || { tail -5 "$T"/s*.log >&2; die "sanfs cluster did not form ($n active)"; }
sadm=$("$SANCTL" --state "$T/s1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["adm"])')
case $sadm in 1 | 2 | 3) ;; *) die "no sanfs ADM ($sadm)" ;; esac
sfol=$((sadm % 3 + 1))
s_upd_sock=$T/s$sadm/sanfsd.sock
s_q_sock=$T/s$sfol/sanfsd.sock

# --- etcd: 3 members, peer ports base+1010/1020/1030, client port = peer+1 ---
echo "starting etcd (3 members, data in $T/e*) ..." >&2
cluster=""
for i in 1 2 3; do cluster+="e$i=http://127.0.0.1:$((base + 1000 + 10 * i)),"; done
cluster=${cluster%,}
for i in 1 2 3; do
	etcd --name e$i --data-dir "$T/e$i" \
		--listen-peer-urls http://127.0.0.1:$((base + 1000 + 10 * i)) \
		--initial-advertise-peer-urls http://127.0.0.1:$((base + 1000 + 10 * i)) \
		--listen-client-urls http://127.0.0.1:$((base + 1001 + 10 * i)) \
		--advertise-client-urls http://127.0.0.1:$((base + 1001 + 10 * i)) \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "cbench-$base" \
		--heartbeat-interval 100 --election-timeout 1000 >"$T/e$i.log" 2>&1 &
	pids+=($!)
done
eps=127.0.0.1:$((base + 1011)),127.0.0.1:$((base + 1021)),127.0.0.1:$((base + 1031))
eleader=""
for _ in $(seq 150); do
	eleader=$(etcdctl --endpoints "$eps" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
for i, e in enumerate(json.load(sys.stdin)):
    s = e["Status"]
    if s["header"]["member_id"] == s["leader"]:
        print(i + 1)' 2>/dev/null || true)
	[ -n "$eleader" ] && etcdctl --endpoints "$eps" endpoint health >/dev/null 2>&1 && break
	sleep 0.2
done
[ -n "$eleader" ] || { tail -5 "$T"/e*.log >&2; die "etcd cluster did not form"; }
efol=$((eleader % 3 + 1))
e_upd=127.0.0.1:$((base + 1001 + 10 * eleader))
e_q=127.0.0.1:$((base + 1001 + 10 * efol))

# --- measurements: sanfs then etcd for each figure, both clusters running ---
run() { # label args...: prints "ops secs ops_per_s p50 p99 errors"
	local out
	echo "  $1 ..." >&2
	shift
	out=$("$CLIENT" "$@") || die "client failed: $* (output: $out)"
	echo "$out"
}
s1=$(run "sanfs update, 1 client" sanfs "$s_upd_sock" update 1 "$UPD_SECS" "$UPD_MAX")
e1=$(run "etcd update, 1 client" etcd "$e_upd" update 1 "$UPD_SECS" "$UPD_MAX")
s16=$(run "sanfs update, 16 clients" sanfs "$s_upd_sock" update 16 "$CONC_SECS" "$CONC_MAX")
e16=$(run "etcd update, 16 clients" etcd "$e_upd" update 16 "$CONC_SECS" "$CONC_MAX")
sq=$(run "sanfs local query, $Q_CLIENTS clients" sanfs "$s_q_sock" query "$Q_CLIENTS" "$Q_SECS" 100000000)
eq=$(run "etcd serializable range, $Q_CLIENTS clients" etcd "$e_q" query "$Q_CLIENTS" "$Q_SECS" 100000000)
sqp=$(run "sanfs local query, $QP_CLIENTS x $QP_DEPTH pipelined" sanfs "$s_q_sock" query "$QP_CLIENTS" "$Q_SECS" 100000000 "$QP_DEPTH")
eqp=$(run "etcd serializable range, $QP_CLIENTS x $QP_DEPTH pipelined" etcd "$e_q" query "$QP_CLIENTS" "$Q_SECS" 100000000 "$QP_DEPTH")

f() { echo "$1" | cut -d' ' -f"$2"; } # field: 1 ops 2 secs 3 ops/s 4 p50 5 p99
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.2f' % (a / b) if b else 'n/a')" "$1" "$2"; }
mkdir -p "$root/bench/out"
out=$root/bench/out/cluster.md
{
	echo "### sanfs vs etcd $(etcd --version | sed -n 's/^etcd Version: //p'), 3 members on 127.0.0.1 each"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $load0, state on /var/tmp ($fstype)"
	echo
	echo "| measure | sanfs | etcd | sanfs/etcd |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| update latency p50, 1 client (ms) | $(f "$s1" 4) | $(f "$e1" 4) | $(ratio "$(f "$s1" 4)" "$(f "$e1" 4)") |"
	echo "| update latency p99, 1 client (ms) | $(f "$s1" 5) | $(f "$e1" 5) | $(ratio "$(f "$s1" 5)" "$(f "$e1" 5)") |"
	echo "| updates/s, 1 client | $(f "$s1" 3) | $(f "$e1" 3) | $(ratio "$(f "$s1" 3)" "$(f "$e1" 3)") |"
	echo "| updates/s, 16 clients | $(f "$s16" 3) | $(f "$e16" 3) | $(ratio "$(f "$s16" 3)" "$(f "$e16" 3)") |"
	echo "| update latency p99, 16 clients (ms) | $(f "$s16" 5) | $(f "$e16" 5) | $(ratio "$(f "$s16" 5)" "$(f "$e16" 5)") |"
	echo "| local queries/s, $Q_CLIENTS clients | $(f "$sq" 3) | $(f "$eq" 3) | $(ratio "$(f "$sq" 3)" "$(f "$eq" 3)") |"
	echo "| local query latency p50, $Q_CLIENTS clients (ms) | $(f "$sq" 4) | $(f "$eq" 4) | $(ratio "$(f "$sq" 4)" "$(f "$eq" 4)") |"
	echo "| local queries/s, $QP_CLIENTS clients x $QP_DEPTH pipelined | $(f "$sqp" 3) | $(f "$eqp" 3) | $(ratio "$(f "$sqp" 3)" "$(f "$eqp" 3)") |"
	echo
	echo "Ops counted: updates $(f "$s1" 1)/$(f "$e1" 1) (1 client), $(f "$s16" 1)/$(f "$e16" 1) (16 clients), queries $(f "$sq" 1)/$(f "$eq" 1), pipelined $(f "$sqp" 1)/$(f "$eqp" 1) (sanfs/etcd)."
	echo "Updates sent to the leader (sanfs ADM node $sadm, etcd member e$eleader); queries to a follower (sanfs node $sfol, etcd e$efol)."
	echo "Targets: sanfs p50 update latency <= etcd's; local queries >= 100,000/s. Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
