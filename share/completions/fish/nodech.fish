complete -c nodech -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodech -s d -l delete -d 'Delete the nodes\' rows from the tables named after the noderange'
complete -c nodech -s h -l help -d 'Print help (see more with \'--help\')'
