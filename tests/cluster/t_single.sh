#!/usr/bin/env bash
# One node: argument validation, status, CCD round trip (format, add, wildcard
# query, remove, verify, checkpoint, restore), a sync command that times out
# (the update fails and nothing is applied), the init database read with no
# sanfsd, and garbage on the Raft, control and admin ports.
. "$(dirname "$0")/lib.sh"

# Argument validation: one line, non-zero exit.
for args in "--id 0 --address 127.0.0.1:1" "--id 1 --address 1.2.3:4" "--id x --address 1.2.3.4:5" \
	"--id 1 --address 1.2.3.4:99999"; do
	out=$("$SANCTL" bootstrap --state "$T/bad" $args 2>&1) && fail "bootstrap accepted $args"
	[ "$(echo "$out" | wc -l)" = 1 ] || fail "not one line: $out"
done
out=$("$SANCTL" join --state "$T/bad" --id 2 --address 127.0.0.1:9 --token SANFS1-AAAA 2>&1) && fail "bad token accepted"
[ -e "$T/bad/node.conf" ] && fail "a failed command left a state directory"

bootstrap 1
gen0=$(field 1 generation)

# sanfsd refuses, with one line: a second daemon on the same state directory,
# an address in use, a missing key, a state directory of another cluster.
out=$("$SANFSD" --state "$T/n1" --foreground 2>&1) && fail "second sanfsd on one state dir"
echo "$out" | grep -q "another sanfsd" || fail "second sanfsd: $out"
"$SANCTL" bootstrap --state "$T/n9" --id 9 --address "$(addr 1)" >/dev/null 2>&1 || fail "bootstrap n9"
out=$("$SANFSD" --state "$T/n9" --foreground 2>&1) && fail "sanfsd started on an address in use"
echo "$out" | grep -q "cannot listen on $(addr 1)" || fail "port in use: $out"
sed -i "s/^address = .*/address = $(addr 9)/" "$T/n9/node.conf"
mv "$T/n9/cluster.key" "$T/n9/key.bak"
out=$("$SANFSD" --state "$T/n9" --foreground 2>&1) && fail "sanfsd started without its key"
echo "$out" | grep -q "cluster key" || fail "missing key: $out"
mv "$T/n9/key.bak" "$T/n9/cluster.key"
echo 0123456789abcdef0123456789abcdef >"$T/n9/cluster.id"
out=$("$SANFSD" --state "$T/n9" --foreground 2>&1) && fail "sanfsd started on another cluster's state dir"
echo "$out" | grep -q "belongs to cluster" || fail "other cluster: $out"
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	shm=$(mktemp -d /dev/shm/sanfs-XXXXXX)
	"$SANCTL" bootstrap --state "$shm/s" --id 9 --address "$(addr 8)" >/dev/null 2>&1
	out=$("$SANFSD" --state "$shm/s" --foreground 2>&1)
	rc=$?
	rm -rf "$shm"
	[ $rc != 0 ] || fail "sanfsd started on tmpfs"
	echo "$out" | grep -q tmpfs || fail "tmpfs not named: $out"
fi
for o in "$out"; do [ "$(echo "$o" | wc -l)" = 1 ] || fail "not one line: $o"; done
[ "$gen0" -ge 1 ] || fail "generation $gen0 after takeover"

ctl 1 config format hosts name:ip:port || fail "format"
ctl 1 config add hosts a:10.0.0.1:80 || fail "add a"
ctl 1 config add hosts b:10.0.0.2:80 || fail "add b"
ctl 1 config add hosts b:10.0.0.2 2>/dev/null && fail "row with a wrong column count accepted"
[ "$(ctl 1 config query hosts '*:*:80' | wc -l)" = 2 ] || fail "wildcard query"
[ "$(ctl 1 config query hosts 'a*')" = "a:10.0.0.1:80" ] || fail "prefix query"
ctl 1 config checkpoint "$T/ck" >/dev/null || fail "checkpoint"
grep -q '^@checksum' "$T/ck" || fail "checkpoint without a consistency record"
ctl 1 config remove hosts a:10.0.0.1:80 || fail "remove"
[ "$(ctl 1 config query hosts)" = "b:10.0.0.2:80" ] || fail "remove did not remove"
ctl 1 config restore "$T/ck" || fail "restore"
[ "$(ctl 1 config query hosts | wc -l)" = 2 ] || fail "restore did not restore"
ctl 1 config verify | grep -q restored || fail "verify does not show the restored flag"

# A sync command that hangs: the update fails after the time-out, nothing applied.
mkdir -p "$T/n1/ccd-sync.d"
printf '#!/bin/sh\n[ "$1" = pre ] && sleep 30\nexit 0\n' >"$T/n1/ccd-sync.d/10hang"
chmod +x "$T/n1/ccd-sync.d/10hang"
start_s=$SECONDS
out=$(ctl 1 config add hosts c:10.0.0.3:80 2>&1) && fail "update succeeded despite a hanging sync command"
echo "$out" | grep -q "timed out" || fail "no time-out reason: $out"
[ $((SECONDS - start_s)) -lt 15 ] || fail "time-out took too long"
ctl 1 config query hosts 'c*' | grep -q . && fail "half-applied update"
# A failing one too, and one that succeeds and sees its arguments.
printf '#!/bin/sh\necho "$@" >>%s/sync.log\nexit 0\n' "$T" >"$T/n1/ccd-sync.d/10hang"
ctl 1 config add hosts d:10.0.0.4:80 || fail "update with a good sync command"
grep -q "^pre add hosts d:10.0.0.4:80" "$T/sync.log" || fail "pre not run"
grep -q "^post add hosts d:10.0.0.4:80" "$T/sync.log" || fail "post not run"
rm -rf "$T/n1/ccd-sync.d"

# Garbage on every port crashes nothing.
python3 - "$BASE" "$T/n1/sanfsd.sock" <<'PY'
import os, socket, sys
base, sock = int(sys.argv[1]), sys.argv[2]
for port in (base + 10, base + 11):
    for payload in (os.urandom(70000), b"SNA1" + os.urandom(100), b""):
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        try:
            s.sendall(payload)
        except OSError:
            pass
        s.close()
    half = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    for h in half:
        h.close()
for payload in (os.urandom(5000) + b"\n", b"{" * 300000):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    try:
        s.sendall(payload)
    except OSError:
        pass
    s.close()
PY
sleep 0.5
kill -0 "${PID[1]}" || fail "sanfsd died from garbage"
[ "$(field 1 adm)" = 1 ] || fail "status after garbage"

# Restart: state intact; the init database is readable with sanfsd down.
stop 1
printf 'site_fmt name:value\nsite dc:paris\n' >"$T/n1/ccd.init"
[ "$(ctl 1 config query site 2>/dev/null)" = "site dc:paris" ] ||
	[ "$(ctl 1 config query site 2>/dev/null)" = "dc:paris" ] || fail "init database query"
start 1
wait_for 10 is_eq 1 field 1 adm || fail "no ADM after restart"
[ "$(ctl 1 config query hosts | wc -l)" = 3 ] || fail "config lost across restart"
[ "$(field 1 generation)" -gt "$gen0" ] || fail "generation did not grow across restart"
echo PASS
