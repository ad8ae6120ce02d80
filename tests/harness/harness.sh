# shellcheck shell=bash
# sanfs multi-node test harness (DESIGN §7, issue 3 point 4). Source it from a
# bash test run as root:
#
#   . "$(dirname "$0")/../harness/harness.sh"
#   hn_require_root || exit 77
#   hn_cleanup_stale
#   hn_setup 3 --mount-ns        # installs hn_teardown on EXIT/INT/TERM
#   dev=$(hn_loop_create 256M)
#   hn_start 1 sanfsd --state "$(hn_dir 1)/state" --foreground
#   hn_wait_for 10 hn_exec 1 test -S "$(hn_dir 1)/state/sanfsd.sock"
#
# The full interface is in tests/harness/README.md. Every name the harness
# creates carries the run id (HN_RUN_ID), so parallel runs and leftovers of
# interrupted ones are told apart:
#   network namespaces  snh-RUN-hub (holds the bridge br0), snh-RUN-nI (node I)
#   run directory       /var/tmp/sanfs-harness/RUN/ (ext4: O_DIRECT and AIO work)
# The bridge and every veth live inside the run's own namespaces (the hub
# holds br0 and the host ends vI; node I holds eth0 = 10.213.0.I/24), so
# the host's network namespace, addresses and firewall are never touched and
# deleting the namespaces removes every link.

HN_BASE=${HN_BASE:-/var/tmp/sanfs-harness}
HN_SUBNET=10.213.0
HN_RUN_ID=
HN_RUN=
HN_NODES=0
HN_MOUNT_NS=0
HN_TORN_DOWN=0

hn__log() { echo "harness: $*" >&2; }
hn__die() {
	echo "harness: error: $*" >&2
	return 1
}

# 0 when root and the tools the harness needs are present; else prints why.
hn_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: the multi-node harness needs root (network namespaces, loop devices)"
		return 1
	fi
	local t
	for t in ip nsenter unshare losetup setsid; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "SKIP: $t not installed"
			return 1
		fi
	done
	if ! ip netns list >/dev/null 2>&1 || ! unshare -n -m true 2>/dev/null; then
		echo "SKIP: network or mount namespaces not available (no CAP_SYS_ADMIN?)"
		return 1
	fi
	return 0
}

# 0 when loop devices can be attached here; else prints why.
hn_require_loop() {
	if [ ! -e /dev/loop-control ]; then
		echo "SKIP: no loop devices (/dev/loop-control missing)"
		return 1
	fi
	return 0
}

hn_ns() { echo "snh-$HN_RUN_ID-n$1"; }
hn_hub() { echo "snh-$HN_RUN_ID-hub"; }
hn_ip() { echo "$HN_SUBNET.$1"; }
hn_dir() { echo "$HN_RUN/n$1"; }
hn_log() { echo "$HN_RUN/n$1/node.log"; }

hn__check_node() {
	[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$HN_NODES" ] ||
		hn__die "no node '$1' (nodes 1..$HN_NODES)"
}

# Start time of a process in clock ticks (field 22 of /proc/PID/stat), to
# tell a live owner from a recycled pid.
hn__starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "${20}"
}

