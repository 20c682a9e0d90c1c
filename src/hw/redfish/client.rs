//! The HTTPS client for one Redfish service: hyper's HTTP/1.1 client over tokio-rustls on the
//! fan-out's event loop (thousands of BMCs wait concurrently without a thread each), with our own
//! certificate verifier for fingerprint pinning (BMCs mostly present self-signed certificates).
//! A connection is kept while the service keeps it open. Login is a Redfish session (POST to the
//! service root's Links.Sessions, X-Auth-Token, DELETE on close) or Basic auth where the service
//! has no sessions.

use super::{fingerprint_text, RedfishError as E, Target, Trust};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// Checks the server's certificate by its SHA-256 (or not at all for `insecure` and for reading
/// the fingerprint at enrolment); handshake signatures are always verified. Records what it saw.
#[derive(Debug)]
struct Fingerprint {
    pin: Option<[u8; 32]>,
    seen: Arc<Mutex<Option<[u8; 32]>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Fingerprint {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        *self.seen.lock().expect("not poisoned") = Some(fp);
        match self.pin {
            Some(p) if p != fp => {
                Err(rustls::Error::General("certificate does not match the pinned fingerprint".into()))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic(HeaderValue),
    Token(HeaderValue),
}

/// One answer, body read whole (Redfish resources are small).
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Result<Value, E> {
        serde_json::from_slice(&self.body).map_err(|e| E::Protocol(format!("not a JSON answer: {e}")))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// The service's own words for an error: the first @Message.ExtendedInfo message, the error
    /// message, or the body's first line.
    fn message(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            let e = &v["error"];
            if let Some(m) = e["@Message.ExtendedInfo"][0]["Message"].as_str().or(e["message"].as_str()) {
                return m.to_string();
            }
        }
        let text = String::from_utf8_lossy(&self.body);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        line.chars().take(200).collect()
    }
}

pub struct Client {
    target: Target,
    tls: TlsConnector,
    seen: Arc<Mutex<Option<[u8; 32]>>>,
    conn: Option<SendRequest<Full<Bytes>>>,
    auth: Auth,
    /// The session to delete on close.
    session: Option<String>,
    /// The service root (/redfish/v1/).
    pub root: Value,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(trust: &Trust, seen: Arc<Mutex<Option<[u8; 32]>>>) -> Result<ClientConfig, E> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| E::Tls(e.to_string()))?;
    let cfg = match trust {
        Trust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| E::Tls(format!("cannot read the CA file {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(E::Tls(format!("the CA file {} holds no certificate", path.display())));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pinned(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Fingerprint { pin: Some(*fp), seen, provider: p }))
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Fingerprint { pin: None, seen, provider: p }))
            .with_no_client_auth(),
    };
    Ok(cfg)
}

impl Client {
    pub fn new(target: &Target) -> Result<Client, E> {
        let seen = Arc::new(Mutex::new(None));
        let cfg = tls_config(&target.trust, seen.clone())?;
        Ok(Client {
            target: target.clone(),
            tls: TlsConnector::from(Arc::new(cfg)),
            seen,
            conn: None,
            auth: Auth::None,
            session: None,
            root: Value::Null,
        })
    }

    /// Connects and reads the service root, then logs in: a session where the service offers
    /// one, Basic auth otherwise.
    pub async fn open(target: &Target) -> Result<Client, E> {
        let mut c = Client::new(target)?;
        c.login().await?;
        Ok(c)
    }

    /// Which system of the service the node is (None: the only one).
    pub fn system_id(&self) -> Option<&str> {
        self.target.system.as_deref()
    }

    /// The certificate's SHA-256 as the handshake saw it (addbmnode records it).
    pub fn seen_fingerprint(&self) -> Option<[u8; 32]> {
        *self.seen.lock().expect("not poisoned")
    }

    /// Only the TLS handshake (the certificate is checked and recorded), no request.
    pub async fn handshake(&self) -> Result<(), E> {
        self.connect().await.map(|_| ())
    }

    fn basic(&self) -> HeaderValue {
        use base64_lite::encode;
        let v = format!("Basic {}", encode(format!("{}:{}", self.target.user, self.target.password).as_bytes()));
        let mut h = HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        h.set_sensitive(true);
        h
    }

