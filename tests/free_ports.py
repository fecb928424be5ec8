#!/usr/bin/env python3
"""Print N distinct free loopback ports, space-separated.

The ports are drawn at random from below the kernel's ephemeral range
(net.ipv4.ip_local_port_range). A port taken with bind(0) comes from that
range, so between our release and the server's bind it can be handed to an
outbound connection or to a parallel test's bind(0): CI lost a SeaweedFS
start that way. Below the range only another explicit choice can collide,
and the scripts that use this retry on "address already in use".
"""
import random
import socket
import sys


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n):
    low, high = 10000, ephemeral_low() - 1
    if high - low < 4 * n:
        low, high = 1024, 65535
    chosen = []
    while len(chosen) < n:
        port = random.randint(low, high)
        if port in chosen:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        chosen.append(port)
    return chosen


if __name__ == "__main__":
    print(" ".join(map(str, free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1))))
