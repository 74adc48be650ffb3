"""A gRPC C-core proxyless client of xds:///HOST (Debian's python3-grpcio),
driven line by line by test/e2e/clients_test.go. C-core reads its bootstrap
from GRPC_XDS_BOOTSTRAP.

Protocol, the same as test/clients/node/client.js: one JSON command per line
on stdin, one JSON answer per line on stdout, in order.
  {"calls": N, "headers": {"x-variant": "v2"}}
  -> {"counts": {"v1": 310, "v2": 90}, "errors": 0, "error": ""}
Calls are made one after another; a failed call is counted, not retried,
and the first failure's text is returned.

The interop TestService is called generically with hand-encoded messages:
an empty SimpleRequest is zero bytes, and the one field read back is
server_id (field 4, a string), so no generated stubs are needed.
"""

import json
import os
import sys

import grpc


def server_id(buf):
    """Reads field 4 (server_id) of a SimpleResponse."""
    i = 0

    def varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7

    sid = ""
    while i < len(buf):
        key = varint()
        wire = key & 7
        if wire == 0:
            varint()
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n = varint()
            if key >> 3 == 4:
                sid = buf[i:i + n].decode()
            i += n
        else:
            raise ValueError("bad wire type in SimpleResponse")
    return sid


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: client.py HOST")
    channel = grpc.insecure_channel("xds:///" + sys.argv[1])
    unary = channel.unary_unary(
        "/grpc.testing.TestService/UnaryCall",
        request_serializer=lambda _: b"",
        response_deserializer=server_id,
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        out = {"counts": {}, "errors": 0, "error": ""}
        try:
            cmd = json.loads(line)
            md = list((cmd.get("headers") or {}).items())
            for _ in range(cmd["calls"]):
                try:
                    sid = unary(None, metadata=md, timeout=5)
                    out["counts"][sid] = out["counts"].get(sid, 0) + 1
                except grpc.RpcError as e:
                    out["errors"] += 1
                    if not out["error"]:
                        out["error"] = "%s: %s" % (e.code().name, e.details())
        except Exception as e:  # a broken command is the test's bug: say so
            out["errors"] += 1
            out["error"] = "client: %r" % e
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    # End of input is the end of the test. Exit at once: C-core 1.51 takes
    # about 5 s to shut its xDS client down at interpreter exit, time
    # that checks nothing.
    os._exit(0)


if __name__ == "__main__":
    main()
