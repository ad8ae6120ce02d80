#!/usr/bin/env bash
# Self-test of the multi-node harness (suite 'integration'; exits 77 when not
# root). 3 nodes: reachability over the bridge, partition and heal, SIGSTOP /
# SIGCONT / kill -9 seen in /proc, per-node mount namespaces, a loop device,
# wait-for time-out, clean-up of an interrupted run, and a teardown that
# leaves no namespace, bridge, veth, process, mount or loop device.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness.sh"
hn_require_root || exit 77
hn_require_loop || exit 77
PY=$(command -v /usr/bin/python3 python3 | head -1) || { echo "SKIP: python3 missing"; exit 77; }

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
ok() { echo "ok [${SECONDS}s]: $*"; }

# A TCP server answering "hello from N" to every connection, and a client
# that succeeds only when it gets that answer within 1 s.
server() {
	hn_start "$1" "$PY" -c '
import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000)); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"hello from " + os.environ["HN_NODE"].encode()); c.close()
'
}
reach() { # FROM TO
	hn_exec "$1" "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7000), timeout=1)
d = s.recv(64)
sys.exit(0 if d == ("hello from " + sys.argv[2]).encode() else 1)
' "$(hn_ip "$2")" "$2" 2>/dev/null
}
proc_state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

hn_cleanup_stale

