complete -c lsdef -s t -d 'Object types, comma-separated: node, group, osimage, network, site (default: node)' -r
complete -c lsdef -s o -d 'Object names, comma-separated (instead of a noderange)' -r
complete -c lsdef -l template -d 'List the object definition templates oxcat ships (of -t\'s type, or these)' -r
complete -c lsdef -s i -d 'Print only these attributes, comma-separated (unset ones as attr=)' -r
complete -c lsdef -s w -d 'Select objects: attr==val, attr!=val, attr=~regex, attr!~regex' -r
complete -c lsdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c lsdef -s a -l all -d 'List the objects of every type'
complete -c lsdef -s s -l short -d 'Print only the object names'
complete -c lsdef -s S -d 'Also list hidden nodes (nodelist.hidden=1)'
complete -c lsdef -s h -l help -d 'With -t: describe the type\'s attributes (-i: only these); otherwise print this help'
complete -c lsdef -s z -d 'Print stanzas that mkdef -z reads back'
complete -c lsdef -s l -d 'Print every attribute (the default when objects are named)'
complete -c lsdef -s c -d 'Print \'name: attr=value\' lines'
complete -c lsdef -l table -d 'Print a table: one row per object, one column per attribute (-i picks the columns)'
complete -c lsdef -l json -d 'Print JSON Lines, one record per object'
complete -c lsdef -l show-secrets -d 'Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)'
