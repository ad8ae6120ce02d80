# Shared helpers of the tests/mount integration tests (sourced).
# Usage: BUILD=<meson build dir> (first argument of each test).
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
SANCTL=$BUILD/cli/sanctl
SANFSD=$BUILD/node/sanfsd
HELPER=$BUILD/cli/mount.fuse.sanfs
export SANFSD

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

need_env() {
	[ "$(id -u)" = 0 ] || skip "needs root (loop devices and mounts)"
	[ -c /dev/fuse ] || skip "needs /dev/fuse"
	command -v losetup >/dev/null || skip "needs losetup"
	losetup -f >/dev/null 2>&1 || skip "needs loop devices"
	[ -x "$SANCTL" ] && [ -x "$SANFSD" ] || fail "build first: $SANCTL / $SANFSD missing"
}

LOOPS=()
IMAGES=()
MOUNTS=()
TMPDIRS=()

cleanup() {
	set +e
	for mp in "${MOUNTS[@]}"; do
		if mountpoint -q "$mp"; then
			"$SANCTL" umount "$mp" 2>/dev/null || fusermount3 -u -z "$mp" 2>/dev/null
		fi
	done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	for i in "${IMAGES[@]}"; do rm -f "$i"; done
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

# new_image SIZE -> an image under /var/tmp (ext4 in CI, not tmpfs) in $IMG.
# Call it without a subshell ($(...) would lose the record cleanup needs).
new_image() {
	IMG=$(mktemp /var/tmp/sanfs-mounttest-XXXXXX.img)
	IMAGES+=("$IMG")
	truncate -s "$1" "$IMG"
}

# new_loop IMAGE -> loop device path (set in $LOOP; call without a subshell)
new_loop() {
	LOOP=$(losetup -f --show --direct-io=on "$1" 2>/dev/null || losetup -f --show "$1")
	LOOPS+=("$LOOP")
}

# new_dir -> an empty mount point under /var/tmp in $DIR (no subshell either).
new_dir() {
	DIR=$(mktemp -d /var/tmp/sanfs-mp-XXXXXX)
	TMPDIRS+=("$DIR")
	MOUNTS+=("$DIR")
}

is_sanfs_mount() {
	[ "$(findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null)" = fuse.sanfs ]
}

# daemon_pid MOUNTPOINT -> pid of its local daemon (from /run/sanfs)
daemon_pid() {
	local dev
	dev=$(stat -c '%Hd:%Ld' "$1")
	cat "/run/sanfs/fuse-$dev.pid"
}

wait_gone() { # pid, seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# expect_fail_one_line DESCRIPTION PATTERN CMD... : the command fails with one
# line on stderr that matches PATTERN (grep -E).
expect_fail_one_line() {
	local what=$1 pat=$2
	shift 2
	local err rc=0
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: succeeded"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$what: not one line: $err"
	printf '%s\n' "$err" | grep -Eq "$pat" || fail "$what: unexpected message: $err"
	echo "ok: $what -> $err"
}

# closed_cleanly PIDFILE PID: the daemon PID removed its pid file on a clean
# close. Another mount on this host may have got the same FUSE device number
# since (they are reused at once) and written its own pid file there.
closed_cleanly() {
	[ "$(cat "$1" 2>/dev/null)" != "$2" ]
}
