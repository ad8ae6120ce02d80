#!/usr/bin/env bash
# The DLM inside sanfsd (issue 4) on the namespaced harness, three nodes:
#  (a) an EX lock on node 1 blocks a PR request from node 2 until released;
#      a try-lock is refused with EAGAIN; a POSIX record lock on one node
#      blocks the other; bad requests get EINVAL;
#  (c) garbage bytes and a half-open connection on a DLM port crash nothing
#      and the node keeps serving locks; a peer with the key that sends
#      malformed messages is dropped;
#  fence: `sanctl node fence 3` releases node 3's lock for node 2 at once;
#      node 3's lockspace freezes and comes back empty after unfence;
#  (b) tests/cluster/lock_stress: client threads on every node take random
#      resources, modes and ranges; its checker proves no two conflicting
#      grants overlapped in time; then again while node 2 (a master of some
#      resources, holding a record lock node 3 waits for) is killed -9: the
#      survivors go on, its grants end at its death, and node 3 gets the
#      record lock once node 2 is fenced;
#  (b3) the stress again through repeated kill -9 of random nodes (the ADM
#      first), each restarted as a new incarnation before the next kill.
set -uo pipefail
SANCTL=${SANCTL:?}
SANFSD=${SANFSD:?}
LOCK_STRESS=${LOCK_STRESS:?}
[ -x "$SANFSD" ] || { echo "SKIP: sanfsd not built"; exit 77; }
. "$(dirname "$0")/../harness/harness.sh"
hn_require_root || exit 77
hn_cleanup_stale
hn_setup 3
# The distribution's python starts in 0.1 s; a pyenv shim first in PATH
# takes over a second per call, and this test makes dozens.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The holders and stress clients started here are not harness processes.
hn_before_teardown() { local j; for j in $(jobs -p); do kill -9 "$j" 2>/dev/null; done; }
t0=$SECONDS
fail() {
	echo "FAIL: $*"
	for i in 1 2 3; do echo "== node $i"; grep -v DEBUG "$(hn_log "$i")" | tail -25; done
	exit 1
}
st() { echo "$(hn_dir "$1")/state"; }
sock() { echo "$(st "$1")/sanfsd.sock"; }
ctl() { local n=$1; shift; "$SANCTL" --state "$(st "$n")" "$@"; }
js() { # N EXPR over d = status --json
	ctl "$1" status --json 2>/dev/null | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}
lk() { # N EXPR over d = locks --json
	ctl "$1" locks --json 2>/dev/null | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}
is_eq() { [ "$("${@:2}")" = "$1" ]; }
addr() { echo "$(hn_ip "$1"):7400"; }
call() { # N JSON: one request on a new admin connection, prints the reply
	"$PY" - "$(sock "$1")" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())
PY
}
ts_of() { awk -v w="$1" '$1 == w { print $2; exit }' "$2"; }
has() { grep -q "^$1 " "$2" 2>/dev/null; }

"$SANCTL" bootstrap --state "$(st 1)" --id 1 --address "$(addr 1)" >"$HN_RUN/token" 2>/dev/null || fail bootstrap
hn_start 1 "$SANFSD" --state "$(st 1)" --foreground --verbose
hn_wait_for 10 is_eq 1 js 1 'd["adm"]' || fail "node 1 not ADM"
for i in 2 3; do
	"$SANCTL" join --state "$(st "$i")" --id "$i" --address "$(addr "$i")" --token - <"$HN_RUN/token" >/dev/null || fail "join $i"
	hn_start "$i" "$SANFSD" --state "$(st "$i")" --foreground --verbose
done
for i in 2 3; do
	hn_wait_for 30 is_eq active js 1 "[m['state'] for m in d['members'] if m['id']==$i][0]" || fail "node $i not active"
done
settled() { # every node runs the same epoch with three members, not recovering
	local e
	e=$(lk 1 'd["stats"]["epoch"]') || return 1
	for i in 1 2 3; do
		[ "$(lk "$i" 'd["ready"] and not d["stats"]["recovering"]')" = True ] || return 1
		[ "$(lk "$i" 'd["stats"]["epoch"]')" = "$e" ] || return 1
	done
}
hn_wait_for 15 settled || fail "the lockspaces did not settle on one epoch"
echo "cluster up, lockspaces settled in $((SECONDS - t0)) s"

