"""A `wasi:http/proxy` handler that fans out: `GET /hash-all` with one or
more `url` headers downloads every URL concurrently (outgoing requests
through `wasi:http/outgoing-handler`), hashes each body with SHA-256 as it
streams in, and streams one line per URL back to the client as soon as that
download is done. `POST /echo` streams the request body back. Everything is
asyncio on `poll_loop`, the event loop over `wasi:io/poll`.
"""

import asyncio
import hashlib
from typing import Tuple
from urllib import parse

import poll_loop
from poll_loop import PollLoop, Sink, Stream
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Method_Get,
    Method_Post,
    Scheme_Http,
    Scheme_Https,
    Scheme_Other,
)
from componentize_py_types import Err, Ok


# How long one download may take.
DOWNLOAD_TIMEOUT = 30.0


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        loop = PollLoop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(handle_async(request, response_out))


async def handle_async(request: IncomingRequest, response_out: ResponseOutparam) -> None:
    method = request.method()
    path = request.path_with_query()
    headers = request.headers().entries()

    if isinstance(method, Method_Get) and path == "/hash-all":
        urls = [str(value, "utf-8") for name, value in headers if name == "url"]
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        sink = Sink(body)
        for done in asyncio.as_completed([sha256(url) for url in urls]):
            url, result = await done
            await sink.send(f"{url}: {result}\n".encode())
        sink.close()
    elif isinstance(method, Method_Post) and path == "/echo":
        response = OutgoingResponse(
            Fields.from_list([(name, value) for name, value in headers if name == "content-type"])
        )
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = Stream(request.consume())
        sink = Sink(body)
        while (chunk := await stream.next()) is not None:
            await sink.send(chunk)
        sink.close()
    else:
        response = OutgoingResponse(Fields.from_list([]))
        response.set_status_code(400)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        OutgoingBody.finish(body, None)


async def sha256(url: str) -> Tuple[str, str]:
    """`url` and the hex SHA-256 of its body, or a description of what went
    wrong."""
    try:
        return url, await asyncio.wait_for(download_and_hash(url), DOWNLOAD_TIMEOUT)
    except Err as error:
        return url, f"error: {error.value}"
    except asyncio.TimeoutError:
        return url, f"error: no answer within {DOWNLOAD_TIMEOUT} s"


async def download_and_hash(url: str) -> str:
    parsed = parse.urlparse(url)
    if parsed.scheme == "http":
        scheme = Scheme_Http()
    elif parsed.scheme == "https":
        scheme = Scheme_Https()
    else:
        scheme = Scheme_Other(parsed.scheme)
    request = OutgoingRequest(Fields.from_list([]))
    request.set_scheme(scheme)
    request.set_authority(parsed.netloc)
    request.set_path_with_query(parsed.path or "/")

    response = await poll_loop.send(request)
    status = response.status()
    if not 200 <= status <= 299:
        return f"unexpected status: {status}"
    stream = Stream(response.consume())
    hasher = hashlib.sha256()
    while (chunk := await stream.next()) is not None:
        hasher.update(chunk)
    return hasher.hexdigest()
