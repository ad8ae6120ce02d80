#!/usr/bin/env bash
# Device registry on three nodes: add and remove bump the SAN generation and
# return only once every live node applied it (so the other node lists the
# change at once); a node that does not acknowledge (SIGSTOPped, with a
# failure time-out longer than the ack time-out) is named in the reply.
. "$(dirname "$0")/lib.sh"

bootstrap 1
sed -i 's/^timeout_ms = .*/timeout_ms = 20000/' "$T/n1/node.conf"
stop 1; start 1
wait_for 10 is_eq 1 field 1 adm || fail "node 1 not ADM after restart"
join 2
join 3

truncate -s 64M "$T/d0.img"
"$SANCTL" mkfs "$T/d0.img" --label data0 >/dev/null 2>&1 || fail "mkfs"
gen=$(field 1 generation)
out=$(ctl 2 device add "$T/d0.img" 2>&1) || fail "device add: $out"
echo "$out" | grep -q "did not acknowledge" && fail "unexpected unacked nodes: $out"
ctl 2 device list | grep -q "^data0 " || fail "node 2 does not list data0 on return"
ctl 1 device list | grep -q "^data0 " || fail "node 1 does not list data0 on return"
[ "$(field 2 generation)" -gt "$gen" ] || fail "device add did not bump the generation"
ctl 1 device add "$T/d0.img" >/dev/null 2>&1 || fail "re-adding the same device is not idempotent"
out=$(ctl 1 device add "$T/nothere" 2>&1) && fail "added a missing device"
printf 'x%.0s' $(seq 1 8192) >"$T/plain.img"
out=$(ctl 1 device add "$T/plain.img" 2>&1) && fail "added an unlabelled device"
echo "$out" | grep -q "no sanfs label" || fail "unlabelled device: $out"

# A node that does not acknowledge is reported (it is not fenced: 20 s).
kill -STOP "${PID[3]}"
t0=$SECONDS
out=$(ctl 1 device remove data0 2>&1) || fail "device remove: $out"
kill -CONT "${PID[3]}"
echo "$out" | grep -q "did not acknowledge in time: 3" || fail "node 3 not reported: $out"
[ $((SECONDS - t0)) -ge 4 ] || fail "returned before the ack time-out"
wait_for 5 bash -c "! $SANCTL --state $T/n3 device list | grep -q '^data0 '" || fail "node 3 still lists data0 after SIGCONT"
out=$(ctl 1 device remove data0 2>&1) && fail "removed an unknown label"
echo PASS