# ---- (a) blocking ----
A=$HN_RUN/a
mkdir -p "$A"
"$LOCK_STRESS" hold "$(sock 1)" '{"op":"lock.lock","id":7,"mode":"EX"}' "$A/h1" "$A/rel1" &
hn_wait_for 5 has granted "$A/h1" || fail "EX on node 1 not granted: $(cat "$A/h1" 2>/dev/null)"
"$LOCK_STRESS" hold "$(sock 2)" '{"op":"lock.lock","id":7,"mode":"PR","timeout_ms":20000}' "$A/h2" "$A/rel2" &
h2=$!
sleep 1
has granted "$A/h2" && fail "node 2 got PR while node 1 holds EX"
# The waiter is visible at the resource's master.
m=$(lk 1 '[l["master"] for l in d["locks"] if l["id"]==7][0]')
ctl "$m" locks | grep -q "waiting" || fail "sanctl locks on master n$m shows no waiter: $(ctl "$m" locks)"
ctl "$m" locks | grep -q " EX .*granted" || fail "sanctl locks on master n$m shows no EX holder"
r=$(call 3 '{"op":"lock.lock","id":7,"mode":"CR","wait":false}')
echo "$r" | grep -q '"errno":"EAGAIN"' || fail "try-lock on node 3 not refused: $r"
touch "$A/rel1"
hn_wait_for 5 has granted "$A/h2" || fail "node 2 not granted after node 1 released"
[ "$(ts_of granted "$A/h2")" -gt "$(ts_of releasing "$A/h1")" ] || fail "node 2 granted before node 1 released"
touch "$A/rel2"
wait "$h2" || fail "node 2's holder failed: $(cat "$A/h2")"
# Ranges: disjoint EX ranges coexist, overlapping ones do not.
"$LOCK_STRESS" hold "$(sock 1)" '{"op":"lock.lock","id":8,"mode":"EX","start":0,"end":99}' "$A/h3" "$A/rel3" &
hn_wait_for 5 has granted "$A/h3" || fail "range lock not granted"
r=$(call 2 '{"op":"lock.lock","id":8,"mode":"EX","start":100,"end":199,"wait":false}')
echo "$r" | grep -q '"ok":true' || fail "a disjoint range was refused: $r"
r=$(call 2 '{"op":"lock.lock","id":8,"mode":"EX","start":99,"end":199,"wait":false}')
echo "$r" | grep -q '"errno":"EAGAIN"' || fail "an overlapping range was granted: $r"
touch "$A/rel3"
# Validation: one-line EINVAL.
for bad in '{"op":"lock.lock","id":1,"mode":"XX"}' '{"op":"lock.lock","id":1,"mode":"EX","start":9,"end":3}' \
	'{"op":"lock.plock","ino":1,"owner":1,"type":"zz"}' '{"op":"lock.lock","mode":"EX"}' \
	'{"op":"lock.lock","id":1,"mode":"EX","colour":1}' '{"op":"lock.unlock","lkid":12345}' \
	'{"op":"lock.frobnicate"}'; do
	r=$(call 2 "$bad")
	echo "$r" | grep -q '"ok":false' || fail "accepted: $bad -> $r"
done
r=$(call 2 '{"op":"lock.lock","id":1,"mode":"EX","start":9,"end":3}')
echo "$r" | grep -q '"code":"invalid".*inverted range.*"errno":"EINVAL"' || fail "inverted range: $r"
# POSIX record locks: a write lock on node 1 blocks node 2.
"$LOCK_STRESS" hold "$(sock 1)" '{"op":"lock.plock","ino":9,"owner":1,"pid":41,"type":"wr","start":0,"end":9}' "$A/p1" "$A/prel1" &
hn_wait_for 5 has granted "$A/p1" || fail "plock on node 1 not granted: $(cat "$A/p1" 2>/dev/null)"
r=$(call 2 '{"op":"lock.plock","ino":9,"owner":1,"type":"rd","start":5,"end":5,"wait":false}')
echo "$r" | grep -q '"errno":"EAGAIN"' || fail "conflicting plock on node 2 not refused: $r"
r=$(call 2 '{"op":"lock.plockget","ino":9,"owner":1,"type":"wr","start":0,"end":100}')
echo "$r" | grep -q '"node":1,"pid":41' || fail "plockget does not name node 1: $r"
r=$(call 2 '{"op":"lock.plock","ino":9,"owner":1,"type":"wr","start":10,"end":20,"wait":false}')
echo "$r" | grep -q '"ok":true' || fail "a disjoint plock was refused: $r"
"$LOCK_STRESS" hold "$(sock 2)" '{"op":"lock.plock","ino":9,"owner":2,"type":"wr","timeout_ms":20000}' "$A/p2" "$A/prel2" &
p2=$!
sleep 0.5
has granted "$A/p2" && fail "node 2 got the record lock while node 1 holds it"
touch "$A/prel1"
hn_wait_for 5 has granted "$A/p2" || fail "node 2's record lock not granted after release"
touch "$A/prel2"
wait "$p2" || fail "record lock holder on node 2 failed"
echo "(a) blocking, ranges, validation, record locks: ok ($((SECONDS - t0)) s)"

