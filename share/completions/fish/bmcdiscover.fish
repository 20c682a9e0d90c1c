complete -c bmcdiscover -l range -d 'Addresses: 10.1.0.0/24, 10.1.0.1-254, 10.1.0-3.1-254 or 10.1.0.5, several separated by commas or spaces' -r
complete -c bmcdiscover -s u -l bmcuser -d 'BMC user name' -r
complete -c bmcdiscover -s p -l bmcpasswd -d 'BMC password' -r
complete -c bmcdiscover -s s -d 'Scan method: nmap (accepted for xCAT\'s scripts; the scan is oxcat\'s own)' -r -f -a "nmap\t''"
complete -c bmcdiscover -l redfish-port -d 'The HTTPS port asked for a Redfish service root (0: no Redfish probe)' -r
complete -c bmcdiscover -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c bmcdiscover -s z -d 'Print stanzas (for mkdef -z)'
complete -c bmcdiscover -s w -d 'Define the BMCs found as nodes'
complete -c bmcdiscover -l show-secrets -d 'Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)'
complete -c bmcdiscover -s h -l help -d 'Print help (see more with \'--help\')'
