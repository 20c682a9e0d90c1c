#!/bin/sh
# Builds the guest the network-boot tests boot under QEMU: Debian's cloud kernel and a busybox
# initramfs whose /init brings up the NIC, fetches oxcatpost from the server named on the kernel
# command line, runs it, fetches its pxelinux config over TFTP, and powers off. With
# `oxcat.lab.ssh` on the kernel command line it first starts dropbear (new ed25519 host key, shown
# on the console as "oxcat-lab: dropbear KEY") and, after oxcatpost, stays up until /tmp/poweroff
# exists (an xdsh can end it). Everything comes from Debian's packages (apt-get download,
# dpkg -x; nothing is installed). Output: DIR/vmlinuz, DIR/initrd.img. Reruns are free once built
# (until this script changes).
#   usage: vmimage.sh DIR
set -eu
dir=${1:?usage: vmimage.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for t in apt-get apt-cache dpkg cpio gzip objdump; do
	command -v $t >/dev/null || { echo "vmimage.sh: $t is missing" >&2; exit 1; }
done
lib=$(dirname "$0")/initramfs.sh
. "$lib"
# Built already by this version of the script (and of initramfs.sh): nothing to do.
stamp=$(cat "$0" "$lib" | cksum)
[ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# The metapackage names the current cloud kernel; download that, busybox-static, and dropbear-bin
# with the libraries it needs (its dependencies, recursively).
kpkg=$(cloud_kernel_pkg)
dpkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
	--no-enhances dropbear-bin | grep -v '^ ' | grep -v '^<' | sort -u)
# shellcheck disable=SC2086 # one word per package
apt-get download -q "$kpkg" busybox-static $dpkgs >/dev/null 2>&1 ||
	{ echo "vmimage.sh: apt-get download $kpkg busybox-static $dpkgs failed" >&2; exit 1; }
for deb in ./*.deb; do dpkg -x "$deb" x; done
kver=${kpkg#linux-image-}
mods=x/lib/modules/$kver

root=initramfs
mkdir -p $root/bin $root/proc $root/sys $root/dev $root/tmp $root/etc $root/lib/modules
cp x/bin/busybox $root/bin/busybox

# dropbear and dropbearkey with the shared libraries they need (NEEDED entries, recursively) and
# the dynamic loader.
libdir=$root/lib/x86_64-linux-gnu
mkdir -p $libdir $root/lib64 $root/usr/sbin $root/usr/bin
cp x/usr/sbin/dropbear $root/usr/sbin/
cp x/usr/bin/dropbearkey $root/usr/bin/
cp -L x/lib64/ld-linux-x86-64.so.2 $root/lib64/
libs() {
	for lib in $(objdump -p "$1" | sed -n 's/^ *NEEDED *//p'); do
		[ -e "$libdir/$lib" ] && continue
		f=$(find x/lib x/usr/lib -name "$lib" 2>/dev/null | head -n 1)
		[ -n "$f" ] || { echo "vmimage.sh: $lib (needed by $1) is in none of: $dpkgs" >&2; exit 1; }
		cp -L "$f" "$libdir/$lib"
		libs "$libdir/$lib"
	done
}
libs $root/usr/sbin/dropbear
libs $root/usr/bin/dropbearkey

# virtio-net and virtio-pci with their dependencies.
add_module "$mods" $root virtio_pci
add_module "$mods" $root virtio_net

cat >$root/init <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "oxcat-lab: init"
for m in$order; do insmod /lib/modules/\$m.ko; done
EOF
cat >>$root/init <<'EOF'
# A hung step must not keep the VM (and the test waiting for it) up.
(sleep 600; echo "oxcat-lab: timed out"; poweroff -f) &
ip link set lo up
nic=
for i in 1 2 3 4 5 6 7 8 9 10; do
	nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
	[ -n "$nic" ] && break
	sleep 1
done
ip link set "$nic" up
udhcpc -i "$nic" -n -q -t 10 -T 2 -s /udhcpc.sh || echo "oxcat-lab: no DHCP lease"
server=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^oxcat\.server=//p')
echo "oxcat-lab: server $server"
# The node's pxelinux config by MAC over TFTP, as pxelinux would ask for it (rendered by oxcatd,
# which serves it, with the token in it, until the node reports the end of its boot).
host=${server#*://}
host=${host%%[:/]*}
cfg=pxelinux.cfg/01-$(tr ':' '-' </sys/class/net/"$nic"/address)
fetch_cfg() {
	if tftp -g -r "$cfg" -l /tmp/pxe.cfg "$host"; then
		echo "oxcat-lab: $1tftp $cfg: $(head -n 1 /tmp/pxe.cfg)"
	else
		echo "oxcat-lab: $1tftp $cfg failed"
	fi
}
fetch_cfg ""
ssh=
grep -qw 'oxcat\.lab\.ssh' /proc/cmdline && ssh=1
if [ -n "$ssh" ]; then
	mkdir -p /etc/dropbear /dev/pts
	mount -t devpts devpts /dev/pts
	key=/etc/dropbear/dropbear_ed25519_host_key
	dropbearkey -t ed25519 -f $key >/dev/null 2>&1
	dropbear -r $key -p 22
	echo "oxcat-lab: dropbear $(dropbearkey -y -f $key | grep '^ssh-' | cut -d ' ' -f 1-2)"
fi
if wget -q -O /tmp/oxcatpost "$server/postscripts/oxcatpost"; then
	sh /tmp/oxcatpost
	echo "oxcat-lab: oxcatpost exit $?"
else
	echo "oxcat-lab: could not fetch oxcatpost"
fi
fetch_cfg "after the boot, "
if [ -n "$ssh" ]; then
	echo "oxcat-lab: up until /tmp/poweroff"
	while [ ! -e /tmp/poweroff ]; do sleep 1; done
fi
echo "oxcat-lab: powering off"
poweroff -f
EOF
udhcpc_hook $root oxcat-lab
chmod 755 $root/init
# root's password is oxcat-lab (openssl passwd -6 -salt oxcatlab oxcat-lab), for dropbear's
# password login (xdsh -K, updatenode -k).
echo 'root:$6$oxcatlab$ef7HG3ztqIUUHYxtEpjSbsXP8TWK4oeCO9ltowLHlEkVZgkOlYoC1zg.nmk5RqkL0H72r.Q1Q1.GCI61ZKVoq.:0:0:root:/root:/bin/sh' >$root/etc/passwd

pack_initramfs $root "$dir/initrd.img.part"
cp "x/boot/vmlinuz-$kver" "$dir/vmlinuz.part"
mv "$dir/initrd.img.part" "$dir/initrd.img"
mv "$dir/vmlinuz.part" "$dir/vmlinuz"
echo "$stamp" >"$dir/stamp"