# ---- (c) garbage and a half-open connection on node 2's DLM port ----
pid2=$(hn_pids 2 | head -1)
hn_exec 1 "$PY" - "$(hn_ip 2)" <<'PY' || fail "garbage client failed"
import os, socket, sys, time
host = sys.argv[1]
for payload in [os.urandom(4096), b"SNA1" + os.urandom(200), b"\n" * 100, b"GET / HTTP/1.0\r\n\r\n"]:
    s = socket.create_connection((host, 7402)); s.sendall(payload); s.settimeout(0.3)
    try: s.recv(100)
    except OSError: pass
    s.close()
half = socket.create_connection((host, 7402)); half.sendall(b"SNA1")  # then silence
idle = socket.create_connection((host, 7402))                          # never a byte
time.sleep(3.5)   # past the handshake time-out (3 s): both are closed by sanfsd
for s in (half, idle):
    s.settimeout(2)
    try:
        data = s.recv(100)
    except OSError:
        data = b""
    s.close()
PY
# A peer with the cluster key (posing as node 3, so it replaces node 3's
# real connection) that sends malformed DLM messages: node 2 drops it, node
# 3 reconnects and the lockspaces recover again.
hn_exec 1 "$PY" - "$(hn_ip 2)" "$(cat "$(st 1)/cluster.key")" <<'PY' || fail "authenticated garbage client failed"
import hashlib, hmac, os, socket, struct, sys
host, text = sys.argv[1], sys.argv[2].strip()
raw = bytes.fromhex(text[len("sanfs1-"):])
cid, key = raw[:16], raw[16:]
def mac(tag, client, server, nc, ns):
    m = tag + cid + struct.pack("<QQ", client, server) + nc + ns + b"\0" * 64
    return hmac.new(key, m, hashlib.sha512).digest()[:32]
