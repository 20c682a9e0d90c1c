complete -c updatenode -s f -l fanout -d 'Most nodes worked on at once (default: $DSH_FANOUT, else 64)' -r
complete -c updatenode -s t -l timeout -d 'Seconds to wait for a node\'s SSH session, and for output from its command before it is stopped (default: $DSH_TIMEOUT; else 10 s to connect, no limit on output)' -r
complete -c updatenode -s l -l user -d 'The user on the nodes (default root)' -r
complete -c updatenode -s P -l scripts -d 'Run only these postscripts (comma-separated; without a list: all of the node\'s postscripts and postbootscripts)' -r
complete -c updatenode -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c updatenode -l accept-hostkey -d 'Accept and record the host key of a node that has none recorded (a key that differs from the recorded one is still refused)'
complete -c updatenode -s F -l sync -d 'Copy the files the node\'s osimage synclists file names (lines \'SRC -> DST\')'
complete -c updatenode -s k -l security -d 'Refresh keys: install the cluster\'s public key on the nodes again'
complete -c updatenode -s h -l help -d 'Print help (see more with \'--help\')'
