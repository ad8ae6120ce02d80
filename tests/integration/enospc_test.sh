#!/usr/bin/env bash
# enospc_test.sh WORKLOAD: a full filesystem under concurrent writers,
# namespace changes and fallocate (enospc_workload), then a clean unmount and
# `sanctl fsck` with nothing to repair; then once more with a kill -9 of
# sanfsd in the middle, a replay, and fsck clean again.
#
# Found by stress-ng on a small filesystem: a create whose directory needed a
# new block after its inode was allocated met ENOSPC half-way and aborted the
# journal (every later change EIO, unclean unmount). The allocator now keeps
# a reserve for such allocations (fs/alloc.h).
#
# Environment: ENOSPC_SECS (default 20), TARGET_SIZE (default 160M).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TARGET_SIZE=${TARGET_SIZE:-160M}
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
workload=${1:?usage: $0 ENOSPC_WORKLOAD}
secs=${ENOSPC_SECS:-20}
target_setup sanfs
trap target_teardown EXIT
target_log_mark
fail() {
	echo "enospc_test: FAIL: $*" >&2
	echo "--- daemon log since the mount:" >&2
	target_log_since | tail -n 30 >&2
	exit 1
}
echo "enospc_test: $TARGET_SIZE filesystem, ${secs}s"
"$workload" "$TARGET_MNT" "$secs" || fail "the workload failed"
target_log_since | grep -q "aborted" && fail "the journal aborted"
target_umount || fail "clean unmount failed"
out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "fsck: $out"
echo "$out" | tail -n 1

# Space that was just freed serves the next changes (commit on demand).
target_mount || fail "mount for the after-free round"
"$workload" "$TARGET_MNT" after-free || fail "operations right after a free"
rm -rf "${TARGET_MNT:?}"/*

# Then a crash while full: kill -9 of sanfsd half-way through another run,
# replay at the next mount, clean unmount, fsck clean.
dpid=$(target_daemon_pid)
[ -n "$dpid" ] || fail "no sanfsd serves $TARGET_MNT"
"$workload" "$TARGET_MNT" 12 >/dev/null 2>&1 &
wpid=$!
sleep 7
kill -9 "$dpid"
kill -9 "$wpid" 2>/dev/null
pkill -9 -P "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
fusermount3 -u -z "$TARGET_MNT" 2>/dev/null || umount -l "$TARGET_MNT" 2>/dev/null
for _ in $(seq 1 50); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
target_mount || fail "mount (replay) after kill -9 on a full filesystem"
target_umount || fail "clean unmount after the replay"
out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "fsck after the replay: $out"
echo "after kill -9 and replay: $(echo "$out" | tail -n 1)"
