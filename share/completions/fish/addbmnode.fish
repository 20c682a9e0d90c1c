complete -c addbmnode -l bmc -d 'BMC IPv4 address or host name, or for Redfish an https://HOST[:PORT] URL (a regex value such as \'|n(\\d+)|10.1.0.($1+0)|\' gives one per node)' -r
complete -c addbmnode -l mgt -d 'The BMCs\' protocol: ipmi (default) or redfish (HTTPS)' -r -f -a "ipmi\t''
redfish\t''"
complete -c addbmnode -l bmc-cert -d 'Redfish: how to check the BMC\'s TLS certificate: sha256:FINGERPRINT, ca:/path/ca.pem, or insecure (no check); default: read each BMC\'s certificate now and pin its SHA-256' -r
complete -c addbmnode -l bmc-user -d 'BMC user name' -r
complete -c addbmnode -l bmc-password -d 'BMC password (visible to other users in the process list; prefer --bmc-password-file)' -r
complete -c addbmnode -l bmc-password-file -d 'Read the BMC password from the first line of FILE (\'-\' for standard input)' -r
complete -c addbmnode -l mac -d 'Boot NIC MACs: one node takes them all, N nodes take N in order, or a regex value' -r
complete -c addbmnode -l cpus -d 'Number of CPU cores' -r
complete -c addbmnode -l memory -d 'Memory size in MB' -r
complete -c addbmnode -l disk -d 'Disk size in GB' -r
complete -c addbmnode -l arch -d 'Architecture: x86_64, aarch64 or ppc64le' -r
complete -c addbmnode -l groups -d 'Groups the nodes belong to (every node is also in \'all\')' -r
complete -c addbmnode -l ip -d 'IPv4 address of the node (a regex value gives one per node)' -r
complete -c addbmnode -s s -l service-node -d 'Service node that manages these nodes' -r
complete -c addbmnode -s f -l file -d 'Enroll the nodes listed in a CSV file with a header naming columns among node, bmc, bmcusername, bmcpassword, mac, ip, groups, cpus, memory, disk, arch, servicenode, mgt, bmccert; options give defaults' -r
complete -c addbmnode -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c addbmnode -l force -d 'Replace the definitions of nodes already enrolled'
complete -c addbmnode -l validate -d 'Log in to every BMC first (IPMI, or Redfish with --mgt redfish); enroll nothing unless all answer with the given credentials'
complete -c addbmnode -s V -l verbose -d 'Print one line per node enrolled'
complete -c addbmnode -s h -l help -d 'Print help (see more with \'--help\')'
