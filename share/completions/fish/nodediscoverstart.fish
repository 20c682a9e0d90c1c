complete -c nodediscoverstart -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodediscoverstart -s n -l dns -d 'Recorded as dns=yes (as xCAT\'s; oxcat runs no DNS update)'
complete -c nodediscoverstart -s s -l skipbmcsetup -d 'Skip the chain\'s runcmd=bmcsetup'
complete -c nodediscoverstart -s V -l verbose -d 'Say more'
complete -c nodediscoverstart -s h -l help -d 'Print help (see more with \'--help\')'
