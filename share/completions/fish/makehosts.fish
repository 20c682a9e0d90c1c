complete -c makehosts -l file -d 'The hosts file to edit' -r
complete -c makehosts -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c makehosts -s n -d 'Replace the whole block with these nodes'
complete -c makehosts -s d -d 'Remove these nodes\' lines'
complete -c makehosts -s l -l longnamefirst -d 'Put the FQDN before the short name'
complete -c makehosts -s h -l help -d 'Print help'
