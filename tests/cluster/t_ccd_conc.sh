#!/usr/bin/env bash
# Concurrent CCD updates on three nodes (node/ops_ccd.c batches them while no
# node has sync commands): 16 clients spread over the three nodes update
# disjoint, shared and fought-over keys; every acknowledged update is there
# exactly once, in per-key order, identical on every node (ccd_load.py check),
# and the updates really went as batches. Then a sync command on node 2 that
# hangs for key "slow": the batch is refused, the updates run one at a time,
# only the two "slow" updates fail (time-out), nothing of them is applied, the
# others succeed, each with pre and post around it alone (node 2 refuses
# every batch, running nothing). Without the command, batches resume.
# Last, an update right after a kill -9 of a member waits for the member's
# failure and succeeds.
. "$(dirname "$0")/lib.sh"
LOAD="$(dirname "$0")/ccd_load.py"
S1="$T/n1/sanfsd.sock" S2="$T/n2/sanfsd.sock" S3="$T/n3/sanfsd.sock"

bootstrap 1
join 2
join 3
for c in $(seq 0 15); do
	ctl 1 config format "own$c" name:value && ctl 1 config format "nw$c" name:value || fail "format $c"
done
for k in sh0 sh1 sh2 sh3 hot slow; do ctl 1 config format "$k" name:value || fail "format $k"; done
gen() { python3 "$LOAD" gen "$T/ck$1" "$T/n$1/sanfsd.sock"; }
settled() { # every node at the ADM's CCD generation
	local g
	g=$(gen 1) || return 1
	[ "$(gen 2)" = "$g" ] && [ "$(gen 3)" = "$g" ]
}
batches() { grep -c "CCD batch of" "$T/n1.log"; }

g0=$(gen 1)
python3 "$LOAD" run "$T/run1.json" 25 "$S1" "$S2" "$S3" || fail "concurrent updates"
wait_for 10 settled || fail "nodes did not reach the same CCD generation"
g1=$(gen 1)
python3 "$LOAD" check "$T/run1.json" "$g0" "$g1" "$S1" "$S2" "$S3" || fail "check after concurrent updates"
nb=$(batches)
[ "$nb" -ge 5 ] || fail "only $nb batches: the concurrent updates were not batched"
echo "batches: $nb"
[ "$(ctl 1 config verify | tail -1)" = consistent ] || fail "verify: $(ctl 1 config verify)"

# A hanging sync command on node 2 for key "slow" only.
mkdir -p "$T/n2/ccd-sync.d"
cat >"$T/n2/ccd-sync.d/10slow" <<SH
#!/bin/sh
echo "\$1 \$2 \$3 \$4" >>"$T/sync2.log"
[ "\$1" = pre ] && [ "\$3" = slow ] && sleep 30
exit 0
SH
chmod +x "$T/n2/ccd-sync.d/10slow"
g0=$(gen 1)
nr=$(grep -c "refused (sync commands)" "$T/n1.log")
python3 "$LOAD" slow "$T/slow.json" "$S1" "$S2" "$S3" || fail "updates next to a timed-out one"
wait_for 10 settled || fail "nodes did not settle after the slow round"
g1=$(gen 1)
python3 "$LOAD" check "$T/slow.json" "$g0" "$g1" "$S1" "$S2" "$S3" || fail "check after the slow round"
for n in 1 2 3; do
	[ -z "$(ctl "$n" config query slow)" ] || fail "node $n: a timed-out update was applied"
done
# Every update ran alone: its pre, then its post, nothing in between.
python3 - "$T/sync2.log" <<'PY' || fail "sync commands not run one update at a time"
import sys
lines = [l.split() for l in open(sys.argv[1])]
i, n = 0, 0
while i < len(lines):
    ph = lines[i][0]
    if ph == "pre" and lines[i][2] == "slow":
        i += 1
        continue
    if ph != "pre" or i + 1 >= len(lines) or lines[i + 1][0] != "post" or lines[i + 1][1:] != lines[i][1:]:
        sys.exit("not pre/post of one update at line %d: %s" % (i + 1, lines[i:i + 2]))
    i += 2
    n += 1
if n != 70:
    sys.exit("%d updates with pre and post, expected 70" % n)
PY
grep -q "^abort" "$T/sync2.log" && fail "abort ran on the node whose pre timed out"
[ "$(grep -c "refused (sync commands)" "$T/n1.log")" -gt "$nr" ] ||
	fail "no batch was tried and refused while node 2 had sync commands"

# Without the command, batches go through again.
rm -rf "$T/n2/ccd-sync.d"
nb=$(batches)
python3 "$LOAD" run "$T/run2.json" 10 "$S1" "$S2" "$S3" || fail "concurrent updates after the slow round"
[ "$(batches)" -gt "$nb" ] || fail "no batches after the sync command was removed"

# A member killed a moment before an update is still active until the ADM
# notices its silence: the update waits for its failure instead of failing
# on it (one update alone, then a batch), and the survivors have the rows.
adm=$(field 1 adm)
v=3
[ "$adm" = 3 ] && v=2
kill9 "$v"
t0=$(date +%s%N)
ctl "$adm" config add sh0 dead:one || fail "an update right after the kill of node $v failed"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(member_state "$adm" "$v")" = active ] && fail "the update did not wait for node $v to leave"
echo "update right after a kill: done in ${ms} ms, after node $v left the active members"
grep -q "node $v left the active members during the update" "$T/n$adm.log" ||
	fail "the ADM did not log that it stopped waiting for node $v"
for n in 1 2 3; do
	[ "$n" = "$v" ] && continue
	wait_for 3 bash -c "$SANCTL --state $T/n$n config query sh0 | grep -qx dead:one" ||
		fail "node $n lacks the row added while node $v died"
done
echo PASS
