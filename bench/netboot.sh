#!/usr/bin/env bash
# Network boot time with oxcatd's empty IPv6 router advertisements ([dhcp] ipv6_ra = "empty", the
# default) and without ("off") (issue 9, item 8). A QEMU VM (TCG, SeaBIOS and its iPXE ROM, the
# test guest that tests/lab/vmimage.sh builds) network-boots from oxcatd inside a network namespace
# of the script's own, as tests/it/netboot.rs does; per boot, the seconds from QEMU's start until
# iPXE asks for the kernel, and until the guest's init prints "oxcat-lab: init". Alternating
# rounds in one run; prints the medians and the ratio off/empty.
# No traffic leaves the namespace. Usage: [OXCAT_BIN=PATH] bash bench/netboot.sh [ROUNDS]   (run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
for p in qemu-system-x86_64 cpio busybox ip; do
	command -v "$p" >/dev/null || {
		echo "bench/netboot.sh: installing qemu-system-x86, ipxe-qemu, cpio, busybox, iproute2 (apt-get)" >&2
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends qemu-system-x86 ipxe-qemu cpio busybox iproute2 >/dev/null
		break
	}
done
if [ -z "${OXCAT_BIN:-}" ]; then cargo build --release --locked --quiet --bin oxcat; fi
bin=${OXCAT_BIN:-$PWD/target/release/oxcat}
guest=$PWD/target/tmp/vmlab
sh tests/lab/vmimage.sh "$guest" >/dev/null
work=$(mktemp -d)
ns=oxnb$$
tap=tapnb$$
mac=52:54:00:12:34:01
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/tftp" "$work/postscripts"
cp postscripts/oxcatpost "$work/postscripts/"
"$bin" --install-links "$work/bin"
export PATH="$work/bin:$PATH" OXCAT_DB="$work/o.db"
chdef -t site master=10.99.0.1 "tftpdir=$work/tftp" >/dev/null
mkdef -t network -o vmnet net=10.99.0.0 mask=255.255.255.0 >/dev/null
mkdef n1 groups=compute "mac=$mac" ip=10.99.0.11 serialport=0 >/dev/null
addimage guest --kernel "$guest/vmlinuz" --initrd "$guest/initrd.img" >/dev/null

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One boot with ipv6_ra = $1: prints "SECONDS_TO_KERNEL SECONDS_TO_INIT", or FAILED.
boot() {
	local mode=$1 console=$work/console.log a t_kernel="" t_init="" oxpid qpid i
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" tuntap add "$tap" mode tap
	ip -n "$ns" link set "$tap" up
	ip -n "$ns" addr add 10.99.0.1/24 dev "$tap"
	printf 'postscripts = "%s"\n[http]\nlisten = ["10.99.0.1:80"]\n[tftp]\nlisten = ["10.99.0.1:69"]\n[dhcp]\nenable = true\ninterfaces = ["%s"]\nipv6_ra = "%s"\nlog = false\n' \
		"$work/postscripts" "$tap" "$mode" >"$work/oxcat.toml"
	nodeset n1 osimage=guest >/dev/null
	ip netns exec "$ns" "$work/bin/oxcatd" --config "$work/oxcat.toml" >"$work/oxcatd.out" 2>"$work/oxcatd.log" &
	oxpid=$!
	for _ in $(seq 100); do grep -q ready "$work/oxcatd.out" && break; sleep 0.1; done
	rm -f "$console"
	a=$(now)
	ip netns exec "$ns" qemu-system-x86_64 -accel tcg -m 256 -display none -vga none -nodefaults -no-user-config \
		-serial "file:$console" -device sga -boot order=n -no-reboot \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$mac" \
		>/dev/null 2>&1 &
	qpid=$!
	for i in $(seq 3000); do
		if [ -z "$t_kernel" ] && grep -aq 'install/images/guest/kernel' "$console" 2>/dev/null; then t_kernel=$(now); fi
		if grep -aq 'oxcat-lab: init' "$console" 2>/dev/null; then t_init=$(now); break; fi
		kill -0 "$qpid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$qpid" "$oxpid" 2>/dev/null || true
	wait "$qpid" "$oxpid" 2>/dev/null || true
	ip netns del "$ns"
	if [ -z "$t_kernel" ] || [ -z "$t_init" ]; then echo FAILED; return; fi
	awk -v a="$a" -v k="$t_kernel" -v i="$t_init" 'BEGIN {printf "%.1f %.1f\n", (k - a) / 1e9, (i - a) / 1e9}'
}

declare -A kernel init
for r in $(seq "$rounds"); do
	for mode in empty off; do
		read -r k i <<<"$(boot "$mode")"
		[ "$k" = FAILED ] && { echo "round $r, ipv6_ra = $mode: the VM did not boot"; exit 1; }
		kernel[$mode]+="$k "
		init[$mode]+="$i "
		echo "round $r, ipv6_ra = $mode: kernel requested after $k s, init after $i s"
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo "== network boot, QEMU start to kernel request / to the guest's init (s, median of $rounds)"
for mode in empty off; do
	printf 'ipv6_ra = %-6s kernel %6.1f s   init %6.1f s\n' "$mode" "$(med "${kernel[$mode]}")" "$(med "${init[$mode]}")"
done
printf 'off/empty: kernel %.2fx   init %.2fx\n' \
	"$(awk -v a="$(med "${kernel[off]}")" -v b="$(med "${kernel[empty]}")" 'BEGIN {print a / b}')" \
	"$(awk -v a="$(med "${init[off]}")" -v b="$(med "${init[empty]}")" 'BEGIN {print a / b}')"
