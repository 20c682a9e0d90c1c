# Pieces the lab's guest images share (sourced by vmimage.sh and diskimage.sh, which include this
# file in their rebuild stamps): Debian's cloud kernel package, kernel modules with their
# dependencies, busybox's DHCP hook, and packing the initramfs. Messages name the sourcing script.
me=$(basename "$0")

# cloud_kernel_pkg: the package the linux-image-cloud-amd64 metapackage names (the current cloud
# kernel), from apt's lists.
cloud_kernel_pkg() {
	k=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
	[ -n "$k" ] || { echo "$me: no linux-image-cloud-amd64 in apt's lists (run apt-get update)" >&2; exit 1; }
	echo "$k"
}

# add_module MODS ROOT NAME: copies module NAME from the kernel's module tree MODS into
# ROOT/lib/modules/NAME.ko after its dependencies (read from .modinfo), appending each to $order
# (the insmod order); built-in modules need nothing. Module names say `_` where some file names
# say `-` (nls_iso8859-1.ko).
order=""
add_module() {
	case " $order " in *" $3 "*) return ;; esac
	pattern=$(echo "$3" | sed 's/[-_]/[-_]/g')
	grep -q "/$pattern\.ko\$" "$1/modules.builtin" && return
	f=$(find "$1" -name "$pattern.ko" | head -n 1)
	[ -n "$f" ] || { echo "$me: module $3 not in $1" >&2; exit 1; }
	cp "$f" "$2/lib/modules/$3.ko"
	# sh has no local variables: the recursion below reuses $f, so it is done with first.
	for d in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add_module "$1" "$2" "$d"; done
	order="$order $3"
}

# udhcpc_hook ROOT PREFIX: ROOT/udhcpc.sh, busybox udhcpc's script, which sets the lease's
# address and route and says "PREFIX: lease IP" on the console.
udhcpc_hook() {
	cat >"$1/udhcpc.sh" <<HOOK
#!/bin/sh
case "\$1" in
bound | renew)
	ip addr flush dev "\$interface"
	ip addr add "\$ip/\${mask:-24}" dev "\$interface"
	[ -n "\${router:-}" ] && ip route add default via "\${router%% *}" dev "\$interface"
	echo "$2: lease \$ip"
	;;
esac
exit 0
HOOK
	chmod 755 "$1/udhcpc.sh"
}

# pack_initramfs ROOT OUT: ROOT as a gzipped newc cpio archive in OUT.
pack_initramfs() {
	(cd "$1" && find . | cpio -o -H newc --quiet) | gzip -9 >"$2"
}
