#!/bin/sh
# Fills man/examples.txt from man/examples.txt.in by running each "$ command" in a fresh lab with the
# debug build, so the man pages show real output. Read the result before committing it:
# tests/it/docs.rs then checks that it stays true.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
lab=$(mktemp -d)
trap 'rm -rf "$lab"' EXIT
mkdir "$lab/bin"
"$root/target/debug/oxcat" --install-links "$lab/bin"
cd "$lab"
printf 'kernel bytes' >vmlinuz
printf 'initrd bytes' >initrd.img
echo secret >bmc.pw
printf 'node,bmc,mac,ip\nnode101,10.1.1.1,52:54:00:00:01:01,10.0.1.101\nnode102,10.1.1.2,52:54:00:00:01:02,10.0.1.102\n' >rack2.csv
export OXCAT_DB="$lab/oxcat.db" PATH="$lab/bin:$PATH"
chdef -t site installdir="$lab/install" >/dev/null
while IFS= read -r line; do
	printf '%s\n' "$line"
	case $line in
	'$ '*) sh -c "${line#\$ } 2>&1" | sed "s|$lab|/srv/lab|g" ;;
	esac
done <"$root/man/examples.txt.in" >"$root/man/examples.txt"
