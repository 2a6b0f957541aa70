#!/usr/bin/env python3
"""Writes JSON lines (stdin) as a msgpack stream (stdout), one map per line.

    json2stream.py [--head N] < lines.jsonl > stream

For the command-line tests: it lets them craft streams that our own tools
would never write (missing fields, wrong types, bad ids). A minimal msgpack
encoder, independent of our C writer, so it also cross-checks the format.
--head N keeps the first line (a header, as `deal-cat --header` prints it) and
the next N: the benchmarks cut their streams with it (N = 0: a header and no
records). It still reads to the end, so the writer upstream gets no SIGPIPE.
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
    if len(sys.argv) not in (1, 3) or (len(sys.argv) == 3 and (sys.argv[1] != "--head" or not sys.argv[2].isdigit())):
        sys.exit("usage: json2stream.py [--head N] < lines.jsonl > stream")
    keep = int(sys.argv[2]) + 1 if len(sys.argv) == 3 else None
    written = 0
    for line in sys.stdin:
        if line.strip() and (keep is None or written < keep):
            sys.stdout.buffer.write(pack(json.loads(line)))
            written += 1


if __name__ == "__main__":
    main()
