complete -c addimage -l kernel -d 'The kernel file' -r -F
complete -c addimage -l initrd -d 'The initrd file' -r -F
complete -c addimage -l rootimg -d 'The root image (squashfs, cpio.gz, tar.gz ...) for netboot' -r -F
complete -c addimage -l kcmdline -d 'Extra kernel command line arguments' -r
complete -c addimage -l arch -d 'Architecture: x86_64, aarch64 or ppc64le' -r
complete -c addimage -l type -d 'netboot (default) or install' -r
complete -c addimage -l disk -d 'A whole-disk image (raw, raw.gz, raw.zst, raw.xz or qcow2) to deploy to nodes\' disks' -r -F
complete -c addimage -l format -d 'With --disk: raw or qcow2 (default: told by the file\'s first bytes; qcow2 is converted to raw with qemu-img)' -r
complete -c addimage -l rootdevice -d 'With --disk: root device hints, e.g. serial=S,size>=100 (the node\'s rootdevice wins)' -r
complete -c addimage -l userdata -d 'With --disk: cloud-init user data for the deployed nodes (copied as user-data)' -r -F
complete -c addimage -s n -d 'Register a copy of image NAME as NEWNAME (given files replace the copied ones)' -r
complete -c addimage -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c addimage -s h -l help -d 'Print help (see more with \'--help\')'
