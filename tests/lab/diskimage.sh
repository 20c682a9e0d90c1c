#!/bin/sh
# Builds the test OS the disk-deploy tests write to a VM's disk: DIR/disk.raw, a whole-disk image
# that boots under QEMU with BIOS (SeaBIOS) and with UEFI (OVMF). Made without loop devices,
# mounts or root: a GPT made by sfdisk on a file, one EFI System Partition (a FAT made as a file
# with mkfs.vfat and filled with mtools, then copied in at its offset) holding
#   - BIOS: syslinux (installed onto the FAT file by its mtools installer) and syslinux.cfg; the
#     first 440 bytes of the disk are syslinux's gptmbr.bin, which boots the partition marked
#     LegacyBIOSBootable;
#   - UEFI: \EFI\BOOT\BOOTX64.EFI, a standalone GRUB whose embedded grub.cfg boots from the
#     partition it was loaded from;
# and the same kernel (Debian's cloud kernel) and busybox initramfs for both. Its /init is "the
# deployed OS": it reports on the serial console that it booted from disk, reads the NoCloud seed
# (the partition labelled CIDATA) and runs the seed's oxcat-firstboot.sh, then powers off.
# Kernel and busybox come from Debian's packages (apt-get download into $OXCAT_LAB_DOWNLOADS,
# default DIR/download, kept for rebuilds; dpkg -x; nothing is installed). Reruns are free once built (until this script or
# SIZE_MIB changes).
#   usage: diskimage.sh DIR [SIZE_MIB]
# SIZE_MIB pads the image to that size with a second partition of random data (so that a large
# benchmark image does not compress to nothing); without it the image is as small as it can be.
set -eu
dir=${1:?usage: diskimage.sh DIR [SIZE_MIB]}
size_mib=${2:-}
case "$size_mib" in
'' | *[!0-9]*) [ -z "$size_mib" ] || { echo "diskimage.sh: SIZE_MIB must be a number of MiB, not $size_mib" >&2; exit 1; } ;;
esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
PATH=$PATH:/usr/sbin:/sbin
for t in apt-get apt-cache dpkg cpio gzip sfdisk mkfs.vfat mcopy mmd syslinux grub-mkstandalone; do
	command -v $t >/dev/null || { echo "diskimage.sh: $t is missing" >&2; exit 1; }
