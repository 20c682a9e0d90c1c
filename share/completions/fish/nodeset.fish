complete -c nodeset -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodeset -l show -d 'Print the files that would be written; change nothing'
complete -c nodeset -s h -l help -d 'Print help'
