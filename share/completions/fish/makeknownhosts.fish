complete -c makeknownhosts -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c makeknownhosts -s r -l remove -d 'Forget the nodes\' host keys (after a reinstall): remove them from the table and the file'
complete -c makeknownhosts -s h -l help -d 'Print help (see more with \'--help\')'
