#!/usr/bin/env bash
# crash_test.sh WORKLOAD [KIND]: the crash test of issue 2 point 5.
#
# Rounds of: mount; start WORKLOAD (crash_workload run), an fsync-heavy
# workload that logs every acknowledged write to a log on the host filesystem
# (outside the mount); kill -9 the sanfsd daemon at a random moment; clean up
# the dead FUSE mount (fusermount3 -u -z, umount -l); a read-only
# `sanctl fsck DEVICE` must find the crashed filesystem clean (its journal
# replayed in memory) and leave the replay to the mount; mount again (journal
# replay); check that every acknowledged write is there with the right
# content (crash_workload check); unmount cleanly; `sanctl fsck DEVICE` must
# report the filesystem clean with no repair needed.
#
# KIND is sanfs (default) or ext4. On ext4 the kernel cannot be crashed
# here: the workload is killed instead of a daemon and the mount goes through
# a clean unmount, which validates the workload and its checker only.
#
# Environment: CRASH_ROUNDS (default 40), CRASH_BUDGET seconds for the rounds
# (default 160; the test stops starting rounds after it), CRASH_MIN_ROUNDS
# (default 5; fewer completed rounds is a failure), RANDOM_SEED (for the kill
# delays; printed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
if [ $# -lt 1 ]; then
	echo "usage: $0 CRASH_WORKLOAD [sanfs|ext4]" >&2
	exit 2
fi
workload=$1
kind=${2:-sanfs}
rounds=${CRASH_ROUNDS:-40}
budget=${CRASH_BUDGET:-160}
min_rounds=${CRASH_MIN_ROUNDS:-5}
seed=${RANDOM_SEED:-$$}
RANDOM=$seed
echo "crash_test: $kind, up to $rounds rounds in ${budget}s, RANDOM_SEED=$seed"

target_setup "$kind"
log=$(mktemp /var/tmp/sanfs-crash.XXXXXX.log)
wpid=
cleanup_crash() {
	[ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
	rm -f "$log"
	target_teardown
}
trap cleanup_crash EXIT

fail() {
	echo "crash_test: FAIL round $round: $*" >&2
	# The daemon's own account (node/local.c logs there in the background).
	local dlog=/var/log/sanfs/local-$(basename "${TARGET_DEV:-none}").log
	if [ "$kind" = sanfs ] && [ -f "$dlog" ]; then
		echo "--- last lines of $dlog:" >&2
		tail -n 40 "$dlog" >&2
	fi
	exit 1
}

now() { date +%s.%N; }
trace() { [ -n "${CRASH_TRACE:-}" ] && echo "  trace $(date +%T.%N | cut -c1-12) $*"; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

fsck_clean() {
	local out rc
	if [ "$kind" = sanfs ]; then
		out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1)
	else
		out=$(e2fsck -fn "$TARGET_DEV" 2>&1)
	fi
	rc=$?
	if [ $rc != 0 ]; then
		echo "$out" >&2
		fail "fsck of $TARGET_DEV after replay exited $rc (must be clean, no repair)"
	fi
}

mkdir -p "$TARGET_MNT/w" || exit 1
start=$SECONDS
round=0
total_lines=0
while [ "$round" -lt "$rounds" ] && [ $((SECONDS - start)) -lt "$budget" ]; do
	round=$((round + 1))
	before=$(wc -l <"$log")
	if [ "$kind" = sanfs ]; then
		dpid=$(target_daemon_pid)
		[ -n "$dpid" ] || fail "no sanfsd serves $TARGET_MNT"
	fi
	"$workload" run "$TARGET_MNT/w" "$log" "$round" 60 2>/dev/null &
	wpid=$!
	# A random moment between 0.2 and 2.5 s into the workload.
	ms=$((200 + RANDOM % 2300))
	delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
	sleep "$delay"
	tk=$(now)
	if [ "$kind" = sanfs ]; then
		kill -9 "$dpid"
		trace "killed sanfsd $dpid"
		kill -9 "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		wpid=
		trace "workload reaped"
		# The FUSE connection is dead: detach it.
		fusermount3 -u -z "$TARGET_MNT" 2>/dev/null || umount -l "$TARGET_MNT" 2>/dev/null
		trace "mount detached"
		for _ in $(seq 1 50); do
			kill -0 "$dpid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$dpid" 2>/dev/null && fail "sanfsd $dpid survived kill -9"
		trace "sanfsd gone"
		# A read-only fsck of the crashed device checks it as the next
		# mount will see it (the journal replayed in memory): clean, and
		# it replays nothing on the device (the mount below still does).
		out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) ||
			fail "read-only fsck of the crashed device exited $?: $(tail -n 20 <<<"$out")"
		pending=$(sed -n 's/.*slot 0: journal holds \([0-9]*\) committed.*checked as replayed.*/\1/p' <<<"$out")
		trace "read-only fsck clean, ${pending:-no} transaction(s) replayed in memory"
	else
		kill -9 "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		wpid=
		target_umount || fail "umount"
	fi
	after=$(wc -l <"$log")
	# Remount: the sanfs mount replays the journal.
	t0=$(now)
	dlog=/var/log/sanfs/local-$(basename "$TARGET_DEV").log
	dlines=$(wc -l <"$dlog" 2>/dev/null || echo 0)
	target_mount || fail "mount after the crash failed"
	t1=$(now)
	if [ -n "${pending:-}" ]; then
		tail -n +$((dlines + 1)) "$dlog" | grep -q "slot 0: $pending transaction(s) to replay" ||
			fail "the mount did not replay the $pending transaction(s) the read-only fsck saw"
	fi
	pending=
	"$workload" check "$TARGET_MNT/w" "$log" >/tmp/crash_check.$$ 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		cat /tmp/crash_check.$$ >&2
		rm -f /tmp/crash_check.$$
		fail "acknowledged data missing after the crash"
	fi
	summary=$(tail -n1 /tmp/crash_check.$$)
	rm -f /tmp/crash_check.$$
	t2=$(now)
	target_umount || fail "clean unmount after the check failed"
	t3=$(now)
	fsck_clean
	t4=$(now)
	target_mount || fail "mount after fsck failed"
	t5=$(now)
	total_lines=$after
	echo "round $round: killed after ${delay}s, $((after - before)) acknowledged ops; $summary"
	echo "  seconds: kill+cleanup $(dt "$tk" "$t0"), replay mount $(dt "$t0" "$t1"), check $(dt "$t1" "$t2"), umount $(dt "$t2" "$t3"), fsck $(dt "$t3" "$t4"), mount $(dt "$t4" "$t5")"
done
if [ "$round" -lt "$min_rounds" ]; then
	echo "crash_test: FAIL only $round rounds completed (need $min_rounds)" >&2
	exit 1
fi
if [ "$total_lines" -lt $((round * 5)) ]; then
	echo "crash_test: FAIL only $total_lines operations acknowledged in $round rounds: the workload did not run" >&2
	exit 1
fi
echo "crash_test: PASS, $round rounds, $total_lines acknowledged operations in $((SECONDS - start))s"
