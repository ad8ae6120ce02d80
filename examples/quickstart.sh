#!/usr/bin/env bash
# sanfs quickstart (README): a loop device over an image file under /var/tmp,
# `sanctl mkfs`, `sanctl mount --local`, a few files written and read back.
# Uses the binaries in build/ (scripts/dev.sh quickstart builds them). Root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
sanctl=$build/cli/sanctl
export SANFSD=$build/node/sanfsd

[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (loop devices and mounts)" >&2; exit 1; }
[ -x "$sanctl" ] && [ -x "$SANFSD" ] || { echo "quickstart: build first (scripts/dev.sh quickstart)" >&2; exit 1; }
[ -c /dev/fuse ] || modprobe fuse 2>/dev/null || true
[ -c /dev/fuse ] || { echo "quickstart: /dev/fuse is missing (modprobe fuse)" >&2; exit 1; }

img=/var/tmp/sanfs-quickstart.img
mp=/mnt/sanfs-quickstart

# A previous run may still be mounted: stop it first.
if mountpoint -q "$mp" 2>/dev/null; then "$sanctl" umount "$mp"; fi
for l in $(losetup -j "$img" -O NAME -n 2>/dev/null); do losetup -d "$l"; done

echo "== image $img (1 GiB, sparse) on a loop device"
rm -f "$img"
truncate -s 1G "$img"
dev=$(losetup -f --show "$img")
echo "   $dev"

echo "== sanctl mkfs $dev --label quickstart"
"$sanctl" mkfs "$dev" --label quickstart

echo "== sanctl mount --local $dev $mp"
mkdir -p "$mp"
"$sanctl" mount --local "$dev" "$mp"

echo "== a few files written and read back"
echo "hello from sanfs" >"$mp/hello.txt"
mkdir -p "$mp/docs/notes"
for i in 1 2 3; do echo "note $i" >"$mp/docs/notes/note$i.txt"; done
head -c 8M /dev/urandom >"$mp/random.bin"
want=$(head -c 8M /dev/urandom | tee /var/tmp/sanfs-quickstart.ref | sha256sum)
cp /var/tmp/sanfs-quickstart.ref "$mp/copy.bin"
rm -f /var/tmp/sanfs-quickstart.ref
ln -s hello.txt "$mp/link-to-hello"
mv "$mp/docs/notes/note3.txt" "$mp/docs/note3.txt"
sync "$mp/copy.bin"

[ "$(cat "$mp/hello.txt")" = "hello from sanfs" ] || { echo "hello.txt: wrong content" >&2; exit 1; }
[ "$(cat "$mp/link-to-hello")" = "hello from sanfs" ] || { echo "symlink: wrong content" >&2; exit 1; }
[ "$(cat "$mp/docs/note3.txt")" = "note 3" ] || { echo "note3: wrong content" >&2; exit 1; }
[ "$(sha256sum <"$mp/copy.bin")" = "$want" ] || { echo "copy.bin: checksum mismatch" >&2; exit 1; }
[ "$(stat -c %s "$mp/random.bin")" = 8388608 ] || { echo "random.bin: wrong size" >&2; exit 1; }
ls -la "$mp" "$mp/docs"
df -h "$mp"
echo "   all files read back correctly"

cat <<MSG

sanfs is mounted on $mp (device $dev, image $img).
Use it like any directory, then stop it with:

    $sanctl umount $mp
    losetup -d $dev
    rm $img        # to delete the filesystem image
MSG
