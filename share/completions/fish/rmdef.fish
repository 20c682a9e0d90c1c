complete -c rmdef -s t -d 'Object type: node, group, osimage, network or site' -r -f -a "node\t''
group\t''
osimage\t''
network\t''
site\t''"
complete -c rmdef -s o -d 'Object names, comma-separated (instead of a noderange)' -r
complete -c rmdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c rmdef -s a -l all -d 'Remove every node, group, osimage and network (needs -f; the site object stays)'
complete -c rmdef -s f -l force -d 'Confirm -a; remove an osimage even while nodes are set to boot it'
complete -c rmdef -s h -l help -d 'Print help'
