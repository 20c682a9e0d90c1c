#!/usr/bin/env bash
# bmcdiscover benchmark (issue 13): oxcat bmcdiscover vs a loop of `ipmitool lan print` over N
# simulated BMCs and D dead addresses. Usage: bash bench/bmcdiscover.sh [N [D [ROUNDS]]]
# (default 256 16 3; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ipmi_sim >/dev/null && command -v ipmitool >/dev/null || {
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openipmi ipmitool >/dev/null
}
cargo build --release --locked --quiet --bin oxcat --example bmcdiscover_bench
ulimit -n 65536 2>/dev/null || true
exec target/release/examples/bmcdiscover_bench "$@"
