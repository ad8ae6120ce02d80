#!/usr/bin/env bash
# orphan_overflow.sh: more files unlinked while open than the orphan blocks
# of a slot hold (4 blocks of 504 inodes by default), then kill -9 of sanfsd.
#
# The first 2,016 are on the on-disk orphan list and the next mount frees
# them; the rest were listed in memory only (fs/orphan.h). A read-only
# `sanctl fsck` must name each of those as unlinked and on no orphan list,
# `sanctl fsck --repair` must free them (not bring them back in /lost+found),
# and after the next mount the space used and the inode count are those of
# the filesystem before the files were made; fsck clean.
#
# Environment: ORPHAN_FILES (default 2,300).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
n=${ORPHAN_FILES:-2300}
per_list=2016
target_setup sanfs
holder=
# The holder writes its count here once every file is open and unlinked.
ready=$(mktemp /var/tmp/sanfs-orphans.XXXXXX)
cleanup_orphans() {
	[ -n "$holder" ] && kill -9 "$holder" 2>/dev/null
	rm -f "$ready"
	target_teardown
}
trap cleanup_orphans EXIT

fail() {
	echo "orphan_overflow: FAIL: $*" >&2
	exit 1
}

used() { df -k --output=used "$TARGET_MNT" | tail -n 1 | tr -d ' '; }
inodes() { "$SANCTL" fsck "$TARGET_DEV" 2>&1 | sed -n 's/.* \([0-9]*\) inodes,.*/\1/p' | tail -n 1; }

used0=$(used)
# A holder process: create, write 8 KiB, unlink, keep open; then wait.
ulimit -n $((n + 64)) || fail "cannot raise the open file limit to $((n + 64))"
python3 - "$TARGET_MNT" "$n" "$ready" <<'EOF' &
import os, sys, time
d, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fds = []
for i in range(n):
    p = os.path.join(d, "o%05d" % i)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 8192)
    os.unlink(p)
    fds.append(fd)
for fd in fds:
    os.fsync(fd)
open(ready, "w").write("%d\n" % len(fds))
time.sleep(600)
EOF
holder=$!
for _ in $(seq 1 600); do
	[ -s "$ready" ] && break
	kill -0 "$holder" 2>/dev/null || fail "the holder died before it held $n files"
	sleep 0.2
done
[ -s "$ready" ] || fail "the holder did not open and unlink $n files in 120 s"
[ -z "$(ls -A "$TARGET_MNT")" ] || fail "names left in the mount"
echo "orphan_overflow: $n files unlinked while open, $(($(used) - used0)) KiB held"

dpid=$(target_daemon_pid)
[ -n "$dpid" ] || fail "no sanfsd serves $TARGET_MNT"
kill -9 "$dpid"
kill -9 "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=
fusermount3 -u -z "$TARGET_MNT" 2>/dev/null || umount -l "$TARGET_MNT" 2>/dev/null
for _ in $(seq 1 50); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done

over=$((n - per_list))
out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1)
rc=$?
[ $rc = 4 ] || fail "read-only fsck exited $rc, expected 4: $(tail -n 5 <<<"$out")"
got=$(grep -c "unlinked (link count 0), named by nothing and on no orphan list" <<<"$out")
[ "$got" = "$over" ] || fail "read-only fsck named $got unlisted unlinked inodes, expected $over"
grep -q "lost+found" <<<"$out" && fail "read-only fsck speaks of lost+found"

out=$("$SANCTL" fsck --repair "$TARGET_DEV" 2>&1)
rc=$?
[ $rc = 1 ] || fail "fsck --repair exited $rc, expected 1: $(tail -n 5 <<<"$out")"
got=$(grep -c "unlinked (link count 0) and on no orphan list; freed" <<<"$out")
[ "$got" = "$over" ] || fail "fsck --repair freed $got inodes, expected $over"
grep -q "lost+found" <<<"$out" && fail "fsck --repair reconnected something in /lost+found"
left=$(inodes)
[ "$left" = $((per_list + 1)) ] ||
	fail "after the repair $left inodes, expected the $per_list listed orphans and the root"

# The mount frees the listed orphans.
target_mount || fail "mount after the repair failed"
[ -z "$(ls -A "$TARGET_MNT")" ] || fail "names in the mount after the repair"
used1=$(used)
[ "$used1" = "$used0" ] || fail "$used1 KiB used after the mount, $used0 before the files were made"
target_umount || fail "clean unmount failed"
out=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "fsck after the mount: $(tail -n 5 <<<"$out")"
left=$(inodes)
[ "$left" = 1 ] || fail "$left inodes after the mount, expected the root alone"
echo "orphan_overflow: PASS ($over unlisted freed by fsck --repair, $per_list by the mount, $used0 KiB used as before)"
