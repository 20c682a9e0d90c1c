complete -c mknb -l tftpdir -d 'The TFTP root (default: site.tftpdir)' -r
complete -c mknb -l arch -d 'genesis\'s architecture (x86_64)' -r
complete -c mknb -l debdir -d 'Where the .deb files are taken from, and downloaded to when missing (default: a temporary directory)' -r
complete -c mknb -l oxcat -d 'The oxcat binary installed in genesis (default: this one)' -r
complete -c mknb -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c mknb -l loaders-only -d 'Only the boot programs, not genesis'
complete -c mknb -l genesis-only -d 'Only genesis, not the boot programs'
complete -c mknb -s h -l help -d 'Print help (see more with \'--help\')'
