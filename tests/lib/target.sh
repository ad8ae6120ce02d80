#!/usr/bin/env bash
# shellcheck shell=bash
# target.sh: set up and tear down a filesystem to run tests or benchmarks on.
#
# Source it from bash:
#   . tests/lib/target.sh
#   target_setup sanfs          # or ext4, tmpfs, fuse2fs; sets the TARGET_* below
#   ... run things in "$TARGET_MNT" ...
#   (teardown runs from the EXIT trap; call target_teardown to do it earlier)
#
# Kinds:
#   ext4     image in $TARGET_IMGDIR + loop device + mkfs.ext4 + kernel mount
#   sanfs    image in $TARGET_IMGDIR + loop device + `sanctl mkfs` + `sanctl mount --local`
#   fuse2fs  image + loop device + mkfs.ext4 + fuse2fs (the nearest FUSE peer, for bench/)
#   tmpfs    a tmpfs mount (no device)
#
# Exported after target_setup: TARGET_KIND TARGET_MNT TARGET_DEV TARGET_IMG,
# and TARGET_REMOUNT, a command that unmounts and mounts the target again at
# the same place (programs call it with system(3); the sanfs remount replays
# the journal). Running this file as a program does the same operations on an
# already set-up target described by those variables:
#   tests/lib/target.sh remount|umount|mount|daemon-pid
#
# Settings (environment):
#   SANCTL          path of sanctl (default: build/cli/sanctl under the source root)
#   TARGET_SIZE     image size (default 4G; sparse)
#   TARGET_IMGDIR   where images go (default /var/tmp; must not be tmpfs for sanfs)
#   TARGET_MKFS_OPTS, TARGET_MOUNT_OPTS   extra options for mkfs / mount (-o value)
#   TARGET_DEV      use this existing block device instead of an image + loop
#   TARGET_LOOP_DIO=1  loop device does direct I/O on its image (no host page cache)
#
# Missing root, /dev/fuse (sanfs, fuse2fs) or loop devices: exit 77 with a message.

_target_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${SANCTL:=$_target_root/build/cli/sanctl}"
: "${TARGET_SIZE:=4G}"
: "${TARGET_IMGDIR:=/var/tmp}"
export SANCTL

_target_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

_target_log() {
	[ -n "${TARGET_QUIET:-}" ] || echo "target: $*" >&2
}

target_require() { # kind
	[ "$(id -u)" = 0 ] || _target_skip "needs root (loop devices and mounts)"
	case $1 in
	sanfs | fuse2fs)
		[ -c /dev/fuse ] || _target_skip "needs /dev/fuse"
		;;
	esac
	case $1 in
	ext4 | sanfs | fuse2fs)
		if [ -z "${TARGET_DEV:-}" ]; then
			command -v losetup >/dev/null || _target_skip "needs losetup"
			losetup -f >/dev/null 2>&1 || _target_skip "needs a free loop device"
		fi
		;;
	tmpfs) ;;
	*)
		echo "target: unknown kind '$1' (ext4, sanfs, fuse2fs, tmpfs)" >&2
		exit 2
		;;
	esac
	if [ "$1" = sanfs ] && [ ! -x "$SANCTL" ]; then
		_target_skip "sanctl not built at $SANCTL"
	fi
	if [ "$1" = sanfs ]; then
		# Until the mkfs and mount commands land, sanfs targets skip.
		local cmds
		cmds=$("$SANCTL" --help 2>&1)
		grep -qw mkfs <<<"$cmds" && grep -qw mount <<<"$cmds" ||
			_target_skip "this sanctl has no mkfs/mount command yet"
	fi
	if [ "$1" = fuse2fs ] && ! command -v fuse2fs >/dev/null; then
		_target_skip "needs fuse2fs"
	fi
}

# Image + loop device (idempotent). Sets TARGET_IMG, TARGET_DEV.
target_loop_create() {
	[ -n "${TARGET_DEV:-}" ] && return 0
	TARGET_IMG=$(mktemp "$TARGET_IMGDIR/sanfs-test.XXXXXX.img")
	truncate -s "$TARGET_SIZE" "$TARGET_IMG"
	local dio=()
	[ -n "${TARGET_LOOP_DIO:-}" ] && dio=(--direct-io=on)
	TARGET_DEV=$(losetup -f --show "${dio[@]}" "$TARGET_IMG") || {
		rm -f "$TARGET_IMG"
		_target_skip "losetup failed"
	}
	_target_own_loop=1
	export TARGET_IMG TARGET_DEV
}

# Make the filesystem of TARGET_KIND on TARGET_DEV.
target_format() {
	case $TARGET_KIND in
	ext4 | fuse2fs)
		# shellcheck disable=SC2086
		mkfs.ext4 -q -F -i 8192 ${TARGET_MKFS_OPTS:-} "$TARGET_DEV" >/dev/null
		;;
	sanfs)
		# shellcheck disable=SC2086
		"$SANCTL" mkfs "$TARGET_DEV" --force ${TARGET_MKFS_OPTS:-} >/dev/null
		;;
	tmpfs) ;;
	esac
}

# The local sanfsd's log (node/local.c) from now on: target_log_mark
# remembers where it ends, target_log_since prints what came after.
target_log_mark() {
	TARGET_LOG=/var/log/sanfs/local-$(basename "$TARGET_DEV").log
	TARGET_LOG_MARK=$(wc -l <"$TARGET_LOG" 2>/dev/null || echo 0)
}
target_log_since() {
	[ -f "${TARGET_LOG:-}" ] && tail -n +"$((TARGET_LOG_MARK + 1))" "$TARGET_LOG"
}

