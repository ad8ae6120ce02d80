#!/usr/bin/env bash
# fs_bench.sh: kernel ext4, fuse2fs and sanfs (local mode) on the same loop
# device in one run (issue 2 point 8, DESIGN §7). A benchmark, never a test.
#
#   bench/fs_bench.sh                 full run (~10 minutes)
#   BENCH_QUICK=1 bench/fs_bench.sh   smoke run (small sizes, short runtimes)
#
# For each filesystem: mkfs on the loop device, mount, then
#   fio sequential 1 MiB write and read, buffered (write with end_fsync=1;
#       read after a remount, cold) and O_DIRECT
#   fio 4 KiB random read and random write, O_DIRECT (buffered where the
#       filesystem refuses O_DIRECT; marked with *), iodepth 1
#   the same random reads of a sparse file (no device I/O: the FUSE round
#       trip, what bounds the 4 KiB rows of a FUSE filesystem)
# and, first, the same O_DIRECT fio jobs on the raw device (column "device":
# what a filesystem that does its I/O on the device directly can reach).
#   create, stat and unlink of 10,000 empty files in one directory and
#       spread over 100 directories (bench/fs_meta.c)
#   `ls -l` of the 10,000-entry directory after a remount (cold caches)
# and prints a table of absolute figures and of the ratios sanfs/fuse2fs and
# sanfs/ext4 (higher is better for every row), also written as markdown to
# bench/out/fs_bench-DATE.md.
#
# Needs root, /dev/fuse, a free loop device, fio, fuse2fs, a C compiler;
# sanfs needs build/cli/sanctl (else its column says n/a).
# Environment: SANCTL, BENCH_IMGDIR (default /var/tmp), BENCH_SIZE (image,
# default 8G), BENCH_FS (default "ext4 fuse2fs sanfs").
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export TARGET_IMGDIR=${BENCH_IMGDIR:-/var/tmp}
export TARGET_SIZE=${BENCH_SIZE:-8G}
export TARGET_QUIET=1
# The loop device reads and writes its image with O_DIRECT: figures are those
# of the disk under /var/tmp, not of the host page cache.
export TARGET_LOOP_DIO=1
# shellcheck source=../tests/lib/target.sh
. "$root/tests/lib/target.sh"

if [ -n "${BENCH_QUICK:-}" ]; then
	seq_size=256M seq_runtime=5 runtime=3 nfiles=1000 ndirs=10
else
	seq_size=1G seq_runtime=20 runtime=15 nfiles=10000 ndirs=100
fi
fss=${BENCH_FS:-ext4 fuse2fs sanfs}

for t in fio jq cc losetup mkfs.ext4; do
	command -v $t >/dev/null || {
		echo "fs_bench: needs $t" >&2
		exit 1
	}
done
target_require ext4

work=$(mktemp -d /tmp/fs_bench.XXXXXX)
cc -O2 -Wall -o "$work/fs_meta" "$here/fs_meta.c" || exit 1
mkdir -p "$here/out"

# One image and one loop device for every filesystem.
TARGET_MNT=$(mktemp -d /tmp/fs_bench-mnt.XXXXXX)
export TARGET_MNT
target_loop_create
cleanup() {
	target_teardown
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "fs_bench: device $TARGET_DEV ($TARGET_SIZE image in $TARGET_IMGDIR), ${BENCH_QUICK:+quick, }seq $seq_size, random ${runtime}s, $nfiles files"

declare -A R # R[fs,metric] = value

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# fio_run FS METRIC JOBARGS...: runs one fio job in the mount, stores the
# bandwidth (MiB/s) or IOPS.
fio_run() {
	local fs=$1 metric=$2
	shift 2
	local out
	out=$(cd "$TARGET_MNT" && fio --output-format=json --name=job --filename=bench.dat \
		--group_reporting "$@" 2>"$work/fio.err")
	if [ $? != 0 ] || [ -z "$out" ]; then
		echo "  $metric: fio failed: $(head -c 300 "$work/fio.err" | tr '\n' ' ')" >&2
		return 1
	fi
	local v
	case $metric in
	*_iops)
		v=$(jq '.jobs[0].read.iops + .jobs[0].write.iops' <<<"$out")
		;;
	*)
		v=$(jq '(.jobs[0].read.bw_bytes + .jobs[0].write.bw_bytes) / 1048576' <<<"$out")
		;;
	esac
	R[$fs,$metric]=$(printf '%.0f' "$v")
	echo "  $metric: ${R[$fs,$metric]}"
}

