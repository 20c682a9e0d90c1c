#!/usr/bin/env bash
# Serving one image to many nodes (issue 9, item 9): oxcatd and nginx (sendfile on) serve the same
# 1 GiB file to 16 concurrent HTTP clients (curl -o /dev/null), in turns, several rounds in one
# run; prints the medians of aggregate throughput, the ratio oxcatd/nginx (target >= 1.0x) and
# both servers' CPU time per round (user + system, from /proc/PID/stat).
# Everything listens on 127.0.0.1. Usage: [OXCAT_BIN=PATH] bash bench/serve.sh [ROUNDS]   (run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
clients=16
for p in nginx curl; do
	command -v "$p" >/dev/null || {
		echo "bench/serve.sh: installing nginx and curl (apt-get)" >&2
		apt-get update -qq; apt-get install -y -qq --no-install-recommends nginx curl >/dev/null; break
	}
done
# OXCAT_BIN=PATH measures another build (e.g. the previous commit's) with the same script.
if [ -z "${OXCAT_BIN:-}" ]; then cargo build --release --locked --quiet --bin oxcat; fi
bin=${OXCAT_BIN:-$PWD/target/release/oxcat}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/bin" "$work/install" "$work/tftp"
"$bin" --install-links "$work/bin"
export PATH="$work/bin:$PATH" OXCAT_DB="$work/o.db"
chdef -t site "tftpdir=$work/tftp" "installdir=$work/install" master=127.0.0.1 >/dev/null
size=$((1024 * 1024 * 1024))
head -c "$size" /dev/urandom >"$work/install/disk.raw"
# Written back before the first round (1 GiB of dirty pages flushing would slow whichever server
# runs first), and in the page cache for both servers.
sync "$work/install/disk.raw"
cat "$work/install/disk.raw" >/dev/null

cat >"$work/oxcat.toml" <<TOML
[http]
listen = ["127.0.0.1:0"]
[tftp]
enable = false
TOML
oxcatd --config "$work/oxcat.toml" >"$work/oxcatd.log" 2>&1 &
oxpid=$!
pids+=("$oxpid")
for _ in $(seq 50); do grep -q ready "$work/oxcatd.log" 2>/dev/null && break; sleep 0.1; done
oxport=$(sed -n 's/^oxcatd: HTTP on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/oxcatd.log")
[ -n "$oxport" ] || { echo "oxcatd did not start:"; cat "$work/oxcatd.log"; exit 1; }
# nginx cannot print the port it picked: a free port is asked from the kernel just before.
ngport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_conf "$work" "127.0.0.1:$ngport"
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null -r 0-0 "http://127.0.0.1:$ngport/install/disk.raw" && break; sleep 0.1; done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# CPU ticks (user + system) of the given processes, their threads included.
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
ngpid=${pids[-1]}

# MB/s of $clients parallel downloads from port $1, or FAILED when one arrived incomplete.
round() {
	local a b i bad=0
	a=$(now)
	for i in $(seq "$clients"); do
		curl -s -o /dev/null -w '%{size_download}\n' "http://127.0.0.1:$1/install/disk.raw" >"$work/got.$i" &
	done
	wait
	b=$(now)
	for i in $(seq "$clients"); do [ "$(cat "$work/got.$i")" = "$size" ] || bad=1; done
	if [ "$bad" = 1 ]; then echo FAILED; return; fi
	awk -v by=$((size * clients)) -v ns=$((b - a)) 'BEGIN {printf "%.0f", by / (ns / 1e9) / 1e6}'
}

hz=$(getconf CLK_TCK)
secs() { awk -v t="$1" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}'; }
ox=() ng=() cpu=() ngcpu=()
# One round each, in turns, the first server changing every round (the machine's load drifts).
run_ox() {
	c0=$(cpu_ticks "$oxpid")
	ox+=("$(round "$oxport")")
	c1=$(cpu_ticks "$oxpid")
	cpu+=("$(secs $((c1 - c0)))")
}
run_ng() {
	mapfile -t workers < <(pgrep -P "$ngpid")
	c0=$(cpu_ticks "$ngpid" "${workers[@]}")
	ng+=("$(round "$ngport")")
	c1=$(cpu_ticks "$ngpid" "${workers[@]}")
	ngcpu+=("$(secs $((c1 - c0)))")
}
for r in $(seq "$rounds"); do
	if [ $((r % 2)) = 1 ]; then run_ox; run_ng; else run_ng; run_ox; fi
	echo "round $r: oxcatd ${ox[-1]} MB/s (CPU ${cpu[-1]} s)   nginx ${ng[-1]} MB/s (CPU ${ngcpu[-1]} s)"
done
med() { if printf '%s\n' "$@" | grep -q FAILED; then echo 0; else printf '%s\n' "$@" | median; fi; }
mox=$(med "${ox[@]}") mng=$(med "${ng[@]}") mcpu=$(med "${cpu[@]}") mngcpu=$(med "${ngcpu[@]}")
echo "== HTTP, 1 GiB to $clients clients at once (aggregate MB/s, median of $rounds)"
printf 'oxcatd %6s MB/s   nginx %6s MB/s   oxcatd/nginx %.2fx (target >= 1.0x)   CPU per round: oxcatd %s s, nginx %s s\n' \
	"$mox" "$mng" "$(awk -v a="$mox" -v b="$mng" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$mcpu" "$mngcpu"
