#!/usr/bin/env bash
# Console benchmark (issue 11): oxcatd's console service holding N SOL consoles open against N
# simulated BMCs (ipmi_sim, SOL connected to a TCP "serial port" each), against conserver driving
# the same N consoles with `ipmitool sol activate` (as xCAT's conserver set-up does). For each: every
# console's output logged (a line written on each serial port must reach each console's log),
# memory (RSS and PSS, summed over every process of the side: conserver's include its ipmitools),
# and idle CPU (median of 3 windows). Prints the ratios.
# Usage: bash bench/console.sh [N] (default 256; run as root; IDLE=seconds per CPU window, default 10)
set -euo pipefail
N=${1:-256}
IDLE=${IDLE:-10}
cd "$(dirname "$0")/.."
command -v ipmi_sim >/dev/null && command -v ipmitool >/dev/null && command -v conserver >/dev/null && command -v python3 >/dev/null || {
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openipmi ipmitool conserver-server python3 >/dev/null
}
cargo build --release --locked --quiet --bin oxcat
BIN=$PWD/target/release/oxcat
W=$(mktemp -d /tmp/console-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
# BMC i listens on 127.A.B.C:623, A picked from this shell's pid (away from the tests' 127.100-199).
A=$((200 + $$ % 50))
addr() { echo "127.$A.$(($1 / 250)).$(($1 % 250 + 1))"; }

# The serial ports: one listener per BMC; on SIGUSR1 each writes "console-check TAG nodeI" to its
# connection (the tag is read from $W/tag).
cat >"$W/serial.py" <<'EOF'
import asyncio, signal, sys
n, w = int(sys.argv[1]), sys.argv[2]
conns = {}
async def main():
    servers = []
    for i in range(n):
        async def handle(r, wr, i=i):
            conns[i] = wr
            with open(w + "/connected", "w") as f:
                f.write("%d\n" % len(conns))
            while await r.read(4096):
                pass
        servers.append(await asyncio.start_server(handle, "127.0.0.1", 0))
    with open(w + "/ports.tmp", "w") as f:
        for i, s in enumerate(servers):
            f.write("%d %d\n" % (i, s.sockets[0].getsockname()[1]))
    import os; os.rename(w + "/ports.tmp", w + "/ports")
    def send():
        tag = open(w + "/tag").read().strip()
        for i, c in conns.items():
            try:
                c.write(("console-check %s node%03d\r\n" % (tag, i + 1)).encode())
            except Exception:
                pass
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, send)
    await asyncio.Event().wait()
asyncio.run(main())
EOF
python3 "$W/serial.py" "$N" "$W" &
SERIAL=$!
PIDS+=("$SERIAL")
while [ ! -f "$W/ports" ]; do sleep 0.1; done

t0=$(date +%s.%N)
while read -r i port; do
	d=$W/bmc$i
	mkdir -p "$d/state/ipmi_sim/b$i"
	cat >"$d/lan.conf" <<EOF
name "b$i"
set_working_mc 0x20
  startlan 1
    addr $(addr "$i") 623
    priv_limit admin
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789ab$(printf %04x "$i")
  endlan
  sol "tcp:127.0.0.1:$port" 115200
  user 2 true "admin" "secret" admin 10 none md2 md5 straight
EOF
	printf 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n' >"$d/node.emu"
	ipmi_sim -c "$d/lan.conf" -f "$d/node.emu" -n -s "$d/state" </dev/null >/dev/null 2>&1 &
	PIDS+=($!)
done <"$W/ports"
# Every simulator connected to its serial port.
until [ "$(cat "$W/connected" 2>/dev/null || echo 0)" -ge "$N" ]; do sleep 0.2; done
printf '%d simulated BMCs with SOL up in %.1f s\n' "$N" "$(echo "$(date +%s.%N) - $t0" | bc)"

