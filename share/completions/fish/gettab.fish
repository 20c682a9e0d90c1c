complete -c gettab -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c gettab -s H -l with-fieldname -d 'Always print \'table.column: value\''
complete -c gettab -l show-secrets -d 'Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)'
complete -c gettab -s h -l help -d 'Print help (see more with \'--help\')'