# hn_setup N [--mount-ns]: N nodes (1..64) in network namespaces on a bridge;
# with --mount-ns each node also gets its own persistent mount namespace
# (propagation slave: host mounts show in the node, the node's mounts stay
# in the node). Creates the run directory and installs the teardown trap.
hn_setup() {
	local n=$1 opt=${2:-}
	[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 64 ] ||
		{ hn__die "hn_setup: node count must be 1..64, got '$n'"; return 1; }
	case "$opt" in
	"") ;;
	--mount-ns) HN_MOUNT_NS=1 ;;
	*) hn__die "hn_setup: unknown option '$opt'"; return 1 ;;
	esac
	[ -z "$HN_RUN_ID" ] || { hn__die "hn_setup: already set up (run $HN_RUN_ID)"; return 1; }
	mkdir -p "$HN_BASE"
	local id
	while :; do
		id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
		mkdir "$HN_BASE/$id" 2>/dev/null && break
	done
	HN_RUN_ID=$id
	HN_RUN=$HN_BASE/$id
	HN_NODES=$n
	HN_TORN_DOWN=0
	export HN_RUN_ID HN_RUN
	echo "$$ $(hn__starttime $$)" >"$HN_RUN/owner"
	: >"$HN_RUN/procs"
	: >"$HN_RUN/loops"
	: >"$HN_RUN/mounts"
	echo "$n" >"$HN_RUN/nodes"
	trap 'hn__on_exit' EXIT
	trap 'hn__on_signal INT 130' INT
	trap 'hn__on_signal TERM 143' TERM

	local hub i ns
	hub=$(hn_hub)
	ip netns add "$hub" || { hn__die "cannot create namespace $hub"; return 1; }
	echo "$hub" >>"$HN_RUN/netns"
	ip -n "$hub" link set lo up
	ip -n "$hub" link add br0 type bridge || { hn__die "cannot create bridge"; return 1; }
	ip -n "$hub" link set br0 up
	for ((i = 1; i <= n; i++)); do
		ns=$(hn_ns "$i")
		mkdir -p "$(hn_dir "$i")"
		: >"$(hn_log "$i")"
		ip netns add "$ns" || { hn__die "cannot create namespace $ns"; return 1; }
		echo "$ns" >>"$HN_RUN/netns"
		ip -n "$ns" link set lo up
		ip -n "$hub" link add "v$i" type veth peer name eth0 netns "$ns" ||
			{ hn__die "cannot create veth for node $i"; return 1; }
		ip -n "$hub" link set "v$i" master br0 up
		ip -n "$ns" addr add "$(hn_ip "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
	if [ "$HN_MOUNT_NS" = 1 ]; then
		# A mount namespace persists while bound to a file; the file must sit
		# on a private mount, or the bind would propagate and fail.
		mkdir -p "$HN_RUN/mntns"
		mount --bind "$HN_RUN/mntns" "$HN_RUN/mntns" &&
			mount --make-private "$HN_RUN/mntns" ||
			{ hn__die "cannot prepare $HN_RUN/mntns"; return 1; }
		for ((i = 1; i <= n; i++)); do
			touch "$HN_RUN/mntns/n$i"
			unshare --mount="$HN_RUN/mntns/n$i" --propagation slave true ||
				{ hn__die "cannot create mount namespace for node $i"; return 1; }
		done
	fi
	hn__log "run $HN_RUN_ID: $n node(s) at $HN_SUBNET.1-$n, files in $HN_RUN"
}

# nsenter arguments that put a command into node I's namespaces.
hn__enter() {
	local args=(--net="/run/netns/$(hn_ns "$1")")
	[ "$HN_MOUNT_NS" = 1 ] && args+=(--mount="$HN_RUN/mntns/n$1")
	printf '%s\n' "${args[@]}"
}

# hn_exec I CMD...: run CMD in node I (its network namespace and, with
# --mount-ns, its mount namespace), in the foreground; returns its status.
# CMD sees HN_NODE=I, HN_RUN_ID, HN_RUN and HN_DIR (the node's directory).
hn_exec() {
	hn__check_node "$1" || return 1
	local i=$1
	shift
	local enter
	mapfile -t enter < <(hn__enter "$i")
	nsenter "${enter[@]}" -- env HN_NODE="$i" HN_RUN_ID="$HN_RUN_ID" HN_RUN="$HN_RUN" \
		HN_DIR="$(hn_dir "$i")" "$@"
}

# hn_start I CMD...: start CMD in node I in the background, in a process
# group of its own, output appended to $(hn_log I). Records the pid; prints
# nothing; sets HN_LAST_PID.
hn_start() {
	hn__check_node "$1" || return 1
	local i=$1
	shift
	local enter log
	mapfile -t enter < <(hn__enter "$i")
	log=$(hn_log "$i")
	echo "== $(date -u +%FT%T.%3NZ) start: $*" >>"$log"
	# setsid: the job is no group leader (no job control here), so setsid
	# does not fork and $! is the command's own pid and process group.
	setsid nsenter "${enter[@]}" -- env HN_NODE="$i" HN_RUN_ID="$HN_RUN_ID" \
		HN_RUN="$HN_RUN" HN_DIR="$(hn_dir "$i")" "$@" >>"$log" 2>&1 </dev/null &
	HN_LAST_PID=$!
	# Not a job of this shell: no "Killed" notices; bash still reaps it.
	disown "$HN_LAST_PID" 2>/dev/null
	echo "$i $HN_LAST_PID" >>"$HN_RUN/procs"
}

# hn_pids I: pids started by hn_start on node I that are still alive.
hn_pids() {
	local i p
	while read -r i p; do
		[ "$i" = "$1" ] && hn__alive "$p" && echo "$p"
	done <"$HN_RUN/procs"
	return 0
}

