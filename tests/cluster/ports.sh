# tests/cluster/ports.sh: port_base prints the first port of a block of 100
# TCP ports for a test cluster on 127.0.0.1. The block lies outside the
# kernel's ephemeral range: an outgoing connection (node to node, sanctl to a
# node) takes its source port from that range, and could hold the port a node
# killed and restarted a moment later must listen on again. It also lies above
# 30999, where the consensus unit tests take theirs (cluster_util.c).
port_base() {
	local lo hi b blocks=()
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	for ((b = 31000; b + 99 <= 65535; b += 100)); do
		if [ $((b + 99)) -lt "$lo" ] || [ "$b" -gt "$hi" ]; then blocks+=("$b"); fi
	done
	[ ${#blocks[@]} -gt 0 ] || { echo "no port block outside the ephemeral range $lo-$hi" >&2; return 1; }
	echo "${blocks[RANDOM % ${#blocks[@]}]}"
}
