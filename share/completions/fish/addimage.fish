complete -c addimage -l kernel -d 'The kernel file' -r -F
complete -c addimage -l initrd -d 'The initrd file' -r -F
complete -c addimage -l rootimg -d 'The root image (squashfs, cpio.gz, tar.gz ...) for netboot' -r -F
complete -c addimage -l kcmdline -d 'Extra kernel command line arguments' -r
complete -c addimage -l arch -d 'Architecture: x86_64, aarch64 or ppc64le' -r
complete -c addimage -l type -d 'netboot (default) or install' -r
complete -c addimage -s n -d 'Register a copy of image NAME as NEWNAME (given files replace the copied ones)' -r
complete -c addimage -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c addimage -s h -l help -d 'Print help'
