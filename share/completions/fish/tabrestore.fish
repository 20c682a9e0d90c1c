complete -c tabrestore -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c tabrestore -s a -l addrows -d 'Add the rows instead of replacing the table'
complete -c tabrestore -s h -l help -d 'Print help'
