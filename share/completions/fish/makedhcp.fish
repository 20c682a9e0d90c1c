complete -c makedhcp -l db -d 'The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)' -r
complete -c makedhcp -s q -d 'Show each node\'s answer: address, next server, boot file per client kind'
complete -c makedhcp -s a -d 'Check that every node can be answered (MAC and IP set)'
complete -c makedhcp -s n -d 'Show the networks the server answers for'
complete -c makedhcp -s d -d 'Explain how to stop answering nodes (there are no entries to delete)'
complete -c makedhcp -s h -l help -d 'Print help'