done
gptmbr=/usr/lib/syslinux/mbr/gptmbr.bin
[ -f $gptmbr ] || { echo "diskimage.sh: $gptmbr is missing (package syslinux-common)" >&2; exit 1; }
lib=$(dirname "$0")/initramfs.sh
. "$lib"
# Built already by this version of the script (and of initramfs.sh): nothing to do.
stamp="$(cat "$0" "$lib" | cksum) $size_mib"
[ -s "$dir/disk.raw" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The metapackage names the current cloud kernel; download that and busybox-static once.
kpkg=$(cloud_kernel_pkg)
downloads=${OXCAT_LAB_DOWNLOADS:-$dir/download}
mkdir -p "$downloads"
for p in "$kpkg" busybox-static; do
	ls "$downloads/${p}"_*.deb >/dev/null 2>&1 && continue
	(cd "$work" && apt-get download -q "$p" >/dev/null 2>&1 && mv ./*.deb "$downloads/") ||
		{ echo "diskimage.sh: apt-get download $p failed" >&2; exit 1; }
done
cd "$work"
for p in "$kpkg" busybox-static; do dpkg -x "$(ls "$downloads/${p}"_*.deb | tail -n 1)" x; done
kver=${kpkg#linux-image-}
mods=x/lib/modules/$kver

root=initramfs
mkdir -p $root/bin $root/proc $root/sys $root/dev $root/tmp $root/etc $root/seed $root/lib/modules
cp x/bin/busybox $root/bin/busybox

# The modules to read the disk and its seed and to reach the network, each with its dependencies.
# vfat mounts with the kernel's default character sets unless told otherwise (Debian's: ascii, 437).
config=x/boot/config-$kver
iocharset=$(sed -n 's/^CONFIG_FAT_DEFAULT_IOCHARSET="\(.*\)"$/\1/p' "$config")
codepage=$(sed -n 's/^CONFIG_FAT_DEFAULT_CODEPAGE=//p' "$config")
for m in virtio_pci virtio_blk virtio_scsi sd_mod vfat nls_cp437 nls_iso8859_1 nls_utf8 \
	"nls_${iocharset:-ascii}" "nls_cp${codepage:-437}" virtio_net; do
	add_module "$mods" $root "$m"
done

cat >$root/init <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "oxcat-testos: booted from disk"
for m in$order; do insmod /lib/modules/\$m.ko; done
EOF
cat >>$root/init <<'EOF'
# A hung step must not keep the VM (and the test waiting for it) up.
(sleep 600; echo "oxcat-testos: timed out"; poweroff -f) &
ip link set lo up
# The seed: the partition labelled CIDATA. Disks show up while the drivers probe: wait for the
# first (at most 10 s), then give the others a second.
for i in 1 2 3 4 5 6 7 8 9 10; do
	ls /sys/block | grep -qv -e '^loop' -e '^ram' && break
	sleep 1
done
seed=$(findfs LABEL=CIDATA 2>/dev/null) || { sleep 1; seed=$(findfs LABEL=CIDATA 2>/dev/null); } || seed=
if [ -n "$seed" ] && mount -t vfat -o ro "$seed" /seed; then
	echo "oxcat-testos: seed on $seed"
	# A YAML scalar, plain or double-quoted (oxcatd quotes every value), as cloud-init reads it.
	name=$(sed -n 's/^local-hostname: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' /seed/meta-data 2>/dev/null)
	echo "oxcat-testos: seed hostname $name"
	[ -n "$name" ] && hostname "$name"
	if [ -f /seed/oxcat-firstboot.sh ]; then
		nic=
		for i in 1 2 3 4 5 6 7 8 9 10; do
			nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
			[ -n "$nic" ] && break
			sleep 1
		done
		if [ -n "$nic" ]; then
			ip link set "$nic" up
			udhcpc -i "$nic" -n -q -t 10 -T 2 -s /udhcpc.sh || echo "oxcat-testos: no DHCP lease"
		else
			echo "oxcat-testos: no NIC"
		fi
		sh /seed/oxcat-firstboot.sh
		echo "oxcat-testos: firstboot exit $?"
	fi
else
	echo "oxcat-testos: no seed"
fi
echo "oxcat-testos: powering off"
poweroff -f
EOF
udhcpc_hook $root oxcat-testos
chmod 755 $root/init
echo "root:x:0:0:root:/root:/bin/sh" >$root/etc/passwd
pack_initramfs $root initrd.img
cp "x/boot/vmlinuz-$kver" vmlinuz

cmdline="console=ttyS0,115200 panic=10"
cat >syslinux.cfg <<EOF
SERIAL 0 115200
DEFAULT oxcat-testos
PROMPT 0
TIMEOUT 0
LABEL oxcat-testos
	KERNEL /vmlinuz
	APPEND initrd=/initrd.img $cmdline
EOF
# $cmdpath is where the firmware loaded GRUB from, e.g. (hd0,gpt1)/EFI/BOOT: boot from that
# partition, not from another disk that happens to hold the same files.
cat >grub.cfg <<EOF
set timeout=0
regexp --set 1:root '^\(([^)]+)\)' "\$cmdpath"
echo "oxcat-testos: grub on \$root"
linux /vmlinuz $cmdline
initrd /initrd.img
boot
EOF
grub-mkstandalone -O x86_64-efi -o BOOTX64.EFI --locales= --fonts= --themes= \
	--install-modules="linux normal regexp echo part_gpt part_msdos fat boot" \
	--modules="part_gpt part_msdos fat" "boot/grub/grub.cfg=grub.cfg"

# The ESP: what it holds plus 2 MiB for the file system, in whole MiB, at 1 MiB on the disk.
esp_mib=$(($(cat vmlinuz initrd.img BOOTX64.EFI | wc -c) / 1048576 + 3))
mkfs.vfat -C -n OXTESTOS -h 2048 esp.img $((esp_mib * 1024)) >/dev/null
syslinux --install esp.img
export MTOOLS_SKIP_CHECK=1
mcopy -i esp.img vmlinuz initrd.img syslinux.cfg ::/
mmd -i esp.img ::/EFI ::/EFI/BOOT
mcopy -i esp.img BOOTX64.EFI ::/EFI/BOOT/

# Disk: 1 MiB for the MBR and primary GPT, the ESP, then the pad, then the backup GPT (1 MiB).
min_mib=$((esp_mib + 2))
disk_mib=${size_mib:-$min_mib}
[ "$disk_mib" -ge "$min_mib" ] || { echo "diskimage.sh: SIZE_MIB must be at least $min_mib" >&2; exit 1; }
rm -f disk.raw
truncate -s ${disk_mib}M disk.raw
{
	echo "label: gpt"
	echo "start=2048, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI System\", attrs=\"LegacyBIOSBootable\""
	if [ "$disk_mib" -gt "$min_mib" ]; then
		echo "start=$(((min_mib - 1) * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"pad\""
	fi
} | sfdisk --no-reread --no-tell-kernel -q disk.raw >/dev/null
dd if=$gptmbr of=disk.raw bs=440 count=1 conv=notrunc status=none
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
if [ "$disk_mib" -gt "$min_mib" ]; then
	head -c $(((disk_mib - min_mib) * 1048576)) /dev/urandom |
		dd of=disk.raw bs=1M seek=$((min_mib - 1)) conv=notrunc iflag=fullblock status=none
fi
mv disk.raw "$dir/disk.raw"
echo "$stamp" >"$dir/stamp"
