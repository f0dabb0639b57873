

async def send(request: OutgoingRequest) -> IncomingResponse:
    """Send `request` with `wasi:http/outgoing-handler` and wait for the
    response (its head; read its body with `Stream(response.consume())`).
    A failure raises `Err` with the `wasi:http` error code."""
    future = _outgoing_handler.handle(request, None)
    try:
        while True:
            result = future.get()
            if result is None:
                await register(_running_loop(), future.subscribe())
                continue
            if isinstance(result, Err):
                raise Err(result.value)
            response = result.value
            if isinstance(response, Err):
                raise response
            return response.value
    finally:
        future.__exit__(None, None, None)
