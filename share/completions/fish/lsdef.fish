complete -c lsdef -s t -d 'Object type: node, group, osimage, network or site' -r -f -a "node\t''
group\t''
osimage\t''
network\t''
site\t''"
complete -c lsdef -s o -d 'Object names, comma-separated (instead of a noderange)' -r
complete -c lsdef -s i -d 'Print only these attributes, comma-separated (unset ones as attr=)' -r
complete -c lsdef -s w -d 'Select objects: attr==val, attr!=val, attr=~regex, attr!~regex' -r
complete -c lsdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c lsdef -s z -d 'Print stanzas that mkdef -z reads back'
complete -c lsdef -s l -d 'Print every attribute (the default when objects are named)'
complete -c lsdef -s c -d 'Print \'name: attr=value\' lines'
complete -c lsdef -l table -d 'Print a table: one row per object, one column per attribute (-i picks the columns)'
complete -c lsdef -l json -d 'Print JSON Lines, one record per object'
complete -c lsdef -l show-secrets -d 'Print passwords instead of ********'
complete -c lsdef -s h -l help -d 'Print help'
