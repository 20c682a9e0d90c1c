complete -c oxcatd -l config -d 'Bootstrap settings (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)' -r
complete -c oxcatd -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c oxcatd -s h -l help -d 'Print help (see more with \'--help\')'
