#!/usr/bin/env bash
# Integration smoke test of local mounts (issue 2 point 6): mkfs, sanctl mount
# --local, create/write/read/rename/unlink, sanctl umount, remount shows the
# data; fusermount3 -u, mount -t fuse.sanfs through the helper and SIGTERM
# each unmount cleanly (the daemon exits 0 after closing the device).
. "$(dirname "$0")/lib.sh"
need_env

new_image 512M
img=$IMG
new_loop "$img"
dev=$LOOP
new_dir
mp=$DIR

# The smallest journal mkfs allows: every operation must still fit it.
"$SANCTL" mkfs "$dev" --label smoke --journal-size 1M >/dev/null || fail "mkfs"

# 1. mount, use, umount with sanctl
"$SANCTL" mount --local "$dev" "$mp" || fail "sanctl mount --local"
is_sanfs_mount "$mp" || fail "not mounted after sanctl mount returned"
pid=$(daemon_pid "$mp")
[ "$(findmnt -n -o SOURCE --mountpoint "$mp")" = "$(realpath "$dev")" ] || fail "mount source"

echo hello >"$mp/a"
[ "$(cat "$mp/a")" = hello ] || fail "read back a"
head -c 3000000 /dev/urandom >"$mp/big"
sum=$(sha256sum <"$mp/big")
mkdir "$mp/d"
mv "$mp/a" "$mp/d/b"
[ ! -e "$mp/a" ] || fail "rename left the old name"
[ "$(cat "$mp/d/b")" = hello ] || fail "read after rename"
echo gone >"$mp/tmp"
rm "$mp/tmp"
[ ! -e "$mp/tmp" ] || fail "unlink"
[ "$(ls "$mp" | sort | tr '\n' ' ')" = "big d " ] || fail "listing: $(ls "$mp")"

"$SANCTL" umount "$mp" || fail "sanctl umount"
! is_sanfs_mount "$mp" || fail "still mounted after sanctl umount"
kill -0 "$pid" 2>/dev/null && fail "daemon still running after sanctl umount"
echo "ok: mount, write, rename, unlink, sanctl umount"

# 2. remount shows the data; fusermount3 -u unmounts cleanly
"$SANCTL" mount --local "$dev" "$mp" || fail "remount"
[ "$(cat "$mp/d/b")" = hello ] || fail "data after remount"
[ "$(sha256sum <"$mp/big")" = "$sum" ] || fail "big file after remount"
[ ! -e "$mp/tmp" ] || fail "unlinked file came back"
pid=$(daemon_pid "$mp")
pidfile=/run/sanfs/fuse-$(stat -c '%Hd:%Ld' "$mp").pid
fusermount3 -u "$mp" || fail "fusermount3 -u"
wait_gone "$pid" 60 || fail "daemon still running after fusermount3 -u"
closed_cleanly "$pidfile" "$pid" || fail "daemon exited without a clean close after fusermount3 -u"
echo "ok: remount shows the data, fusermount3 -u"

# 3. mount -t fuse.sanfs through the helper; SIGTERM unmounts cleanly
installed=
if [ ! -e /sbin/mount.fuse.sanfs ]; then
	ln -s "$HELPER" /sbin/mount.fuse.sanfs
	installed=1
fi
rc=0
mount -t fuse.sanfs "$dev" "$mp" -o local || rc=$?
[ -n "$installed" ] && rm -f /sbin/mount.fuse.sanfs
[ $rc -eq 0 ] || fail "mount -t fuse.sanfs -o local (rc $rc)"
is_sanfs_mount "$mp" || fail "not mounted by mount -t fuse.sanfs"
[ "$(cat "$mp/d/b")" = hello ] || fail "data through mount -t"
echo more >>"$mp/d/b"
pid=$(daemon_pid "$mp")
pidfile=/run/sanfs/fuse-$(stat -c '%Hd:%Ld' "$mp").pid
kill -TERM "$pid"
wait_gone "$pid" 60 || fail "daemon still running after SIGTERM"
! is_sanfs_mount "$mp" || fail "still mounted after SIGTERM"
closed_cleanly "$pidfile" "$pid" || fail "no clean close after SIGTERM"
echo "ok: mount -t fuse.sanfs, SIGTERM"