    async fn login(&mut self) -> Result<(), E> {
        let r = self.send(Method::GET, "/redfish/v1/", None, None).await?;
        let r = if matches!(r.status, 401 | 403) {
            // A service that guards its root too: Basic from the start.
            self.auth = Auth::Basic(self.basic());
            self.send(Method::GET, "/redfish/v1/", None, None).await?
        } else {
            r
        };
        self.root = self.check(Method::GET, "/redfish/v1/", r)?.json()?;
        if let (Auth::None, Some(sessions)) = (&self.auth, odata_id(&self.root["Links"]["Sessions"])) {
            let body = serde_json::json!({"UserName": self.target.user, "Password": self.target.password});
            let r = self.send(Method::POST, &sessions, Some(&body), None).await?;
            match r.status {
                200..=299 => {
                    if let Some(token) = r.headers.get("x-auth-token") {
                        let mut token = token.clone();
                        token.set_sensitive(true);
                        self.auth = Auth::Token(token);
                        self.session = r.header("location").map(|l| path_of(&l));
                        return Ok(());
                    }
                }
                401 | 403 => return Err(invalid_login()),
                // No session service after all (404, 405, 501): Basic.
                _ => {}
            }
        }
        self.auth = Auth::Basic(self.basic());
        Ok(())
    }

    /// Logs out of the session, if there is one; errors are of no use here.
    pub async fn close(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = self.send(Method::DELETE, &s, None, None).await;
        }
        self.conn = None;
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, E> {
        let t = &self.target;
        let secs = t.timeout.as_secs_f64();
        let mut last = String::new();
        for _ in 0..t.tries.max(1) {
            let tcp = match timeout(t.timeout, TcpStream::connect((t.host.as_str(), t.port))).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    last = e.to_string();
                    continue;
                }
                Err(_) => {
                    last = "no connection".into();
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(t.host.clone())
                .map_err(|_| E::Tls(format!("'{}' is not a host name or IP address", t.host)))?;
            let tls = match timeout(t.timeout, self.tls.connect(name, tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return Err(self.tls_error(e)),
                Err(_) => {
                    last = "no TLS handshake".into();
                    continue;
                }
            };
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| E::Protocol(format!("HTTP: {e}")))?;
            tokio::spawn(conn);
            return Ok(sender);
        }
        Err(E::Unreachable(format!(
            "BMC {} did not answer ({} tries, {secs} s each): {last}",
            t.display_host(),
            t.tries.max(1)
        )))
    }

    fn tls_error(&self, e: std::io::Error) -> E {
        if let (Trust::Pinned(pin), Some(seen)) = (&self.target.trust, self.seen_fingerprint()) {
            if *pin != seen {
                return E::Tls(format!(
                    "TLS certificate of BMC {} is {}, not the {} recorded at enrolment (ipmi.bmccert); \
                     if the BMC's certificate was replaced, enrol it again",
                    self.target.display_host(),
                    fingerprint_text(&seen),
                    fingerprint_text(pin)
                ));
            }
        }
        E::Tls(format!("TLS with BMC {}: {e}", self.target.display_host()))
    }

