complete -c nodediscoverls -s t -d 'Only entries discovered this way: seq, mtms, mac, manual, undef, all (profile, switch, blade: xCAT\'s, never recorded here)' -r -f -a "seq\t''
profile\t''
switch\t''
blade\t''
manual\t''
mtms\t''
mac\t''
undef\t''
all\t''"
complete -c nodediscoverls -s u -d 'Only the entry of this machine' -r
complete -c nodediscoverls -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodediscoverls -s l -d 'Every field, as stanzas'
complete -c nodediscoverls -s V -l verbose -d 'Say more'
complete -c nodediscoverls -s h -l help -d 'Print help (see more with \'--help\')'
