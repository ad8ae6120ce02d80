#!/usr/bin/env bash
# Three nodes (five with NODES=5): join; kill -9 the leader => a new ADM
# within 3 s and the SAN generation incremented, the old one fenced; unfence
# and restart => it rejoins as a new incarnation; a node with a wrong key
# cannot join; the ADM fences itself (hand-over first), unfence; the ADM is
# removed (hand-over first); restart every node => state intact.
. "$(dirname "$0")/lib.sh"
N=${NODES:-3}

bootstrap 1
for i in $(seq 2 "$N"); do join "$i"; done
ctl 1 config format site name:value || fail "format"
ctl 2 config add site dc:paris || fail "add through a follower (forwarded to the ADM)"
[ "$(ctl 3 config query site)" = "dc:paris" ] || wait_for 3 is_eq dc:paris ctl 3 config query site ||
	fail "row not replicated to node 3"

# Kill the ADM: a new one within 3 s, generation incremented, old ADM fenced.
gen=$(field 2 generation)
kill9 1
t0=$(date +%s%N)
new_adm() { # prints the ADM node 2 or 3 reports, when it is not 1
	local n a
	for n in 2 3; do
		a=$("$SANCTL" --state "$T/n$n" status 2>/dev/null | sed -n 's/^administrator: \([0-9]*\).*/\1/p')
		[ -n "$a" ] && [ "$a" != 1 ] && [ "$a" != 0 ] && { echo "$a"; return 0; }
	done
	return 1
}
wait_for 10 new_adm || fail "no new ADM"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "new ADM after ${ms} ms"
[ "$ms" -le 3000 ] || fail "new ADM took ${ms} ms (> 3 s)"
wait_for 3 bash -c "[ \$($SANCTL --state $T/n2 status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"generation\"])') -gt $gen ]" ||
	fail "generation not incremented by the takeover"
wait_for 5 is_eq True field 2 quorum || fail "node 2 without quorum under the new ADM"
wait_for 5 is_eq fenced member_state 2 1 || fail "dead ADM not fenced"
ctl 2 status --json | grep -q '"reason": "no heartbeat' || fail "no fence table entry"

# The fenced node comes back only after unfence, as a new incarnation.
inc=$(ctl 2 status --json | python3 -c "import json,sys; print([m['incarnation'] for m in json.load(sys.stdin)['members'] if m['id']==1][0])")
start 1
sleep 2
[ "$(member_state 2 1)" = fenced ] || fail "fenced node rejoined without unfence"
ctl 3 node unfence 1 >/dev/null || fail "unfence"
wait_for 10 is_eq active member_state 2 1 || fail "node 1 not active after unfence"
inc2=$(ctl 2 status --json | python3 -c "import json,sys; print([m['incarnation'] for m in json.load(sys.stdin)['members'] if m['id']==1][0])")
[ "$inc2" -gt "$inc" ] || fail "node 1 came back with incarnation $inc2 <= $inc"

# A node with a wrong key cannot join.
"$SANCTL" bootstrap --state "$T/evil" --id 9 --address 127.0.0.1:$((BASE + 95)) >"$T/evil.token" 2>/dev/null
sed -i "s/^join = .*//; s/^bootstrap = 1/bootstrap = 0\njoin = $(addr 1)/" "$T/evil/node.conf"
"$SANFSD" --state "$T/evil" --foreground --verbose >"$T/evil.log" 2>&1 &
PID[evil]=$!
sleep 3
ctl 1 status --json | grep -q '"id": 9' && fail "a node with a wrong key joined"
grep -q "authentication failed\|refused our cluster key" "$T/evil.log" "$T"/n1.log || fail "wrong key not logged"
kill -9 "${PID[evil]}"; unset "PID[evil]"

# Fence the ADM through itself: it hands the role over, the new ADM fences
# it; after unfence it is an active member again.
adm=$(field 1 adm)
o=1
[ "$o" = "$adm" ] && o=2
out=$(ctl "$adm" node fence "$adm" 2>&1) || fail "the ADM could not fence itself: $out"
wait_for 5 bash -c "a=\$($SANCTL --state $T/n$o status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"adm\"])'); [ \$a != 0 ] && [ \$a != $adm ]" ||
	fail "no new ADM after the ADM fenced itself"
wait_for 5 is_eq fenced member_state "$o" "$adm" || fail "old ADM $adm not fenced"
ctl "$o" node unfence "$adm" >/dev/null || fail "unfence $adm"
wait_for 10 is_eq active member_state "$o" "$adm" || fail "node $adm not active after unfence"

# Remove the ADM, asked on another node: the request goes to the ADM, which
# hands its role over and has the new ADM remove it.
adm=$(field "$o" adm)
victim=$adm
o=1
[ "$o" = "$victim" ] && o=2
ctl "$o" node remove "$victim" >/dev/null || fail "node remove $victim (the ADM)"
wait_for 5 bash -c "! $SANCTL --state $T/n$o status --json | grep -q '\"id\": $victim,'" || fail "node $victim still listed"
[ "$(field "$o" adm)" != "$victim" ] || fail "the removed node is still the ADM"
stop "$victim"

# Restart every remaining node: state intact.
g=$(field "$o" generation)
rest=$(seq 1 "$N" | grep -vx "$victim")
for i in $rest; do stop "$i"; done
for i in $rest; do start "$i"; done
wait_for 15 bash -c "[ \$($SANCTL --state $T/n$o status --json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)[\"quorum\"]))') = 1 ]" ||
	fail "no quorum after restart"
[ "$(ctl "$o" config query site)" = "dc:paris" ] || fail "config lost in restart"
[ "$(field "$o" generation)" -ge "$g" ] || fail "generation went back"
ctl "$o" status --json | grep -q "\"id\": $victim," && fail "removed node $victim back after restart"
echo PASS
