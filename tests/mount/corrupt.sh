#!/usr/bin/env bash
# Integration test of corrupt metadata met at run time (issue 2, bad input):
# a mounted filesystem whose inode blocks (and an xattr run) were damaged
# behind its back fails the operations on them with EIO and a log line
# naming the block, and keeps serving everything else (a listing of their
# directory included); fsck reports the damage and --repair fixes it without
# touching the rest.
. "$(dirname "$0")/lib.sh"
need_env

new_image 256M
new_loop "$IMG"
dev=$LOOP
new_dir
mp=$DIR
logs=$(mktemp -d /var/tmp/sanfs-corrupt-XXXXXX)
TMPDIRS+=("$logs")

"$SANCTL" mkfs "$dev" >/dev/null || fail "mkfs"
"$SANFSD" --local "$dev" "$mp" --log "$logs/1.log" || fail "mount"
mkdir "$mp/d" "$mp/d/sub" "$mp/good"
for i in 1 2 3; do echo "keep $i" >"$mp/d/f$i"; done
echo "sub file" >"$mp/d/sub/x"
head -c 3000000 /dev/urandom >"$mp/good/data"
# A file whose attributes spill to an xattr run of several blocks (one of
# them damaged below), and one inline attribute that must stay readable.
echo "xattrs" >"$mp/good/xf"
setfattr -n user.small -v kept "$mp/good/xf"
setfattr -n user.big -v "0x$(head -c 20000 /dev/zero | od -An -v -tx1 | tr -d ' \n' | tr 0 a)" "$mp/good/xf"
# A directory listed first thing after the next mount: its inodes are read
# ahead together (fs/INTERNALS.md, "Listing read-ahead") and must show what
# each file holds.
mkdir "$mp/many"
for i in $(seq 1 300); do head -c $i /dev/zero >"$mp/many/f$i"; done
sum=$(sha256sum <"$mp/good/data")
bad_file=$(stat -c %i "$mp/d/f2")
bad_dir=$(stat -c %i "$mp/d/sub")
orphan=$(stat -c %i "$mp/d/sub/x")
xf=$(stat -c %i "$mp/good/xf")
"$SANCTL" umount "$mp" || fail "umount"
# The run's second block: its first block number and length are in the
# inode block (fs/FORMAT-inode.md: u64 at 184, u16 at 200).
bad_run=$(python3 -c 'import os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
b = os.pread(fd, 4096, int(sys.argv[2]) * 4096)
blk, n = struct.unpack_from("<Q", b, 184)[0], struct.unpack_from("<H", b, 200)[0]
print(blk + 1 if n >= 2 else 0)' "$dev" "$xf")
[ "$bad_run" != 0 ] || fail "user.big did not make a run of several blocks"

# One byte flipped inside each inode block (inode number = block number).
flip() { # block
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = int(sys.argv[2]) * 4096 + 200
os.pwrite(fd, bytes([os.pread(fd, 1, off)[0] ^ 0x10]), off)
os.fsync(fd)' "$dev" "$1"
}
flip "$bad_file"
flip "$bad_dir"
flip "$bad_run"

"$SANFSD" --local "$dev" "$mp" --log "$logs/2.log" || fail "mount with damaged inodes"
pid=$(daemon_pid "$mp")
# Read ahead: far fewer device reads than the 300 inodes listed (each read
# one by one before), counted by the block device itself.
reads() { awk '{print $1}' "/sys/block/$(basename "$dev")/stat"; }
r0=$(reads)
sizes=$(ls -l "$mp/many" | awk 'NR > 1 && $5 != substr($9, 2) {bad++} NR > 1 {n++} END {print n + 0, bad + 0}')
[ "$sizes" = "300 0" ] || fail "ls -l of 300 files after mount: listed, wrong sizes: $sizes"
r1=$(reads)
echo "ok: ls -l of 300 files after mount: right sizes, $((r1 - r0)) device reads"
[ $((r1 - r0)) -lt 100 ] || fail "ls -l of 300 cold files took $((r1 - r0)) device reads"
# The first reader of the damaged inodes is a listing, whose read-ahead
# fails quietly: the read that follows still says which block is bad.
long=$(ls -l "$mp/d" 2>/dev/null) || true
grep -q " f1$" <<<"$long" && grep -q " f3$" <<<"$long" ||
	fail "ls -l lost the healthy entries: $long"
grep -q "^-.* 7 .* f1$" <<<"$long" || fail "ls -l of f1: $long"
grep -q "$bad_file" "$logs/2.log" || fail "a listing logged nothing of block $bad_file"
err=$(stat "$mp/d/f2" 2>&1) && fail "stat of the damaged file succeeded"
grep -q "Input/output error" <<<"$err" || fail "stat of the damaged file: $err"
err=$(ls "$mp/d/sub" 2>&1) && fail "listing the damaged directory succeeded"
grep -q "Input/output error" <<<"$err" || fail "ls of the damaged directory: $err"
echo "ok: damaged inodes fail with EIO"
grep -q "$bad_file" "$logs/2.log" || fail "no log line names block $bad_file: $(tail -5 "$logs/2.log")"
grep -q "$bad_dir" "$logs/2.log" || fail "no log line names block $bad_dir"
echo "ok: logged: $(grep -m1 "$bad_file" "$logs/2.log" | cut -c1-160)"
# The damaged xattr run: EIO for what lives there and a line naming its
# block; the inline attribute and the file's data are served.
err=$(getfattr -n user.big "$mp/good/xf" 2>&1) && fail "getfattr from the damaged run succeeded"
grep -q "Input/output error" <<<"$err" || fail "getfattr of the damaged run: $err"
grep -q "$bad_run" "$logs/2.log" || fail "no log line names xattr block $bad_run"
[ "$(getfattr --only-values -n user.small "$mp/good/xf")" = kept ] ||
	fail "the inline attribute next to the damaged run"
[ "$(cat "$mp/good/xf")" = xattrs ] || fail "data of the file with the damaged run"
echo "ok: damaged xattr run: EIO, logged, the rest of the file served"

# The rest is served: the neighbours, a listing of their directory (names;
# ls -l shows the damaged entries as unreadable and the others in full), the
# other data, new files.
[ "$(cat "$mp/d/f1")" = "keep 1" ] && [ "$(cat "$mp/d/f3")" = "keep 3" ] ||
	fail "neighbours of the damaged file"
names=$(LC_ALL=C ls "$mp/d" | tr '\n' ' ')
[ "$names" = "f1 f2 f3 sub " ] || fail "listing of the directory: '$names'"
[ "$(sha256sum <"$mp/good/data")" = "$sum" ] || fail "other data"
echo new >"$mp/good/new" && [ "$(cat "$mp/good/new")" = new ] || fail "new file"
kill -0 "$pid" || fail "daemon gone"
echo "ok: the rest is served"
"$SANCTL" umount "$mp" || fail "umount after the errors"

# fsck reports both blocks (4: errors left), --repair fixes (1), then clean.
rc=0
"$SANCTL" fsck "$dev" >"$logs/fsck1" 2>&1 || rc=$?
[ $rc = 4 ] || fail "fsck of the damaged filesystem: exit $rc: $(tail -5 "$logs/fsck1")"
grep -q "$bad_file" "$logs/fsck1" && grep -q "$bad_dir" "$logs/fsck1" ||
	fail "fsck does not name the damaged blocks: $(head -20 "$logs/fsck1")"
grep -q "xattr run" "$logs/fsck1" || fail "fsck does not report the xattr run: $(head -20 "$logs/fsck1")"
rc=0
"$SANCTL" fsck "$dev" --repair >"$logs/fsck2" 2>&1 || rc=$?
[ $rc = 1 ] || fail "fsck --repair: exit $rc: $(tail -5 "$logs/fsck2")"
"$SANCTL" fsck "$dev" >"$logs/fsck3" 2>&1 || fail "fsck after repair: $(tail -5 "$logs/fsck3")"
echo "ok: fsck found $(grep -c . "$logs/fsck1") line(s), repaired, clean:"
sed "s/^/  /" "$logs/fsck2"

"$SANFSD" --local "$dev" "$mp" --log "$logs/3.log" || fail "mount after repair"
[ "$(cat "$mp/d/f1")" = "keep 1" ] && [ "$(cat "$mp/d/f3")" = "keep 3" ] ||
	fail "neighbours after repair"
[ "$(sha256sum <"$mp/good/data")" = "$sum" ] || fail "other data after repair"
[ "$(cat "$mp/good/new")" = new ] || fail "new file after repair"
# The run was dropped: its attribute is gone, the inline one and the data stay.
[ "$(getfattr --only-values -n user.small "$mp/good/xf")" = kept ] ||
	fail "inline attribute after repair"
getfattr -n user.big "$mp/good/xf" >/dev/null 2>&1 && fail "user.big survived the dropped run"
[ "$(cat "$mp/good/xf")" = xattrs ] || fail "data of the file after repair"
# The damaged entries are gone; the file under the damaged directory is
# reconnected in lost+found.
names=$(LC_ALL=C ls "$mp/d" | tr '\n' ' ')
[ "$names" = "f1 f3 " ] || fail "directory after repair: '$names'"
[ "$(cat "$mp/lost+found/#$orphan")" = "sub file" ] ||
	fail "sub/x not in lost+found: $(ls "$mp/lost+found")"
"$SANCTL" umount "$mp" || fail "final umount"
echo "corrupt: all passed"
