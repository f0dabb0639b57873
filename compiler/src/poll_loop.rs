//! The `poll_loop` module: an `asyncio` event loop over `wasi:io/poll`
//! (upstream componentize-py's public API: `PollLoop`, `register`, `Stream`,
//! `Sink`, `send`), written next to the generated bindings package for
//! worlds that import `wasi:io/poll@0.2`, and only for them: the bindings
//! (and so the components) of other worlds are unchanged.
//!
//! The module is assembled from the Python files in `poll_loop/`: the loop
//! itself always, stream helpers when the world imports `wasi:io/streams`,
//! `send` and the `wasi:http` bodies when it imports `wasi:http/types` and
//! `wasi:http/outgoing-handler`, and timers (`asyncio.sleep`,
//! `asyncio.wait_for`) waited for with `wasi:clocks/monotonic-clock` when it
//! imports that, and `PollLoop.create_connection` (so
//! `asyncio.open_connection`) over `wasi:sockets` when it imports the TCP
//! interfaces. It refers to the bindings by the module names the
//! generator chose (`--world-module`, `--import-interface-name`, ...).
//! Its `_use_as_default` makes `PollLoop` asyncio's default loop; the
//! bundler (`bundle.py`) calls it once the app has imported `asyncio`.

use wit_parser::{InterfaceId, Resolve};

/// File name of the module, next to the bindings package.
pub const MODULE_FILE: &str = "poll_loop.py";

const CORE: &str = include_str!("poll_loop/core.py");
const CLOCK: &str = include_str!("poll_loop/clock.py");
const NO_CLOCK: &str = include_str!("poll_loop/no_clock.py");
const STREAMS: &str = include_str!("poll_loop/streams.py");
const HTTP: &str = include_str!("poll_loop/http.py");
const SOCKETS: &str = include_str!("poll_loop/sockets.py");

/// The imported interfaces `poll_loop` can use, by their module names in
/// `<package>.imports`.
#[derive(Default)]
struct Found<'a> {
    poll: Option<&'a str>,
    streams: Option<&'a str>,
    clock: Option<&'a str>,
    http_types: Option<&'a str>,
    outgoing_handler: Option<&'a str>,
    network: Option<&'a str>,
    instance_network: Option<&'a str>,
    tcp_create_socket: Option<&'a str>,
    tcp: Option<&'a str>,
    ip_name_lookup: Option<&'a str>,
}

/// Whether `id` is `namespace:package/name@0.2.x`.
fn is_wasi_02(resolve: &Resolve, id: InterfaceId, package: &str, name: &str) -> bool {
    let interface = &resolve.interfaces[id];
    let Some(owner) = interface.package else {
        return false;
    };
    let owner = &resolve.packages[owner].name;
    owner.namespace == "wasi"
        && owner.name == package
        && interface.name.as_deref() == Some(name)
        && owner
            .version
            .as_ref()
            .is_some_and(|version| version.major == 0 && version.minor == 2)
}

/// `poll_loop.py` for a world whose bindings package is `package` and whose
/// imported interfaces have the module names `imports` (below
/// `<package>.imports`), with `variant_case` naming a variant case's class;
/// `None` when the world does not import `wasi:io/poll@0.2`, or when the
/// package is dotted (the bindings of a `componentize-py.toml` library,
/// which live inside another package).
pub fn module(
    resolve: &Resolve,
    package: &str,
    imports: &[(InterfaceId, &str)],
    variant_case: impl Fn(&str, &str) -> String,
) -> Option<(String, String)> {
    if package.contains('.') {
        return None;
    }
    let mut found = Found::default();
    for &(id, module) in imports {
        let slot = if is_wasi_02(resolve, id, "io", "poll") {
            &mut found.poll
        } else if is_wasi_02(resolve, id, "io", "streams") {
            &mut found.streams
        } else if is_wasi_02(resolve, id, "clocks", "monotonic-clock") {
            &mut found.clock
        } else if is_wasi_02(resolve, id, "http", "types") {
            &mut found.http_types
        } else if is_wasi_02(resolve, id, "http", "outgoing-handler") {
            &mut found.outgoing_handler
        } else if is_wasi_02(resolve, id, "sockets", "network") {
            &mut found.network
        } else if is_wasi_02(resolve, id, "sockets", "instance-network") {
            &mut found.instance_network
        } else if is_wasi_02(resolve, id, "sockets", "tcp-create-socket") {
            &mut found.tcp_create_socket
        } else if is_wasi_02(resolve, id, "sockets", "tcp") {
            &mut found.tcp
        } else if is_wasi_02(resolve, id, "sockets", "ip-name-lookup") {
            &mut found.ip_name_lookup
        } else {
            continue;
        };
        *slot = Some(module);
    }
    let poll = found.poll?;
    let mut text = CORE.replace("@POLL@", poll);
    let clock = match found.clock {
        Some(clock) => CLOCK.replace("@CLOCK@", clock),
        None => NO_CLOCK.to_string(),
    };
    text = text.replace("@CLOCK_IMPORT@\n", &format!("\n{clock}"));

    if let Some(streams) = found.streams {
        let closed = variant_case("StreamError", "closed");
        let mut imports = format!("from @PACKAGE@.imports.{streams} import InputStream, OutputStream, {closed}\n");
        // The http bodies only with the stream helpers: they are streams.
        let http_bodies = found.http_types;
        let streams_part = match http_bodies {
            Some(types) => {
                imports.push_str(&format!(
                    "from @PACKAGE@.imports.{types} import IncomingBody, OutgoingBody\n"
                ));
                STREAMS
                    .replace("@STREAM_SOURCES@", " or a `wasi:http` incoming body")
                    .replace("@STREAM_SOURCE_TYPE@", "Union[IncomingBody, InputStream]")
                    .replace("@STREAM_INIT@", HTTP_STREAM_INIT)
                    .replace("@STREAM_FINISH@", HTTP_STREAM_FINISH)
                    .replace("@SINK_TARGETS@", " or a `wasi:http` outgoing body")
                    .replace("@SINK_TARGET_TYPE@", "Union[OutgoingBody, OutputStream]")
                    .replace("@SINK_INIT@", HTTP_SINK_INIT)
                    .replace("@SINK_CLOSE@", HTTP_SINK_CLOSE)
            }
            None => STREAMS
                .replace("@STREAM_SOURCES@", "")
                .replace("@STREAM_SOURCE_TYPE@", "InputStream")
                .replace("@STREAM_INIT@", "        self.stream: Optional[InputStream] = body")
                .replace("@STREAM_FINISH@\n", "")
                .replace("@SINK_TARGETS@", "")
                .replace("@SINK_TARGET_TYPE@", "OutputStream")
                .replace("@SINK_INIT@", "        self.stream: Optional[OutputStream] = body")
                .replace("@SINK_CLOSE@\n", ""),
        };
        let streams_part = streams_part.replace("@CLOSED@", &closed);
        text = text.replace("@STREAMS_IMPORT@\n", &imports);
        text.push_str(&streams_part);
        if let (Some(types), Some(handler)) = (found.http_types, found.outgoing_handler) {
            text = text.replace(
                "@HTTP_IMPORT@\n",
                &format!(
                    "from @PACKAGE@.imports import {handler} as _outgoing_handler\n\
                     from @PACKAGE@.imports.{types} import OutgoingRequest, IncomingResponse\n"
                ),
            );
            text.push_str(HTTP);
        }
        if let Some(sockets) = sockets_part(&found, &variant_case) {
            text.push_str(&sockets);
        }
    }
    let text = text
        .replace("@STREAMS_IMPORT@\n", "")
        .replace("@HTTP_IMPORT@\n", "")
        .replace("@PACKAGE@", package);
    Some((MODULE_FILE.to_string(), text))
}

