//! The admin client's connection: TCP, and TLS over it (rustls, ring) for SSL and SASL_SSL,
//! trusting the given CA, with a client certificate when one is given.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::ClientError;

/// A byte stream to a broker: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// PEM text and where it came from (for errors).
pub struct PemInput {
    pub what: String,
    pub pem: Vec<u8>,
}

fn certificates(input: &PemInput) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(&input.pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", input.what))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate found", input.what));
    }
    Ok(certs)
}

/// The TLS client configuration: trust `ca`, present `identity` (certificate chain, key) when
/// given, check that the broker's certificate names the host unless `verify_hostname` is false.
pub fn client_config(
    ca: &PemInput,
    identity: Option<(&PemInput, &PemInput)>,
    verify_hostname: bool,
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for c in certificates(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: a CA certificate: {e}", ca.what))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?;
    let builder = if verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("{}: {e}", ca.what))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(inner)))
    };
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = certificates(cert)?;
            let key_der = PrivateKeyDer::from_pem_slice(&key.pem)
                .map_err(|e| format!("{}: no usable PEM private key: {e}", key.what))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("{} and {}: {e}", cert.what, key.what))
        }
    }
}

/// Connects to `addr` (HOST:PORT) and, with `tls`, shakes hands (the server name is HOST).
pub async fn open(
    addr: &str,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Box<dyn Stream>, ClientError> {
    let connect_err = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| connect_err(format!("no answer within {timeout:?}")))?
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let tls_err = |reason: String| ClientError::Tls {
        addr: addr.to_string(),
        reason,
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| tls_err(format!("{host:?} is not a valid server name: {e}")))?;
    let stream = tokio::time::timeout(
        timeout,
        TlsConnector::from(config.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| tls_err(format!("no handshake within {timeout:?}")))?
    .map_err(|e| tls_err(explain(&e.to_string())))?;
    Ok(Box::new(stream))
}

/// A TLS failure with what probably caused it.
pub fn explain(reason: &str) -> String {
    let hint = if reason.contains("CertificateRequired") {
        " (the listener requires a client certificate: --ssl-cert and --ssl-key)"
    } else if reason.contains("BadCertificate") || reason.contains("UnknownCA") {
        " (the broker does not accept the client certificate)"
    } else if reason.contains("UnknownIssuer") {
        " (is --ssl-ca the CA that signed the broker's certificate?)"
    } else if reason.contains("not valid for name") {
        " (--ssl-no-hostname-verification accepts it)"
    } else if reason.contains("eof") {
        " (is the listener SSL or SASL_SSL?)"
    } else {
        ""
    };
    format!("{reason}{hint}")
}

/// Checks the certificate's chain and signatures as usual, but not that it names the host.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
