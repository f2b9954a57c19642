#!/usr/bin/env python3
"""sockbuf.py - how far a TCP sender gets ahead of a reader that stops, over 127.0.0.1.

    scripts/validate/sockbuf.py

The figure behind dpt predict's --dest-buffer default (docs/predict.md, R11): a migration's
destination that stalls in a page fault reads nothing, and the source writes on until the
socket buffers between them are full. For each warm-up (the reader first reads 0, 1, 16 and
128 MiB as fast as it can, so that the kernel's buffer autotuning has grown what it grows),
the reader stops and the sender writes without blocking until it cannot: the bytes it got
ahead. Uses the host's own tcp_wmem / tcp_rmem, as the two QEMUs of make validate do.
"""
import socket
import threading
import time


def ahead(warm_mib):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    a, _ = srv.accept()
    stop, got = threading.Event(), [0]

    def reader():
        while not stop.is_set():
            b = a.recv(1 << 16)
            if not b:
                return
            got[0] += len(b)
    th = threading.Thread(target=reader)
    th.start()
    buf, sent = b"x" * 32768, 0
    while sent < warm_mib << 20:
        c.sendall(buf)
        sent += len(buf)
    while got[0] < sent:
        time.sleep(0.001)
    stop.set()
    c.sendall(b"y")  # wakes the reader, which then stops
    th.join()
    c.setblocking(False)
    n = 0
    while True:
        try:
            n += c.send(buf)
        except BlockingIOError:
            time.sleep(0.05)  # the kernel may still be moving bytes across: try once more
            try:
                n += c.send(buf)
            except BlockingIOError:
                break
    for s in (c, a, srv):
        s.close()
    return n


for w in (0, 1, 16, 128):
    print("reader read %3d MiB fast, then stopped: the sender got %.2f MiB ahead" %
          (w, ahead(w) / 1048576.0))