/// `PollLoop.create_connection` (so `asyncio.open_connection`) over
/// `wasi:sockets`, for worlds that import its `network`,
/// `instance-network`, `tcp-create-socket` and `tcp` (host names also with
/// `ip-name-lookup`); appended after the stream helpers, which it uses.
fn sockets_part(found: &Found, variant_case: &impl Fn(&str, &str) -> String) -> Option<String> {
    let (network, instance_network, tcp_create_socket, tcp) =
        (found.network?, found.instance_network?, found.tcp_create_socket?, found.tcp?);
    let (lookup_import, resolve) = match found.ip_name_lookup {
        Some(lookup) => (
            format!("from @PACKAGE@.imports import {lookup} as _ip_name_lookup\n"),
            SOCKETS_RESOLVE,
        ),
        None => (String::new(), SOCKETS_NO_RESOLVE),
    };
    Some(
        SOCKETS
            .replace("@LOOKUP_IMPORT@\n", &lookup_import)
            .replace("@RESOLVE@", resolve)
            .replace("@INSTANCE_NETWORK@", instance_network)
            .replace("@TCP_CREATE_SOCKET@", tcp_create_socket)
            .replace("@NETWORK@", network)
            .replace("@TCP@", tcp)
            .replace("@IPV4_SOCKET_ADDRESS@", &variant_case("IpSocketAddress", "ipv4"))
            .replace("@IPV6_SOCKET_ADDRESS@", &variant_case("IpSocketAddress", "ipv6"))
            .replace("@IPV4_ADDRESS@", &variant_case("IpAddress", "ipv4")),
    )
}

const SOCKETS_RESOLVE: &str = "    try:
        with _ip_name_lookup.resolve_addresses(network, host) as stream:
            found: List[Union[_ipaddress.IPv4Address, _ipaddress.IPv6Address]] = []
            while True:
                try:
                    address = stream.resolve_next_address()
                except Err as error:
                    if error.value != _ErrorCode.WOULD_BLOCK:
                        raise
                    await register(loop, stream.subscribe())
                    continue
                if address is None:
                    return found
                found.append(_ip_of(address))
    except Err as error:
        raise _os_error(error, f\"looking up {host!r}\") from None";

const SOCKETS_NO_RESOLVE: &str = "    raise OSError(
        _errno.ENOENT,
        f\"cannot look up {host!r}: the world does not import wasi:sockets/ip-name-lookup\",
    )";

const HTTP_STREAM_INIT: &str = "        self.body: Optional[IncomingBody]
        self.stream: Optional[InputStream]
        if isinstance(body, InputStream):
            self.body, self.stream = None, body
        else:
            self.body, self.stream = body, body.stream()";

const HTTP_STREAM_FINISH: &str = "        if self.body is not None:
            with IncomingBody.finish(self.body):
                pass
            self.body = None";

const HTTP_SINK_INIT: &str = "        self.body: Optional[OutgoingBody]
        self.stream: Optional[OutputStream]
        if isinstance(body, OutputStream):
            self.body, self.stream = None, body
        else:
            self.body, self.stream = body, body.write()";

const HTTP_SINK_CLOSE: &str = "        if self.body is not None:
            OutgoingBody.finish(self.body, None)
            self.body = None";
