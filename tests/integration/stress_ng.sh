#!/usr/bin/env bash
# stress_ng.sh: stress-ng's filesystem stressors (Debian's stress-ng, an
# exerciser we did not write) one after another on a sanfs mount, with
# --verify, then all of them at once (two of each): every stressor must pass,
# the daemon must log no error (a journal abort above all), the unmount must
# be clean and fsck must find nothing.
#
# Left out: stressors that test the kernel or need features a FUSE mount has
# not (bind-mount, binderfs, procfs, verity, fanotify, ioprio; fiemap and
# inode-flags skip themselves on FUSE).
#
# Environment: STRESS_SECS per stressor (default 3), STRESS_PAR_SECS for the
# run of all at once (default 30).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/target.sh
. "$here/../lib/target.sh"
command -v stress-ng >/dev/null || { echo "stress_ng: needs stress-ng (scripts/deps.sh)"; exit 77; }
secs=${STRESS_SECS:-3}
target_setup sanfs
out=$(mktemp /var/tmp/sanfs-stress-ng.XXXXXX) # stress-ng's output
trap 'rm -f "$out"; target_teardown' EXIT
target_log_mark
fail() {
	echo "stress_ng: FAIL: $*" >&2
	echo "--- daemon log since the mount:" >&2
	target_log_since | tail -n 30 >&2
	exit 1
}
echo "stress_ng: $(stress-ng --version), ${secs}s per stressor"
# The stressors chdir into the mount: run from there.
(cd "$TARGET_MNT" && stress-ng --class filesystem --sequential 1 --timeout "${secs}s" \
	--temp-path "$TARGET_MNT" --verify --metrics-brief \
	-x bind-mount,binderfs,procfs,verity,fanotify,ioprio >"$out" 2>&1)
rc=$?
grep -E "metrc:.*[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+" "$out" | sed 's/^.*metrc: \[[0-9]*\] //' | head -60
if [ $rc != 0 ] || grep -qE "fail:|error:" "$out"; then
	grep -E "fail:|error:" "$out" | head -20 >&2
	fail "stress-ng exited $rc"
fi
# Then all of them at once, two of each, against each other. inotify and
# dnotify wait a fixed time for their events, which 84 processes on two
# cores can exceed: on kernel ext4 too, they fail now and then under this
# load ("timed waiting for event", "did not get expected dnotify file
# descriptor"); they ran in the sequence above.
psecs=${STRESS_PAR_SECS:-30}
(cd "$TARGET_MNT" && stress-ng --class filesystem --all 2 --timeout "${psecs}s" \
	--temp-path "$TARGET_MNT" --verify \
	-x bind-mount,binderfs,procfs,verity,fanotify,ioprio,inotify,dnotify >"$out" 2>&1)
rc=$?
if [ $rc != 0 ] || grep -qE "fail:|error:" "$out"; then
	grep -E "fail:|error:" "$out" | head -20 >&2
	fail "stress-ng (all at once) exited $rc"
fi
echo "all stressors at once, two of each, ${psecs}s: passed"
target_log_since | grep -E " ERROR | aborted" && fail "errors in the daemon log"
target_umount || fail "clean unmount failed"
res=$("$SANCTL" fsck "$TARGET_DEV" 2>&1) || fail "fsck: $res"
echo "$res" | tail -n 1
echo "stress_ng: passed"
