#!/usr/bin/env bash
# run_on.sh KIND PROGRAM [ARGS...]: set up a fresh target filesystem of KIND
# (sanfs, ext4, tmpfs; see tests/lib/target.sh), run PROGRAM MOUNTPOINT ARGS...
# in it, tear the target down, and exit with PROGRAM's status (77 = skipped).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
if [ $# -lt 2 ]; then
	echo "usage: $0 sanfs|ext4|tmpfs PROGRAM [ARGS...]" >&2
	exit 2
fi
kind=$1
prog=$2
shift 2
target_setup "$kind"
# In the background so that a TERM (meson's timeout) runs the teardown at once.
"$prog" "$TARGET_MNT" "$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; sleep 0.5; kill -9 $child 2>/dev/null; exit 130' INT TERM
wait $child
rc=$?
# A target that cannot be unmounted cleanly is a failure of the run.
if ! target_umount; then
	echo "run_on: clean unmount of $kind failed" >&2
	[ $rc = 0 ] && rc=1
fi
exit $rc
