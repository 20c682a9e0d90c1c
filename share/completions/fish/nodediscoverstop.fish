complete -c nodediscoverstop -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodediscoverstop -s V -l verbose -d 'Say more'
complete -c nodediscoverstop -s h -l help -d 'Print help (see more with \'--help\')'
