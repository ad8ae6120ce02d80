#!/usr/bin/env bash
# Run one libFuzzer target for a short, fixed time (meson suite 'fuzz').
#   run_fuzz.sh EXE NAME SEED_DIR BUILD_DIR
# New inputs go to BUILD_DIR/corpus-NAME (the committed seeds stay as they
# are); a crash is written to BUILD_DIR/crash-NAME-* and fails the test.
set -euo pipefail
exe=$1 name=$2 seeds=$3 out=$4
secs=${SANFS_FUZZ_SECONDS:-20}
work="$out/corpus-$name"
mkdir -p "$work"
dirs=("$work")
if [ -d "$seeds" ]; then
	dirs+=("$seeds")
else
	echo "fuzz $name: warning: no seed corpus at $seeds (add 2-5 small seeds)" >&2
fi
# libFuzzer's default exit code for a crash is 77, which meson reads as
# "skipped": make every finding a failure.
exec "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$out/crash-$name-" "${dirs[@]}"
