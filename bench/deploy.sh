#!/usr/bin/env bash
# Disk deploy time of a 512 MiB image to one VM against the floor in the same ramdisk (issue 9,
# "Must show"): tests/it/deploy_bench.rs boots a QEMU VM (TCG, 1 GiB RAM, a 1 GiB virtio disk)
# into genesis's shell from oxcatd in a network namespace of its own, then alternates, ROUNDS each,
# `wget -q -O- URL | dd of=/dev/vda bs=4M; sync` and `oxcat nodeagent deploy --plan ... --disk
# /dev/vda` with the same image, and prints each round, the medians and agent/floor (target
# <= 1.15x). genesis carries a release build of oxcat. No traffic leaves the namespace.
# Usage: [CPU=max] [FORMAT=raw|zst] bash bench/deploy.sh [ROUNDS]   (run as root)
# CPU is QEMU's -cpu (max: TCG emulates SHA-NI and AVX2, which sha2 detects at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${OXCAT_BIN:-}" ]; then cargo build --release --locked --quiet --bin oxcat; fi
OXCAT_BENCH_OXCAT=${OXCAT_BIN:-$PWD/target/release/oxcat} OXCAT_BENCH_ROUNDS=${1:-3} \
	OXCAT_BENCH_CPU=${CPU:-} OXCAT_BENCH_FORMAT=${FORMAT:-raw} \
	cargo test --locked --test it deploy_bench:: -- --ignored --nocapture --test-threads 1