# --- an interrupted run: its shell dies by SIGKILL, no trap runs ---
{ bash -c ". '$here/harness.sh'; hn_setup 1 >/dev/null 2>&1; hn_start 1 sleep 1000;
	hn_loop_create 8M >/dev/null; echo \$HN_RUN_ID \$HN_LAST_PID > /var/tmp/sanfs-harness-stale.id;
	kill -9 \$\$"; } 2>/dev/null
read -r stale stale_pid </var/tmp/sanfs-harness-stale.id 2>/dev/null
rm -f /var/tmp/sanfs-harness-stale.id
if [ -n "$stale" ] && ip netns list | grep -q "^snh-$stale-" && [ -e "/proc/$stale_pid" ]; then
	ok "interrupted run $stale left its namespaces and process $stale_pid behind (as expected)"
else
	fail "could not create an interrupted run"
fi
hn_cleanup_stale
ip netns list | grep -q "^snh-$stale-" && fail "stale namespaces of $stale survive hn_cleanup_stale"
losetup -n -O BACK-FILE | grep -q "sanfs-harness/$stale/" && fail "stale loop device of $stale survives"
[ -n "$stale_pid" ] && [ -e "/proc/$stale_pid" ] && [ "$(proc_state "$stale_pid")" != Z ] &&
	fail "stale process $stale_pid of $stale survives"
[ -e "$HN_BASE/$stale" ] && fail "stale run directory $HN_BASE/$stale survives"
ok "hn_cleanup_stale removed run $stale"

# --- a run interrupted by SIGTERM: the trap tears it down ---
bash -c ". '$here/harness.sh'; hn_setup 2 >/dev/null 2>&1; hn_start 1 sleep 1000;
	hn_loop_create 8M >/dev/null; echo \$HN_RUN_ID > /var/tmp/sanfs-harness-term.id; kill -TERM \$\$;
	sleep 5" 2>/dev/null
rc=$?
term=$(cat /var/tmp/sanfs-harness-term.id 2>/dev/null)
rm -f /var/tmp/sanfs-harness-term.id
[ $rc = 143 ] || fail "SIGTERM-ed run exited $rc, expected 143"
[ -n "$term" ] || fail "SIGTERM-ed run did not start"
ip netns list | grep -q "^snh-$term-" && fail "SIGTERM-ed run $term left namespaces"
losetup -n -O BACK-FILE | grep -q "sanfs-harness/$term/" && fail "SIGTERM-ed run $term left a loop device"
ok "SIGTERM: run $term tore itself down (exit $rc)"
[ -f "$HN_BASE/$term/n1/node.log" ] || fail "SIGTERM-ed run $term did not keep its logs"
hn_cleanup_stale 2>/dev/null
[ -e "$HN_BASE/$term" ] && fail "kept run directory $term survives hn_cleanup_stale"

# --- a caller in strict mode (set -euo pipefail): every call works and the
# teardown on exit still completes ---
bash -c "set -euo pipefail; . '$here/harness.sh'; hn_setup 2 --mount-ns 2>/dev/null
	hn_start 1 sleep 1000; hn_exec 2 true; hn_partition 2; hn_heal 2; hn_loop_create 8M >/dev/null
	hn_stop 1; hn_cont 1; hn_kill 1; hn_wait_for 2 true; hn_start 2 sleep 1000
	mkdir -p \$(hn_dir 2)/m; hn_exec 2 mount -t tmpfs none \$(hn_dir 2)/m
	echo \$HN_RUN_ID > /var/tmp/sanfs-harness-strict.id"
rc=$?
strict=$(cat /var/tmp/sanfs-harness-strict.id 2>/dev/null)
rm -f /var/tmp/sanfs-harness-strict.id
[ $rc = 0 ] && [ -n "$strict" ] || fail "strict-mode run failed (exit $rc)"
ip netns list | grep -q "^snh-$strict-" && fail "strict-mode run $strict left namespaces"
[ -e "$HN_BASE/$strict" ] && fail "strict-mode run $strict left its directory"
ok "strict mode: run $strict completed and tore down"

# --- a run of 3 nodes ---
hn_setup 3 --mount-ns || { echo "FAIL: hn_setup"; exit 1; }
run=$HN_RUN id=$HN_RUN_ID

server 1
pid1=$HN_LAST_PID
[ "$(ps -o pgid= -p "$pid1" | tr -d ' ')" = "$pid1" ] &&
	ok "hn_start: pid $pid1 leads its own process group" || fail "hn_start: $pid1 is no group leader"
server 3
hn_wait_for 10 reach 2 1 && ok "node 2 reaches node 1" || fail "node 2 cannot reach node 1"
reach 3 1 && ok "node 3 reaches node 1" || fail "node 3 cannot reach node 1"
reach 2 3 && ok "node 2 reaches node 3" || fail "node 2 cannot reach node 3"
# The node addresses exist only inside the run's namespaces.
ip -o addr | grep -q "10.213.0." && fail "a harness address leaked into the host namespace"

hn_partition 1
reach 2 1 && fail "node 2 still reaches node 1 across the partition" || ok "partitioned: node 2 cannot reach node 1"
reach 2 3 && ok "partitioned: nodes 2 and 3 still talk" || fail "nodes 2 and 3 cut by partition of 1"
hn_exec 1 "$PY" -c 'import socket; socket.create_connection(("10.213.0.1", 7000), timeout=1)' &&
	ok "node 1 still reaches itself" || fail "node 1 cannot reach its own server"
hn_heal 1
hn_wait_for 10 reach 2 1 && ok "healed: node 2 reaches node 1 again" || fail "no reach after heal"

! hn_wait_for 1 false 2>/tmp/hn_wait.$$ && grep -q "timed out after 1s: false" /tmp/hn_wait.$$ &&
	ok "hn_wait_for times out with a message" || fail "hn_wait_for time-out"
rm -f /tmp/hn_wait.$$

hn_stop 1
hn_wait_for 5 test "$(proc_state "$pid1")" = T && ok "SIGSTOP: node 1 server stopped (T)" ||
	fail "SIGSTOP not seen: state $(proc_state "$pid1")"
reach 2 1 && fail "a stopped server answered"
hn_cont 1
hn_wait_for 5 reach 2 1 && ok "SIGCONT: node 1 answers again (state $(proc_state "$pid1"))" ||
	fail "SIGCONT: no answer"
hn_kill 1
[ -e "/proc/$pid1" ] && fail "kill -9: pid $pid1 still in /proc ($(proc_state "$pid1"))" ||
	ok "kill -9: pid $pid1 gone from /proc"
[ -z "$(hn_pids 1)" ] || fail "hn_pids 1 still lists $(hn_pids 1)"
reach 2 1 && fail "a killed server answered"
grep -q "start: $PY" "$(hn_log 1)" && ok "node 1 log at $(hn_log 1)" || fail "no node log"

# Mount namespaces: a mount made in node 2 is seen by node 2 only.
mp=$(hn_dir 2)/mnt
mkdir -p "$mp"
hn_exec 2 mount -t tmpfs none "$mp" && hn_track_mount 2 "$mp"
hn_exec 2 sh -c "echo x > $mp/f"
hn_exec 2 test -f "$mp/f" && ok "node 2 sees its own mount" || fail "node 2 lost its mount"
hn_exec 3 test -f "$mp/f" && fail "node 3 sees node 2's mount" || ok "node 3 does not see it"
test -f "$mp/f" && fail "the host sees node 2's mount" || ok "the host does not see it"
hn_start 2 sleep 1000 # still running at teardown: must be killed

# Loop devices.
dev=$(hn_loop_create 32M)
[ -b "$dev" ] && losetup -n -O BACK-FILE "$dev" | grep -q "$run/" &&
	ok "loop device $dev over $run" || fail "hn_loop_create"
hn_exec 3 test -b "$dev" && ok "nodes see the loop device" || fail "node 3 cannot see $dev"

# --- teardown and what it must leave behind: nothing ---
pids=$(awk '{print $2}' "$run/procs")
hn_teardown 0
ip netns list | grep -q "^snh-$id-" && fail "namespaces left: $(ip netns list | grep "^snh-$id-")"
ip -o link | grep -qE "snh|br0.*10.213" && fail "links left on the host"
for p in $pids; do
	[ -e "/proc/$p" ] && [ "$(proc_state "$p")" != Z ] && fail "process $p left ($(proc_state "$p"))"
done
losetup -n -O NAME | grep -qx "$dev" && losetup -n -O BACK-FILE "$dev" | grep -q "$run/" &&
	fail "loop device $dev left"
grep -q " $run" /proc/self/mountinfo && fail "mounts left under $run"
[ -e "$run" ] && fail "run directory $run left"
ok "teardown left no namespace, bridge, process, mount or loop device"

hn_teardown 0 # idempotent
if [ $failures -gt 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "PASS"
