complete -c xdcp -s f -l fanout -d 'Most nodes worked on at once (default: $DSH_FANOUT, else 64)' -r
complete -c xdcp -s t -l timeout -d 'Seconds to wait for a node\'s SSH session, and for output from its command before it is stopped (default: $DSH_TIMEOUT; else 10 s to connect, no limit on output)' -r
complete -c xdcp -s l -l user -d 'The user on the nodes (default root)' -r
complete -c xdcp -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c xdcp -l accept-hostkey -d 'Accept and record the host key of a node that has none recorded (a key that differs from the recorded one is still refused)'
complete -c xdcp -s r -l recursive -d 'Copy directories and what they hold'
complete -c xdcp -s p -l preserve -d 'Keep modes and modification times'
complete -c xdcp -s P -l pull -d 'Copy SRC from each node into the local directory DST, as SRC\'s name followed by ._NODE'
complete -c xdcp -s h -l help -d 'Print help'
