//! Outgoing HTTP requests of `componentize-py serve`'s guests
//! (`wasi:http/outgoing-handler`): HTTP/1.1 with hyper's client, over TCP
//! for `http` and over TLS (rustls, ring) for `https`. TLS trusts the
//! Mozilla roots that `webpki-roots` carries, plus the PEM certificates
//! given with `serve --tls-ca-file` (an organisation's own CA, a test's
//! self-signed one). Other schemes fail with `HTTP-request-denied`.

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::rt::{Read, Write};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
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

/// How outgoing requests connect: the TLS configuration (trusted roots)
/// shared by every request of one `serve`.
#[derive(Clone)]
pub struct Client {
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    /// A client whose TLS trusts the Mozilla roots and the certificates in
    /// the PEM files `extra_roots`.
    pub fn new(extra_roots: &[PathBuf]) -> Result<Client> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for file in extra_roots {
            let certificates = CertificateDer::pem_file_iter(file)
                .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading PEM certificates from `{}`", file.display()))?;
            if certificates.is_empty() {
                anyhow::bail!("`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", file.display());
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .with_context(|| format!("adding a certificate of `{}` to the trusted roots", file.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("configuring TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client { tls: Arc::new(tls) })
    }

    /// Send `request` (its URI carries scheme and authority) over a new
    /// connection, honouring the guest's connect and first-byte timeouts.
    pub async fn send(
        self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Sent, HttpError> {
        let uri = request.uri().clone();
        let tls = match uri.scheme_str() {
            Some("http") | None => false,
            Some("https") => true,
            // `Other` schemes are not HTTP.
            Some(_) => return Err(HttpError::HttpRequestDenied),
        };
        let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
        let address = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(&address))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(connect_error)?;
        if !tls {
            return exchange(TokioIo::new(stream), request, options).await;
        }
        let name = server_name(authority.host())?;
        let connector = tokio_rustls::TlsConnector::from(self.tls);
        let stream = tokio::time::timeout(connect_timeout, connector.connect(name, stream))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(tls_error)?;
        exchange(TokioIo::new(stream), request, options).await
    }
}

/// The name TLS verifies the server's certificate against: an IP address
/// (`127.0.0.1`, `[::1]`) or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, HttpError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string()).map_err(|_| HttpError::HttpRequestUriInvalid)
}

/// A failed TLS handshake as `wasi:http` names it; the reason goes to the
/// server's stderr, since the error code cannot carry it.
fn tls_error(error: std::io::Error) -> HttpError {
    let reason = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    eprintln!("componentize-py serve: outgoing TLS handshake failed: {error}");
    match reason {
        Some(rustls::Error::InvalidCertificate(_)) => HttpError::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => HttpError::TlsProtocolError,
    }
}

/// Send `request` on the connection `io` and wait for the response's head.
async fn exchange<IO>(
    io: IO,
    mut request: hyper::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, HttpError>
where
    IO: Read + Write + Unpin + Send + 'static,
{
    let uri = request.uri().clone();
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?.clone();
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(DEFAULT_TIMEOUT);
    let (mut sender, connection) =
        tokio::time::timeout(connect_timeout, hyper::client::conn::http1::Builder::new().handshake(io))
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