# A recorded pid is ours when it is alive and carries our run id (guards
# against pid reuse after the process died).
hn__alive() {
	[ -r "/proc/$1/environ" ] &&
		tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qx "HN_RUN_ID=$HN_RUN_ID"
}

hn__signal_node() { # I SIGNAL
	hn__check_node "$1" || return 1
	local p any=1
	for p in $(hn_pids "$1"); do
		kill -s "$2" -- "-$p" 2>/dev/null || kill -s "$2" "$p" 2>/dev/null
		any=0
	done
	[ $any = 0 ] || hn__log "node $1: no process to send $2 to"
	return $any
}

# hn_kill I: kill -9 every process started on node I (whole process groups)
# and reap them, so they are gone from /proc when it returns.
hn_kill() {
	local pids
	pids=$(hn_pids "$1") || return 1
	hn__signal_node "$1" KILL || return 1
	local p t
	for p in $pids; do
		for ((t = 0; t < 1000; t++)); do
			[ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null ||
				break
			sleep 0.01
		done
		[ $t -lt 1000 ] || { hn__die "node $1: pid $p survives kill -9 (D state?)"; return 1; }
	done
	return 0
}

# hn_stop I / hn_cont I: SIGSTOP / SIGCONT node I's processes.
hn_stop() { hn__signal_node "$1" STOP; }
hn_cont() { hn__signal_node "$1" CONT; }

# hn_partition I / hn_heal I: cut node I off the bridge (link down) / back.
hn_partition() {
	hn__check_node "$1" || return 1
	ip -n "$(hn_hub)" link set "v$1" down
}
hn_heal() {
	hn__check_node "$1" || return 1
	ip -n "$(hn_hub)" link set "v$1" up
}

# hn_wait_for TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds (0) or
# TIMEOUT_S seconds pass (1, with a message naming CMD).
hn_wait_for() {
	local timeout=$1
	shift
	local end=$((SECONDS + timeout))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ $SECONDS -ge $end ]; then
			echo "hn_wait_for: timed out after ${timeout}s: $*" >&2
			return 1
		fi
		sleep 0.1
	done
}

# hn_loop_create SIZE: a sparse image of SIZE (truncate syntax: 256M, 1G) in
# the run directory and a loop device over it (direct I/O on when the kernel
# allows); prints the device path. Detached by hn_teardown.
hn_loop_create() {
	local size=$1 img dev k
	k=$(wc -l <"$HN_RUN/loops")
	img=$HN_RUN/loop$k.img
	truncate -s "$size" "$img" || { hn__die "hn_loop_create: bad size '$size'"; return 1; }
	dev=$(losetup -f --show --direct-io=on "$img" 2>/dev/null) ||
		dev=$(losetup -f --show "$img") || { hn__die "losetup failed"; return 1; }
	echo "$dev $img" >>"$HN_RUN/loops"
	echo "$dev"
}

# hn_track_mount I MOUNTPOINT: have hn_teardown unmount MOUNTPOINT in node
# I (I = 0: the host). Mounts under the run directory are found without it.
hn_track_mount() {
	echo "$1 $2" >>"$HN_RUN/mounts"
}

# Unmount, deepest first, every mount under the run directory and every
# tracked mount point, in the namespace entered by "$@" (may be empty).
hn__umount_in() {
	local run=$1 tracked=$2
	shift 2
	local mps
	mps=$("$@" cat /proc/self/mountinfo 2>/dev/null | awk '{print $5}' |
		grep -E "^$run(/|$)" | grep -v "^$run/mntns" | sort -r)
	[ -n "$tracked" ] && mps=$(printf '%s\n%s\n' "$tracked" "$mps" | sort -ru)
	local mp
	while read -r mp; do
		[ -n "$mp" ] || continue
		"$@" umount -l "$mp" 2>/dev/null || "$@" fusermount3 -uz "$mp" 2>/dev/null || true
	done <<<"$mps"
}

