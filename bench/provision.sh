#!/usr/bin/env bash
# Provisioning benchmarks (issue 3), medians of alternating rounds in one run:
#  - nodeset of 10,000 nodes, and of 1 node with 10,000 defined;
#  - TFTP, 30 MB: one client (curl, blksize 1468) and 16 clients (atftp, blksize 1468, windowsize 16),
#    oxcatd vs tftpd-hpa vs atftpd;
#  - HTTP, 30 MB: one and 16 curl clients, oxcatd vs nginx;
#  - HTTP keep-alive: 1,000 requests for a 1 KB file on one connection (curl), oxcatd vs nginx.
# Everything listens on 127.0.0.1. Usage: [OXCAT_BIN=PATH] bash bench/provision.sh [ROUNDS]   (run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
# tftpd-hpa and atftpd conflict as packages (both ship in.tftpd): tftpd-hpa is installed, atftpd's
# binary is taken from its package without installing it.
for p in nginx atftp curl; do
	command -v "$p" >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends nginx atftp curl >/dev/null; break; }
done
dpkg -s tftpd-hpa >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends tftpd-hpa >/dev/null
pkill -x in.tftpd || true
# OXCAT_BIN=PATH measures another build (e.g. the previous commit's) with the same script.
if [ -z "${OXCAT_BIN:-}" ]; then cargo build --release --locked --quiet --bin oxcat; fi
bin=${OXCAT_BIN:-$PWD/target/release/oxcat}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/bin" "$work/tftp" "$work/install" "$work/atftpd"
(cd "$work/atftpd" && apt-get download atftpd >/dev/null 2>&1 && dpkg -x atftpd_*.deb root)
atftpd_bin=$work/atftpd/root/usr/sbin/atftpd
"$bin" --install-links "$work/bin"
export PATH="$work/bin:$PATH" OXCAT_DB="$work/o.db"
chdef -t site "tftpdir=$work/tftp" "installdir=$work/install" master=127.0.0.1 >/dev/null

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { echo $((($2 - $1) / 1000000)); }

echo "== nodeset"
printf 'k' >"$work/k"; printf 'i' >"$work/i"; echo pw >"$work/pw"
addimage img --kernel "$work/k" --initrd "$work/i" >/dev/null
addbmnode 'n[00001-10000]' --bmc '|n(\d+)|10.1.($1/256).($1%256)|' --bmc-user a --bmc-password-file "$work/pw" \
	--mac '|n(\d+)|52:54:00:00:(sprintf("%02x",$1/256)):(sprintf("%02x",$1%256))|' --ip '|n(\d+)|10.2.($1/256).($1%256)|' >/dev/null
t=(); for _ in $(seq "$rounds"); do a=$(now); nodeset all osimage=img >/dev/null; b=$(now); t+=("$(ms "$a" "$b")"); done
echo "nodeset of 10,000 nodes:               median $(printf '%s\n' "${t[@]}" | median) ms   (target < 1000 ms)"
t=(); for _ in $(seq 5); do a=$(now); nodeset n05000 osimage=img >/dev/null; b=$(now); t+=("$(ms "$a" "$b")"); done
echo "nodeset of 1 node, 10,000 defined:     median $(printf '%s\n' "${t[@]}" | median) ms   (target < 20 ms)"

head -c 30000000 /dev/urandom >"$work/tftp/big.bin"
cp "$work/tftp/big.bin" "$work/install/big.bin"
head -c 1024 /dev/urandom >"$work/install/small.bin"
size=30000000
cat >"$work/oxcat.toml" <<TOML
[http]
listen = ["127.0.0.1:18180"]
[tftp]
listen = ["127.0.0.1:18169"]
TOML
oxcatd --config "$work/oxcat.toml" >"$work/oxcatd.log" 2>&1 &
pids+=($!)
nginx_conf "$work" 127.0.0.1:18280
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
in.tftpd -L -s "$work/tftp" -a 127.0.0.1:18269 &
pids+=($!)
"$atftpd_bin" --daemon --no-fork --user root.root --port 18369 --bind-address 127.0.0.1 "$work/tftp" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/oxcatd.log" 2>/dev/null && curl -s -o /dev/null http://127.0.0.1:18280/big.bin && break; sleep 0.1; done

