"""A client that goes quiet, then asks something: the "first query after a quiet night" behind a NAT
gateway or a load balancer that forgot the connection (deadpeer exec --phase idle --middlebox …).

  python3 examples/middlebox-client.py [QUIET_S]    connect, sleep QUIET_S (default 9) seconds, send one
                                                    request, wait for the answer (exec's builtin server
                                                    echoes it behind a middlebox)

KEEPALIVE=IDLE:INTVL:CNT (e.g. KEEPALIVE=2:1:3) turns SO_KEEPALIVE on with those TCP_KEEPIDLE,
TCP_KEEPINTVL, TCP_KEEPCNT; unset, the socket has no keepalive. It finds the server in
DEADPEER_SERVER (host:port, [host]:port for IPv6), as deadpeer exec gives it.
"""
import errno
import os
import re
import socket
import sys
import time

quiet_s = float(sys.argv[1]) if len(sys.argv) > 1 else 9.0
m = re.match(r"^\[?([^\]]+)\]?:(\d+)$", os.environ.get("DEADPEER_SERVER", ""))
if not m:
    sys.exit("set DEADPEER_SERVER=host:port (deadpeer exec does)")
host, port = m.group(1), int(m.group(2))

s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
keepalive = os.environ.get("KEEPALIVE", "")
if keepalive:
    idle, intvl, cnt = (int(x) for x in keepalive.split(":"))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)
request = b"GET /answer\n"
try:
    s.connect((host, port))
    print("connected from %s:%d; quiet for %g s" % (s.getsockname()[:2] + (quiet_s,)), flush=True)
    time.sleep(quiet_s)
    s.sendall(request)
    print("sent %d bytes" % len(request), flush=True)
    got = b""
    while len(got) < len(request):
        data = s.recv(4096)
        if not data:
            print("error: the server closed the connection before answering", flush=True)
            sys.exit(1)
        got += data
    print("answered: %r" % got.strip().decode(), flush=True)
except OSError as e:
    print("error: %s: %s" % (errno.errorcode.get(e.errno, e.errno), e.strerror), flush=True)
    sys.exit(1)
