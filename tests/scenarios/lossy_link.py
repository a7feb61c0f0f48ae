#!/usr/bin/env python3
"""A bad link between two network namespaces, in user space: what `tc netem` would do on a
kernel that has sch_netem (this machine's does not).

Run inside the first namespace (`ip netns exec NS0 lossy_link.py ...`): it creates two TAP
devices there, moves the second into the other namespace, then forwards Ethernet frames
between them — multicast included, so mDNS works across it — dropping each frame with the
given probability and delivering the rest after the given delay. Prints READY once both
devices exist and it is forwarding; runs until killed or until its stdin closes, then prints
`STATS <forwarded> <dropped>` (frames).

Usage: lossy_link.py TAP0 TAP1 OTHER_NETNS LOSS DELAY_MS SEED
"""

import fcntl
import heapq
import os
import random
import select
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MAX_FRAME = 65536


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main() -> None:
    tap0, tap1, other_ns, loss, delay_ms, seed = sys.argv[1:7]
    loss, delay = float(loss), float(delay_ms) / 1000.0
    rng = random.Random(int(seed))
    fds = [open_tap(tap0), open_tap(tap1)]
    # The fd stays attached to the device after it moves to the other namespace.
    subprocess.run(["ip", "link", "set", tap1, "netns", other_ns], check=True, timeout=10)
    print("READY", flush=True)
    pending = []  # (due, order, destination fd, frame)
    order = 0
    forwarded = dropped = 0
    stdin = sys.stdin.fileno()
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, dst, frame = heapq.heappop(pending)
            try:
                os.write(dst, frame)
            except OSError:
                pass  # the device is down or gone: the frame is lost, as on a real link
        timeout = max(0.0, pending[0][0] - now) if pending else 0.5
        readable, _, _ = select.select(fds + [stdin], [], [], timeout)
        if stdin in readable and not os.read(stdin, 1024):
            print(f"STATS {forwarded} {dropped}", flush=True)
            return
        for i, fd in enumerate(fds):
            if fd not in readable:
                continue
            while True:
                try:
                    frame = os.read(fd, MAX_FRAME)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if rng.random() < loss:
                    dropped += 1
                    continue
                forwarded += 1
                order += 1
                heapq.heappush(pending, (time.monotonic() + delay, order, fds[1 - i], frame))


if __name__ == "__main__":
    main()