s = socket.create_connection((host, 7402)); s.settimeout(5)
def recvn(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit("closed during the handshake")
        b += c
    return b
nc = os.urandom(32)
s.sendall(b"SNA1" + cid + struct.pack("<Q", 3) + nc + b"\0" * 64)
chal = recvn(76)
server, = struct.unpack("<Q", chal[4:12]); ns = chal[12:44]
assert chal[:4] == b"SNA2" and hmac.compare_digest(chal[44:76], mac(b"S", 3, server, nc, ns))
s.sendall(b"SNA3" + mac(b"C", 3, server, nc, ns))
assert recvn(4) == b"SNA4"
s.sendall(os.urandom(88 * 4))
try:
    while s.recv(4096): pass
except OSError: pass
PY
grep -q "malformed message from n3: disconnecting" "$(hn_log 2)" || fail "node 2 did not drop the authenticated garbage"
kill -0 "$pid2" 2>/dev/null || fail "node 2 died on garbage"
hn_wait_for 10 settled || fail "the lockspaces did not recover after the garbage peer"
grep -q "incoming DLM connection: handshake failed" "$(hn_log 2)" || fail "node 2 did not log the refused handshakes"
r=$(call 2 '{"op":"lock.lock","id":20,"mode":"EX","wait":false}')
echo "$r" | grep -q '"ok":true' || fail "node 2 does not serve locks after garbage: $r"
"$LOCK_STRESS" hold "$(sock 1)" '{"op":"lock.lock","id":21,"mode":"EX"}' "$A/g1" "$A/grel1" &
hn_wait_for 5 has granted "$A/g1" || fail "lock on node 1 after garbage"
r=$(call 2 '{"op":"lock.lock","id":21,"mode":"PR","wait":false}')
echo "$r" | grep -q '"errno":"EAGAIN"' || fail "node 2 does not see node 1's lock after garbage: $r"
touch "$A/grel1"
settled || fail "lockspaces unsettled after garbage"
echo "(c) garbage and half-open connections: ok ($((SECONDS - t0)) s)"

# ---- fence: `sanctl node fence 3` releases node 3's EX at once (the fence
# entry commits, then every node recovers it); node 3's lockspace freezes,
# and after unfence it rejoins with an empty one ----
"$LOCK_STRESS" hold "$(sock 3)" '{"op":"lock.lock","id":40,"mode":"EX"}' "$A/f3" "$A/frel3" &
hn_wait_for 5 has granted "$A/f3" || fail "EX on node 3 not granted"
"$LOCK_STRESS" hold "$(sock 2)" '{"op":"lock.lock","id":40,"mode":"EX","timeout_ms":20000}' "$A/f2" "$A/frel2" &
f2=$!
sleep 0.5
has granted "$A/f2" && fail "node 2 got EX while node 3 holds it"
ctl 1 node fence 3 >/dev/null || fail "fence 3"
hn_wait_for 5 has granted "$A/f2" || fail "node 2 not granted after node 3 was fenced"
[ "$(lk 3 'd["ready"]')" = False ] || fail "fenced node 3 still serves locks"
r=$(call 3 '{"op":"lock.lock","id":41,"mode":"EX","wait":false}')
echo "$r" | grep -q '"errno":"ENOTCONN"' || fail "fenced node 3 answered a lock: $r"
touch "$A/frel2" "$A/frel3"
wait "$f2" || fail "node 2's holder failed"
ctl 1 node unfence 3 >/dev/null || fail "unfence 3"
hn_wait_for 15 settled || fail "node 3 did not rejoin the DLM after unfence"
[ "$(lk 3 'd["stats"]["owned"]')" = 0 ] || fail "node 3 rejoined with its old locks"
echo "fence and unfence: ok ($((SECONDS - t0)) s)"

# ---- (b) stress, then stress with kill -9 of node 2 ----
SEED=${SEED:-$RANDOM}
socks="$(sock 1),$(sock 2),$(sock 3)"
mkdir -p "$HN_RUN/stress1" "$HN_RUN/stress2"
"$LOCK_STRESS" stress --socks "$socks" --nodes 1,2,3 --threads 4 --secs "${STRESS_SECS:-20}" \
	--logdir "$HN_RUN/stress1" --seed "$SEED" || fail "stress (seed $SEED)"
# The checker catches a violation: add a forged EX grant on node 2 inside
# the time of a real grant of node 1 on the same resource.
"$PY" - "$HN_RUN/stress1" <<'PY' || fail "cannot forge a conflicting grant"
import sys
d = sys.argv[1]
for line in open(d + "/n1.t0.log"):
    f = line.split()
    if f[0] == "G" and f[5] != "0":  # not NL: conflicts with EX
        g = int(f[1]); res = f[4]; break
with open(d + "/n2.t0.log", "a") as o:
    o.write("G %d 2 999 %s 5 0 -1\nR %d 2 999\n" % (g + 1, res, g + 2))
PY
"$LOCK_STRESS" stress --check-only --socks "$socks" --nodes 1,2,3 --threads 4 --logdir "$HN_RUN/stress1" \
	>/dev/null 2>&1 && fail "the checker missed a forged conflicting grant"
echo "(b1) stress: ok ($((SECONDS - t0)) s)"

# Node 2 (it masters resources 4, 6 and 11 of the stress) holds a record
# lock that node 3 waits for, then dies.
"$LOCK_STRESS" hold "$(sock 2)" '{"op":"lock.plock","ino":30,"owner":1,"type":"wr"}' "$A/k2" "$A/never" &
hn_wait_for 5 has granted "$A/k2" || fail "record lock on node 2 not granted"
"$LOCK_STRESS" hold "$(sock 3)" '{"op":"lock.plock","ino":30,"owner":1,"type":"wr","timeout_ms":30000}' "$A/k3" "$A/krel3" &
k3=$!
"$LOCK_STRESS" stress --socks "$socks" --nodes 1,2,3 --threads 4 --secs "${KILL_SECS:-20}" --min-grants 50 \
	--logdir "$HN_RUN/stress2" --seed "$((SEED + 1))" --death-file "$HN_RUN/death" >"$HN_RUN/stress2.out" 2>&1 &
sp=$!
masters_some() { mastered=$(lk 2 'd["stats"]["mastered_resources"]'); [ "${mastered:-0}" -gt 0 ]; }
sleep 8
has granted "$A/k3" && fail "node 3 got the record lock while node 2 holds it"
hn_wait_for 3 masters_some || fail "node 2 masters no resource before its kill"
hn_kill 2
echo "2 $(date +%s%N)" >"$HN_RUN/death"
hn_wait_for 10 is_eq fenced js 1 "[m['state'] for m in d['members'] if m['id']==2][0]" || fail "node 2 not fenced"
fenced_at=$(date +%s%N)
hn_wait_for 10 has granted "$A/k3" || fail "node 3 never got the dead node's record lock"
[ "$(ts_of granted "$A/k3")" -gt "$(cut -d' ' -f2 "$HN_RUN/death")" ] || fail "record lock granted before the death"
touch "$A/krel3"
wait "$k3" || fail "record lock holder on node 3 failed"
wait "$sp"
rc=$?
cat "$HN_RUN/stress2.out"
[ $rc = 0 ] || fail "stress with kill -9 (seed $((SEED + 1)))"
echo "n2 mastered $mastered resources when killed; fenced after $(( (fenced_at - $(cut -d' ' -f2 "$HN_RUN/death")) / 1000000 )) ms"
for i in 1 3; do
	grep -q "n2 fenced: its locks are released" "$(hn_log "$i")" || fail "node $i did not release n2's locks"
	[ "$(lk "$i" 'd["stats"]["dead_pending"]')" = 0 ] || fail "node $i still holds n2's locks"
done
echo "(b2) stress with kill -9: ok ($((SECONDS - t0)) s)"

# ---- (b3) stress through repeated kill -9 of random nodes ----
# Node 2 comes back (unfence, restart: a new incarnation). Then, while the
# stress runs, KILL_ROUNDS times: a node chosen at random (the first round
# kills the ADM, the Raft leader) is killed -9 while it masters resources;
# a survivor sees it fenced; it is unfenced and restarted and every
# lockspace settles before the next round. The checker proves exclusion
# over the whole run, that the survivors kept getting grants after each
# death and that every killed node served locks again after its restart.
alive_ctl() { # a node other than $1 that answers status
	local i
	for i in 1 2 3; do
		[ "$i" = "$1" ] && continue
		js "$i" 'd["adm"]' >/dev/null && { echo "$i"; return 0; }
	done
	return 1
}
member_is() { # OBSERVER NODE STATE
	is_eq "$3" js "$1" "[m['state'] for m in d['members'] if m['id']==$2][0]"
}
ctl 1 node unfence 2 >/dev/null || fail "unfence 2"
hn_start 2 "$SANFSD" --state "$(st 2)" --foreground --verbose
hn_wait_for 20 settled || fail "node 2 did not rejoin after unfence and restart"
RANDOM=$SEED
B3=$HN_RUN/stress3
mkdir -p "$B3"
: >"$HN_RUN/deaths3"
"$LOCK_STRESS" stress --socks "$socks" --nodes 1,2,3 --threads 3 --secs 600 --min-grants 20 \
	--logdir "$B3" --seed "$((SEED + 2))" --death-file "$HN_RUN/deaths3" \
	--stop-file "$HN_RUN/stop3" --rejoin >"$HN_RUN/stress3.out" 2>&1 &
sp=$!
for ((round = 1; round <= ${KILL_ROUNDS:-4}; round++)); do
	sleep "$((2 + RANDOM % 3))"
	if [ "$round" = 1 ]; then
		v=$(js 1 'd["adm"]')
	else
		v=$((1 + RANDOM % 3))
	fi
	m=$(lk "$v" 'd["stats"]["mastered_resources"]')
	adm=$(js "$v" 'd["adm"]')
	hn_kill "$v"
	echo "$v $(date +%s%N)" >>"$HN_RUN/deaths3"
	k=$SECONDS
	o=$(alive_ctl "$v") || fail "round $round: no survivor answers"
	hn_wait_for 10 member_is "$o" "$v" fenced || fail "round $round: n$v not fenced"
	echo "round $round: killed n$v (mastering ${m:-?} resources$([ "$adm" = "$v" ] && echo ", the ADM")), fenced within $((SECONDS - k)) s"
	kill -0 "$sp" 2>/dev/null || fail "round $round: the stress ended early: $(cat "$HN_RUN/stress3.out")"
	ctl "$o" node unfence "$v" >/dev/null || fail "round $round: unfence n$v"
	hn_start "$v" "$SANFSD" --state "$(st "$v")" --foreground --verbose
	hn_wait_for 20 settled || fail "round $round: lockspaces did not settle after n$v came back"
done
sleep 4
touch "$HN_RUN/stop3"
wait "$sp"
rc=$?
cat "$HN_RUN/stress3.out"
[ $rc = 0 ] || fail "stress through repeated kill -9 (seed $((SEED + 2)))"
echo "(b3) stress through ${KILL_ROUNDS:-4} kills: ok ($((SECONDS - t0)) s)"
echo PASS
