#!/usr/bin/env bash
# DHCP under a flood (issue 14): oxcatd with 1,000 known nodes takes RATE DISCOVERs a second from
# random MACs (examples/dhcp_flood.rs) for SECONDS while perfdhcp, as 1,000 known clients, runs
# DORA exchanges at 200/s. Prints oxcatd's RSS before and after (and its peak), the fraction of
# known clients' exchanges answered and their latency; once without a discovery range (random MACs
# get nothing) and once with a /16 range (each random MAC is offered an address).
# Two network namespaces joined by a veth pair, made and removed here; nothing leaves them.
# Usage: bash bench/dhcpflood.sh [RATE] [SECONDS]   (run as root; default 100000/s for 10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rate=${1:-100000}
secs=${2:-10}
clients=1000
command -v perfdhcp >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends kea-admin >/dev/null; }
cargo build --release --locked --quiet --bin oxcat --example dhcp_flood
bin=${OXCAT_BIN:-$PWD/target/release/oxcat}
flood=$PWD/target/release/examples/dhcp_flood
work=$(mktemp -d)
id=$$
srv=oxfs$id cli=oxfc$id vs=vfs$id vc=vfc$id
cleanup() {
	[ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null || true
	[ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$cli" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
veth_netns "$srv" "$cli" "$vs" "$vc" 10.79
ip -n "$cli" addr add 10.79.255.253/16 dev "$vc"

export OXCAT_DB=$work/o.db
python3 - "$work" "$clients" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
with open(f"{work}/nodes.csv", "w") as f:
    f.write("node,bmc,mac,ip\n")
    for i in range(n):
        f.write(f"n{i:05d},10.200.{i // 250}.{i % 250 + 1},00:0c:01:00:{i // 256:02x}:{i % 256:02x},10.79.{1 + i // 250}.{i % 250 + 1}\n")
PY
echo pw >"$work/pw"
"$bin" addbmnode -f "$work/nodes.csv" --bmc-user a --bmc-password-file "$work/pw" >/dev/null
"$bin" mkdef -t network -o bench net=10.79.0.0 mask=255.255.0.0 >/dev/null
"$bin" chdef -t site master=10.79.0.1 >/dev/null
printf '[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\n' >"$work/oxcat.toml"

rss() { awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {printf "%d %d", r / 1024, h / 1024}' "/proc/$1/status"; }
# perfdhcp as the known clients for SECONDS at 200 exchanges/s: "answered% avg-delay-ms".
known() {
	local out
	out=$(ip netns exec "$cli" perfdhcp -4 -l "$vc" -R "$clients" -r 200 -p "$secs" -b mac=00:0c:01:00:00:00 2>&1 || true)
	awk '/Statistics for: DISCOVER-OFFER/ {x = 1} /Statistics for: REQUEST-ACK/ {x = 2}
	     x == 1 && /^sent packets:/ {s = $3} x == 1 && /^received packets:/ {r = $3}
	     x == 1 && /^avg delay: [0-9]/ {d = $3} x == 2 && /^received packets:/ {a = $3}
	     END {printf "offers %.1f%%, acks %.1f%% of %d DISCOVERs, offer latency avg %s ms", (s ? 100 * r / s : 0), (s ? 100 * a / s : 0), s, d}' <<<"$out"
}
wait_port() { for _ in $(seq 100); do ip netns exec "$srv" ss -lun | grep -q ':67 ' && return; sleep 0.1; done; echo "server did not start"; exit 1; }

for mode in "no range" "range"; do
	[ "$mode" = range ] && "$bin" chdef -t network bench dynamicrange=10.79.128.0-10.79.254.254 >/dev/null
	ip netns exec "$srv" env OXCAT_DB="$OXCAT_DB" "$bin" oxcatd --config "$work/oxcat.toml" >/dev/null 2>"$work/log-${mode// /}" &
	spid=$!; wait_port
	pid=$(ip netns pids "$srv" | head -1)
	read -r before _ <<<"$(rss "$pid")"
	echo "== $mode: RSS ${before} MB at start"
	echo "idle:    $(known)"
	ip netns exec "$cli" "$flood" 10.79.0.1:67 10.79.255.253 "$rate" "$((secs + 2))" >"$work/flood" &
	fpid=$!
	sleep 1
	echo "flooded: $(known)"
	wait "$fpid"; fpid=
	read -r after peak <<<"$(rss "$pid")"
	echo "$(cat "$work/flood")"
	echo "RSS ${before} MB before, ${after} MB after, peak ${peak} MB; log $(wc -l <"$work/log-${mode// /}") lines"
	kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
done
