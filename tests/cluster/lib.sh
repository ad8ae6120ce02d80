# tests/cluster/lib.sh: start sanfsd nodes on 127.0.0.1 for the cluster tests.
# Each node N gets DIR/nN, Raft port BASE+10*N, control port BASE+10*N+1.
# Partition tests need network namespaces (tests/harness/harness.sh).
set -u
SANCTL=${SANCTL:?}
SANFSD=${SANFSD:?}
[ -x "$SANFSD" ] || { echo "SKIP: sanfsd not built (consensus/cons.c missing)"; exit 77; }
T=$(mktemp -d /var/tmp/sanfs-cluster-XXXXXX)
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
BASE=${BASE:-$(port_base)} || exit 1
declare -A PID
cleanup() {
	for n in "${!PID[@]}"; do kill -9 "${PID[$n]}" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${FAILED:-0}" = 1 ]; then
		for f in "$T"/n*.log; do echo "== $f"; grep -v DEBUG "$f" | tail -20; done
		rm -rf "$T"/*/raft "$T"/*/lmdb
		echo "logs kept in $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
fail() { FAILED=1; echo "FAIL: $*"; exit 1; }
addr() { echo "127.0.0.1:$((BASE + 10 * $1))"; }
ctl() { local n=$1; shift; "$SANCTL" --state "$T/n$n" "$@"; }
start() { # start N
	"$SANFSD" --state "$T/n$1" --foreground --verbose >>"$T/n$1.log" 2>&1 &
	PID[$1]=$!
}
kill9() { kill -9 "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; unset "PID[$1]"; }
stop() { kill "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; unset "PID[$1]"; }
field() { # N FIELD: one top-level number of `status --json`
	ctl "$1" status --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])" 2>/dev/null
}
member_state() { # N ID
	ctl "$1" status --json 2>/dev/null | python3 -c "
import json,sys
for m in json.load(sys.stdin)['members']:
    if m['id'] == $2: print(m['state'])" 2>/dev/null
}
wait_for() { # SECONDS CMD...: poll every 100 ms
	local end=$((SECONDS + $1)); shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
is_eq() { [ "$("${@:2}")" = "$1" ]; }
bootstrap() { # N: first node
	"$SANCTL" bootstrap --state "$T/n$1" --id "$1" --address "$(addr "$1")" >"$T/token" 2>/dev/null ||
		fail "bootstrap"
	start "$1"
	wait_for 10 is_eq "$1" field "$1" adm || fail "node $1 did not become ADM"
}
join() { # N
	"$SANCTL" join --state "$T/n$1" --id "$1" --address "$(addr "$1")" --token - <"$T/token" >/dev/null ||
		fail "join $1"
	start "$1"
	wait_for 30 is_eq active member_state "$1" "$1" || fail "node $1 did not become active"
}
