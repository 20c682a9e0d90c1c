#!/usr/bin/env bash
# Foundation benchmarks (issue 2): times the release binary on 10,000 nodes and a 100,000-name
# noderange, prints the median of each and its ratio to the target. The machine is noisy: quote
# medians. Usage: bash bench/foundation.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --locked --quiet --bin oxcat --example noderange_bench
bin=$PWD/target/release/oxcat
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
"$bin" --install-links "$work/bin"
export PATH="$work/bin:$PATH"
echo secret > "$work/bmc.pw"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() { # name median_ms target_ms
	awk -v n="$1" -v m="$2" -v t="$3" 'BEGIN {printf "%-40s median %8.1f ms   target < %6.0f ms   (%.2fx of target)\n", n, m, t, m/t}'
}

enroll() {
	addbmnode 'n[00001-10000]' --bmc '|n(\d+)|10.1.($1/256).($1%256)|' --bmc-user admin \
		--bmc-password-file "$work/bmc.pw" --mac '|n(\d+)|52:54:00:00:(sprintf("%02x",$1/256)):(sprintf("%02x",$1%256))|' \
		--ip '|n(\d+)|10.2.($1/256).($1%256)|' --cpus 64 --memory 262144 --disk 1920 --arch x86_64 \
		--groups compute,rack1 >/dev/null
}

times=()
for i in $(seq "$runs"); do
	export OXCAT_DB="$work/run$i.db"
	nodels >/dev/null # create the store outside the timing
	t0=$(now); enroll; t1=$(now)
	times+=($(((t1 - t0) / 1000)))
done
report "addbmnode 10k nodes (regex values)" "$(printf '%s\n' "${times[@]}" | median | awk '{print $1/1000}')" 2000

export OXCAT_DB="$work/run1.db"
bench_cmd() { # name target_ms command...
	local name=$1 target=$2; shift 2
	local ts=()
	"$@" >/dev/null # warm the page cache
	for i in $(seq "$runs"); do
		t0=$(now); "$@" >/dev/null; t1=$(now)
		ts+=($(((t1 - t0) / 1000)))
	done
	report "$name" "$(printf '%s\n' "${ts[@]}" | median | awk '{print $1/1000}')" "$target"
}
bench_cmd "nodels all (10k nodes)" 100 nodels all
bench_cmd "lsdef all (10k nodes, every attribute)" 500 lsdef all
bench_cmd "nodels all ipmi.bmc (10k nodes, one column)" 100 nodels all ipmi.bmc
ms=$("$PWD/target/release/examples/noderange_bench" 100000 "$runs")
report "expand node[000001-100000] (100k names)" "$ms" 50
echo "store size for 10k nodes: $(du -k "$work/run1.db" | cut -f1) KiB"
