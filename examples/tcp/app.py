"""A TCP client: `tcp ADDRESS:PORT` connects with `wasi:sockets`, sends
`hello, world!`, prints the first answer it gets and closes. asyncio on
`poll_loop`, the event loop over `wasi:io/poll`; run it with
`componentize-py run --inherit-network`.
"""

import asyncio
import ipaddress
import sys
from typing import Tuple, Union

import poll_loop
from poll_loop import PollLoop, Sink, Stream
from wit_world import exports
from wit_world.imports import instance_network, network, tcp_create_socket
from wit_world.imports.network import (
    ErrorCode,
    IpAddressFamily,
    IpSocketAddress_Ipv4,
    IpSocketAddress_Ipv6,
    Ipv4SocketAddress,
    Ipv6SocketAddress,
)
from componentize_py_types import Err


IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# How long connecting and waiting for the answer may take.
TIMEOUT = 30.0


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        if len(args) != 1:
            print("usage: tcp <address>:<port>", file=sys.stderr)
            raise SystemExit(2)
        address, port = parse_address_and_port(args[0])
        loop = PollLoop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(asyncio.wait_for(send_and_receive(address, port), TIMEOUT))
        except Err as error:
            # A WASI error (e.g. ACCESS_DENIED without `run --inherit-network`)
            # becomes run's error result; say which one first.
            print(f"tcp: {error.value}", file=sys.stderr)
            raise


def parse_address_and_port(address_and_port: str) -> Tuple[IPAddress, int]:
    ip, separator, port = address_and_port.rpartition(":")
    if not separator:
        raise SystemExit(f"expected <address>:<port>, got {address_and_port!r}")
    return ipaddress.ip_address(ip.strip("[]")), int(port)


async def send_and_receive(address: IPAddress, port: int) -> None:
    if isinstance(address, ipaddress.IPv4Address):
        family = IpAddressFamily.IPV4
        socket_address = IpSocketAddress_Ipv4(Ipv4SocketAddress(port=port, address=tuple(address.packed)))
    else:
        family = IpAddressFamily.IPV6
        words = tuple(int.from_bytes(address.packed[i : i + 2], "big") for i in range(0, 16, 2))
        socket_address = IpSocketAddress_Ipv6(
            Ipv6SocketAddress(port=port, flow_info=0, address=words, scope_id=0)
        )

    with tcp_create_socket.create_tcp_socket(family) as sock:
        sock.start_connect(instance_network.instance_network(), socket_address)
        while True:
            try:
                rx, tx = sock.finish_connect()
                break
            except Err as error:
                if error.value != ErrorCode.WOULD_BLOCK:
                    raise
                await poll_loop.register(asyncio.get_running_loop(), sock.subscribe())

        sink = Sink(tx)
        stream = Stream(rx)
        await sink.send(b"hello, world!")
        data = await stream.next()
        print(f"received: {data!r}")
        sink.close()
        stream.close()
