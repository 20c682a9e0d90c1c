complete -c chdef -s t -d 'Object type: node, group, osimage, network or site' -r -f -a "node\t''
group\t''
osimage\t''
network\t''
site\t''"
complete -c chdef -s o -d 'Object names, comma-separated (instead of a noderange)' -r
complete -c chdef -s n -d 'Rename the one object given' -r
complete -c chdef -s w -d 'Change only the objects that match (all of the type when none are named); for a group, select its members' -r
complete -c chdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c chdef -s z -d 'Read stanzas (lsdef -z format) from standard input; passwords must be real, not ********'
complete -c chdef -s p -l plus -d 'Add the values to list attributes'
complete -c chdef -s m -l minus -d 'Remove the values from list attributes'
complete -c chdef -s d -l dynamic -d 'With -t group: a dynamic group, whose members are the nodes matching -w when it is used'
complete -c chdef -s h -l help -d 'Print help'
