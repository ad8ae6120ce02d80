#!/usr/bin/env bash
# A local mount that stalls (SIGSTOP here; a hung host or a paused VM in
# life) while another mount takes its device over must not write to the
# device again when it resumes: its heartbeat is its lease (fs/sfs.c), so it
# finds the slot taken at its next renewal and fences itself, and its I/O
# fails with EIO. The mount that took over keeps its claim and its data;
# fsck is clean at the end. Without the lease the resumed daemon goes on
# writing from its stale caches over the new owner's filesystem.
. "$(dirname "$0")/lib.sh"
need_env

# Two loop devices over one image: two hosts' views of one SAN LUN (a
# host refuses a second mount of a device it has mounted already).
new_image 256M
new_loop "$IMG"
dev=$LOOP
new_loop "$IMG"
dev2=$LOOP
new_dir
mpa=$DIR
new_dir
mpb=$DIR
logs=$(mktemp -d /var/tmp/sanfs-takeover-XXXXXX)
TMPDIRS+=("$logs")
writer=
stop_writer() { [ -z "$writer" ] || { kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null || true; writer=; }; }
pida=
resume_a() { [ -z "$pida" ] || kill -CONT "$pida" 2>/dev/null || true; }
trap 'resume_a; stop_writer; cleanup' EXIT

"$SANCTL" mkfs "$dev" --label takeover >/dev/null || fail "mkfs"
"$SANFSD" --local "$dev" "$mpa" --log "$logs/a.log" || fail "mount A"
pida=$(daemon_pid "$mpa")
head -c 1000000 /dev/urandom >"$mpa/before"
sync "$mpa/before"
sum_before=$(sha256sum <"$mpa/before")

# A writer keeps A busy: appends, renames and deletes, in and out of A's caches.
(
	set +e
	i=0
	while :; do
		echo "line $i" >>"$mpa/log" 2>/dev/null
		touch "$mpa/f$((i % 50))" 2>/dev/null
		mv "$mpa/f$((i % 50))" "$mpa/g$((i % 50))" 2>/dev/null
		rm -f "$mpa/g$(((i + 25) % 50))" 2>/dev/null
		i=$((i + 1))
	done
) &
writer=$!
sleep 1

# A stalls with nobody else around: when it resumes, its heartbeat renews
# the expired lease (I/O that comes first waits for that) and it carries on.
kill -STOP "$pida"
sleep 3
resume_a
sleep 1
echo resumed >"$mpa/resumed" || fail "A fails after a stall nobody used"
sync "$mpa/resumed" || fail "A cannot sync after a stall nobody used"
grep -q "was taken over" "$logs/a.log" && fail "A fenced itself after a stall nobody used"
# (Whether some request met the expired lease before the renewal is a race.)
echo "ok: A resumed after a 3 s stall ($(grep -c "lease expired" "$logs/a.log") request(s) waited for the lease)"

# A read-only mount elsewhere is refused while A lives: it would read a
# filesystem changing under it with nothing to tell it so.
if out=$("$SANCTL" mount --local "$dev2" "$mpb" -o ro 2>&1); then
	fail "a read-only mount of a device mounted elsewhere succeeded"
fi
grep -q "device is mounted on .* pid $pida" <<<"$out" || fail "read-only mount of a live device: $out"
is_sanfs_mount "$mpb" && fail "the refused read-only mount is mounted"
echo "ok: read-only mount refused while A lives: $out"

# A stalls again. B mounts the device: A's heartbeat stopped, so B takes it over
# (replaying A's journal) once it has watched the slot for 2 s.
kill -STOP "$pida"
t0=$(date +%s.%N)
"$SANFSD" --local "$dev2" "$mpb" --log "$logs/b.log" || fail "mount B while A is stopped"
grep -q "taking it over" "$logs/b.log" || fail "B did not report the takeover: $(tail -3 "$logs/b.log")"
echo "ok: B took over in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
[ "$(sha256sum <"$mpb/before")" = "$sum_before" ] || fail "B reads other bytes in 'before'"
head -c 2000000 /dev/urandom >"$mpb/after"
mkdir "$mpb/dir"
for i in $(seq 100); do echo "$i" >"$mpb/dir/$i"; done
sync -f "$mpb"
sum_after=$(sha256sum <"$mpb/after")

# A resumes: within a renewal it finds the slot taken and stops all I/O.
resume_a
for _ in $(seq 50); do
	grep -q "was taken over" "$logs/a.log" && break
	sleep 0.1
