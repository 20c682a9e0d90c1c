complete -c chtab -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c chtab -s d -l delete -d 'Delete the rows from the tables named after the keys'
complete -c chtab -s h -l help -d 'Print help (see more with \'--help\')'