    /// Sends one request (reconnecting once when a kept connection turns out closed).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Response, E> {
        let name =
            if self.target.host.contains(':') { format!("[{}]", self.target.host) } else { self.target.host.clone() };
        let host = if self.target.port == 443 { name } else { format!("{name}:{}", self.target.port) };
        let payload = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut reused = true;
        let mut sender = match self.conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => {
                reused = false;
                self.connect().await?
            }
        };
        loop {
            if sender.ready().await.is_err() {
                sender = self.connect().await?;
                reused = false;
            }
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("host", &host)
                .header("accept", "application/json")
                .header("odata-version", "4.0");
            match &self.auth {
                Auth::None => {}
                Auth::Basic(v) => req = req.header("authorization", v.clone()),
                Auth::Token(v) => req = req.header("x-auth-token", v.clone()),
            }
            if body.is_some() {
                req = req.header("content-type", "application/json");
            }
            if let Some(tag) = if_match {
                req = req.header("if-match", tag);
            }
            let req = req.body(Full::new(payload.clone())).map_err(|e| E::Protocol(format!("request {path}: {e}")))?;
            let answer = timeout(self.target.timeout, async {
                let resp = sender.send_request(req).await?;
                let (parts, body) = resp.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, hyper::Error>((parts, body))
            })
            .await;
            match answer {
                Ok(Ok((parts, body))) => {
                    let close =
                        parts.headers.get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    if !close {
                        self.conn = Some(sender);
                    }
                    return Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body });
                }
                // A kept connection the service had closed before reading the request: once more.
                Ok(Err(e)) if reused && e.is_canceled() => {
                    sender = self.connect().await?;
                    reused = false;
                }
                Ok(Err(e)) => return Err(E::Protocol(format!("{method} {path}: {e}"))),
                Err(_) => {
                    return Err(E::Unreachable(format!(
                        "BMC {} did not answer {method} {path} in {} s",
                        self.target.display_host(),
                        self.target.timeout.as_secs_f64()
                    )))
                }
            }
        }
    }

    /// A success status, or the error it stands for.
    fn check(&self, method: Method, path: &str, r: Response) -> Result<Response, E> {
        match r.status {
            200..=299 => Ok(r),
            401 | 403 => Err(invalid_login()),
            status => {
                Err(E::Http { status, method: method_name(&method), path: path.to_string(), message: r.message() })
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Result<Value, E> {
        let r = self.send(Method::GET, path, None, None).await?;
        self.check(Method::GET, path, r)?.json()
    }

    /// GET with the resource's ETag (header, else @odata.etag).
    pub async fn get_tagged(&mut self, path: &str) -> Result<(Value, Option<String>), E> {
        let r = self.send(Method::GET, path, None, None).await?;
        let r = self.check(Method::GET, path, r)?;
        let v = r.json()?;
        let tag = r.header("etag").or_else(|| v["@odata.etag"].as_str().map(str::to_string));
        Ok((v, tag))
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> Result<Response, E> {
        let r = self.send(Method::POST, path, Some(body), None).await?;
        self.check(Method::POST, path, r)
    }

    /// PATCH; when the service demands a precondition (428) or the ETag changed (412), reads the
    /// resource's ETag and sends it again with If-Match.
    pub async fn patch(&mut self, path: &str, body: &Value) -> Result<Response, E> {
        let r = self.send(Method::PATCH, path, Some(body), None).await?;
        if matches!(r.status, 412 | 428) {
            let (_, tag) = self.get_tagged(path).await?;
            let Some(tag) = tag else {
                return Err(E::Protocol(format!("PATCH {path}: the service asks for If-Match but gives no ETag")));
            };
            let r = self.send(Method::PATCH, path, Some(body), Some(&tag)).await?;
            return self.check(Method::PATCH, path, r);
        }
        self.check(Method::PATCH, path, r)
    }

    /// The members of a collection, as paths.
    pub async fn members(&mut self, collection: &str) -> Result<Vec<String>, E> {
        let c = self.get(collection).await?;
        Ok(c["Members"].as_array().map(|m| m.iter().filter_map(odata_id).collect()).unwrap_or_default())
    }
}

fn invalid_login() -> E {
    E::Auth("invalid user name or password".into())
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// The `@odata.id` of a link object.
pub fn odata_id(v: &Value) -> Option<String> {
    v["@odata.id"].as_str().map(str::to_string)
}

/// The path of a Location header that may be an absolute URL.
fn path_of(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_else(|| "/".into()),
        None => location.to_string(),
    }
}

/// Base64 for the Basic header (the one use in the project; no crate for eleven lines).
mod base64_lite {
    pub fn encode(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for c in data.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_locations() {
        assert_eq!(base64_lite::encode(b"admin:password"), "YWRtaW46cGFzc3dvcmQ=");
        assert_eq!(base64_lite::encode(b"ab"), "YWI=");
        assert_eq!(base64_lite::encode(b"abc"), "YWJj");
        assert_eq!(
            path_of("https://10.0.0.1/redfish/v1/SessionService/Sessions/7"),
            "/redfish/v1/SessionService/Sessions/7"
        );
        assert_eq!(path_of("/redfish/v1/SessionService/Sessions/7"), "/redfish/v1/SessionService/Sessions/7");
    }
}
