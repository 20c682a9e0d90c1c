#!/bin/sh
# Builds oxcat and installs it with a link per command, man pages and shell completions.
#   sh install.sh            # into /usr/local (as root)
#   PREFIX=$HOME/.local sh install.sh
set -eu
cd "$(dirname "$0")"
prefix=${PREFIX:-/usr/local}
cargo build --release --locked
install -d "$prefix/bin" \
	"$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
	"$prefix/share/fish/vendor_completions.d"
install -m 0755 target/release/oxcat "$prefix/bin/oxcat"
"$prefix/bin/oxcat" --install-links "$prefix/bin"
# The generated pages (man1, man8) and the hand-written ones (noderange(3), xcatstanzafile(5)).
for dir in man/man*; do
	install -d "$prefix/share/$dir"
	install -m 0644 "$dir"/* "$prefix/share/$dir/"
done
install -m 0644 share/completions/bash/* "$prefix/share/bash-completion/completions/"
install -m 0644 share/completions/zsh/* "$prefix/share/zsh/site-functions/"
install -m 0644 share/completions/fish/* "$prefix/share/fish/vendor_completions.d/"
# oxcatd serves these to the nodes (postscripts in /etc/oxcat/oxcat.toml, default below).
install -d "$prefix/share/oxcat/postscripts"
for f in postscripts/*; do
	[ "$f" = postscripts/README.md ] || install -m 0755 "$f" "$prefix/share/oxcat/postscripts/"
done
install -d "$prefix/lib/systemd/system"
sed "s|/usr/local/bin/oxcatd|$prefix/bin/oxcatd|" share/systemd/oxcatd.service >"$prefix/lib/systemd/system/oxcatd.service"
echo "oxcat installed in $prefix/bin with its commands:"
"$prefix/bin/oxcat" --list | tr '\n' ' '
echo
