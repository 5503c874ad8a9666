//! SASL PLAIN (RFC 4616) as Kafka's `PlainSaslServer` reads it: `authzid NUL user NUL
//! password`. Pure; the password check is the credential store's.

/// A PLAIN message's user and password, or the message Kafka answers a malformed one with.
pub fn parse(message: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(message);
    let tokens: Vec<&str> = text.split('\0').collect();
    if tokens.len() != 3 {
        return Err(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            tokens.len()
        ));
    }
    let (authzid, user, password) = (tokens[0], tokens[1], tokens[2]);
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err("Authentication failed: Client requested an authorization id that is different from username".into());
    }
    Ok((user.to_string(), password.to_string()))
}

/// What a client is told for a wrong password or an unknown user alike.
pub const INVALID: &str = "Authentication failed: Invalid username or password";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        assert_eq!(
            parse(b"\0alice\0pw").unwrap(),
            ("alice".to_string(), "pw".to_string())
        );
        assert_eq!(parse(b"alice\0alice\0p\xffw").unwrap().0, "alice");
        assert!(parse(b"bob\0alice\0pw")
            .unwrap_err()
            .contains("authorization id"));
        assert!(parse(b"\0\0pw").unwrap_err().contains("username"));
        assert!(parse(b"\0alice\0").unwrap_err().contains("password"));
        assert!(parse(b"alice").unwrap_err().contains("got 1"));
        assert!(parse(b"\0a\0b\0c").unwrap_err().contains("got 4"));
    }
}
