complete -c mkdef -s t -d 'Object type: node, group, osimage, network or site' -r -f -a "node\t''
group\t''
osimage\t''
network\t''
site\t''"
complete -c mkdef -s o -d 'Object names, comma-separated (instead of a noderange)' -r
complete -c mkdef -s w -d 'With -t group: select the group\'s members (with -d: its criteria)' -r
complete -c mkdef -l template -d 'Start from a shipped template (lsdef --template; its MANDATORY attributes must be given) or an existing object of the type' -r
complete -c mkdef -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c mkdef -s z -d 'Read stanzas (lsdef -z format) from standard input; passwords must be real, not ********'
complete -c mkdef -s f -l force -d 'Replace existing definitions'
complete -c mkdef -s d -l dynamic -d 'With -t group: a dynamic group, whose members are the nodes matching -w when it is used'
complete -c mkdef -s h -l help -d 'Print help'
