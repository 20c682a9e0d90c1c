#!/usr/bin/env bash
# Time from `rinstall` to `booted` with oxcatd's empty IPv6 router advertisements ([dhcp] ipv6_ra =
# "empty", the default) and without ("off") (issue 9, item 8). One QEMU VM (TCG, SeaBIOS and its
# iPXE ROM, a blank 64 MiB disk) whose power is a simulated BMC's (ipmi_sim); oxcatd inside a
# network namespace of the test's own. Per round, in a fresh lab: `rinstall n1 osimage=testos -c`
# powers the VM on through the BMC, genesis writes the test OS (tests/lab/diskimage.sh) to the
# disk, the VM reboots, its network boot hands over to the disk, the test OS runs the first-boot
# script and reports booted; the seconds until rinstall exits, and from the console when iPXE
# configures the NIC (twice a cycle), genesis runs, the deploy ends and the test OS is up.
# Alternating rounds in one run; prints the medians and the ratio off/empty. The test is
# tests/it/deploy.rs bench_rinstall_to_booted_with_and_without_empty_router_advertisements (#[ignore]).
# No traffic leaves the namespace. Usage: bash bench/rinstall.sh [ROUNDS]   (run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
export OXCAT_BENCH_ROUNDS=${1:-3}
for p in qemu-system-x86_64 ipmi_sim sfdisk mkfs.vfat zstd strip ip; do
	command -v "$p" >/dev/null || {
		echo "bench/rinstall.sh: installing qemu-system-x86, ipxe-qemu, ovmf, openipmi, ipmitool, fdisk, dosfstools, zstd, binutils, iproute2 (apt-get)" >&2
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends qemu-system-x86 ipxe-qemu ovmf openipmi ipmitool fdisk \
			dosfstools zstd binutils iproute2 >/dev/null
		break
	}
done
cargo test --locked --quiet --test it deploy::bench_rinstall_to_booted_with_and_without_empty_router_advertisements \
	-- --ignored --nocapture --exact 2>&1 | grep -v -e '^running ' -e '^test result' -e 'has been running for over' -e '^\.$' -e '^$'
