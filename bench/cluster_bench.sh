#!/usr/bin/env bash
# Control-plane benchmark (issue 3 point 6): a 3-node sanfs cluster and a
# 3-node etcd cluster (Debian etcd-server), same layout, both on 127.0.0.1,
# state on /var/tmp (ext4), in one run:
#   committed update latency p50/p99 with 1 client,
#   updates per second with 16 concurrent clients,
#   local query rate with 16 clients (sanfs: CCD query from the node's copy;
#   etcd: serializable range read).
# Usage: bench/cluster_bench.sh [BUILD_DIR]   (default: build)
# Targets (not a test): p50 update latency <= etcd's; queries >= 100,000/s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
SANCTL=$build/cli/sanctl
SANFSD=$build/node/sanfsd
PY="python3 $root/bench/cluster_bench.py"
UPD_N=${UPD_N:-2000}
CONC_N=${CONC_N:-4000}
Q_N=${Q_N:-100000}
[ -x "$SANFSD" ] || { echo "build first: $SANFSD missing" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd-server not installed" >&2; exit 1; }
T=$(mktemp -d /var/tmp/sanfs-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
base=$((30000 + RANDOM % 20000))

# sanfs: 3 nodes
"$SANCTL" bootstrap --state "$T/s1" --id 1 --address 127.0.0.1:$((base + 10)) >"$T/token" 2>/dev/null
"$SANFSD" --state "$T/s1" --foreground >"$T/s1.log" 2>&1 & pids+=($!)
sleep 1.5
for i in 2 3; do
	"$SANCTL" join --state "$T/s$i" --id $i --address 127.0.0.1:$((base + 10 * i)) --token - <"$T/token" >/dev/null
	"$SANFSD" --state "$T/s$i" --foreground >"$T/s$i.log" 2>&1 & pids+=($!)
done
for _ in $(seq 100); do
	n=$("$SANCTL" --state "$T/s1" node list 2>/dev/null | grep -c ' active ' || true)
	[ "$n" = 3 ] && break
	sleep 0.2
done
[ "$n" = 3 ] || { echo "sanfs cluster did not form" >&2; exit 1; }
ssock=$T/s1/sanfsd.sock

# etcd: 3 members
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
		--heartbeat-interval 100 --election-timeout 1000 >"$T/e$i.log" 2>&1 & pids+=($!)
done
eurl=http://127.0.0.1:$((base + 1011))
for _ in $(seq 100); do
	ETCDCTL_API=3 etcdctl --endpoints "$eurl" endpoint health >/dev/null 2>&1 && break
	sleep 0.2
done

run() { $PY "$@"; }
s_upd=$(run sanfs "$ssock" update "$UPD_N" 1)
e_upd=$(run etcd "$eurl" update "$UPD_N" 1)
s_conc=$(run sanfs "$ssock" update "$CONC_N" 16)
e_conc=$(run etcd "$eurl" update "$CONC_N" 16)
s_q=$(run sanfs "$ssock" query "$Q_N" 16)
e_q=$(run etcd "$eurl" query "$Q_N" 16)
s_qp=$(run sanfs "$ssock" queryp "$Q_N" 4)
get() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
printf '%-44s %12s %12s %8s\n' "3 nodes on 127.0.0.1" "sanfs" "etcd 3.4" "ratio"
row() { # label sanfs etcd
	printf '%-44s %12s %12s %8s\n' "$1" "$2" "$3" "$(python3 -c "print('%.2f' % ($2 / $3))")"
}
row "update latency p50, 1 client (ms)" "$(get "$s_upd" p50_ms)" "$(get "$e_upd" p50_ms)"
row "update latency p99, 1 client (ms)" "$(get "$s_upd" p99_ms)" "$(get "$e_upd" p99_ms)"
row "updates/s, 16 clients" "$(get "$s_conc" ops_per_s)" "$(get "$e_conc" ops_per_s)"
row "local queries/s, 16 clients" "$(get "$s_q" ops_per_s)" "$(get "$e_q" ops_per_s)"
printf '%-44s %12s\n' "local queries/s, 4 clients x 64 pipelined" "$(get "$s_qp" ops_per_s)"
echo "(machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
