complete -c rinstall -s t -l timeout -d 'With -c: how long to wait for the nodes to boot' -r
complete -c rinstall -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c rinstall -s c -l wait -d 'Follow the nodes\' status until each booted or failed; exit 1 if any failed or timed out'
complete -c rinstall -s u -l uefimode -d 'rsetboot net in UEFI mode'
complete -c rinstall -s h -l help -d 'Print help (see more with \'--help\')'
