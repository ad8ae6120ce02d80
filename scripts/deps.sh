#!/usr/bin/env bash
# Install everything sanfs needs to build, test and benchmark, from Debian
# bookworm packages only. Run as root. Safe to run again.
#
# Why each package (README "Dependencies" says the same for users):
#   build:  meson ninja-build pkg-config gcc clang (libFuzzer) libclang-rt-14-dev (sanitizer runtimes)
#           libc6-dev linux-libc-dev (<linux/fuse.h>: the FUSE protocol for KILLPRIV_V2;
#           <linux/capability.h> in tests)
#   libs:   libfuse3-dev libraft-dev libuv1-dev liblmdb-dev libsodium-dev (peer authentication)
#           libacl1-dev (ACL text in tests)
#   libs:   libjansson-dev (the admin socket's JSON)
#   tests:  check fuse3 (fusermount3) e2fsprogs util-linux (losetup) iproute2 (netns) jq attr acl python3
#           xfsprogs btrfs-progs dosfstools fdisk genisoimage cryptsetup-bin (foreign signatures
#           that mkfs must refuse, made for real in the blockdev tests)
#           stress-ng (its filesystem stressors, an outside exerciser, run on a mount)
#   bench:  fio fuse2fs etcd-server etcd-client
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev libc6-dev linux-libc-dev
      libfuse3-dev libraft-dev libuv1-dev liblmdb-dev libsodium-dev libacl1-dev libjansson-dev
      check fuse3 e2fsprogs util-linux iproute2 jq attr acl python3 psmisc procps
      xfsprogs btrfs-progs dosfstools fdisk genisoimage cryptsetup-bin stress-ng
      fio fuse2fs etcd-server etcd-client)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# etcd-server starts a system etcd on install; the benchmarks start their own.
if systemctl is-active --quiet etcd 2>/dev/null; then systemctl stop etcd || true; fi
modprobe fuse 2>/dev/null || true
modprobe loop 2>/dev/null || true
echo "deps: ok"
