complete -c tabedit -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c tabedit -l show-secrets -d 'Show passwords in the file instead of ******** (a ******** left in a row keeps its password)'
complete -c tabedit -s h -l help -d 'Print help (see more with \'--help\')'