# Pid of the sanfsd serving TARGET_MNT (empty if none).
target_daemon_pid() {
	local p
	p=$(target_fuse_daemon_pids | head -n1)
	if [ -z "$p" ] && [ "$TARGET_KIND" = sanfs ]; then
		# The local daemon's pid file (node/local.c): /run/sanfs/fuse-MAJ:MIN.pid
		local dev
		dev=$(stat -c '%Hd:%Ld' "$TARGET_MNT" 2>/dev/null)
		[ -n "$dev" ] && p=$(cat "/run/sanfs/fuse-$dev.pid" 2>/dev/null)
	fi
	echo "$p"
}

target_mount() {
	local o=()
	[ -n "${TARGET_MOUNT_OPTS:-}" ] && o=(-o "$TARGET_MOUNT_OPTS")
	case $TARGET_KIND in
	ext4) mount -t ext4 "${o[@]}" "$TARGET_DEV" "$TARGET_MNT" ;;
	tmpfs) mount -t tmpfs -o size=$TARGET_SIZE${TARGET_MOUNT_OPTS:+,$TARGET_MOUNT_OPTS} tmpfs "$TARGET_MNT" ;;
	fuse2fs) fuse2fs -o rw,allow_other,default_permissions${TARGET_MOUNT_OPTS:+,$TARGET_MOUNT_OPTS} "$TARGET_DEV" "$TARGET_MNT" >/dev/null ;;
	sanfs) "$SANCTL" mount --local "$TARGET_DEV" "$TARGET_MNT" "${o[@]}" ;;
	esac || {
		echo "target: mounting $TARGET_KIND on $TARGET_MNT failed" >&2
		return 1
	}
	mountpoint -q "$TARGET_MNT" || {
		echo "target: $TARGET_MNT is not a mount point after mounting $TARGET_KIND" >&2
		return 1
	}
}

target_umount() {
	mountpoint -q "$TARGET_MNT" || return 0
	local rc=0
	case $TARGET_KIND in
	sanfs)
		timeout 120 "$SANCTL" umount "$TARGET_MNT" || rc=$?
		;;
	fuse2fs)
		timeout 120 fusermount3 -u "$TARGET_MNT" || rc=$?
		;;
	*)
		umount "$TARGET_MNT" || rc=$?
		;;
	esac
	if [ $rc != 0 ]; then
		echo "target: unmounting $TARGET_MNT failed ($rc)" >&2
		return $rc
	fi
	# A FUSE daemon finishes writing after the unmount returns: wait for it
	# to exit so the device is quiet (and free) before anything else uses it.
	local i
	for i in $(seq 1 100); do
		[ -z "$(target_fuse_daemon_pids)" ] && return 0
		sleep 0.1
	done
	echo "target: the $TARGET_KIND daemon of $TARGET_MNT still runs 10 s after unmount" >&2
	return 1
}

# Pids of the FUSE daemon (sanfsd or fuse2fs) that has TARGET_DEV open.
target_fuse_daemon_pids() {
	[ -n "${TARGET_DEV:-}" ] || return 0
	local f p comm
	for f in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$TARGET_DEV" 2>/dev/null); do
		p=${f%/fd/*}
		comm=
		read -r comm <"$p/comm" 2>/dev/null
		case $comm in
		sanfsd | fuse2fs) echo "${p#/proc/}" ;;
		esac
	done | sort -u
}

target_remount() {
	target_umount && target_mount
}

target_teardown() {
	[ -n "${TARGET_MNT:-}" ] || return 0
	if mountpoint -q "$TARGET_MNT"; then
		target_umount || {
			umount -l "$TARGET_MNT" 2>/dev/null
		}
	fi
	local p
	for p in $(target_fuse_daemon_pids); do
		echo "target: killing leftover daemon $p" >&2
		kill -9 "$p" 2>/dev/null
	done
	sleep 0.2
	if [ -n "${_target_own_loop:-}" ]; then
		losetup -d "$TARGET_DEV" 2>/dev/null
		rm -f "$TARGET_IMG"
	fi
	rmdir "$TARGET_MNT" 2>/dev/null
	TARGET_MNT=
}

# target_setup KIND: everything above, with teardown on exit.
target_setup() {
	TARGET_KIND=$1
	target_require "$TARGET_KIND"
	TARGET_MNT=$(mktemp -d /tmp/sanfs-mnt.XXXXXX)
	export TARGET_KIND TARGET_MNT
	trap 'target_teardown' EXIT
	trap 'exit 130' INT TERM
	case $TARGET_KIND in
	ext4 | sanfs | fuse2fs) target_loop_create ;;
	esac
	target_format || {
		echo "target: formatting $TARGET_DEV as $TARGET_KIND failed" >&2
		exit 1
	}
	target_mount || exit 1
	chmod 0755 "$TARGET_MNT"
	export TARGET_REMOUNT="$_target_root/tests/lib/target.sh remount"
	_target_log "$TARGET_KIND on $TARGET_MNT (device ${TARGET_DEV:-none})"
}

# Run as a program: operate on the target described by the environment.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	case ${1:-} in
	remount) target_remount ;;
	umount) target_umount ;;
	mount) target_mount ;;
	daemon-pid) target_daemon_pid ;;
	*)
		echo "usage: TARGET_KIND=.. TARGET_MNT=.. TARGET_DEV=.. $0 remount|umount|mount|daemon-pid" >&2
		exit 2
		;;
	esac
fi
