#!/usr/bin/env bash
# device_dies.sh WORKLOAD: the device fails under a mounted filesystem.
#
# Rounds of: mount with a device that fails every read and write after its
# first N writes (blockdev fault injection, SANFS_BDEV_FAULTS=eio_after, N
# random); run WORKLOAD (crash_workload run: fsync-heavy, logs every
# acknowledged write outside the mount) until it meets the failure. Then:
#   - the workload got EIO and stopped; nothing hung;
#   - the daemon still answers (stat of the mount) and its log says the
#     journal stopped, once, not a line per inode;
#   - `sanctl umount` returns and says the journal replays at the next mount;
#   - a read-only fsck finds the filesystem clean (journal replayed in memory);
#   - a mount on the healthy device replays the journal and every
#     acknowledged write is there (crash_workload check);
#   - a clean unmount leaves fsck clean.
# Environment: DIES_ROUNDS (default 3), RANDOM_SEED (for N; printed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
workload=${1:?usage: $0 CRASH_WORKLOAD}
rounds=${DIES_ROUNDS:-3}
seed=${RANDOM_SEED:-$$}
RANDOM=$seed
echo "device_dies: $rounds rounds, RANDOM_SEED=$seed"

target_setup sanfs
log=$(mktemp /var/tmp/sanfs-dies.XXXXXX.log)
werr=$(mktemp /var/tmp/sanfs-dies.XXXXXX.err)
trap 'rm -f "$log" "$werr"; target_teardown' EXIT
dlog=/var/log/sanfs/local-$(basename "$TARGET_DEV").log

fail() {
	echo "device_dies: FAIL round $round (N=$n): $*" >&2
	[ -f "$dlog" ] && { echo "--- last lines of $dlog:" >&2; tail -n 30 "$dlog" >&2; }
	exit 1
}

mkdir "$TARGET_MNT/w" || exit 1
target_umount || exit 1
round=0
n=0
while [ "$round" -lt "$rounds" ]; do
	round=$((round + 1))
	# The mount itself writes a handful of blocks; the workload then
	# writes some thousands a second.
	n=$((400 + RANDOM % 3000))
	dlines=$(wc -l <"$dlog" 2>/dev/null || echo 0)
	SANFS_BDEV_FAULTS="eio_after,n=$n,ops=rw" target_mount || fail "mount with the fault armed"
	dpid=$(target_daemon_pid)
	[ -n "$dpid" ] || fail "no sanfsd serves $TARGET_MNT"
	before=$(wc -l <"$log")
	# Once the heartbeat cannot be renewed, I/O waits for the lease up to
	# 60 s before it fails (fs/sfs.c): the bounds below allow for that.
	timeout 200 "$workload" run "$TARGET_MNT/w" "$log" "$round" 60 2>"$werr"
	rc=$?
	[ $rc = 124 ] && fail "the workload hung on the failed device"
	grep -q "Input/output error" "$werr" ||
		fail "the workload did not meet the failure: $(head -c 300 "$werr")"
	kill -0 "$dpid" 2>/dev/null || fail "sanfsd $dpid died with its device"
	# A getxattr always reaches the daemon (the kernel caches no xattrs):
	# an answer, even an error, shows it serves; a dead one gives ENOTCONN.
	ans=$(timeout 200 getfattr -n user.none "$TARGET_MNT/w" 2>&1)
	grep -Eq "No such attribute|Input/output error" <<<"$ans" || fail "the daemon stopped answering: $ans"
	out=$(timeout 200 "$SANCTL" umount "$TARGET_MNT" 2>&1)
	rc=$?
	[ $rc = 124 ] && fail "sanctl umount hung"
	[ $rc != 0 ] && ! grep -q "journal replays at the next mount" <<<"$out" &&
		fail "sanctl umount exited $rc: $out"
	if mountpoint -q "$TARGET_MNT"; then
		fusermount3 -u -z "$TARGET_MNT" 2>/dev/null || umount -l "$TARGET_MNT"
		fail "still mounted after sanctl umount ($rc): $out"
	fi
	for _ in $(seq 1 100); do
		[ -z "$(target_fuse_daemon_pids)" ] && break
		sleep 0.1
	done
	[ -z "$(target_fuse_daemon_pids)" ] || fail "the daemon did not exit"
	# The journal stopped at the latest with the unmount's last commit.
	new=$(tail -n +$((dlines + 1)) "$dlog")
	grep -q "journal of slot 0 aborted" <<<"$new" || fail "no log line says the journal stopped"
	per_inode=$(grep -c "freeing failed" <<<"$new")
	[ "$per_inode" -le 8 ] || fail "$per_inode 'freeing failed' lines: one per inode"
	[ "$(grep -c "unlinked, not freed" <<<"$new")" -le 1 ] || fail "'unlinked, not freed' said more than once"
	out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "read-only fsck exited $?: $(tail -n 20 <<<"$out")"
	target_mount || fail "mount of the healthy device"
	out=$("$workload" check "$TARGET_MNT/w" "$log" 2>&1) ||
		fail "acknowledged data missing: $(tail -n 20 <<<"$out")"
	summary=$(tail -n1 <<<"$out")
	target_umount || fail "clean unmount"
	out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "fsck after the clean unmount: $(tail -n 20 <<<"$out")"
	grep -q "clean" <<<"$out" || fail "fsck: $out"
	echo "round $round: device failed after $n writes, $(($(wc -l <"$log") - before)) acknowledged ops; $summary"
done
echo "device_dies: PASS, $round rounds"
