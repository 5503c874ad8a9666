//! The client's side of SCRAM (RFC 5802, RFC 7677) as Kafka's `ScramSaslClient` speaks it:
//! client-first, then client-final with the proof, then the server's signature checked.
//! Pure: the nonce is passed in. The hashes are `security::scram`'s, which the broker uses.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::security::scram::{ScramMechanism, MIN_ITERATIONS};

/// Why an exchange failed on the client's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramClientError {
    #[error("malformed SCRAM message from the broker: {0}")]
    Malformed(&'static str),
    #[error("the broker's nonce does not extend ours")]
    Nonce,
    #[error("the broker asks for {0} iterations, fewer than the minimum {MIN_ITERATIONS}")]
    Iterations(u32),
    #[error("the broker's SCRAM signature is wrong (is it the broker it claims to be?)")]
    ServerSignature,
    #[error("the broker reports a SCRAM error: {0}")]
    Server(String),
    #[error("SCRAM messages out of order")]
    Order,
}

pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    /// The server signature expected in server-final, once client-final is sent.
    expected: Option<Vec<u8>>,
}

impl ScramClient {
    /// `nonce`: fresh printable characters without ','.
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> Self {
        let name = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism,
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare: format!("n={name},r={nonce}"),
            expected: None,
        }
    }

    /// The client-first message: no channel binding, no authorization id.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message answering the server-first one.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        if self.expected.is_some() {
            return Err(ScramClientError::Order);
        }
        let text = std::str::from_utf8(server_first)
            .map_err(|_| ScramClientError::Malformed("not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramClientError::Server(e.to_string()));
        }
        let mut attrs = text.split(',');
        let mut next = |prefix: &str, what: &'static str| {
            attrs
                .next()
                .and_then(|a| a.strip_prefix(prefix))
                .ok_or(ScramClientError::Malformed(what))
        };
        let nonce = next("r=", "no nonce")?;
        let salt = next("s=", "no salt")?;
        let iterations = next("i=", "no iteration count")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramClientError::Nonce);
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| ScramClientError::Malformed("bad salt"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramClientError::Malformed("bad iteration count"))?;
        if iterations < MIN_ITERATIONS {
            return Err(ScramClientError::Iterations(iterations));
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        // c=biws: base64 of the gs2 header "n,,".
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.expected = Some(m.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Check the server-final message: the server proves it knows the credential too.
    pub fn server_final(&self, message: &[u8]) -> Result<(), ScramClientError> {
        let expected = self.expected.as_ref().ok_or(ScramClientError::Order)?;
        let text =
            std::str::from_utf8(message).map_err(|_| ScramClientError::Malformed("not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramClientError::Server(e.to_string()));
        }
        let v = text
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or(ScramClientError::Malformed("no server signature"))?;
        let got = B64
            .decode(v)
            .map_err(|_| ScramClientError::Malformed("bad server signature"))?;
        if crate::security::scram::constant_time_eq(&got, expected) {
            Ok(())
        } else {
            Err(ScramClientError::ServerSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::{ScramError, ScramServer};

    /// One exchange against the broker's own SCRAM server; the server's verdict and, on
    /// success, the client's on the server-final message.
    fn exchange(
        m: ScramMechanism,
        user: &str,
        stored_password: &str,
        password: &str,
    ) -> Result<Result<(), ScramClientError>, ScramError> {
        let credential = m.credential(stored_password, b"some salt", 4096);
        let mut client = ScramClient::new(m, user, password, "clientnonce");
        let mut server = ScramServer::new(m);
        let first = ScramServer::parse_client_first(&client.client_first())?;
        assert_eq!(first.user, user);
        let server_first = server.server_first(first, Some(credential), "servernonce", b"x");
        let client_final = client.client_final(&server_first).expect("client final");
        let (name, server_final) = server.client_final(&client_final)?;
        assert_eq!(name, user);
        Ok(client.server_final(&server_final))
    }

    #[test]
    fn authenticates_against_the_brokers_scram_server() {
        for m in ScramMechanism::ALL {
            assert_eq!(exchange(m, "alice", "pw", "pw"), Ok(Ok(())));
            // Names with SCRAM's special characters are escaped and unescaped.
            assert_eq!(exchange(m, "a,b=c", "pw", "pw"), Ok(Ok(())));
            assert_eq!(
                exchange(m, "alice", "pw", "wrong"),
                Err(ScramError::InvalidCredentials)
            );
        }
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let m = ScramMechanism::Sha512;
        let mut client = ScramClient::new(m, "alice", "pw", "cn");
        assert_eq!(client.server_final(b"v=AAAA"), Err(ScramClientError::Order));
        let salt = B64.encode(b"salt");
        client
            .client_final(format!("r=cnSN,s={salt},i=4096").as_bytes())
            .unwrap();
        assert_eq!(
            client.server_final(format!("v={}", B64.encode([0u8; 64])).as_bytes()),
            Err(ScramClientError::ServerSignature)
        );
        assert!(matches!(
            client.server_final(b"e=invalid-proof"),
            Err(ScramClientError::Server(_))
        ));
    }

    #[test]
    fn bad_server_first_messages_are_refused() {
        let m = ScramMechanism::Sha256;
        let salt = B64.encode(b"salt");
        let try_first =
            |msg: String| ScramClient::new(m, "u", "p", "cn").client_final(msg.as_bytes());
        assert_eq!(
            try_first(format!("r=other,s={salt},i=4096")),
            Err(ScramClientError::Nonce)
        );
        assert_eq!(
            try_first(format!("r=cn,s={salt},i=4096")),
            Err(ScramClientError::Nonce)
        );
        assert_eq!(
            try_first(format!("r=cnx,s={salt},i=100")),
            Err(ScramClientError::Iterations(100))
        );
        assert!(matches!(
            try_first("r=cnx,i=4096".into()),
            Err(ScramClientError::Malformed(_))
        ));
        assert!(matches!(
            try_first("e=unknown-user".into()),
            Err(ScramClientError::Server(_))
        ));
        assert!(try_first(format!("r=cnx,s={salt},i=4096")).is_ok());
    }
}
