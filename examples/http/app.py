"""A `wasi:http/proxy` component: answers `GET /` with a greeting, echoes
the method, path and body of a `POST`, raises on `GET /fail` (the server
answers 500 and prints the traceback), loops forever on `GET /spin` (what
`serve --timeout` is for) and answers 404 otherwise.
"""

from wit_world import exports
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    Method_Other,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)
from componentize_py_types import Err, Ok

# `blocking-write-and-flush` takes at most 4096 bytes at a time.
CHUNK = 4096


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        path = request.path_with_query() or "/"
        if isinstance(method, Method_Get) and path == "/":
            respond(response_out, 200, b"Hello from a Python wasi:http component!\n")
        elif isinstance(method, Method_Get) and path == "/fail":
            raise RuntimeError("this handler fails on purpose")
        elif isinstance(method, Method_Get) and path == "/spin":
            while True:  # a runaway handler: `serve --timeout` stops it
                pass
        elif isinstance(method, Method_Post):
            body = read_body(request)
            echo = f"POST {path}\n".encode() + body
            respond(response_out, 200, echo)
        else:
            name = method.value if isinstance(method, Method_Other) else type(method).__name__[7:].upper()
            respond(response_out, 404, f"not found: {name} {path}\n".encode())


def read_body(request: IncomingRequest) -> bytes:
    """The whole request body."""
    chunks = []
    with request.consume() as body:
        with body.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(65536))
                except Err as error:
                    if isinstance(error.value, StreamError_Closed):
                        break
                    raise
    return b"".join(chunks)


def respond(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    """Send a `text/plain` response with `status` and `body`."""
    headers = Fields.from_list([
        ("content-type", b"text/plain; charset=utf-8"),
        ("content-length", str(len(body)).encode()),
    ])
    response = OutgoingResponse(headers)
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with outgoing.write() as stream:
        for start in range(0, len(body), CHUNK):
            stream.blocking_write_and_flush(body[start:start + CHUNK])
    OutgoingBody.finish(outgoing, None)
