#!/usr/bin/env python3
"""The header and the first N records of a deal stream, as a deal stream.

    deal-cat --header IN | bench/stream_head.py N > OUT

Reads `deal-cat --header` JSON lines on stdin (the header map first, then the
records) and writes the header plus the first N records as msgpack, one map
each, the way deal's tools write them (uncompressed). N = 0 gives a stream with
a header and no records, which the benchmarks use to time a tool's start-up and
model load on their own. Standard library only: a minimal msgpack encoder.
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


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit(__doc__.strip().split("\n\n")[1])
    n = int(sys.argv[1])
    out = sys.stdout.buffer
    for i, line in enumerate(sys.stdin):  # reads to the end: no SIGPIPE upstream
        if i <= n:
            out.write(pack(json.loads(line)))


if __name__ == "__main__":
    main()
