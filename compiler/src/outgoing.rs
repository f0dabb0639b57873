//! Outgoing HTTP requests of `componentize-py serve`'s guests
//! (`wasi:http/outgoing-handler`): plain HTTP/1.1 over TCP with hyper's
//! client. `https` requests fail with `wasi:http`'s `HTTP-request-denied`:
//! this build has no TLS client.

use http_body_util::BodyExt;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// How long connecting, and waiting for the response's head, may take when
/// the guest sets no `request-options` (Wasmtime's default is 600 s; a
/// guest that wants longer says so).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a sent request gives the guest: the response, and a future that
/// drives the connection until the response's body is read.
pub type Sent = (
    hyper::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
);

/// Send `request` (its URI carries scheme and authority) over a new
/// connection, honouring the guest's connect and first-byte timeouts.
pub async fn send(
    mut request: hyper::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, HttpError> {
    let uri = request.uri().clone();
    match uri.scheme_str() {
        Some("http") | None => {}
        // No TLS client here; `Other` schemes are not HTTP.
        Some(_) => return Err(HttpError::HttpRequestDenied),
    }
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let address = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(DEFAULT_TIMEOUT);

    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(&address))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(connect_error)?;
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    // The request line takes the path only (scheme and authority are for
    // proxies); hyper sends what the URI holds.
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    if !request.headers().contains_key(hyper::header::HOST) {
        let host = hyper::header::HeaderValue::from_str(authority.as_str())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        request.headers_mut().insert(hyper::header::HOST, host);
    }

    // Wait for the response head while driving the connection's I/O.
    let mut response = pin!(tokio::time::timeout(first_byte_timeout, sender.send_request(request)));
    let mut connection = Some(connection);
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = response.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if let Some(driving) = connection.as_mut() {
            if let Poll::Ready(result) = std::pin::Pin::new(driving).poll(cx) {
                connection = None;
                if let Err(error) = result {
                    return Poll::Ready(Ok(Err(error)));
                }
                // The connection ended: the response future says why.
                return response.as_mut().poll(cx);
            }
        }
        Poll::Pending
    })
    .await
    .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
    let rest: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(async move {
        match connection {
            Some(connection) => connection.await.map_err(HttpError::from),
            None => Ok(()),
        }
    });
    Ok((response, rest))
}

/// A connect failure as `wasi:http` names it.
fn connect_error(error: std::io::Error) -> HttpError {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
        _ => HttpError::Connect(error),
    }
}
