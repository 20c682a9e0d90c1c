complete -c xdsh -s f -l fanout -d 'Most nodes worked on at once (default: $DSH_FANOUT, else 64)' -r
complete -c xdsh -s t -l timeout -d 'Seconds to wait for a node\'s SSH session, and for output from its command before it is stopped (default: $DSH_TIMEOUT; else 10 s to connect, no limit on output)' -r
complete -c xdsh -s l -l user -d 'The user on the nodes (default root)' -r
complete -c xdsh -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c xdsh -l accept-hostkey -d 'Accept and record the host key of a node that has none recorded (a key that differs from the recorded one is still refused)'
complete -c xdsh -s s -l stream -d 'Print output as it arrives (unsorted) instead of each node\'s when it finishes'
complete -c xdsh -s z -l exit-status -d 'Print each node\'s exit status: \'node: Remote_command_rc = N\''
complete -c xdsh -s e -l execute -d 'COMMAND is a local script (and its arguments): copied to a temporary file on each node and run there'
complete -c xdsh -s Q -l silent -d 'Print no output from the nodes (errors and the exit status still count)'
complete -c xdsh -s K -l ssh-setup -d 'Install the cluster\'s public key in the user\'s authorized_keys on the nodes (logs in with the key, else with the password in $DSH_REMOTE_PASSWORD)'
complete -c xdsh -s c -l cleanup -d 'Remove the files oxcat staged on the nodes (/var/lib/oxcat/post, where updatenode puts postscripts)'
complete -c xdsh -l json -d 'Print JSON Lines, one record per object'
complete -c xdsh -s h -l help -d 'Print help (see more with \'--help\')'
