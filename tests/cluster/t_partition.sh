#!/usr/bin/env bash
# Partition and heal on the namespaced harness (tests/harness/harness.sh):
# three nodes, each in its own network namespace. Cut off the ADM: the other
# two elect a new ADM and keep committing; the cut-off node refuses changes
# with "no quorum" and reports quorum NO. Heal: it catches up (same SAN
# generation and configuration as the majority), is fenced, and comes back
# as a new incarnation after `sanctl node unfence`.
set -uo pipefail
SANCTL=${SANCTL:?}
SANFSD=${SANFSD:?}
[ -x "$SANFSD" ] || { echo "SKIP: sanfsd not built"; exit 77; }
. "$(dirname "$0")/../harness/harness.sh"
hn_require_root || exit 77
hn_cleanup_stale
hn_setup 3
fail() { echo "FAIL: $*"; for i in 1 2 3; do echo "== node $i"; tail -15 "$(hn_log "$i")"; done; exit 1; }
st() { echo "$(hn_dir "$1")/state"; }
ctl() { local n=$1; shift; "$SANCTL" --state "$(st "$n")" "$@"; }
js() { # N EXPR: a python expression over d = status --json
	ctl "$1" status --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}
is_eq() { [ "$("${@:2}")" = "$1" ]; }
addr() { echo "$(hn_ip "$1"):7400"; }

"$SANCTL" bootstrap --state "$(st 1)" --id 1 --address "$(addr 1)" >"$HN_RUN/token" 2>/dev/null || fail bootstrap
hn_start 1 "$SANFSD" --state "$(st 1)" --foreground --verbose
hn_wait_for 10 is_eq 1 js 1 'd["adm"]' || fail "node 1 not ADM"
for i in 2 3; do
	"$SANCTL" join --state "$(st "$i")" --id "$i" --address "$(addr "$i")" --token - <"$HN_RUN/token" >/dev/null || fail "join $i"
	hn_start "$i" "$SANFSD" --state "$(st "$i")" --foreground --verbose
	hn_wait_for 30 is_eq active js 1 "[m['state'] for m in d['members'] if m['id']==$i][0]" || fail "node $i not active"
done
ctl 1 config format site name:value || fail format

# Cut off the ADM (node 1).
hn_partition 1
new_adm() { a=$(js 2 'd["adm"] if d["quorum"] else 0'); [ -n "$a" ] && [ "$a" != 0 ] && [ "$a" != 1 ]; }
hn_wait_for 10 new_adm || fail "majority elected no new ADM"
adm=$(js 2 'd["adm"]')
# A configuration update runs its sync commands on every live member, so the
# majority commits once it has fenced the silent node (one failure time-out
# after the takeover); an update in that second may fail naming node 1.
hn_wait_for 5 is_eq fenced js "$adm" "[m['state'] for m in d['members'] if m['id']==1][0]" ||
	fail "the cut-off node was not fenced"
ctl 2 config add site dc:paris || fail "the majority cannot commit"
ctl 3 config add site dc:lyon || fail "the majority cannot commit through a follower"
hn_wait_for 5 is_eq False js 1 'd["quorum"]' || fail "the minority claims quorum"
out=$(ctl 1 config add site dc:nice 2>&1) && fail "the minority committed a change"
echo "$out" | grep -q "no quorum" || fail "minority error is not 'no quorum': $out"
out=$(ctl 1 node fence 3 2>&1) && fail "the minority fenced a node"
echo "$out" | grep -q "no quorum" || fail "minority error is not 'no quorum': $out"
ctl 1 status | grep -q "quorum: NO" || fail "minority status does not say quorum NO"

# Heal: node 1 catches up with the majority.
hn_heal 1
gen_of() { js "$1" 'd["generation"]'; }
caught_up() { [ "$(gen_of 1)" = "$(gen_of "$adm")" ] && [ "$(ctl 1 config query site | sort | tr '\n' ' ')" = "dc:lyon dc:paris " ]; }
hn_wait_for 15 caught_up || fail "node 1 did not catch up (gen $(gen_of 1) vs $(gen_of "$adm"))"
ctl 1 config query site dc:nice | grep -q . && fail "the minority's refused change appeared"
ctl "$adm" node unfence 1 >/dev/null || fail unfence
hn_wait_for 10 is_eq active js "$adm" "[m['state'] for m in d['members'] if m['id']==1][0]" ||
	fail "node 1 not active after unfence"
echo PASS