"$SANCTL" mount --local "$dev" "$mp" || fail "third mount"
[ "$(cat "$mp/d/b")" = "$(printf 'hello\nmore')" ] || fail "data after SIGTERM unmount"
"$SANCTL" umount "$mp" || fail "umount"

# 4. -o noatime: a read leaves atime where it was (relatime would move it,
# as atime is before mtime); the fstab options of a kernel mount pass.
"$SANCTL" mount --local "$dev" "$mp" -o noatime,nodiratime,defaults || fail "mount -o noatime"
touch -a -d @1000000000 "$mp/d/b"
cat "$mp/d/b" >/dev/null
[ "$(stat -c %X "$mp/d/b")" = 1000000000 ] || fail "noatime: a read moved atime"
"$SANCTL" umount "$mp" || fail "final umount"
echo "ok: noatime"

# 4b. -o strictatime: every open and read moves atime, also when the pages
# are in the kernel's page cache (a read served from there never reaches
# sanfs: such an open starts without the cache).
"$SANCTL" mount --local "$dev" "$mp" -o strictatime || fail "mount -o strictatime"
head -c 8192 /dev/urandom >"$mp/d/sa"
cat "$mp/d/sa" >/dev/null
a1=$(stat -c %X.%x "$mp/d/sa")
sleep 1.1
cat "$mp/d/sa" >/dev/null
a2=$(stat -c %X.%x "$mp/d/sa")
[ "$a1" != "$a2" ] || fail "strictatime: a second read (cached pages) left atime at $a1"
"$SANCTL" umount "$mp" || fail "umount (strictatime)"
echo "ok: strictatime"

# 4c. mount -o remount,ro / rw in place: mount(8) runs the helper with the
# mount's options merged (as below); the kernel then refuses changes, the
# daemon stops writing (a read no longer moves atime) and answers once its
# journal is checkpointed; remount,rw writes again. A filesystem mounted
# read-only (no journal) cannot be remounted read-write.
"$SANCTL" mount --local "$dev" "$mp" || fail "mount (remount)"
head -c 8192 /dev/urandom >"$mp/d/rm"
"$HELPER" "$dev" "$mp" -o ro,relatime,remount,user_id=0,group_id=0,default_permissions,allow_other ||
	fail "remount,ro through the helper"
grep -q " $mp ro,.* fuse.sanfs .* ro," /proc/self/mountinfo || fail "remount,ro: the mount is not read-only"
if touch "$mp/d/rm-new" 2>/dev/null; then fail "remount,ro: a create succeeded"; fi
a1=$(stat -c %X.%x "$mp/d/rm")
cmp -s "$mp/d/rm" "$mp/d/rm" || fail "remount,ro: read"
[ "$(stat -c %X.%x "$mp/d/rm")" = "$a1" ] || fail "remount,ro: a read moved atime"
"$SANCTL" mount "$mp" -o remount,rw || fail "sanctl mount -o remount,rw"
touch "$mp/d/rm-new" || fail "remount,rw: create"
"$SANCTL" umount "$mp" || fail "umount (remount)"
"$SANCTL" mount --local "$dev" "$mp" -o ro || fail "mount -o ro (remount)"
if out=$("$SANCTL" mount "$mp" -o remount,rw 2>&1); then fail "remount,rw of a read-only mount succeeded"; fi
case "$out" in *"mounted read-only"*) ;; *) fail "remount,rw of a ro mount: '$out'" ;; esac
grep -q " $mp ro," /proc/self/mountinfo || fail "a refused remount,rw left the mount writable"
"$SANCTL" umount "$mp" || fail "umount (ro)"
if out=$("$SANCTL" mount "$mp" -o remount,ro 2>&1); then fail "remount of an unmounted directory succeeded"; fi
case "$out" in *"not a sanfs mount point"*) ;; *) fail "remount of a plain directory: '$out'" ;; esac
echo "ok: remount"

