#!/usr/bin/env bash
# Redfish fan-out benchmark (issue 12): `rpower stat` over N sushy-emulator BMCs (fake driver, HTTPS
# with a CA-signed certificate, bcrypt Basic auth, all on 127.0.0.1) against a sequential curl loop
# of the same request and against the DMTF `redfish` Python library's client in a loop (one
# process, login/GET/logout per BMC). Medians of RUNS runs; prints the ratios.
# Usage: bash bench/redfish.sh [N] [RUNS]   (default 64 5; sushy-tools in /opt/oxcat-ci/sushy, as .ci/run installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-64}
RUNS=${2:-5}
VENV=/opt/oxcat-ci/sushy
[ -x $VENV/bin/sushy-emulator ] || {
	python3 -m venv $VENV && $VENV/bin/pip install -q sushy-tools==2.2.0 bcrypt==5.0.0 redfish==3.4.2
}
cargo build --release --locked --quiet --bin oxcat
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=bench CA' -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -days 2 -CAcreateserial -in server.csr -CA ca.pem -CAkey ca.key -extfile server.ext -out cert.pem 2>/dev/null
$VENV/bin/python -c "import bcrypt; open('htpasswd','w').write('admin:'+bcrypt.hashpw(b'secret',bcrypt.gensalt(5)).decode()+'\n')"
uuid=27946b59-9e44-4fa7-8e91-f3527a1ef094
for i in $(seq 1 "$N"); do
	mkdir -p "e$i/state"
	cat >"e$i/conf" <<EOF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = 0
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '$work/e$i/state'
SUSHY_EMULATOR_AUTH_FILE = '$work/htpasswd'
SUSHY_EMULATOR_SSL_CERT = '$work/cert.pem'
SUSHY_EMULATOR_SSL_KEY = '$work/key.pem'
SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '$uuid', 'name': 'n$i', 'power_state': 'On', 'nics': [{'mac': '00:5c:52:31:3a:9c', 'ip': '127.0.0.10'}]}]
EOF
	$VENV/bin/sushy-emulator --config "e$i/conf" >"e$i/log" 2>&1 &
	pids+=($!)
done
ports=()
for i in $(seq 1 "$N"); do
	for _ in $(seq 1 600); do
		p=$(grep -o 'Running on https://127.0.0.1:[0-9]*' "e$i/log" | sed 's/.*://' || true)
		[ -n "$p" ] && break
		sleep 0.1
	done
	[ -n "$p" ] || { echo "emulator $i did not start" >&2; cat "e$i/log" >&2; exit 1; }
	ports+=("$p")
done
export OXCAT_DB=$work/oxcat.db
mkdir bin && "$OLDPWD/target/release/oxcat" --install-links bin >/dev/null
for i in $(seq 1 "$N"); do
	bin/mkdef "rf$i" groups=rf mgt=redfish bmc=127.0.0.1 "bmcport=${ports[$((i - 1))]}" bmcusername=admin \
		bmcpassword=secret "bmccert=ca:$work/ca.pem" >/dev/null
done
cat >client.py <<'EOF'
import sys, redfish
ca, uuid, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
for p in ports:
    c = redfish.redfish_client(base_url=f"https://127.0.0.1:{p}", username="admin", password="secret", cafile=ca)
    c.login(auth="basic")
    r = c.get(f"/redfish/v1/Systems/{uuid}")
    assert r.status == 200, r.status
    print(r.dict["PowerState"])
    c.logout()
EOF
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A t
for run in $(seq 1 "$RUNS"); do
	s=$(now)
	[ "$(bin/rpower rf[1-"$N"] stat | grep -c ': on$')" = "$N" ] || { echo "oxcat: not every node answered on" >&2; exit 1; }
	t[oxcat]+="$(echo "$(now) - $s" | bc) "
	s=$(now)
	on=0
	for p in "${ports[@]}"; do
		curl -sS --fail --cacert ca.pem -u admin:secret "https://127.0.0.1:$p/redfish/v1/Systems/$uuid" | grep -q '"PowerState": "On"' && on=$((on + 1))
	done
	[ "$on" = "$N" ] || { echo "curl: $on of $N on" >&2; exit 1; }
	t[curl]+="$(echo "$(now) - $s" | bc) "
	s=$(now)
	[ "$($VENV/bin/python client.py ca.pem "$uuid" "${ports[@]}" | grep -c '^On$')" = "$N" ] || { echo "redfish library: not every node on" >&2; exit 1; }
	t[python]+="$(echo "$(now) - $s" | bc) "
done
o=$(echo "${t[oxcat]}" | tr ' ' '\n' | grep . | median)
c=$(echo "${t[curl]}" | tr ' ' '\n' | grep . | median)
p=$(echo "${t[python]}" | tr ' ' '\n' | grep . | median)
printf 'rpower stat, %d Redfish BMCs (sushy-emulator, HTTPS + Basic), median of %d runs:\n' "$N" "$RUNS"
printf '  oxcat rpower (3 GETs per BMC: root, Systems, System; in parallel)  %6.3f s\n' "$o"
printf '  curl loop (1 GET per BMC, the System, path known; sequential)        %6.3f s   oxcat is %.1fx faster\n' "$c" "$(echo "$c / $o" | bc -l)"
printf '  python redfish library loop (login, GET System, logout per BMC)   %6.3f s   oxcat is %.1fx faster\n' "$p" "$(echo "$p / $o" | bc -l)"
