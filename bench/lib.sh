# Set-up shared by the benchmarks (sourced, not run).

# nginx_conf WORK LISTEN: WORK/nginx.conf for nginx serving WORK/install/ under /install/ on
# LISTEN the way a tuned static server does (2 workers, sendfile with tcp_nopush, no access log),
# its pid and error log in WORK.
nginx_conf() {
	cat >"$1/nginx.conf" <<NGINX
user root;
worker_processes 2;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server { listen $2; location /install/ { alias $1/install/; } }
}
NGINX
}

# veth_netns SRV CLI VS VC PREFIX: namespaces SRV and CLI joined by the veth pair VS (in SRV,
# PREFIX.0.1/16, the default route) and VC (in CLI, PREFIX.255.254/16), loopbacks up. The caller
# deletes the namespaces (which removes the pair).
veth_netns() {
	ip netns add "$1"
	ip netns add "$2"
	ip link add "$3" type veth peer name "$4"
	ip link set "$3" netns "$1"
	ip link set "$4" netns "$2"
	ip -n "$1" addr add "$5.0.1/16" dev "$3"
	ip -n "$2" addr add "$5.255.254/16" dev "$4"
	for x in "$1:$3" "$2:$4"; do
		ip -n "${x%%:*}" link set "${x##*:}" up
		ip -n "${x%%:*}" link set lo up
	done
	ip -n "$1" route add default dev "$3"
}
