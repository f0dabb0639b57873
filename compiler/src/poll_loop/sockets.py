

# TCP connections over `wasi:sockets`: `PollLoop.create_connection`, and so
# `asyncio.open_connection` (upstream's CPython has BSD sockets over
# `wasi:sockets`; ours has none, so the loop connects itself).

import errno as _errno
import ipaddress as _ipaddress

from @PACKAGE@.imports import @INSTANCE_NETWORK@ as _instance_network
from @PACKAGE@.imports import @TCP_CREATE_SOCKET@ as _tcp_create_socket
from @PACKAGE@.imports.@NETWORK@ import (
    ErrorCode as _ErrorCode,
    IpAddressFamily as _IpAddressFamily,
    IpSocketAddress as _IpSocketAddress,
    Ipv4SocketAddress as _Ipv4SocketAddress,
    Ipv6SocketAddress as _Ipv6SocketAddress,
    Network as _Network,
    @IPV4_SOCKET_ADDRESS@ as _IpSocketAddress_Ipv4,
    @IPV6_SOCKET_ADDRESS@ as _IpSocketAddress_Ipv6,
    @IPV4_ADDRESS@ as _IpAddress_Ipv4,
)
from @PACKAGE@.imports.@TCP@ import ShutdownType as _ShutdownType, TcpSocket as _TcpSocket
@LOOKUP_IMPORT@

# `wasi:sockets` error codes as `errno` values (OSError picks its subclass:
# ConnectionRefusedError, PermissionError, TimeoutError, ...).
_ERRNO = {
    "ACCESS_DENIED": _errno.EACCES,
    "NOT_SUPPORTED": _errno.EOPNOTSUPP,
    "INVALID_ARGUMENT": _errno.EINVAL,
    "OUT_OF_MEMORY": _errno.ENOMEM,
    "TIMEOUT": _errno.ETIMEDOUT,
    "WOULD_BLOCK": _errno.EWOULDBLOCK,
    "NEW_SOCKET_LIMIT": _errno.EMFILE,
    "ADDRESS_NOT_BINDABLE": _errno.EADDRNOTAVAIL,
    "ADDRESS_IN_USE": _errno.EADDRINUSE,
    "REMOTE_UNREACHABLE": _errno.EHOSTUNREACH,
    "CONNECTION_REFUSED": _errno.ECONNREFUSED,
    "CONNECTION_RESET": _errno.ECONNRESET,
    "CONNECTION_ABORTED": _errno.ECONNABORTED,
}


def _os_error(error: Err[Any], what: str) -> OSError:
    """An `OSError` for a `wasi:sockets` error (or a stream error)."""
    code = error.value
    name = getattr(code, "name", None)
    if name is None:
        # A `wasi:io` stream error: the connection failed.
        return ConnectionResetError(_errno.ECONNRESET, f"{what}: {code!r}")
    return OSError(_ERRNO.get(name, _errno.EIO), f"{what}: wasi:sockets error {name}")


def _socket_address(ip: Union[_ipaddress.IPv4Address, _ipaddress.IPv6Address], port: int) -> Tuple[_IpAddressFamily, _IpSocketAddress]:
    if isinstance(ip, _ipaddress.IPv4Address):
        a, b, c, d = ip.packed
        return _IpAddressFamily.IPV4, _IpSocketAddress_Ipv4(_Ipv4SocketAddress(port=port, address=(a, b, c, d)))
    packed = ip.packed
    words = tuple(int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2))
    return _IpAddressFamily.IPV6, _IpSocketAddress_Ipv6(
        _Ipv6SocketAddress(port=port, flow_info=0, address=words, scope_id=0)  # type: ignore[arg-type]
    )


def _ip_of(address: Any) -> Union[_ipaddress.IPv4Address, _ipaddress.IPv6Address]:
    """The `ipaddress` object of a `wasi:sockets` ip-address."""
    if isinstance(address, _IpAddress_Ipv4):
        return _ipaddress.IPv4Address(bytes(address.value))
    return _ipaddress.IPv6Address(b"".join(word.to_bytes(2, "big") for word in address.value))


