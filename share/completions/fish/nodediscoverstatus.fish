complete -c nodediscoverstatus -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodediscoverstatus -s V -l verbose -d 'Say more'
complete -c nodediscoverstatus -s h -l help -d 'Print help (see more with \'--help\')'
