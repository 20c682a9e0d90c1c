complete -c nodeadd -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodeadd -s h -l help -d 'Print help'
