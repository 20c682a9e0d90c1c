complete -c nodediscoverdef -s u -d 'The discovered machine (nodediscoverls lists them)' -r
complete -c nodediscoverdef -s n -d 'The node to define it as' -r
complete -c nodediscoverdef -s t -d 'Only entries discovered this way: seq, mtms, mac, manual, undef, all (profile, switch, blade: xCAT\'s, never recorded here)' -r -f -a "seq\t''
profile\t''
switch\t''
blade\t''
manual\t''
mtms\t''
mac\t''
undef\t''
all\t''"
complete -c nodediscoverdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodediscoverdef -s r -d 'Remove discovery entries (-u UUID or -t TYPE)'
complete -c nodediscoverdef -s V -l verbose -d 'Say more'
complete -c nodediscoverdef -s h -l help -d 'Print help (see more with \'--help\')'
