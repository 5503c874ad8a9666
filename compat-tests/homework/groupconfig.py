"""One group config set over Kafka's wire protocol (IncrementalAlterConfigs v0, SET, on the
GROUP resource), standard library only like the rest of the end-to-end test: the share phase
needs the share group's share.auto.offset.reset=earliest, as an admin would set it with
kafka-configs --alter --entity-type groups (a share group's default is latest)."""

from __future__ import annotations

import socket
import struct

INCREMENTAL_ALTER_CONFIGS = 44
RESOURCE_GROUP = 32
OP_SET = 0


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        buf += chunk
    return buf


def set_group_config(bootstrap: str, group: str, name: str, value: str, timeout: float = 10.0) -> None:
    """Raises RuntimeError with the broker's error code and message if it refuses."""
    host, port = bootstrap.rsplit(":", 1)
    correlation = 1
    request = (struct.pack(">hhi", INCREMENTAL_ALTER_CONFIGS, 0, correlation) + _string("homework-e2e")
               + struct.pack(">ib", 1, RESOURCE_GROUP) + _string(group)
               + struct.pack(">i", 1) + _string(name) + struct.pack(">b", OP_SET) + _string(value)
               + struct.pack(">?", False))  # validate_only
    with socket.create_connection((host, int(port)), timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _read(sock, 4))
        response = _read(sock, size)
    # correlation id, throttle ms, [error code, error message (nullable), resource type, name]
    got, _throttle, count, error, msg_len = struct.unpack(">iiihh", response[:16])
    if got != correlation or count != 1:
        raise RuntimeError(f"IncrementalAlterConfigs: unexpected response {response[:32]!r}")
    if error:
        msg = response[16:16 + msg_len].decode(errors="replace") if msg_len >= 0 else ""
        raise RuntimeError(f"IncrementalAlterConfigs {group} {name}={value}: error {error} {msg}")
