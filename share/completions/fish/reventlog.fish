complete -c reventlog -s t -l timeout -d 'Seconds to wait for each BMC answer (default: site.ipmitimeout, else 2)' -r
complete -c reventlog -s r -l retries -d 'Times to send each request (default: site.ipmiretries, else 3)' -r
complete -c reventlog -s f -l fanout -d 'Most BMCs talked to at once (default 1024)' -r
complete -c reventlog -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c reventlog -l json -d 'Print JSON Lines, one record per object'
complete -c reventlog -s h -l help -d 'Print help (see more with \'--help\')'