meta_run() { # fs metric op dir n ndirs
	local fs=$1 metric=$2 out
	out=$("$work/fs_meta" "$3" "$4" "$5" "$6") || {
		echo "  $metric: failed" >&2
		return 1
	}
	R[$fs,$metric]=$(awk '{sub("/s","",$4); print $4}' <<<"$out")
	echo "  $metric: ${R[$fs,$metric]}/s"
}

bench_fs() {
	local fs=$1
	TARGET_KIND=$fs
	export TARGET_KIND
	if [ "$fs" = sanfs ] && ! ("$SANCTL" --help 2>&1 | grep -qw mkfs); then
		echo "$fs: sanctl has no mkfs yet: skipped" >&2
		return
	fi
	echo "$fs:"
	target_format >/dev/null 2>&1 || {
		echo "  mkfs failed" >&2
		return
	}
	target_mount || return
	# Each sequential job stops after seq_runtime seconds at the latest.
	local base="--size=$seq_size --bs=1M --ioengine=psync --runtime=$seq_runtime"
	# shellcheck disable=SC2086
	fio_run "$fs" seq_write $base --rw=write --end_fsync=1
	target_remount || return
	# shellcheck disable=SC2086
	fio_run "$fs" seq_read $base --rw=read
	rm -f "$TARGET_MNT/bench.dat"
	# shellcheck disable=SC2086
	fio_run "$fs" seq_write_direct $base --rw=write --direct=1 --end_fsync=1 ||
		R[$fs,seq_write_direct]=n/a
	# shellcheck disable=SC2086
	fio_run "$fs" seq_read_direct $base --rw=read --direct=1 || R[$fs,seq_read_direct]=n/a
	# Random 4 KiB on the file just written.
	local rnd="--size=$seq_size --bs=4k --ioengine=psync --time_based --runtime=$runtime"
	local d=1
	# shellcheck disable=SC2086
	fio_run "$fs" rand_read_iops $rnd --rw=randread --direct=1 2>/dev/null || {
		d=0
		target_remount
		fio_run "$fs" rand_read_iops $rnd --rw=randread
		R[$fs,rand_read_iops]="${R[$fs,rand_read_iops]:-n/a}*"
	}
	# shellcheck disable=SC2086
	fio_run "$fs" rand_write_iops $rnd --rw=randwrite --direct=$d --end_fsync=1
	[ $d = 0 ] && R[$fs,rand_write_iops]="${R[$fs,rand_write_iops]:-n/a}*"
	rm -f "$TARGET_MNT/bench.dat"
	# The same random 4 KiB reads of a file that is one hole: no device I/O
	# at all, so for a FUSE filesystem this is the round trip through the
	# kernel and the daemon, the ceiling of every small-I/O row.
	truncate -s "$seq_size" "$TARGET_MNT/bench.dat"
	# shellcheck disable=SC2086
	fio_run "$fs" hole_read_iops $rnd --rw=randread --direct=$d
	[ $d = 0 ] && R[$fs,hole_read_iops]="${R[$fs,hole_read_iops]:-n/a}*"
	rm -f "$TARGET_MNT/bench.dat"
	# Metadata: one directory.
	mkdir "$TARGET_MNT/one"
	meta_run "$fs" create_1dir create "$TARGET_MNT/one" $nfiles 1
	meta_run "$fs" stat_1dir stat "$TARGET_MNT/one" $nfiles 1
	target_remount || return
	drop_caches
	local t0 t1
	t0=$(date +%s.%N)
	ls -l "$TARGET_MNT/one" >/dev/null
	t1=$(date +%s.%N)
	R[$fs,ls_l]=$(awk -v n=$nfiles -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
	echo "  ls_l: ${R[$fs,ls_l]} entries/s"
	meta_run "$fs" unlink_1dir unlink "$TARGET_MNT/one" $nfiles 1
	# Spread over directories.
	meta_run "$fs" create_spread create "$TARGET_MNT" $nfiles $ndirs
	meta_run "$fs" stat_spread stat "$TARGET_MNT" $nfiles $ndirs
	meta_run "$fs" unlink_spread unlink "$TARGET_MNT" $nfiles $ndirs
	target_umount
}

# The device itself, before any filesystem: what the O_DIRECT rows of a
# filesystem that reads and writes the device directly can reach (fuse2fs goes
# through the host page cache of the device instead).
dev_run() { # metric fio-args...: into R[device,metric]
	local metric=$1 out v
	shift
	out=$(fio --output-format=json --name=dev --filename="$TARGET_DEV" --direct=1 \
		--ioengine=psync --size="$seq_size" "$@" 2>"$work/fio.err") || {
		echo "  device $metric: fio failed: $(head -c 300 "$work/fio.err")" >&2
		return
	}
	case $metric in
	*_iops) v=$(jq '.jobs[0].read.iops + .jobs[0].write.iops' <<<"$out") ;;
	*) v=$(jq '(.jobs[0].read.bw_bytes + .jobs[0].write.bw_bytes) / 1048576' <<<"$out") ;;
	esac
	R[device,$metric]=$(printf '%.0f' "$v")
	echo "  $metric: ${R[device,$metric]}"
}
echo "device:"
dev_run seq_write_direct --bs=1M --rw=write --runtime=$seq_runtime
dev_run seq_read_direct --bs=1M --rw=read --runtime=$seq_runtime
dev_run rand_read_iops --bs=4k --rw=randread --time_based --runtime=$runtime
dev_run rand_write_iops --bs=4k --rw=randwrite --time_based --runtime=$runtime

