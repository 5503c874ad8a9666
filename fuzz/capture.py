#!/usr/bin/env python3
"""Record the requests real clients send, as seeds for the decode_request fuzz target.

A TCP proxy: clients connect to --listen, bytes go to --upstream unchanged both ways, and every
client-to-broker frame (without its length prefix) is written to --out under its SHA-1 — at
most --per-api frames of each (API key, version), each at most --max-bytes long. The broker
must advertise the proxy's address (gregor --advertised-listener 127.0.0.1:LISTEN) so that
clients come back through it after bootstrapping. Stops after --seconds.
"""

import argparse
import collections
import hashlib
import os
import socket
import struct
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-api", type=int, default=12)
    ap.add_argument("--max-bytes", type=int, default=16384)
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    os.makedirs(args.out, exist_ok=True)
    kept = collections.Counter()
    lock = threading.Lock()

    def record(frame: bytes):
        if len(frame) < 4 or len(frame) > args.max_bytes:
            return
        key = frame[:4]
        name = hashlib.sha1(frame).hexdigest()[:16]
        path = os.path.join(args.out, name)
        with lock:
            if kept[key] >= args.per_api or os.path.exists(path):
                return
            kept[key] += 1
        with open(path, "wb") as f:
            f.write(frame)

    def pump(src, dst, frames=None):
        """Copy src to dst until either side closes; hand each whole frame to `frames`."""
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if frames is None:
                    continue
                buf += data
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if n < 0 or len(buf) < 4 + n:
                        break
                    frames(buf[4:4 + n])
                    buf = buf[4 + n:]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen(128)
    server.settimeout(1.0)
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        try:
            client, _ = server.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection((host, int(port)))
        threading.Thread(target=pump, args=(client, upstream, record), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    main()