# Tear down the run in directory $1 (with id $2). Safe to run twice and on a
# half-built run.
hn__teardown_run() {
	# Clean-up goes on past every failure, whatever the caller's options.
	local -
	set +e +o pipefail
	local run=$1 id=$2 i p dev img ns f
	# 1. Processes: those recorded (checked to be ours) and anything left
	#    inside the run's network namespaces.
	if [ -f "$run/procs" ]; then
		while read -r i p; do
			[ -n "$p" ] || continue
			if [ -r "/proc/$p/environ" ] &&
				tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "HN_RUN_ID=$id"; then
				kill -CONT -- "-$p" 2>/dev/null
				kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
			fi
		done <"$run/procs"
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^snh-$id-"); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	local t
	for t in $(seq 50); do
		local left=0
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^snh-$id-"); do
			[ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1
		done
		[ $left = 0 ] && break
		sleep 0.1
	done
	# 2. Mounts: inside each node's mount namespace, then on the host.
	local tracked
	if [ -d "$run/mntns" ]; then
		for f in "$run"/mntns/n*; do
			[ -e "$f" ] || continue
			i=${f##*/n}
			tracked=$(awk -v n="$i" '$1 == n {print $2}' "$run/mounts" 2>/dev/null)
			hn__umount_in "$run" "$tracked" nsenter --mount="$f" --
			umount "$f" 2>/dev/null
		done
	fi
	tracked=$(awk '{print $2}' "$run/mounts" 2>/dev/null)
	hn__umount_in "$run" "$tracked"
	umount "$run/mntns" 2>/dev/null
	# 3. Loop devices: only those still backed by this run's images.
	if [ -f "$run/loops" ]; then
		while read -r dev img; do
			[ -n "$dev" ] || continue
			if losetup -n -O BACK-FILE "$dev" 2>/dev/null | grep -qF "$img"; then
				losetup -d "$dev" 2>/dev/null || hn__log "could not detach $dev"
			fi
		done <"$run/loops"
	fi
	# Any other loop device over an image of this run (attached by a test).
	losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v r="$run/" 'index($2, r) == 1 {print $1}' |
		while read -r dev; do losetup -d "$dev" 2>/dev/null; done
	# 4. Namespaces (and with them the bridge and every veth).
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^snh-$id-"); do
		ip netns delete "$ns" 2>/dev/null || hn__log "could not delete namespace $ns"
	done
	rm -f "$run"/*.img
}

# hn_teardown: kill every recorded process, unmount, detach loop devices,
# delete the namespaces (and so the bridge). Keeps the logs in the run
# directory when HN_KEEP=1 or the test failed (status given as $1), else
# removes it. Installed on EXIT/INT/TERM by hn_setup; safe to call twice.
hn_teardown() {
	local -
	set +e +o pipefail
	local status=${1:-0}
	[ -n "$HN_RUN_ID" ] && [ "$HN_TORN_DOWN" = 0 ] || return 0
	HN_TORN_DOWN=1
	if declare -F hn_before_teardown >/dev/null; then
		hn_before_teardown "$status" || true
	fi
	hn__teardown_run "$HN_RUN" "$HN_RUN_ID"
	if [ "$status" != 0 ] || [ "${HN_KEEP:-0}" = 1 ]; then
		rm -f "$HN_RUN/owner"
		hn__log "run $HN_RUN_ID torn down; logs kept in $HN_RUN"
	else
		rm -rf "$HN_RUN"
	fi
	return 0
}

hn__on_exit() {
	local rc=$?
	set +e
	hn_teardown "$rc"
	exit "$rc"
}

hn__on_signal() {
	trap - EXIT
	hn__log "interrupted (SIG$1)"
	hn_teardown "$2"
	exit "$2"
}

# hn_cleanup_stale: remove what interrupted earlier runs left behind (a run
# whose owner shell is gone): processes, mounts, loop devices, namespaces,
# images. Leaves live runs alone (parallel tests), and also deletes orphan
# snh-* namespaces that have no run directory.
hn_cleanup_stale() {
	local -
	set +e +o pipefail
	local d id pid start
	for d in "$HN_BASE"/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		id=${d##*/}
		[ "$id" = "$HN_RUN_ID" ] && continue
		if [ -f "$d/owner" ]; then
			read -r pid start <"$d/owner"
			[ -n "$pid" ] && [ "$(hn__starttime "$pid" 2>/dev/null)" = "$start" ] && continue
		fi
		hn__log "removing leftovers of run $id"
		hn__teardown_run "$d" "$id"
		rm -rf "$d"
	done
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^snh-[0-9a-f]+-'); do
		id=${ns#snh-}
		id=${id%%-*}
		[ -d "$HN_BASE/$id" ] && continue
		hn__log "removing orphan namespace $ns"
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns delete "$ns" 2>/dev/null
	done
	return 0
}
