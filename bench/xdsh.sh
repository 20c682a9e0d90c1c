#!/usr/bin/env bash
# xdsh fan-out benchmark (issue 10): `xdsh NODES true` against `pdsh -R ssh` and `clush` (each at
# the better of two fanouts), all against the same OpenSSH sshd, same N, one run each. The single
# sshd is the bottleneck (its CPU per session grows with concurrent handshakes, so every tool is
# fastest at a small fanout; xdsh runs with -f 8 unless XDSH_FANOUT says otherwise). The sshd listens on 16
# loopback addresses (127.0.0.1-16); node names map onto them (oxcat: hosts.ip; pdsh and clush: an
# ssh_config), so every tool opens N separate SSH sessions. Prints wall time, client CPU (user+sys
# of the tool and its children, from /usr/bin/time), CPU per node, peak RSS, and the ratios
# (targets: xdsh >= 2x faster than the best peer, client CPU per node <= 1/5 of pdsh's, RSS at
# N=1000 < 150 MB). Usage: [XDSH_FANOUT=F] [PEERS=0] bash bench/xdsh.sh [N...]   (default 200 1000;
# run as root; PEERS=0 runs xdsh only; PDSH_FANOUTS and CLUSH_FANOUTS default to "16 64").
# Every tool logs in as a user the bench creates (and removes), whose login shell is /bin/sh as on
# a lean node: root's shell here is bash, which reads ~/.bashrc in an sshd session, and a
# development machine's .bashrc (pyenv init, for instance) costs the one shared sshd ~100 ms of CPU
# per session, which on a real cluster each node pays on its own CPU. BENCH_USER=root measures
# with root's shell anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sshd ] && command -v pdsh >/dev/null && command -v clush >/dev/null && [ -x /usr/bin/time ] && command -v bc >/dev/null || {
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server openssh-client pdsh clustershell time bc >/dev/null
}
if [ -z "${OXCAT_BIN:-}" ]; then cargo build --release --locked --quiet --bin oxcat; fi
bin=${OXCAT_BIN:-$PWD/target/release/oxcat}
ulimit -n 65536 2>/dev/null || true
work=$(mktemp -d)
sshd_pid=
user=${BENCH_USER:-oxbench$$}
cleanup() {
	[ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
	[ "$user" = "${BENCH_USER:-}" ] || userdel "$user" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" /run/sshd
if [ "$user" != "${BENCH_USER:-}" ]; then
	useradd -M -p '*' -d "$work/home" -s /bin/sh "$user"
	install -d -o "$user" "$work/home"
	# sshd reads authorized_keys (under $work) as the user.
	chmod 711 "$work"
fi
"$bin" --install-links "$work/bin" >/dev/null
export PATH="$work/bin:$PATH" OXCAT_DB="$work/oxcat.db"
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
	for i in $(seq 1 16); do echo "ListenAddress 127.0.0.$i:$port"; done
	echo "HostKey $work/hostkey"
	echo "AuthorizedKeysFile $work/authorized_keys"
	echo "PidFile $work/sshd.pid"
	printf 'StrictModes no\nUsePAM no\nUseDNS no\nPermitRootLogin yes\nMaxStartups 10000\nLogLevel ERROR\n'
} >"$work/sshd_config"
# The cluster key (oxcat makes it on first need) is the one every tool logs in with.
chdef -t site sshport="$port" >/dev/null
max=$(printf '%s\n' "${@:-200 1000}" | tr ' ' '\n' | sort -n | tail -1)
nodeadd "node[0001-$(printf '%04d' "$max")]" groups=bench >/dev/null
chtab node=bench hosts.ip='|\D+(\d+)|127.0.0.((($1-1)%16)+1)|' >/dev/null
xdsh node0001 -t 1 true >/dev/null 2>&1 || true
cp "$work/ssh/id_ed25519.pub" "$work/authorized_keys"
/usr/sbin/sshd -f "$work/sshd_config"
for _ in $(seq 100); do [ -s "$work/sshd.pid" ] && break; sleep 0.1; done
sshd_pid=$(cat "$work/sshd.pid")
hostkey=$(cut -d' ' -f1-2 "$work/hostkey.pub")
{
	echo "Host node*"
	echo "  Port $port"
	echo "  IdentityFile $work/ssh/id_ed25519"
	printf '  User %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n' "$user"
} >"$work/ssh_config"
# ssh_config cannot compute an address from the name: one Host block per node.
for n in $(seq 1 "$max"); do
	printf 'Host node%04d\n  HostName 127.0.0.%d\n' "$n" $(((n - 1) % 16 + 1))
done >"$work/ssh_config.nodes"
cat "$work/ssh_config" >>"$work/ssh_config.nodes"
{
	echo "#node,keys,reported,comments,disable"
	for n in $(seq 1 "$max"); do printf '"node%04d","%s","bench",,\n' "$n" "$hostkey"; done
} >"$work/hostkeys.csv"
tabrestore "$work/hostkeys.csv" >/dev/null

# The sshd's CPU so far: its own and that of its reaped children (the sessions), in ticks.
sshd_cpu() {
	awk '{ print $14 + $15 + $16 + $17 }' "/proc/$sshd_pid/stat"
}

# run LABEL N CMD...: one timed run; prints a row and remembers wall and cpu.
run() {
	local label=$1 n=$2
	shift 2
	local out
	local before after
	before=$(sshd_cpu)
	/usr/bin/time -o "$work/time" -f '%e %U %S %M' "$@" >"$work/out" 2>"$work/err" || true
	[ -s "$work/err" ] && head -n 3 "$work/err" >&2
	after=$(sshd_cpu)
	out=$(tail -1 "$work/time")
	local ok
	ok=$(grep -c ': ok$' "$work/out" || true)
	read -r wall usr sys rss <<<"$out"
	local cpu
	cpu=$(echo "$usr + $sys" | bc -l)
	printf '%-22s N=%-5s ok=%-5s wall %7.2f s  cpu %7.2f s  cpu/node %7.2f ms  rss %6.1f MB  sshd cpu %7.2f s\n' \
		"$label" "$n" "$ok" "$wall" "$cpu" "$(echo "$cpu * 1000 / $n" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
		"$(echo "($after - $before) / $(getconf CLK_TCK)" | bc -l)"
	last_wall=$wall last_cpu=$cpu last_rss=$rss
	# A run that did not reach every node does not compete.
	[ "$ok" = "$n" ] || last_wall=999999
}

export PDSH_SSH_ARGS="-F $work/ssh_config.nodes -2 -a -x -l%u %h" PDSH_RCMD_TYPE=ssh
for n in "${@:-200 1000}"; do
	range="node[0001-$(printf '%04d' "$n")]"
	echo "== N=$n"
	xf=${XDSH_FANOUT:-8}
	run "oxcat xdsh -f $xf" "$n" xdsh "$range" -l "$user" -f "$xf" -t 120 'true && echo ok'
	x_wall=$last_wall x_cpu=$last_cpu x_rss=$last_rss
	[ "${PEERS:-1}" = 1 ] || continue
	best_wall= best_name= p_cpu=
	for f in ${PDSH_FANOUTS:-16 64}; do
		run "pdsh -R ssh -f $f" "$n" pdsh -R ssh -l "$user" -f "$f" -w "$range" 'true && echo ok'
		if [ -z "$best_wall" ] || [ "$(echo "$last_wall < $best_wall" | bc)" = 1 ]; then
			best_wall=$last_wall best_name="pdsh -f $f"
		fi
		if [ -z "$p_cpu" ] || [ "$(echo "$last_cpu < $p_cpu" | bc)" = 1 ]; then p_cpu=$last_cpu; fi
	done
	for f in ${CLUSH_FANOUTS:-16 64}; do
		run "clush -f $f" "$n" clush -l "$user" -f "$f" -o "-F $work/ssh_config.nodes" -w "$range" 'true && echo ok'
		if [ "$(echo "$last_wall < $best_wall" | bc)" = 1 ]; then best_wall=$last_wall best_name="clush -f $f"; fi
	done
	printf 'N=%s: xdsh is %.1fx faster than the best peer (%s); pdsh client CPU per node is %.1fx xdsh'"'"'s; xdsh RSS %.1f MB\n' \
		"$n" "$(echo "$best_wall / $x_wall" | bc -l)" "$best_name" "$(echo "$p_cpu / $x_cpu" | bc -l)" "$(echo "$x_rss / 1024" | bc -l)"
done
