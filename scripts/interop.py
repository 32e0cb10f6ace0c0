#!/usr/bin/env python3
"""Interop evidence against the fake videobridge with code we did not write (aioice).

Run by scripts/interop.sh inside a venv that has `aioice`; not part of the suite.

  interop.py guard --public-ip IP --wan-subnet NET [--dest IP]
      exit 0 if the destination (default: the public address) is the lab's public address
      and inside the lab's wan subnet; used by the shell script before `stun` runs.
  interop.py aioice ...       experiment 1: aioice as the controlled ICE agent
  interop.py silent ...       supplement to experiment 2: RFC 5389 Bindings without credentials
  interop.py decode ...       experiment 3: one signed Binding, decoded by aioice's stun module

SAFETY: every socket this process creates goes through a guard that refuses (PermissionError,
before the packet leaves) any destination other than the lab's public address, and the
public address must lie inside the lab's wan subnet. No STUN/TURN server, no mDNS: aioice's
host gathering is restricted to the wan address, and the only remote candidate it is given
is the bridge's advertised UDP srflx (PUBLIC_IP:10000), never the private host candidate.
"""

import argparse
import asyncio
import ipaddress
import json
import os
import secrets
import socket
import string
import struct
import subprocess
import sys

# ---------------------------------------------------------------------------------------
# The guard. Installed before aioice is imported so nothing can send around it.

_ALLOWED = None  # the one address we may send to
_VIOLATIONS = []


def dest_ok(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) == _ALLOWED
    except ValueError:
        return False  # a host name: refused, never resolved