# The store: node001..N, their BMCs, consoles through IPMI.
mkdir -p "$W/bin"
for c in oxcatd mkdef; do ln -s "$BIN" "$W/bin/$c"; done
export OXCAT_DB=$W/oxcat.db
"$W/bin/mkdef" "node[001-$(printf %03d "$N")]" groups=compute mgt=ipmi cons=ipmi bmcusername=admin bmcpassword=secret >/dev/null
python3 - "$W" "$N" "$A" <<'EOF'
import sqlite3, sys
w, n, a = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = sqlite3.connect(w + "/oxcat.db")
for i in range(n):
    db.execute("UPDATE ipmi SET bmc=? WHERE node=?", ("127.%s.%d.%d" % (a, i // 250, i % 250 + 1), "node%03d" % (i + 1)))
db.commit()
EOF

# Sums over the processes given: RSS and PSS (KiB) from smaps_rollup, CPU ticks from stat.
mem() { for p in "$@"; do awk '/^Rss:/{r=$2} /^Pss:/{s=$2} END{print r, s}' "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '{r+=$1; s+=$2} END{print r+0, s+0}'; }
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{t+=$1} END{print t+0}'; }
tree() { # the pid and all its descendants
	local p=$1; echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
HZ=$(getconf CLK_TCK)
# Median idle CPU (% of one core) of the processes over 3 windows of IDLE seconds.
idle_cpu() {
	local vals=()
	for _ in 1 2 3; do
		local a b; a=$(ticks "$@"); sleep "$IDLE"; b=$(ticks "$@")
		vals+=("$(echo "scale=3; ($b - $a) * 100 / ($HZ * $IDLE)" | bc)")
	done
	printf '%s\n' "${vals[@]}" | sort -n | sed -n 2p
}
# Waits until N files under DIR contain TEXT; prints how many did.
wait_logged() {
	local dir=$1 text=$2 limit=$3 got=0 end
	end=$((SECONDS + limit))
	while [ $SECONDS -lt $end ]; do
		got=$(grep -lF -- "$text" "$dir"/* 2>/dev/null | wc -l)
		[ "$got" -ge "$N" ] && break
		sleep 0.5
	done
	echo "$got"
}
check() { # TAG DIR: every serial port writes a line; how many consoles' logs got theirs
	echo "$1" >"$W/tag"
	kill -USR1 "$SERIAL"
	local end=$((SECONDS + 60)) got=0
	while [ $SECONDS -lt $end ]; do
		got=0
		for i in $(seq 1 "$N"); do
			n=$(printf %03d "$i")
			grep -qF "console-check $1 node$n" "$2"/node"$n"* 2>/dev/null && got=$((got + 1))
		done
		[ "$got" -ge "$N" ] && break
		sleep 1
	done
	echo "$got"
}

# --- oxcatd
cat >"$W/oxcat.toml" <<EOF
[http]
enable = false
[tftp]
enable = false
[console]
enable = true
log_dir = "$W/oxcat-logs"
socket = "$W/console.sock"
EOF
"$W/bin/oxcatd" --config "$W/oxcat.toml" >"$W/oxcatd.out" 2>"$W/oxcatd.err" &
OX=$!
PIDS+=("$OX")
t0=$SECONDS
up=$(wait_logged "$W/oxcat-logs" "console connected" 120)
echo "oxcatd: $up/$N consoles connected in $((SECONDS - t0)) s"
ox_logged=$(check oxcat "$W/oxcat-logs")
sleep 2
read -r ox_rss ox_pss < <(mem "$OX")
ox_cpu=$(idle_cpu "$OX")
kill "$OX"; wait "$OX" 2>/dev/null || true

# --- conserver, one `ipmitool sol activate` per console (after `sol deactivate`, as xCAT's
# conserver script does, since oxcatd held the consoles a moment ago)
mkdir -p "$W/cons-logs"
{
	echo "config * { }"
	echo "default * { logfile $W/cons-logs/&.log; timestamp \"\"; rw *; master 127.0.0.1; }"
	echo "access * { trusted 127.0.0.1; }"
	for i in $(seq 1 "$N"); do
		n=$(printf %03d "$i"); a=$(addr $((i - 1)))
		ipmi="ipmitool -I lanplus -C 3 -H $a -U admin -P secret"
		echo "console node$n { type exec; exec \"$ipmi sol deactivate >/dev/null 2>&1; exec $ipmi sol activate\"; }"
	done
} >"$W/conserver.cf"
echo "*any*:*" >"$W/conserver.passwd"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conserver -C "$W/conserver.cf" -P "$W/conserver.passwd" -M 127.0.0.1 -p "$PORT" -b "$BASE" -L "$W/conserver.log" >/dev/null 2>&1 &
CS=$!
PIDS+=("$CS")
t0=$SECONDS
up=$(wait_logged "$W/cons-logs" "SOL Session operational" 180)
echo "conserver: $up/$N consoles connected in $((SECONDS - t0)) s"
cs_logged=$(check conserver "$W/cons-logs")
sleep 2
mapfile -t CSP < <(tree "$CS")
read -r cs_rss cs_pss < <(mem "${CSP[@]}")
cs_cpu=$(idle_cpu "${CSP[@]}")
kill "$CS"; wait "$CS" 2>/dev/null || true
for p in "${CSP[@]}"; do kill "$p" 2>/dev/null || true; done

echo
printf '%-10s %8s %12s %12s %10s %14s\n' "" processes "logged" "RSS MiB" "PSS MiB" "idle CPU %"
printf '%-10s %8s %12s %12.1f %10.1f %14s\n' oxcatd 1 "$ox_logged/$N" "$(echo "$ox_rss/1024" | bc -l)" "$(echo "$ox_pss/1024" | bc -l)" "$ox_cpu"
printf '%-10s %8s %12s %12.1f %10.1f %14s\n' conserver "${#CSP[@]}p" "$cs_logged/$N" "$(echo "$cs_rss/1024" | bc -l)" "$(echo "$cs_pss/1024" | bc -l)" "$cs_cpu"
printf 'memory: oxcatd uses 1/%.0f of conserver+ipmitool (PSS), 1/%.0f (RSS); idle CPU ratio conserver/oxcatd: %s\n' \
	"$(echo "$cs_pss/$ox_pss" | bc -l)" "$(echo "$cs_rss/$ox_rss" | bc -l)" \
	"$(if [ "$(echo "$ox_cpu > 0" | bc)" = 1 ]; then echo "scale=1; $cs_cpu/$ox_cpu" | bc; else echo "n/a (oxcatd 0)"; fi)"
[ "$ox_logged" -eq "$N" ] || { echo "oxcatd logged $ox_logged of $N consoles" >&2; exit 1; }
