complete -c nodeset -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c nodeset -s a -d 'With stat: the state on every server (oxcat has one: the same as stat)'
complete -c nodeset -l show -d 'Print the configs the nodes would be served; change nothing'
complete -c nodeset -l files -d 'Also write the configs under site.tftpdir, for a TFTP server other than oxcatd (oxcatd renders them on request)'
complete -c nodeset -s h -l help -d 'Print help (see more with \'--help\')'
