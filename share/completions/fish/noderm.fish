complete -c noderm -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c noderm -s h -l help -d 'Print help'
