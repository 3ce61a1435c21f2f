#!/usr/bin/env python3
"""Times a fresh y-websocket client's sync of one document: connect, send
SyncStep1 with an empty state vector, wait for the complete SyncStep2.

Used by scripts/bench.sh for the restart scenario (plait-bench's bigdoc always
ingests a new document, so the cold sync after a restart is timed here).
Standard library only. Prints one JSON line: connect_ms, step2_ms, step2_bytes.
"""
import json
import os
import socket
import sys
import time


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    """Returns (opcode, payload) of one complete (possibly fragmented) message."""
    payload, first_op = bytearray(), None
    while True:
        b0, b1 = read_exact(sock, 2)
        fin, op, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = int.from_bytes(read_exact(sock, 2), "big")
        elif n == 127:
            n = int.from_bytes(read_exact(sock, 8), "big")
        data = read_exact(sock, n)
        if op == 0x9:  # ping: answer, keep reading
            send_frame(sock, data, opcode=0xA)
            continue
        if first_op is None:
            first_op = op
        payload += data
        if fin:
            return first_op, bytes(payload)


def send_frame(sock, data, opcode=0x2):
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def read_varuint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    t0 = time.perf_counter()
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"upgrade refused: {head.splitlines()[0]!r}")
    # SyncStep1 with an empty state vector: [sync=0, step1=0, len=1, sv=[0 clients]].
    send_frame(sock, bytes([0, 0, 1, 0]))
    connect_ms = (time.perf_counter() - t0) * 1e3
    while True:
        op, msg = read_frame(sock)
        if op == 0x8:
            raise SystemExit("server closed the connection before step2")
        if len(msg) >= 2 and msg[0] == 0 and msg[1] == 1:
            step2_ms = (time.perf_counter() - t0) * 1e3
            n, _ = read_varuint(msg, 2)
            break
    send_frame(sock, b"", opcode=0x8)
    sock.close()
    print(json.dumps({"connect_ms": connect_ms, "step2_ms": step2_ms, "step2_bytes": n}))


if __name__ == "__main__":
    main()
