#!/usr/bin/env bash
# Integration test of the bad-input contract of local mounts (issue 2):
# each case fails with one line, a non-zero exit, and nothing damaged.
. "$(dirname "$0")/lib.sh"
need_env

new_image 256M
img=$IMG
new_loop "$img"
dev=$LOOP
new_dir
mp=$DIR
new_dir
mp2=$DIR

# A device that is not sanfs (all zeroes): refused, and left as it was.
expect_fail_one_line "not sanfs" "not a sanfs" "$SANCTL" mount --local "$dev" "$mp"
[ "$(head -c 1048576 "$img" | tr -d '\0' | wc -c)" -eq 0 ] || fail "zeroed device was written"
! is_sanfs_mount "$mp" || fail "mounted a non-sanfs device"

# Too small.
new_image 64K
small=$IMG
expect_fail_one_line "too small" "small|not a sanfs" "$SANCTL" mount --local "$small" "$mp"

"$SANCTL" mkfs "$dev" --label bad >/dev/null || fail "mkfs"
# A device shorter than the filesystem on it (a loop device over its first half).
half=$(losetup -f --show --sizelimit $((128 << 20)) "$img")
LOOPS+=("$half")
expect_fail_one_line "device smaller than the filesystem" "smaller|too small" \
	"$SANCTL" mount --local "$half" "$mp"
losetup -d "$half"
sum_before=$(sha256sum <"$dev")

# Mount point missing, not a directory, not empty.
expect_fail_one_line "missing mount point" "No such file" "$SANCTL" mount --local "$dev" /var/tmp/sanfs-no-such-dir-$$
touch "$mp2/file"
expect_fail_one_line "non-empty mount point" "not empty" "$SANCTL" mount --local "$dev" "$mp2"
rm "$mp2/file"
expect_fail_one_line "mount point is a file" "not a directory" "$SANCTL" mount --local "$dev" "$img"

# Unknown options.
expect_fail_one_line "unknown -o option" "unknown mount option 'frobnicate'" \
	"$SANCTL" mount --local "$dev" "$mp" -o rw,frobnicate
expect_fail_one_line "unknown flag" "unknown option" "$SANCTL" mount --local --bogus "$dev" "$mp"
expect_fail_one_line "missing device" "No such file" "$SANCTL" mount --local /dev/no-such-sanfs-dev "$mp"
expect_fail_one_line "unknown command" "unknown command 'frob' \\(see sanctl --help\\)" "$SANCTL" frob
expect_fail_one_line "a command's plural" "unknown command 'devices' \\(did you mean 'device'\\?\\)" \
	"$SANCTL" devices
expect_fail_one_line "a command's prefix" "unknown command 'stat' \\(did you mean 'status'\\?\\)" \
	"$SANCTL" stat
[ "$(sha256sum <"$dev")" = "$sum_before" ] || fail "a refused mount changed the device"

# Device mounted elsewhere: refused, and the first mount keeps working.
"$SANCTL" mount --local "$dev" "$mp" || fail "first mount"
echo keep >"$mp/keep"
expect_fail_one_line "mounted elsewhere" "already mounted|in use|mounted" \
	"$SANCTL" mount --local "$dev" "$mp2"
! is_sanfs_mount "$mp2" || fail "second mount of the same device"
[ "$(cat "$mp/keep")" = keep ] || fail "first mount damaged"
expect_fail_one_line "umount of a non-sanfs dir" "not a sanfs mount" "$SANCTL" umount "$mp2"
"$SANCTL" umount "$mp" || fail "umount"

# A FUSE handshake that fails (a kernel that does not speak our protocol;
# injected): the command fails with one line instead of leaving an empty
# directory that looks mounted, and no daemon stays behind.
SANFS_FAULT_FUSE_INIT=1 expect_fail_one_line "failed FUSE handshake" \
	"cannot mount .*does not answer" "$SANCTL" mount --local "$dev" "$mp"
! is_sanfs_mount "$mp" || fail "mount with a failed handshake left mounted"
for _ in $(seq 50); do
	pgrep -f "sanfsd.*$mp" >/dev/null || break
	sleep 0.1
done
! pgrep -f "sanfsd.*$mp" >/dev/null || fail "daemon of the failed mount still running"
"$SANCTL" mount --local "$dev" "$mp" || fail "mount after the failed handshake"
[ "$(cat "$mp/keep")" = keep ] || fail "data after the failed handshake"
"$SANCTL" umount "$mp" || fail "umount"

# On-disk reasons from sfs_open: bad superblock checksum, unknown
# incompatible feature, newer version, the older development version
# (sb_patch knows the layout).
SB_PATCH=${SB_PATCH:-$BUILD/tests/mount/sb_patch}
[ -x "$SB_PATCH" ] || fail "missing $SB_PATCH"
new_image 4K
sbsave=$IMG
dd if="$dev" of="$sbsave" bs=4096 skip=1 count=1 iflag=direct status=none
for what in crc feature version oldversion; do
	"$SB_PATCH" "$dev" "$what" || fail "sb_patch $what"
	sum=$(sha256sum <"$dev")
	case $what in
	crc) pat="checksum" ;;
	feature) pat="incompatible feature" ;;
	version) pat="newer" ;;
	oldversion) pat="older" ;;
	esac
	expect_fail_one_line "superblock $what" "$pat" "$SANCTL" mount --local "$dev" "$mp"
	[ "$(sha256sum <"$dev")" = "$sum" ] || fail "refused mount ($what) changed the device"
	dd if="$sbsave" of="$dev" bs=4096 seek=1 count=1 oflag=direct conv=notrunc status=none
done
# Restored: it mounts again and the data is there.
"$SANCTL" mount --local "$dev" "$mp" || fail "mount after restoring the superblock"
[ "$(cat "$mp/keep")" = keep ] || fail "data after restoring the superblock"
"$SANCTL" umount "$mp" || fail "umount"
echo "bad_input: all passed"
