complete -c tabdump -s f -d 'Write the CSV to FILE instead of standard output' -r
complete -c tabdump -s w -d 'Only the rows that match: ==, !=, =~ and !~ (SQL LIKE: % is the wildcard), <, <=, >, >=; not on a password column' -r
complete -c tabdump -s n -l lines -d 'The N newest records of the auditlog' -r
complete -c tabdump -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c tabdump -s d -d 'Describe the table\'s columns (or, without a table, every table)'
complete -c tabdump -l show-secrets -d 'Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)'
complete -c tabdump -s h -l help -d 'Print help'
