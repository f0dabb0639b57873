"""A WASI 0.3 HTTP service (`wasi:http/service@0.3.0`).

- `POST /echo` streams the request body back, one chunk at a time, as it
  arrives: the body is never held whole.
- `GET /hash-all` with one or more `url` headers downloads every URL at once
  (outgoing requests through `wasi:http/client`), hashes each body with
  SHA-256 as it streams in, and streams back one `URL: SHA-256` line per URL
  as soon as that download is done (so in the order they finish).

    componentize-py -d http.wit -w http componentize app -o http.wasm
    componentize-py serve http.wasm
"""

import asyncio
import hashlib
from typing import List, Optional, Set, Tuple
from urllib import parse

import componentize_py_async_support
import wit_world
from componentize_py_async_support.futures import FutureReader, FutureWriter
from componentize_py_async_support.streams import ByteStreamReader, ByteStreamWriter
from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.imports import client
from wit_world.imports.wasi_http_types import (
    ErrorCode,
    Fields,
    Method_Get,
    Method_Post,
    Request,
    Response,
    Scheme,
    Scheme_Http,
    Scheme_Https,
    Scheme_Other,
)

# The most bytes one read of a body asks for.
CHUNK = 16 * 1024


class Handler(exports.Handler):
    async def handle(self, request: Request) -> Response:
        method = request.get_method()
        path = request.get_path_with_query()
        headers = request.get_headers().copy_all()
        if isinstance(method, Method_Post) and path == "/echo":
            return echo(request, headers)
        if isinstance(method, Method_Get) and path == "/hash-all":
            urls = [str(value, "utf-8") for name, value in headers if name == "url"]
            body, body_reader = wit_world.byte_stream()
            componentize_py_async_support.spawn(hash_all(urls, body))
            return respond([("content-type", b"text/plain")], body_reader)
        response = respond([], None)
        response.set_status_code(404)
        return response


def echo(request: Request, headers: List[Tuple[str, bytes]]) -> Response:
    """The response to `POST /echo`: its body is copied from the request's
    by a coroutine that goes on after `handle` has returned."""
    done, done_reader = wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))
    request_body, trailers = Request.consume_body(request, done_reader)
    body, body_reader = wit_world.byte_stream()
    componentize_py_async_support.spawn(copy(request_body, body, done))
    content_type = [(name, value) for name, value in headers if name == "content-type"]
    response, _sent = Response.new(Fields.from_list(content_type), body_reader, trailers)
    return response


async def copy(
    source: ByteStreamReader,
    sink: ByteStreamWriter,
    done: FutureWriter[Result[None, ErrorCode]],
) -> None:
    """Copy `source` to `sink` chunk by chunk, until either end is closed;
    then tell the host, through `done`, that the request body was read."""
    with source, sink, done:
        while not (source.writer_dropped or sink.reader_dropped):
            chunk = await source.read(CHUNK)
            if chunk:
                await sink.write_all(chunk)
        await done.write(Ok(None))


async def hash_all(urls: List[str], body: ByteStreamWriter) -> None:
    """Download `urls` concurrently and write one line per URL to `body` as
    each download ends."""
    with body:
        pending: Set["asyncio.Future[Tuple[str, str]]"] = {
            asyncio.ensure_future(hash_url(url)) for url in urls
        }
        while pending and not body.reader_dropped:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for download in finished:
                url, outcome = download.result()
                await body.write_all(f"{url}: {outcome}\n".encode())


async def hash_url(url: str) -> Tuple[str, str]:
    """`url` and the hex SHA-256 of its body, or what went wrong."""
    parsed = parse.urlparse(url)
    scheme: Scheme
    if parsed.scheme == "http":
        scheme = Scheme_Http()
    elif parsed.scheme == "https":
        scheme = Scheme_Https()
    else:
        scheme = Scheme_Other(parsed.scheme)
    request, _sent = Request.new(Fields(), None, no_trailers(), None)
    request.set_scheme(scheme)
    request.set_authority(parsed.netloc)
    request.set_path_with_query(parsed.path or "/")
    try:
        response = await client.send(request)
    except Err as error:
        return url, f"error: {error.value}"
    status = response.get_status_code()
    if not 200 <= status <= 299:
        return url, f"unexpected status: {status}"
    done, done_reader = wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))
    response_body, _trailers = Response.consume_body(response, done_reader)
    hasher = hashlib.sha256()
    with response_body, done:
        while not response_body.writer_dropped:
            hasher.update(await response_body.read(CHUNK))
        await done.write(Ok(None))
    return url, hasher.hexdigest()


def respond(headers: List[Tuple[str, bytes]], body: Optional[ByteStreamReader]) -> Response:
    """A response with `headers`, `body` (None: empty) and no trailers."""
    response, _sent = Response.new(Fields.from_list(headers), body, no_trailers())
    return response


def no_trailers() -> FutureReader[Result[Optional[Fields], ErrorCode]]:
    """A trailers future that resolves to "none" once its writer is gone."""
    _writer, reader = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )
    return reader
