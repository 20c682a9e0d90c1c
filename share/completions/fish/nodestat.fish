complete -c nodestat -s t -l timeout -d 'Seconds to wait for each node\'s sshd (and the ICMP echo) to answer (default 2)' -r
complete -c nodestat -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodestat -s u -l updatedb -d 'Record sshd, ping or noping in nodelist.status (nodes under way keep theirs)'
complete -c nodestat -l json -d 'Print JSON Lines, one record per object'
complete -c nodestat -s h -l help -d 'Print help (see more with \'--help\')'