def install_guard(public_ip: str, wan_subnet: str) -> None:
    global _ALLOWED
    net = ipaddress.ip_network(wan_subnet, strict=False)
    pub = ipaddress.ip_address(public_ip)
    if pub not in net:
        sys.exit(f"SAFETY: public address {pub} is not inside the lab's wan subnet {net}")
    if not (ipaddress.ip_network("198.51.100.0/24").supernet_of(net)):
        sys.exit(f"SAFETY: wan subnet {net} is not a slice of TEST-NET-2 198.51.100.0/24")
    _ALLOWED = pub

    base = socket.socket

    def refuse(addr):
        _VIOLATIONS.append(addr)
        print(f"    guard: REFUSED a send to {addr} (not the lab's public address)", flush=True)
        raise PermissionError(f"guard: {addr} is not the lab's public address {pub}")

    orig_sendto, orig_connect, orig_connect_ex = base.sendto, base.connect, base.connect_ex
    orig_send, orig_sendmsg = base.send, base.sendmsg

    def sendto(self, data, *args):
        addr = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not dest_ok(addr[0]):
            refuse(addr)
        return orig_sendto(self, data, *args)

    def connect(self, addr):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not dest_ok(addr[0]):
            refuse(addr)
        return orig_connect(self, addr)

    def connect_ex(self, addr):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not dest_ok(addr[0]):
            refuse(addr)
        return orig_connect_ex(self, addr)

    def send(self, data, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not dest_ok(self.getpeername()[0]):
            refuse(self.getpeername())
        return orig_send(self, data, *args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        peer = address or self.getpeername()
        if self.family in (socket.AF_INET, socket.AF_INET6) and not dest_ok(peer[0]):
            refuse(peer)
        return orig_sendmsg(self, buffers, ancdata, flags, *([address] if address else []))

    base.sendto, base.connect, base.connect_ex = sendto, connect, connect_ex
    base.send, base.sendmsg = send, sendmsg


# ---------------------------------------------------------------------------------------
# The bridge's private control API, reached inside the bridge container (never via the router).


def allocate(lab: str, client_ufrag: str, client_pwd: str) -> dict:
    out = subprocess.run(
        ["docker", "exec", f"jc-{lab}-bridge", "/usr/local/bin/jitsi-conformance", "fake-bridge", "allocate",
         "--client-ufrag", client_ufrag, "--client-pwd", client_pwd],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    doc = json.loads(out)
    return doc["endpoints"][0]["transport"]["transport"]


def pick_srflx(transport: dict, public_ip: str) -> dict:
    cands = transport["candidates"]
    for c in cands:
        print(f"    advertised: {c['type']:<5} {c['protocol']:<6} {c['ip']}:{c['port']} prio {c['priority']}"
              + ("" if dest_ok(c["ip"]) else "   (not the public address: never contacted)"))
    srflx = [c for c in cands if c["type"] == "srflx" and c["protocol"] == "udp"
             and c["ip"] == public_ip and c["port"] == "10000"]
    if len(srflx) != 1:
        raise SystemExit(f"FAIL: expected exactly one UDP srflx {public_ip}:10000, got {srflx}")
    return srflx[0]


def rand(n: int, alphabet=string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------------------------------
# Experiment 1: aioice, controlled, against the bridge (controlling).


async def exp_aioice(a) -> bool:
    import aioice
    import aioice.ice as ice
    from aioice import Candidate, Connection, stun

    print(f"    aioice {aioice.__version__ if hasattr(aioice, '__version__') else '?'}"
          f" from {os.path.dirname(aioice.__file__)}")
    # aioice has no option to restrict host gathering (only use_ipv4/use_ipv6); it takes
    # its addresses from this module function, so the wan address is the only one it binds.
    ice.get_host_addresses = lambda use_ipv4, use_ipv6: [a.client_ip]

    seen = []  # requests aioice received from the bridge
    orig = Connection.request_received

    def request_received(self, message, addr, protocol):
        attrs = message.attributes
        seen.append((addr, "USE-CANDIDATE" in attrs, "ICE-CONTROLLING" in attrs,
                     attrs.get("USERNAME"), attrs.get("PRIORITY")))
        return orig(self, message, addr, protocol)

    Connection.request_received = request_received

    conn = Connection(ice_controlling=False, use_ipv6=False)  # no stun_server, no turn_server
    print(f"    aioice local ufrag/pwd: {conn.local_username} / {conn.local_password}")
    t = allocate(a.lab, conn.local_username, conn.local_password)
    print(f"    bridge ufrag/pwd: {t['ufrag']} / {t['pwd']} (bridge told aioice's credentials, no candidates)")
    srflx = pick_srflx(t, a.public_ip)
    conn.remote_username, conn.remote_password = t["ufrag"], t["pwd"]
    try:
        await asyncio.wait_for(conn.gather_candidates(), 3)
        for c in conn.local_candidates:
            print(f"    aioice local candidate: {c.to_sdp()}")
        if [c.host for c in conn.local_candidates] != [a.client_ip]:
            print("    FAIL: aioice gathered something other than the wan address")
            return False
        remote = Candidate(foundation=srflx["foundation"], component=int(srflx["component"]),
                           transport="udp", priority=int(srflx["priority"]), host=srflx["ip"],
                           port=int(srflx["port"]), type="srflx",
                           related_address=srflx.get("rel-addr"),
                           related_port=int(srflx["rel-port"]) if "rel-port" in srflx else None)
        print(f"    remote candidate given to aioice (the only one): {remote.to_sdp()}")
        await conn.add_remote_candidate(remote)
        await conn.add_remote_candidate(None)  # end-of-candidates
        try:
            await asyncio.wait_for(conn.connect(), a.timeout)
        except (asyncio.TimeoutError, ConnectionError) as e:
            print(f"    FAIL: aioice did not connect within {a.timeout}s: {e!r}")
            for s in seen:
                print(f"    request from bridge: {s}")
            return False
        pair = conn._nominated[1]
        print(f"    CONNECTED: nominated pair {pair.local_addr} -> {pair.remote_addr}"
              f" (local {pair.local_candidate.type}, remote {pair.remote_candidate.type},"
              f" remote priority {pair.remote_candidate.priority})")
        uc = [s for s in seen if s[1]]
        for addr, use, ctl, user, prio in seen:
            print(f"    check from bridge: src {addr[0]}:{addr[1]} USERNAME {user} PRIORITY {prio}"
                  f" ICE-CONTROLLING {'yes' if ctl else 'no'} USE-CANDIDATE {'yes' if use else 'no'}")
        ok = (bool(uc) and all(s[2] for s in seen)
              and all(s[0] == (a.public_ip, 10000) for s in seen)
              and pair.remote_addr == (a.public_ip, 10000) and not _VIOLATIONS)
        print(f"    nominated by the bridge (USE-CANDIDATE from {a.public_ip}:10000, as controlling): "
              f"{'yes' if ok else 'NO'}")
        return ok
    finally:
        await asyncio.wait_for(conn.close(), 3)


# ---------------------------------------------------------------------------------------
# Experiment 3: one Binding built and decoded by aioice's stun module.


def walk(data: bytes):
    """The attribute types in wire order (names from aioice's table where it knows them)."""
    from aioice import stun
    out, pos = [], 20
    while pos + 4 <= len(data):
        typ, ln = struct.unpack("!HH", data[pos:pos + 4])
        name = stun.ATTRIBUTES_BY_TYPE[typ][1] if typ in stun.ATTRIBUTES_BY_TYPE else "?"
        out.append((typ, name, pos))
        pos += 4 + ln + stun.padding_length(ln)
    return out


def exp_decode(a) -> bool:
    from aioice import stun

    cufrag, cpwd = rand(8), rand(24)
    t = allocate(a.lab, cufrag, cpwd)
    print(f"    bridge ufrag/pwd: {t['ufrag']} / {t['pwd']}; client ufrag/pwd: {cufrag} / {cpwd}")
    dest = (a.public_ip, 10000)
    assert dest_ok(dest[0])
    bpwd = t["pwd"].encode()

    req = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    req.attributes["USERNAME"] = f"{t['ufrag']}:{cufrag}"
    req.attributes["PRIORITY"] = 1853824767  # prflx, RFC 8445 formula, component 1
    req.attributes["ICE-CONTROLLED"] = secrets.randbits(64)
    req.add_message_integrity(bpwd)  # also adds FINGERPRINT
    wire = bytes(req)

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.client_ip, 0))
    print(f"    request from {s.getsockname()[0]}:{s.getsockname()[1]} to {dest[0]}:{dest[1]},"
          f" {len(wire)} bytes, attributes {list(req.attributes)}")
    data = src = None
    rto = 0.5
    try:
        for attempt in range(3):  # 0.5 + 1 + 2 s, inside the 10 s budget
            s.sendto(wire, dest)
            s.settimeout(rto)
            try:
                while True:
                    data, src = s.recvfrom(2048)
                    if data[8:20] == req.transaction_id:
                        break
            except socket.timeout:
                rto *= 2
                continue
            break
        local = s.getsockname()
    finally:
        s.close()
    if data is None:
        print("    FAIL: no response")
        return False

    print(f"    response from {src[0]}:{src[1]}, {len(data)} bytes")
    msg = stun.parse_message(data)  # raises ValueError if FINGERPRINT does not match
    fp_pos = [p for typ, name, p in walk(data) if name == "FINGERPRINT"]
    fp_ok = bool(fp_pos) and msg.attributes["FINGERPRINT"] == stun.message_fingerprint(data[:fp_pos[0]])
    mi_ok = msg.check_message_integrity(bpwd)
    mi_wrong = msg.check_message_integrity(cpwd.encode())
    print(f"    class {msg.message_class.name} method {msg.message_method.name},"
          f" transaction id matches: {msg.transaction_id == req.transaction_id}")
    print("    attributes on the wire: "
          + ", ".join(f"{name}(0x{typ:04x})" for typ, name, _ in walk(data)))
    print(f"    attributes as aioice decoded them, in order: {list(msg.attributes)}")
    for k, v in msg.attributes.items():
        shown = v.hex() if isinstance(v, bytes) else (f"0x{v:08x}" if k == "FINGERPRINT" else v)
        print(f"      {k:<18} {shown}")
    print(f"    MESSAGE-INTEGRITY with the bridge pwd (aioice check_message_integrity): {mi_ok};"
          f" with a wrong key: {mi_wrong}")
    print(f"    FINGERPRINT (aioice parse_message + message_fingerprint): {fp_ok}")
    order = [name for _, name, _ in walk(data)]
    xma = msg.attributes.get("XOR-MAPPED-ADDRESS")
    checks = {
        "success response": msg.message_class == stun.Class.RESPONSE,
        "from PUBLIC_IP:10000": src == dest,
        "order XOR-MAPPED-ADDRESS, USERNAME, SOFTWARE, MESSAGE-INTEGRITY, FINGERPRINT":
            order == ["XOR-MAPPED-ADDRESS", "USERNAME", "SOFTWARE", "MESSAGE-INTEGRITY", "FINGERPRINT"],
        "no MAPPED-ADDRESS": "MAPPED-ADDRESS" not in order,
        "XOR-MAPPED-ADDRESS is our wan address and port": xma == (local[0], local[1]),
        "USERNAME echoed": msg.attributes.get("USERNAME") == req.attributes["USERNAME"],
        "SOFTWARE ice4j.org": msg.attributes.get("SOFTWARE") == "ice4j.org",
        "MESSAGE-INTEGRITY (bridge pwd)": mi_ok and not mi_wrong,
        "FINGERPRINT": fp_ok,
    }
    for k, v in checks.items():
        print(f"    {'ok  ' if v else 'FAIL'} {k}")
    return all(checks.values())


def exp_silent(a) -> bool:
    """Supplement to experiment 2: RFC 5389 Bindings (magic cookie) without credentials."""
    from aioice import stun

    dest = (a.public_ip, 10000)
    assert dest_ok(dest[0])
    cases = []
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    cases.append(("no USERNAME, no MESSAGE-INTEGRITY", m))
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    m.attributes["USERNAME"] = f"{rand(14)}:{rand(8)}"
    m.attributes["PRIORITY"] = 1853824767
    m.attributes["ICE-CONTROLLED"] = secrets.randbits(64)
    m.add_message_integrity(rand(26).encode())
    cases.append(("USERNAME with an unknown ufrag", m))
    ok = True
    for label, m in cases:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.client_ip, 0))
        got, rto = None, 0.25
        try:
            for attempt in range(3):  # 0.25 + 0.5 + 1 s
                s.sendto(bytes(m), dest)
                s.settimeout(rto)
                try:
                    got = s.recvfrom(2048)
                    break
                except socket.timeout:
                    rto *= 2
        finally:
            s.close()
        if got:
            ok = False
            print(f"    FAIL: RFC 5389 Binding ({label}): answered from {got[1]}: {stun.parse_message(got[0])}")
        else:
            print(f"    ok   RFC 5389 Binding ({label}), 3 sends in 1.75 s: no answer")
    return ok


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["guard", "aioice", "decode", "silent"])
    p.add_argument("--lab")
    p.add_argument("--public-ip", required=True)
    p.add_argument("--client-ip")
    p.add_argument("--wan-subnet", required=True)
    p.add_argument("--dest")
    p.add_argument("--timeout", type=float, default=8.0)
    a = p.parse_args()
    install_guard(a.public_ip, a.wan_subnet)
    if a.what == "guard":
        dest = a.dest or a.public_ip
        if not dest_ok(dest):
            print(f"SAFETY: {dest} is not the lab's public address {a.public_ip}", file=sys.stderr)
            return 1
        return 0
    if a.client_ip is None or ipaddress.ip_address(a.client_ip) not in ipaddress.ip_network(a.wan_subnet):
        sys.exit(f"SAFETY: client address {a.client_ip} is not on the lab's wan subnet {a.wan_subnet}")
    if a.what == "aioice":
        ok = asyncio.run(exp_aioice(a))
    elif a.what == "silent":
        ok = exp_silent(a)
    else:
        ok = exp_decode(a)
    if _VIOLATIONS:
        print(f"    guard refused {len(_VIOLATIONS)} send(s): {_VIOLATIONS}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