start=$SECONDS
for fs in $fss; do
	case $fs in
	sanfs | fuse2fs) [ -c /dev/fuse ] || {
		echo "$fs: no /dev/fuse: skipped"
		continue
	} ;;
	esac
	bench_fs "$fs"
done

# The table.
metrics="seq_write seq_read seq_write_direct seq_read_direct rand_read_iops rand_write_iops hole_read_iops create_1dir stat_1dir unlink_1dir ls_l create_spread stat_spread unlink_spread"
declare -A label=(
	[seq_write]="seq write 1M, buffered+end_fsync (MiB/s)"
	[seq_read]="seq read 1M, buffered, cold (MiB/s)"
	[seq_write_direct]="seq write 1M, O_DIRECT (MiB/s)"
	[seq_read_direct]="seq read 1M, O_DIRECT (MiB/s)"
	[rand_read_iops]="rand read 4K (IOPS)"
	[rand_write_iops]="rand write 4K (IOPS)"
	[hole_read_iops]="rand read 4K of a hole, no device I/O (IOPS)"
	[create_1dir]="create, $nfiles in 1 dir (/s)"
	[stat_1dir]="stat, $nfiles in 1 dir (/s)"
	[unlink_1dir]="unlink, $nfiles in 1 dir (/s)"
	[ls_l]="ls -l of $nfiles entries, cold (entries/s)"
	[create_spread]="create, $nfiles over $ndirs dirs (/s)"
	[stat_spread]="stat, $nfiles over $ndirs dirs (/s)"
	[unlink_spread]="unlink, $nfiles over $ndirs dirs (/s)"
)
ratio() { # a b -> a/b with 2 decimals, or n/a
	awk -v a="${1%\*}" -v b="${2%\*}" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'
}
md="$here/out/fs_bench-$(date -u +%Y%m%dT%H%M%SZ).md"
{
	echo "# fs_bench $(date -u +%Y-%m-%dT%H:%MZ)${BENCH_QUICK:+ (quick mode)}"
	echo
	echo "Same loop device ($TARGET_SIZE image in $TARGET_IMGDIR), kernel $(uname -r), $(nproc) CPUs; * = buffered (O_DIRECT refused)."
	echo
	echo "| metric | device | ext4 | fuse2fs | sanfs | sanfs/fuse2fs | sanfs/ext4 | sanfs/device |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for m in $metrics; do
		d=${R[device,$m]:--} e=${R[ext4,$m]:-n/a} f=${R[fuse2fs,$m]:-n/a} s=${R[sanfs,$m]:-n/a}
		dr=-
		[ "$d" = - ] || dr=$(ratio "$s" "$d")
		echo "| ${label[$m]} | $d | $e | $f | $s | $(ratio "$s" "$f") | $(ratio "$s" "$e") | $dr |"
	done
} >"$md"
echo
cat "$md"
echo
echo "fs_bench: table written to $md ($((SECONDS - start))s)"
