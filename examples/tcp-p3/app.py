"""A WASI 0.3 TCP client (`wasi:cli/command@0.3.0`, `wasi:sockets@0.3.0`).

`tcp ADDRESS:PORT [MESSAGE]` connects, sends MESSAGE (default
`hello, world!`), closes its sending side (the peer reads end of stream),
reads the peer's reply until the peer closes the connection and prints it.
Run it with `componentize-py run --inherit-network`: without it the host
refuses the connection (`ACCESS_DENIED`), which the client reports on stderr
before `run` returns its error (exit code 1).

    componentize-py -d tcp.wit -w tcp componentize app -o tcp.wasm
    componentize-py run --inherit-network tcp.wasm 127.0.0.1:3456
"""

import asyncio
import ipaddress
import sys
from typing import Tuple, Union

import wit_world
from componentize_py_async_support.futures import FutureReader
from componentize_py_async_support.streams import ByteStreamReader, ByteStreamWriter
from componentize_py_types import Err, Result
from wit_world import exports
from wit_world.imports.wasi_sockets_types import (
    ErrorCode,
    ErrorCode_AccessDenied,
    IpAddressFamily,
    IpSocketAddress,
    IpSocketAddress_Ipv4,
    IpSocketAddress_Ipv6,
    Ipv4SocketAddress,
    Ipv6SocketAddress,
    TcpSocket,
)

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# The most bytes one read asks for.
CHUNK = 4096


class Run(exports.Run):
    async def run(self) -> None:
        args = sys.argv[1:]
        if len(args) not in (1, 2):
            print("usage: tcp ADDRESS:PORT [MESSAGE]", file=sys.stderr)
            raise Err(None)
        target = args[0]
        message = (args[1] if len(args) == 2 else "hello, world!").encode()
        try:
            address = parse_address(target)
        except ValueError as error:
            print(f"tcp: expected ADDRESS:PORT, got {target!r} ({error})", file=sys.stderr)
            raise Err(None)
        try:
            reply = await exchange(address, message)
        except Err as error:
            # A WASI socket error, such as ErrorCode_AccessDenied() when the
            # host grants no network.
            hint = ""
            if isinstance(error.value, ErrorCode_AccessDenied):
                hint = " (grant the network with `componentize-py run --inherit-network`)"
            print(f"tcp: {target}: {error.value}{hint}", file=sys.stderr)
            raise Err(None)
        print(f"received: {reply!r}")


def parse_address(text: str) -> IpSocketAddress:
    """`1.2.3.4:80` or `[::1]:80` as a socket address (ValueError if not)."""
    host, separator, port = text.rpartition(":")
    if not separator:
        raise ValueError("no port")
    address: IPAddress = ipaddress.ip_address(host.strip("[]"))
    if isinstance(address, ipaddress.IPv4Address):
        a, b, c, d = address.packed
        return IpSocketAddress_Ipv4(Ipv4SocketAddress(port=int(port), address=(a, b, c, d)))
    w = [(address.packed[i] << 8) | address.packed[i + 1] for i in range(0, 16, 2)]
    return IpSocketAddress_Ipv6(
        Ipv6SocketAddress(
            port=int(port),
            flow_info=0,
            address=(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]),
            scope_id=0,
        )
    )


async def exchange(address: IpSocketAddress, message: bytes) -> bytes:
    """Connect to `address`, send `message`, and return all the peer sends
    back until it closes the connection."""
    family = IpAddressFamily.IPV4 if isinstance(address, IpSocketAddress_Ipv4) else IpAddressFamily.IPV6
    with TcpSocket.create(family) as sock:
        await sock.connect(address)
        outgoing, outgoing_reader = wit_world.byte_stream()
        sent = sock.send(outgoing_reader)
        incoming, received = sock.receive()
        _, reply, _, _ = await asyncio.gather(
            send(outgoing, message), read_all(incoming), settle(sent), settle(received)
        )
        return reply


async def send(outgoing: ByteStreamWriter, message: bytes) -> None:
    """Write `message`, then close the stream: the socket sends FIN."""
    with outgoing:
        await outgoing.write_all(message)


async def read_all(incoming: ByteStreamReader) -> bytes:
    """Everything the peer sends until it closes its side."""
    chunks = []
    with incoming:
        while not incoming.writer_dropped:
            chunks.append(await incoming.read(CHUNK))
    return b"".join(chunks)


async def settle(outcome: FutureReader[Result[None, ErrorCode]]) -> None:
    """Wait for how a direction of the connection ended; an error raises."""
    with outcome:
        result = await outcome.read()
    if isinstance(result, Err):
        raise result

