complete -c rsetboot -s t -l timeout -d 'Seconds to wait for each BMC answer (default: site.ipmitimeout, else 2)' -r
complete -c rsetboot -s r -l retries -d 'Times to send each request (default: site.ipmiretries, else 3)' -r
complete -c rsetboot -s f -l fanout -d 'Most BMCs talked to at once (default 1024)' -r
complete -c rsetboot -l media -d 'With cd: insert the ISO at URL in the BMC\'s virtual CD/DVD and boot from it (Redfish)' -r
complete -c rsetboot -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c rsetboot -l json -d 'Print JSON Lines, one record per object'
complete -c rsetboot -l eject -d 'With cd: eject the virtual CD/DVD (Redfish)'
complete -c rsetboot -s u -d 'Boot in UEFI mode'
complete -c rsetboot -s p -d 'For every boot, not only the next'
complete -c rsetboot -s h -l help -d 'Print help (see more with \'--help\')'
