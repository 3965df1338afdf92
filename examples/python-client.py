"""A Python client with the 2019 reference's advice: keepalive on, TCP_USER_TIMEOUT = IDLE + INTVL x CNT.

deadpeer did not configure it; `deadpeer exec` reads what it really set.
  python3 examples/python-client.py idle     connect, then wait for the server to say something
  python3 examples/python-client.py busy     connect, send one request 3 s later, wait for the answer
  python3 examples/python-client.py stream   connect, then write as fast as the connection takes it
"""
import errno
import os
import re
import socket
import sys
import time

IDLE, INTVL, CNT = 5, 3, 3

mode = sys.argv[1] if len(sys.argv) > 1 else "idle"
m = re.match(r"^\[?([^\]]+)\]?:(\d+)$", os.environ.get("DEADPEER_SERVER", ""))
if not m:
    sys.exit("set DEADPEER_SERVER=host:port (deadpeer exec does)")
host, port = m.group(1), int(m.group(2))

s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, IDLE)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, INTVL)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, CNT)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, (IDLE + INTVL * CNT) * 1000)
try:
    s.connect((host, port))
    print("connected from %s:%d" % s.getsockname()[:2], flush=True)
    if mode == "busy":
        time.sleep(3)
        s.sendall(b"GET /answer\n")
    if mode == "stream":
        while True:
            s.sendall(b"x" * 65536)
    data = s.recv(4096)
    print("received %d bytes" % len(data) if data else "socket closed by the server", flush=True)
except OSError as e:
    print("error: %s: %s" % (errno.errorcode.get(e.errno, e.errno), e.strerror), flush=True)
    sys.exit(1)