# Prints MB/s of one run of "$@" that moves $1 bytes in total, or FAILED when the files that
# arrived in $work/got are not all complete.
rate() {
	local bytes=$1; shift; local a b got
	rm -rf "$work/got"; mkdir "$work/got"
	a=$(now); "$@"; b=$(now)
	got=$(find "$work/got" -type f -size "${size}c" | wc -l)
	if [ "$((got * size))" -ne "$bytes" ]; then echo FAILED; return; fi
	awk -v by="$bytes" -v ns=$((b - a)) 'BEGIN {printf "%.1f", by / (ns / 1e9) / 1e6}'
}
one_tftp() { curl -s --max-time 120 --tftp-blksize 1468 -o "$work/got/1" "tftp://127.0.0.1:$1/big.bin"; }
many_tftp() { for i in $(seq 16); do timeout 120 atftp --option "blksize 1468" --option "windowsize 16" -g -r big.bin -l "$work/got/$i" 127.0.0.1 "$1" >/dev/null 2>&1 & done; wait; }
one_http() { curl -s -o "$work/got/1" "http://127.0.0.1:$1/install/big.bin"; }
many_http() { for i in $(seq 16); do curl -s -o "$work/got/$i" "http://127.0.0.1:$1/install/big.bin" & done; wait; }

# Requests per second of 1,000 GETs of small.bin on one kept-alive connection (curl reuses it),
# or FAILED when curl opened more than one connection or a request failed.
keepalive() {
	local cfg=$work/ka-$1.cfg a b n
	[ -e "$cfg" ] || for _ in $(seq 1000); do
		printf 'url = "http://127.0.0.1:%s/install/small.bin"\noutput = "/dev/null"\n' "$1"
	done >"$cfg"
	a=$(now)
	n=$(curl -sf -K "$cfg" -w '%{num_connects}\n' | awk '{s += $1} END {print s}') || { echo FAILED; return; }
	b=$(now)
	if [ "$n" != 1 ]; then echo FAILED; return; fi
	awk -v ns=$((b - a)) 'BEGIN {printf "%.0f", 1000 / (ns / 1e9)}'
}

declare -A res
for _ in $(seq "$rounds"); do
	for s in oxcatd:18169 tftpd-hpa:18269 atftpd:18369; do
		n=${s%%:*}; p=${s##*:}
		res[tftp1-$n]+="$(rate $size one_tftp "$p") "
		res[tftp16-$n]+="$(rate $((size * 16)) many_tftp "$p") "
	done
	for s in oxcatd:18180 nginx:18280; do
		n=${s%%:*}; p=${s##*:}
		res[http1-$n]+="$(rate $size one_http "$p") "
		res[http16-$n]+="$(rate $((size * 16)) many_http "$p") "
		res[ka-$n]+="$(keepalive "$p") "
	done
done
med() { if grep -q FAILED <<<"${res[$1]}"; then echo 0; else tr ' ' '\n' <<<"${res[$1]}" | grep . | median; fi; }
echo "== TFTP, 30 MB (MB/s, median of $rounds)"
for k in tftp1 tftp16; do
	printf '%-8s oxcatd %7.1f   tftpd-hpa %7.1f   atftpd %7.1f   oxcatd/atftpd %.2fx\n' "$k" "$(med "$k-oxcatd")" "$(med "$k-tftpd-hpa")" "$(med "$k-atftpd")" \
		"$(awk -v a="$(med "$k-oxcatd")" -v b="$(med "$k-atftpd")" 'BEGIN {print a / b}')"
done
echo "== HTTP, 30 MB (MB/s, median of $rounds)"
for k in http1 http16; do
	printf '%-8s oxcatd %7.1f   nginx %7.1f   oxcatd/nginx %.2fx\n' "$k" "$(med "$k-oxcatd")" "$(med "$k-nginx")" \
		"$(awk -v a="$(med "$k-oxcatd")" -v b="$(med "$k-nginx")" 'BEGIN {print a / b}')"
done
echo "== HTTP keep-alive, 1,000 requests of 1 KB on one connection (requests/s, median of $rounds)"
printf '%-8s oxcatd %7.0f   nginx %7.0f   oxcatd/nginx %.2fx\n' ka "$(med ka-oxcatd)" "$(med ka-nginx)" \
	"$(awk -v a="$(med ka-oxcatd)" -v b="$(med ka-nginx)" 'BEGIN {print a / b}')"
