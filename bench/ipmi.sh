#!/usr/bin/env bash
# IPMI fan-out benchmark (issue 4): oxcat vs FreeIPMI ipmipower/ipmi-sensors vs an ipmitool loop,
# on N simulated BMCs. Usage: bash bench/ipmi.sh [N...]   (default 256 1000; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ipmi_sim >/dev/null && command -v ipmipower >/dev/null && command -v ipmitool >/dev/null && [ -x /usr/bin/time ] || {
	apt-get update -qq && apt-get install -y -qq --no-install-recommends openipmi ipmitool freeipmi-tools time >/dev/null
}
cargo build --release --locked --quiet --bin oxcat --example ipmi_bench
ulimit -n 65536 2>/dev/null || true
exec target/release/examples/ipmi_bench "$@"
