#!/usr/bin/env bash
# DHCP benchmark (issue 3): perfdhcp against oxcatd, Kea (memfile) and dnsmasq, each with the same
# 10,000 reservations, in two network namespaces joined by a veth pair made (and removed) here.
# Prints DORA exchanges per second and drops for each server, and the ratios.
# Usage: bash bench/dhcp.sh [RATE] [SECONDS]   (run as root; default 6000/s for 10 s; WRITES=200
# store writes per second during the write-load runs)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rate=${1:-6000}
secs=${2:-10}
clients=10000
command -v perfdhcp >/dev/null && command -v kea-dhcp4 >/dev/null && command -v dnsmasq >/dev/null || {
	apt-get update -qq && apt-get install -y -qq --no-install-recommends kea-admin kea-dhcp4-server dnsmasq-base >/dev/null
}
pkill -x kea-dhcp4 2>/dev/null || true
cargo build --release --locked --quiet --bin oxcat
bin=$PWD/target/release/oxcat
work=$(mktemp -d)
id=$$
srv=oxbs$id cli=oxbc$id vs=vbs$id vc=vbc$id
cleanup() {
	[ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$cli" 2>/dev/null || true
	# KEEP=1 leaves the work directory (configs, server logs) for a look afterwards.
	if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
veth_netns "$srv" "$cli" "$vs" "$vc" 10.78

# perfdhcp's clients are base MAC 00:0c:01:00:00:00 plus 0..clients-1 in the last bytes.
python3 - "$work" "$clients" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(n):
    mac = "00:0c:01:00:%02x:%02x" % (i // 256, i % 256)
    ip = "10.78.%d.%d" % (1 + i // 250, i % 250 + 1)
    rows.append((f"n{i:05d}", mac, ip))
with open(f"{work}/nodes.csv", "w") as f:
    f.write("node,bmc,mac,ip\n")
    for node, mac, ip in rows:
        f.write(f"{node},10.200.{int(node[1:]) // 250}.{int(node[1:]) % 250 + 1},{mac},{ip}\n")
with open(f"{work}/dnsmasq.hosts", "w") as f:
    for node, mac, ip in rows:
        f.write(f"{mac},{ip}\n")
kea = {"Dhcp4": {
    "interfaces-config": {"interfaces": ["VS"]},
    "lease-database": {"type": "memfile", "persist": False},
    "valid-lifetime": 43200,
    "host-reservation-identifiers": ["hw-address"],
    "subnet4": [{"id": 1, "subnet": "10.78.0.0/16", "pools": [],
                 "reservations": [{"hw-address": mac, "ip-address": ip} for _, mac, ip in rows]}],
    "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "stderr"}]}]}}
with open(f"{work}/kea.json", "w") as f:
    json.dump(kea, f)
PY
sed -i "s/\"VS\"/\"$vs\"/" "$work/kea.json"
export OXCAT_DB=$work/o.db
echo pw >"$work/pw"
"$bin" addbmnode -f "$work/nodes.csv" --bmc-user a --bmc-password-file "$work/pw" >/dev/null
"$bin" mkdef -t network -o bench net=10.78.0.0 mask=255.255.0.0 >/dev/null
"$bin" chdef -t site master=10.78.0.1 >/dev/null
printf '[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\nlog = %s\n' "${DHCP_LOG:-true}" >"$work/oxcat.toml"

run_perf() { # name: prints "name rate drops"
	local out
	out=$(ip netns exec "$cli" perfdhcp -4 -l "$vc" -R "$clients" -r "$rate" -p "$secs" -b mac=00:0c:01:00:00:00 2>&1 || true)
	local sent recv drate
	# "Rate: 3999.15 4-way exchanges/second"; then DISCOVER-OFFER and REQUEST-ACK blocks.
	drate=$(awk '/^Rate:/ {print $2; exit}' <<<"$out")
	sent=$(awk '/REQUEST-ACK/ {f = 1} f && /^sent packets:/ {print $3; exit}' <<<"$out")
	recv=$(awk '/REQUEST-ACK/ {f = 1} f && /^received packets:/ {print $3; exit}' <<<"$out")
	drops=$(awk '/^drops ratio:/ {printf "%s%s ", $3, $4}' <<<"$out")
	printf '%-10s %9s DORA/s   drops (DISCOVER-OFFER, REQUEST-ACK) %s  (REQUEST sent %s, ACK received %s)\n' "$1" "${drate:-0}" "${drops:-?}" "${sent:-?}" "${recv:-?}"
	echo "${drate:-0}" >"$work/rate-$1"
}
wait_port() { for _ in $(seq 100); do ip netns exec "$srv" ss -lun | grep -q ':67 ' && return; sleep 0.1; done; echo "server did not start"; exit 1; }

ip netns exec "$srv" env OXCAT_DB="$OXCAT_DB" "$bin" oxcatd --config "$work/oxcat.toml" >"$work/oxcatd.log" 2>&1 &
spid=$!; wait_port; run_perf oxcatd; kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
ip netns exec "$srv" env KEA_PIDFILE_DIR="$work" KEA_LOCKFILE_DIR="$work" kea-dhcp4 -c "$work/kea.json" >"$work/kea.log" 2>&1 &
# Kea uses raw sockets (it must, to answer clients that have no address yet): wait for its log.
spid=$!; for _ in $(seq 100); do grep -q DHCP4_STARTED "$work/kea.log" 2>/dev/null && break; sleep 0.1; done; run_perf kea; kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
ip netns exec "$srv" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface="$vs" --bind-interfaces \
	--dhcp-range=10.78.0.0,static,255.255.0.0 --dhcp-hostsfile="$work/dnsmasq.hosts" --dhcp-leasefile="$work/dnsmasq.leases" \
	--dhcp-authoritative --log-facility=/dev/null >"$work/dnsmasq.log" 2>&1 &
spid=$!; wait_port; run_perf dnsmasq; kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
# Boot storms write to the store while DHCP answers: nodes report their status, admins run nodeset.
# oxcatd under WRITES/s status reports (which the DHCP index ignores), under as many changes of
# one node's row each (the index reads that node again), then of a group row (which every member
# inherits, so each one makes the index read everything again: what every change cost before the
# change journal).
writes=${WRITES:-200}
write_load() { # SQL with ?1 = a node name, repeated at $writes/s in separate transactions, for $secs+2 s
	python3 - "$OXCAT_DB" "$writes" "$((secs + 2))" "$1" <<'PY' &
import sqlite3, sys, time
db, rate, secs, sql = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
c = sqlite3.connect(db, isolation_level=None, timeout=60)
start, i = time.monotonic(), 0
while time.monotonic() - start < secs:
    c.execute("BEGIN IMMEDIATE"); c.execute(sql, (f"n{i % 10000:05d}", str(i))); c.execute("COMMIT")
    i += 1
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
print(i, file=open(db + ".writes", "w"))
PY
	wpid=$!
}
for load in status node group; do
	case $load in
	status) sql="UPDATE nodelist SET status = 'booting', statustime = ?2 WHERE node = ?1" ;;
	node) sql="UPDATE hosts SET comments = ?2 WHERE node = ?1" ;;
	group) sql="INSERT INTO noderes (node, netboot) VALUES ('all', 'ipxe' || (?2 % 2)) ON CONFLICT (node) DO UPDATE SET netboot = excluded.netboot" ;;
	esac
	ip netns exec "$srv" env OXCAT_DB="$OXCAT_DB" "$bin" oxcatd --config "$work/oxcat.toml" >"$work/oxcatd-$load.log" 2>&1 &
	spid=$!; wait_port; write_load "$sql"; run_perf "oxcatd+$load"; wait "$wpid"
	echo "           ($(cat "$OXCAT_DB.writes") $load writes at ${writes}/s during the run)"
	kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
done
awk -v o="$(cat "$work/rate-oxcatd")" -v k="$(cat "$work/rate-kea")" -v d="$(cat "$work/rate-dnsmasq")" \
	-v s="$(cat "$work/rate-oxcatd+status")" -v n="$(cat "$work/rate-oxcatd+node")" -v g="$(cat "$work/rate-oxcatd+group")" \
	'BEGIN {printf "ratio oxcatd/kea %.2fx, oxcatd/dnsmasq %.2fx (offered load %s/s for %s s, %s clients)\n", (k ? o / k : 0), (d ? o / d : 0), "'"$rate"'", "'"$secs"'", "'"$clients"'";
	        printf "under writes: status reports %.2fx of idle, node-row changes %.2fx, group-row changes (a full re-read each) %.2fx\n", (o ? s / o : 0), (o ? n / o : 0), (o ? g / o : 0)}'
