complete -c makegocons -l config -d 'oxcatd\'s settings, for its console socket (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)' -r
complete -c makegocons -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c makegocons -s h -l help -d 'Print help (see more with \'--help\')'
