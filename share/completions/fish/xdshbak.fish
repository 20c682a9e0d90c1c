complete -c xdshbak -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c xdshbak -s c -d 'Show identical outputs once, headed by all their nodes (as a noderange)'
complete -c xdshbak -s x -d 'No header lines: the \'node: \' lines sorted by node'
complete -c xdshbak -s b -d 'With -x: strip the \'node: \' prefixes'
complete -c xdshbak -s q -d 'Accepted for xCAT compatibility (oxcat prints no progress dots)'
complete -c xdshbak -s h -l help -d 'Print help'
