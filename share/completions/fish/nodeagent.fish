complete -c nodeagent -l server -d 'oxcatd\'s HTTP address, http://HOST:PORT (default: oxcat.server= of /proc/cmdline)' -r
complete -c nodeagent -l node -d 'This node\'s name (default: oxcat.node= of /proc/cmdline)' -r
complete -c nodeagent -l token -d 'This node\'s boot token (default: oxcat.token= of /proc/cmdline)' -r
complete -c nodeagent -l disk -d 'Write to PATH (a block device or a regular file) instead of the disk the root device hints choose' -r -F
complete -c nodeagent -l plan -d 'Take the plan (JSON) from FILE instead of the server; statuses still go to --server if given, else only to the log' -r -F
complete -c nodeagent -l log -d 'Also log to FILE (default: /var/log/oxcat-agent.log, if it can be written)' -r -F
complete -c nodeagent -l sysfs -d 'Read the disks from DIR/block (default: /sys)' -r -F
complete -c nodeagent -l root -d 'discover: read the inventory under DIR (DIR/sys, DIR/proc; default: /)' -r -F
complete -c nodeagent -l ipmi -d 'discover: the in-band IPMI device (default: /dev/ipmi0, used if present)' -r -F
complete -c nodeagent -l reply -d 'discover: write the server\'s reply (JSON) to FILE (default: /run/oxcat-discover.json)' -r -F
complete -c nodeagent -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodeagent -l dry-run -d 'discover: print the report (JSON) instead of posting it'
complete -c nodeagent -l json -d 'Print JSON Lines, one record per object'
complete -c nodeagent -s h -l help -d 'Print help (see more with \'--help\')'
