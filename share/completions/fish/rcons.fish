complete -c rcons -l log -d 'Print the last LINES lines (default 50) of the node\'s console log kept by oxcatd, and exit' -r
complete -c rcons -l config -d 'oxcatd\'s settings, for its console socket and logs (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)' -r
complete -c rcons -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c rcons -s f -l force -d 'Take the console over: from another SOL session on the BMC, or write access from another rcons'
complete -c rcons -s r -l readonly -d 'Watch only: nothing typed is sent'
complete -c rcons -s h -l help -d 'Print help (see more with \'--help\')'