async def _resolve(loop: PollLoop, network: _Network, host: str) -> List[Union[_ipaddress.IPv4Address, _ipaddress.IPv6Address]]:
    """The addresses of `host`: an IP address itself, else what
    `wasi:sockets/ip-name-lookup` answers."""
    try:
        return [_ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
@RESOLVE@


async def _connect(loop: PollLoop, network: _Network, family: _IpAddressFamily, address: _IpSocketAddress, what: str) -> Tuple[_TcpSocket, InputStream, OutputStream]:
    try:
        sock = _tcp_create_socket.create_tcp_socket(family)
    except Err as error:
        raise _os_error(error, what) from None
    try:
        try:
            sock.start_connect(network, address)
            while True:
                try:
                    rx, tx = sock.finish_connect()
                    return sock, rx, tx
                except Err as error:
                    if error.value != _ErrorCode.WOULD_BLOCK:
                        raise
                await register(loop, sock.subscribe())
        except Err as error:
            raise _os_error(error, what) from None
    except BaseException:
        sock.__exit__(None, None, None)
        raise


async def _create_connection(
    self: PollLoop,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: Optional[str] = None,
    port: Optional[int] = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: Any = None,
    local_addr: Any = None,
    server_hostname: Any = None,
    ssl_handshake_timeout: Any = None,
    ssl_shutdown_timeout: Any = None,
    happy_eyeballs_delay: Any = None,
    interleave: Any = None,
) -> Tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Open a TCP connection to `host:port` with `wasi:sockets` (the
    addresses of `host` tried in turn) and return `(transport, protocol)`,
    as asyncio's loops do. No TLS, no existing socket, no local address."""
    if ssl:
        raise NotImplementedError("PollLoop.create_connection has no TLS")
    if sock is not None or local_addr is not None:
        raise NotImplementedError("PollLoop.create_connection takes neither sock nor local_addr")
    if host is None or port is None:
        raise ValueError("host and port was not specified and no sock specified")
    network = _instance_network.instance_network()
    errors: List[OSError] = []
    try:
        for ip in await _resolve(self, network, host):
            what = f"connecting to {host}:{port}"
            ip_family, address = _socket_address(ip, port)
            try:
                connection = await _connect(self, network, ip_family, address, what)
                break
            except OSError as error:
                errors.append(error)
        else:
            if len(errors) == 1:
                raise errors[0]
            raise OSError(f"Multiple exceptions: {', '.join(str(error) for error in errors)}")
    except BaseException:
        network.__exit__(None, None, None)
        raise
    protocol = protocol_factory()
    transport = _TcpTransport(self, network, connection, protocol, (str(ip), port))
    return transport, protocol


PollLoop.create_connection = _create_connection


class _TcpTransport(asyncio.Transport):
    """A connected `wasi:sockets` TCP socket as an asyncio transport: a task
    reads into the protocol, another writes the buffer out."""

    def __init__(self, loop: PollLoop, network: _Network, connection: Tuple[_TcpSocket, InputStream, OutputStream], protocol: asyncio.BaseProtocol, peer: Tuple[str, int]) -> None:
        super().__init__(extra={"peername": peer})
        self._loop = loop
        self._network: Optional[_Network] = network
        self._sock: Optional[_TcpSocket] = connection[0]
        self._input: Optional[Stream] = Stream(connection[1])
        self._output: Optional[OutputStream] = connection[2]
        self._protocol: Any = protocol
        self._buffer = bytearray()
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._writing_paused = False
        self._reading = True
        self._resumed: Optional["asyncio.Future[None]"] = None
        self._eof = False
        self._closing = False
        self._shutdown: Optional["asyncio.Task[None]"] = None
        self._writer: Optional["asyncio.Task[None]"] = None
        protocol.connection_made(self)
        self._reader: Optional["asyncio.Task[None]"] = loop.create_task(self._read())

    # Reading

    async def _read(self) -> None:
        try:
            while self._input is not None:
                if not self._reading:
                    self._resumed = self._loop.create_future()
                    await self._resumed
                    continue
                chunk = await self._input.next()
                if chunk is None:
                    if not self._protocol.eof_received():
                        self.close()
                    return
                self._protocol.data_received(chunk)
        except Err as error:
            self._fail(_os_error(error, "reading"))
        except (SystemExit, KeyboardInterrupt, asyncio.CancelledError):
            raise
        except BaseException as error:
            self._fail(error)

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    # Writing

    def write(self, data: Union[bytes, bytearray, memoryview]) -> None:
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._closing or not data:
            return
        self._buffer.extend(data)
        self._start_writer()
        if not self._writing_paused and len(self._buffer) > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._output is not None:
                output = self._output
                if self._buffer:
                    room = output.check_write()
                    if room == 0:
                        await register(self._loop, output.subscribe())
                        continue
                    count = min(room, len(self._buffer))
                    output.write(bytes(self._buffer[:count]))
                    del self._buffer[:count]
                    if self._writing_paused and len(self._buffer) <= self._low:
                        self._writing_paused = False
                        self._protocol.resume_writing()
                    if self._buffer:
                        continue
                    output.flush()
                # Wait until the flush is done (new data may come meanwhile).
                if output.check_write() == 0:
                    await register(self._loop, output.subscribe())
                    continue
                if not self._buffer:
                    break
            if self._eof and self._sock is not None:
                self._sock.shutdown(_ShutdownType.SEND)
        except Err as error:
            self._fail(_os_error(error, "writing"))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._eof or self._closing:
            return
        self._eof = True
        self._start_writer()

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> Tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: Optional[int] = None, low: Optional[int] = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low

    # Closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close after the buffered data is written; the protocol's
        `connection_lost(None)` follows."""
        if not self._closing:
            self._closing = True
            self._shutdown = self._loop.create_task(self._close(None, True))

    def abort(self) -> None:
        self._buffer.clear()
        if not self._closing:
            self._closing = True
            self._shutdown = self._loop.create_task(self._close(None, False))

    def _fail(self, error: BaseException) -> None:
        self._buffer.clear()
        if not self._closing:
            self._closing = True
            self._shutdown = self._loop.create_task(self._close(error, False))

    async def _close(self, error: Optional[BaseException], flush: bool) -> None:
        # The reader and writer wait on pollables of the streams: they end
        # (or are cancelled) before the streams and the socket are dropped.
        for task in (self._writer, self._reader):
            if task is None or task.done() or task is asyncio.current_task():
                continue
            if not (flush and task is self._writer):
                task.cancel()
            try:
                await task
            except BaseException:
                pass
        if self._input is not None:
            self._input.close()
            self._input = None
        if self._output is not None:
            self._output.__exit__(None, None, None)
            self._output = None
        if self._sock is not None:
            self._sock.__exit__(None, None, None)
            self._sock = None
        if self._network is not None:
            self._network.__exit__(None, None, None)
            self._network = None
        self._protocol.connection_lost(error)

    def get_protocol(self) -> Any:
        return self._protocol

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