done
grep -q "was taken over" "$logs/a.log" || fail "A did not notice the takeover: $(tail -5 "$logs/a.log")"
echo "ok: A fenced itself: $(grep -m1 "was taken over" "$logs/a.log" | cut -c1-160)"
sleep 0.5
if echo x >"$mpa/late" 2>/dev/null && sync "$mpa/late" 2>/dev/null; then
	fail "A still writes after it was fenced"
fi
stop_writer

# B owns the device for several heartbeats more and keeps writing.
sleep 2
for i in $(seq 101 200); do echo "$i" >"$mpb/dir/$i"; done
sync -f "$mpb"
grep -q "was taken over" "$logs/b.log" && fail "B lost its slot: $(grep "taken over" "$logs/b.log")"

# A unmounts without writing (its close fails: the gate is shut).
fusermount3 -u "$mpa" || fail "fusermount3 -u of the fenced mount"
wait_gone "$pida" 10 || fail "A's daemon did not exit after its unmount"
"$SANCTL" umount "$mpb" || fail "umount B"
"$SANCTL" fsck "$dev" >"$logs/fsck.out" 2>&1 || fail "fsck after the takeover: $(tail -20 "$logs/fsck.out")"
echo "ok: fsck clean"

"$SANCTL" mount --local "$dev" "$mpb" || fail "remount"
[ "$(sha256sum <"$mpb/before")" = "$sum_before" ] || fail "'before' changed"
[ "$(sha256sum <"$mpb/after")" = "$sum_after" ] || fail "'after' changed"
[ "$(ls "$mpb/dir" | wc -l)" = 200 ] || fail "dir holds $(ls "$mpb/dir" | wc -l) files, not 200"
for i in 1 100 101 200; do [ "$(cat "$mpb/dir/$i")" = "$i" ] || fail "dir/$i"; done
[ ! -e "$mpb/late" ] || fail "A's write after the takeover reached the device"
[ "$(cat "$mpb/resumed")" = resumed ] || fail "A's write after its first stall is lost"
"$SANCTL" umount "$mpb" || fail "umount after the check"

# A mount that crashed with its journal not yet written home: a read-only
# mount cannot replay it (it writes nothing), so it refuses and says how to
# go on; a read-write mount replays it, and then read-only mounts see it all.
"$SANFSD" --local "$dev" "$mpa" --log "$logs/c.log" || fail "mount C"
pidc=$(daemon_pid "$mpa")
for i in $(seq 201 210); do echo "$i" >"$mpa/dir/$i"; done
# fsync of each file and of the directory (syncfs(2) does not reach a FUSE
# daemon: the kernel sends FUSE_SYNCFS to virtiofs only).
sync "$mpa/dir" "$mpa"/dir/2[01]? || fail "fsync of dir/201..210"
kill -9 "$pidc"
wait_gone "$pidc" 10 || fail "C survived kill -9"
fusermount3 -u -z "$mpa" 2>/dev/null || umount -l "$mpa"
# (Ten small transactions stay well below the half of the ring that starts a
# checkpoint; had one written them home, the read-only mount must show all.)
if out=$("$SANCTL" mount --local "$dev2" "$mpb" -o ro 2>&1); then
	[ "$(ls "$mpb/dir" | wc -l)" = 210 ] || fail "read-only mount of a crashed device: dir holds $(ls "$mpb/dir" | wc -l) files, not 210"
	"$SANCTL" umount "$mpb" || fail "umount of the read-only mount"
	echo "ok: read-only mount of a crashed device whose journal was written home"
else
	grep -q "journal of slot 0 holds .* not yet written home" <<<"$out" ||
		fail "read-only mount of a crashed device: $out"
	echo "ok: read-only mount of a crashed device refused: $out"
fi
"$SANCTL" mount --local "$dev" "$mpa" || fail "read-write mount after the crash (replay)"
"$SANCTL" umount "$mpa" || fail "umount after the replay"
"$SANCTL" mount --local "$dev2" "$mpb" -o ro || fail "read-only mount after the replay"
[ "$(ls "$mpb/dir" | wc -l)" = 210 ] || fail "read-only: dir holds $(ls "$mpb/dir" | wc -l) files, not 210"
[ "$(cat "$mpb/dir/210")" = 210 ] || fail "read-only: dir/210 reads \"$(cat "$mpb/dir/210")\""
"$SANCTL" umount "$mpb" || fail "umount of the read-only mount"
echo "takeover: all passed"