# 5. Read-ahead: 4 MiB by default, readahead=KB sets it, 0 keeps the
# kernel's 128 KiB; set once the FUSE handshake is done (it would reset it),
# and before the mount command returns (a file opened earlier keeps 128 KiB):
# checked at once, not polled.
ra_of() {
	local got
	got=$(cat "/sys/class/bdi/$(mountpoint -d "$mp")/read_ahead_kb")
	[ "$got" = "$1" ] || { echo "read_ahead_kb $got right after the mount, expected $1" >&2; return 1; }
}
"$SANCTL" mount --local "$dev" "$mp" || fail "mount (read-ahead)"
ra_of 4096 || fail "default read-ahead"
"$SANCTL" umount "$mp" || fail "umount (read-ahead)"
"$SANCTL" mount --local "$dev" "$mp" -o readahead=0 || fail "mount -o readahead=0"
ra_of 128 || fail "readahead=0"
"$SANCTL" umount "$mp" || fail "umount (readahead=0)"
"$SANCTL" mount --local "$dev" "$mp" -o readahead=512 || fail "mount -o readahead=512"
ra_of 512 || fail "readahead=512"
"$SANCTL" umount "$mp" || fail "umount (readahead=512)"
out=$("$SANCTL" mount --local "$dev" "$mp" -o readahead=lots 2>&1) && fail "readahead=lots accepted"
echo "$out" | grep -q "bad option 'readahead=lots'" || fail "readahead=lots: $out"
echo "ok: read-ahead"
# 6. Started with stdin, stdout and stderr closed: the device must not get fd
# 0-2 (the daemon points those at /dev/null once mounted, which swapped the
# device for /dev/null and lost every write).
"$SANCTL" mount --local "$dev" "$mp" <&- >&- 2>&- || fail "mount with fds 0-2 closed"
echo closed-fds >"$mp/closed" || fail "write (fds 0-2 closed)"
"$SANCTL" umount "$mp" || fail "unclean unmount after a start with fds 0-2 closed"
"$SANCTL" mount --local "$dev" "$mp" || fail "remount (fds 0-2 closed)"
[ "$(cat "$mp/closed")" = closed-fds ] || fail "the write with fds 0-2 closed is lost"
"$SANCTL" umount "$mp" || fail "umount (fds 0-2 closed)"
echo "ok: fds 0-2 closed"
# 7. A mount point with a space, a tab and a backslash in its name (mountinfo
# writes them as \040, \011, \134): found by the pid file, the ready check
# and sanctl umount alike.
odd="$mp a	b\\c"
mkdir "$odd"
TMPDIRS+=("$odd")
MOUNTS+=("$odd")
"$SANCTL" mount --local "$dev" "$odd" || fail "mount on '$odd'"
is_sanfs_mount "$odd" || fail "'$odd' not mounted"
pid=$(daemon_pid "$odd") || fail "no pid file for '$odd'"
echo odd >"$odd/f"
"$SANCTL" umount "$odd" || fail "sanctl umount '$odd'"
wait_gone "$pid" 60 || fail "daemon of '$odd' still running"
echo "ok: mount point '$odd'"
# 8. O_TMPFILE across kill -9: an unnamed file open at the crash is freed
# by the next mount (the orphan list), one named by linkat and fsynced is
# kept with its data; fsck is clean either side of that mount.
logs=$(mktemp -d /var/tmp/sanfs-smoke-XXXXXX)
TMPDIRS+=("$logs")
"$SANCTL" mount --local "$dev" "$mp" || fail "mount (O_TMPFILE)"
pid=$(daemon_pid "$mp") || fail "no pid file (O_TMPFILE)"
free0=$(stat -f -c %f "$mp")
python3 - "$mp" >"$logs/tmpfile.out" 2>&1 <<'PY' &
import ctypes, os, sys, time
mp = sys.argv[1]
a = os.open(mp, os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(a, os.urandom(4 << 20))
os.fsync(a)
b = os.open(mp, os.O_TMPFILE | os.O_RDWR, 0o644)
os.write(b, b"kept through the crash\n")
# linkat(AT_SYMLINK_FOLLOW): os.link would call link(), which does not
# follow /proc/self/fd's symlink.
libc = ctypes.CDLL(None, use_errno=True)
if libc.linkat(-100, b"/proc/self/fd/%d" % b, -100, os.path.join(mp, "kept").encode(), 0x400):
    sys.exit("linkat: " + os.strerror(ctypes.get_errno()))
os.fsync(b)
d = os.open(mp, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(d)
print("ready", flush=True)
time.sleep(60)
PY
holder=$!
for _ in $(seq 1 100); do
	grep -q ready "$logs/tmpfile.out" && break
	kill -0 $holder 2>/dev/null || fail "O_TMPFILE script: $(cat "$logs/tmpfile.out")"
	sleep 0.1
done
grep -q ready "$logs/tmpfile.out" || fail "O_TMPFILE script did not get ready"
[ "$(stat -f -c %f "$mp")" -lt $((free0 - 1000)) ] || fail "the unnamed 4 MiB took no space"
kill -9 "$pid"
kill -9 $holder 2>/dev/null
wait $holder 2>/dev/null || true
fusermount3 -u -z "$mp" 2>/dev/null || umount -l "$mp"
wait_gone "$pid" 10 || fail "sanfsd survived kill -9"
"$SANCTL" fsck "$dev" >"$logs/tmpfile-fsck1" 2>&1 ||
	fail "fsck after the crash with an open O_TMPFILE file: $(tail -5 "$logs/tmpfile-fsck1")"
dlog=/var/log/sanfs/local-$(basename "$dev").log
lines=$(wc -l <"$dlog")
"$SANCTL" mount --local "$dev" "$mp" || fail "mount after the crash (O_TMPFILE)"
# The unnamed one only: the link took "kept" off the orphan list.
new=$(tail -n +$((lines + 1)) "$dlog")
grep -q "reclaiming 1 orphan inode(s)" <<<"$new" || fail "orphans at the mount: $(grep orphan <<<"$new")"
[ "$(cat "$mp/kept")" = "kept through the crash" ] || fail "the linked O_TMPFILE file is lost"
free1=$(stat -f -c %f "$mp")
[ "$free1" -ge $((free0 - 16)) ] || fail "the unnamed file's space is not back: $free1 < $free0"
rm "$mp/kept"
"$SANCTL" umount "$mp" || fail "umount (O_TMPFILE)"
echo "ok: O_TMPFILE across kill -9"
# 9. A mount right after umount(8) while the last daemon is still finishing
# its unmount (umount(8) does not wait for it; stopped here, so that it
# cannot finish first): the new mount waits for it and then finds the
# device clean, instead of taking a slot over whose heartbeat stopped.
"$SANCTL" mount --local "$dev" "$mp" || fail "mount (9)"
pid=$(daemon_pid "$mp") || fail "no pid file (9)"
echo waited >"$mp/w"
dlog=/var/log/sanfs/local-$(basename "$dev").log
lines=$(wc -l <"$dlog")
kill -STOP "$pid"
# --no-canonicalize: a stat of the mount point would wait for the daemon.
umount --no-canonicalize "$mp" || fail "umount(8) with the daemon stopped"
"$SANCTL" mount --local "$dev" "$mp" >"$logs/m9.out" 2>&1 &
m9=$!
sleep 3
kill -0 $m9 2>/dev/null || fail "the new mount did not wait for the last daemon: $(cat "$logs/m9.out")"
is_sanfs_mount "$mp" && fail "mounted while the last daemon was still there"
kill -CONT "$pid"
wait $m9 || fail "mount once the last daemon finished: $(cat "$logs/m9.out")"
wait_gone "$pid" 10 || fail "the last daemon did not exit"
[ "$(cat "$mp/w")" = waited ] || fail "data of the last mount (9)"
new=$(tail -n +$((lines + 1)) "$dlog")
grep -q "waiting for the daemon of its last mount (pid $pid)" <<<"$new" ||
	fail "no waiting line in the log: $new"
grep -q "unmounted cleanly" <<<"$new" || fail "the last daemon did not unmount cleanly: $new"
grep -q "taking it over" <<<"$new" && fail "the new mount took the slot over: $new"
"$SANCTL" umount "$mp" || fail "umount (9)"
echo "ok: a mount waits for the last daemon's unmount"
if "$SANCTL" --help | grep -q '^  fsck'; then
	"$SANCTL" fsck "$dev" >/dev/null || fail "fsck after clean unmounts"
	echo "ok: fsck clean"
fi
echo "smoke: all passed"
