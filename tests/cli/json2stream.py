#!/usr/bin/env python3
"""Writes JSON lines (stdin) as a msgpack stream (stdout), one map per line.

For the command-line tests: it lets them craft streams that our own tools
would never write (missing fields, wrong types, bad ids). A minimal msgpack
encoder, independent of our C writer, so it also cross-checks the format.
"""
import json
import struct
import sys


def pack(o):
    if o is None:
        return b"\xc0"
    if o is True or o is False:
        return b"\xc3" if o else b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if -32 <= o < 0:
            return struct.pack("b", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode()
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(o, list):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))


for line in sys.stdin:
    if line.strip():
        sys.stdout.buffer.write(pack(json.loads(line)))
