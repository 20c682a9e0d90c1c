complete -c xcoll -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c xcoll -s h -l help -d 'Print help'
