complete -c nodels -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodels -s b -l blame -d 'Show which group a value is inherited from'
complete -c nodels -s H -l with-fieldname -d 'Always print \'node: table.column: value\''
complete -c nodels -s S -d 'Also list hidden nodes (nodelist.hidden=1)'
complete -c nodels -l json -d 'Print JSON Lines, one record per object'
complete -c nodels -l show-secrets -d 'Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)'
complete -c nodels -s h -l help -d 'Print help'
