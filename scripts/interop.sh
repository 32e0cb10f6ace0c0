#!/usr/bin/env bash
# Interop evidence (issue 3): the fake videobridge against implementations we did not write.
#   1. aioice (PyPI) as the controlled ICE agent on the internet side connects to the bridge.
#   2. Debian's stun-client (credential-less STUN) gets no answer, as ice4j gives none.
#   3. A signed Binding response decodes and verifies with aioice's own stun module.
#   4. Debian's headless chromium completes ICE, DTLS, SCTP and a data-channel echo (per profile).
# Starts a kept lab, runs the three, prints a verdict per experiment, removes the lab on exit.
# Needs Docker with the lab images built, python3 with venv, and stun-client (installed with
# apt-get when missing and running as root). The venv lives under target/ (never committed).
# Exit 0 when all three pass.
#
# Caveat: a kept lab is labelled with the pid of the `lab` process that made it, which has
# exited, so another jitsi-conformance run starting meanwhile sweeps it as stale; run this
# alone (the experiments themselves take a few seconds).
#
# SAFETY: everything here sends only to the lab's public address, asserted (before any send)
# to be inside the lab's wan subnet as Docker reports it; interop.py adds a socket-level guard.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${INTEROP_VENV:-target/interop-venv}
aioice_version=0.13.0
bin=target/release/jitsi-conformance
per_exp=10 # seconds, hard limit per experiment
lab=""

cleanup() {
  local rc=$?
  if [ -n "$lab" ]; then
    echo "== removing lab $lab"
    timeout 120 "$bin" clean --lab "$lab" >/dev/null 2>&1 || echo "   (clean failed: run $bin clean --lab $lab)"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -------------------------------------------------------------------------------
if ! "$venv/bin/python" -c "import aioice" 2>/dev/null; then
  echo "== creating venv $venv with aioice==$aioice_version"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "aioice==$aioice_version"
fi
py="$venv/bin/python"
if ! dpkg -s stun-client >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's stun-client"
    apt-get install -y -q stun-client >/dev/null
  else
    echo "stun-client missing: run  sudo apt-get install -y stun-client" >&2
    exit 2
  fi
fi
cargo build -q --release

# --- the lab -----------------------------------------------------------------------------
echo "== starting a kept lab"
errf=$(mktemp)
# One quick check is enough to bring the lab up; its result does not matter here.
"$bin" lab --keep --only nat/udp/1 --format json >"$errf.json" 2>"$errf" || true
lab=$(sed -n 's/^lab \([0-9a-f]*\) kept:.*/\1/p' "$errf")
if [ -z "$lab" ]; then
  cat "$errf" >&2
  echo "no lab was kept" >&2
  exit 1
fi
public_ip=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["target"]["public_ip"])' "$errf.json")
rm -f "$errf" "$errf.json"
wan_subnet=$(docker network inspect "jc-$lab-wan" --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
gateway=$(docker network inspect "jc-$lab-wan" --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
client_ip=$("$py" -c 'import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]) - 1)' "$public_ip")
echo "   lab $lab: public $public_ip, wan subnet $wan_subnet, internet client $client_ip"
# The client address is this host's address on the lab's wan bridge.
[ "$client_ip" = "$gateway" ] || { echo "client $client_ip is not the wan gateway $gateway" >&2; exit 1; }
ip -4 -o addr show | grep -qw "inet $client_ip" || { echo "this host does not hold $client_ip" >&2; exit 1; }
# SAFETY: the only destination is the public address, inside the lab's wan subnet.
"$py" scripts/interop.py guard --public-ip "$public_ip" --wan-subnet "$wan_subnet" --dest "$public_ip"
common=(--lab "$lab" --public-ip "$public_ip" --client-ip "$client_ip" --wan-subnet "$wan_subnet")

declare -A verdict
run() { # name, command...
  local name=$1; shift
  local t0=$(date +%s%N) rc=0
  "$@" || rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ $rc = 0 ]; then verdict[$name]="PASS (${ms} ms)"; else verdict[$name]="FAIL rc=$rc (${ms} ms)"; fi
  echo "-- $name: ${verdict[$name]}"
}

echo
echo "== 1. aioice $aioice_version, controlled, gathering only $client_ip, remote candidate only the srflx"
run aioice timeout -k 1 $per_exp "$py" scripts/interop.py aioice "${common[@]}" --timeout 8

echo
echo "== 2. credential-less STUN: Debian stun-client $(dpkg-query -W -f='${Version}' stun-client) -> $public_ip:10000"
exp2() {
  "$py" scripts/interop.py guard --public-ip "$public_ip" --wan-subnet "$wan_subnet" --dest "$public_ip" || return 1
  local out rc=0
  echo "   \$ stun $public_ip:10000 -v -i $client_ip"
  out=$(timeout -k 1 5 stun "$public_ip:10000" -v -i "$client_ip" 2>&1) || rc=$?
  # Every "send" line, collapsed (it retransmits 3 tests x 7); then the verdict lines.
  echo "$out" | grep -v '^Encoding\|^$' | uniq -c | sed 's/^/   /'
  echo "   exit code: $rc"
  local bad
  bad=$(echo "$out" | sed -n 's/^About to send msg of len [0-9]* to //p' | grep -vx "$public_ip:10000" || true)
  [ -z "$bad" ] || { echo "   SAFETY: stun sent to $bad"; return 1; }
  echo "$out" | grep -q '^test I = 0' && echo "$out" | grep -q 'Blocked or could not reach' || return 1
  # The same with RFC 5389 framing (stun-client speaks RFC 3489, no magic cookie).
  timeout -k 1 4 "$py" scripts/interop.py silent "${common[@]}"
}
run stun-client exp2

echo
echo "== 3. signed Binding decoded and verified by aioice's stun module"
run decode timeout -k 1 $per_exp "$py" scripts/interop.py decode "${common[@]}"

# Chromium needs its own lab (the bridge gives one endpoint per ICE session, and Chromium runs
# from a network namespace on that lab's wan): the hidden `browser` command builds one, runs
# Debian's headless chromium against it and prints Chromium's own stats as JSON.
for profile in reference current; do
  echo
  echo "== 4. Debian's headless chromium $(chromium --version 2>/dev/null | awk '{print $2}') on $profile: ICE, DTLS, SCTP, echo"
  run "chromium-$profile" timeout -k 2 60 "$bin" browser --profile "$profile"
done

echo
echo "== verdicts (lab $lab, public $public_ip, wan $wan_subnet)"
rc=0
for name in aioice stun-client decode chromium-reference chromium-current; do
  printf '   %-12s %s\n' "$name" "${verdict[$name]}"
  case ${verdict[$name]} in PASS*) ;; *) rc=1 ;; esac
done
exit $rc
