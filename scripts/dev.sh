#!/usr/bin/env bash
# The two set-up commands of README.md:
#   scripts/dev.sh quickstart   install deps, build, run examples/quickstart.sh
#   scripts/dev.sh test         install deps, build (plain, ASan+UBSan, fuzz), run every test
# Build directories: build/ (debugoptimized), build-asan/, build-fuzz/ (clang),
# build-release/ (the programs only, as an administrator builds them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

setup() { # dir, extra meson args... (TARGETS: what to build, default all)
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	# Quiet when it builds; the whole log when it does not.
	local log
	log=$(mktemp)
	# shellcheck disable=SC2086
	if ! ninja -C "$dir" ${TARGETS:-} >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "build failed in $dir" >&2
		return 1
	fi
	rm -f "$log"
}

case "${1:-}" in
quickstart)
	scripts/deps.sh
	setup build
	exec examples/quickstart.sh
	;;
test)
	scripts/deps.sh
	echo "== build (plain, asan+ubsan, fuzz, release)"
	setup build
	setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	CC=clang setup build-fuzz -Dfuzz=true -Db_lundef=false
	# -O3 makes gcc warn of more (and -Werror fails the build): the
	# programs must build in meson's release type too.
	TARGETS="node/sanfsd cli/sanctl cli/mount.fuse.sanfs" setup build-release -Dbuildtype=release
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	rm -f build*/meson-logs/testlog.json
	rc=0
	echo "== unit tests under ASan+UBSan"
	meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 || rc=1
	echo "== integration tests"
	meson test -C build --suite integration --print-errorlogs --num-processes 1 || rc=1
	echo "== fuzz runs"
	meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2 || rc=1
	python3 scripts/test_summary.py build-asan build build-fuzz || rc=1
	exit $rc
	;;
*)
	echo "usage: scripts/dev.sh quickstart|test" >&2
	exit 2
	;;
esac
