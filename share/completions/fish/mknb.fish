complete -c mknb -l tftpdir -d 'The TFTP root (default: site.tftpdir)' -r
complete -c mknb -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c mknb -s h -l help -d 'Print help'
