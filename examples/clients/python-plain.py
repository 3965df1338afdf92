"""A Python client as most are written: socket.create_connection, no options set.
  python3 python-plain.py idle   connect, then wait for the server to say something
  python3 python-plain.py busy   connect, send one request 3 s later, wait for the answer
"""
import errno, os, socket, sys, time

host, port = os.environ["DEADPEER_HOST"], int(os.environ["DEADPEER_PORT"])
try:
    s = socket.create_connection((host, port))
    print("connected from %s:%d" % s.getsockname()[:2], flush=True)
    if (sys.argv[1] if len(sys.argv) > 1 else "idle") == "busy":
        time.sleep(3)
        s.sendall(b"GET /answer\n")
    data = s.recv(4096)
    print("received %d bytes" % len(data) if data else "socket closed by the server", flush=True)
except OSError as e:
    print("error: %s: %s" % (errno.errorcode.get(e.errno, e.errno), e.strerror), flush=True)
    sys.exit(1)
