complete -c rpower -s t -l timeout -d 'Seconds to wait for each BMC answer (default: site.ipmitimeout, else 2)' -r
complete -c rpower -s r -l retries -d 'Times to send each request (default: site.ipmiretries, else 3)' -r
complete -c rpower -s f -l fanout -d 'Most BMCs talked to at once (default 1024)' -r
complete -c rpower -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c rpower -l json -d 'Print JSON Lines, one record per object'
complete -c rpower -s h -l help -d 'Print help (see more with \'--help\')'
