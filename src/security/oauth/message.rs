//! The OAUTHBEARER client initial response (RFC 7628 §3.1) as Kafka's
//! `OAuthBearerClientInitialResponse` reads it: `n,[a=AUTHZID],^A(KEY=VALUE^A)*^A` with an
//! `auth=Bearer TOKEN` pair; the other pairs are SASL extensions. Pure.

const SEP: u8 = 0x01;

/// What a client sent first.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFirst {
    /// Empty when the client named none.
    pub authzid: String,
    pub token: String,
    /// SASL extensions (KIP-342), in order; Kafka's validator accepts every one.
    pub extensions: Vec<(String, String)>,
}

/// Kafka's messages: the first for a message that is not the RFC's form at all.
const INVALID: &str = "Invalid OAUTHBEARER client first message";

pub fn parse(message: &[u8]) -> Result<ClientFirst, String> {
    let rest = message.strip_prefix(b"n,").ok_or(INVALID)?;
    // Optional authorization id, up to the next ','.
    let (authzid, rest) = match rest.strip_prefix(b"a=") {
        Some(after) => {
            let end = after.iter().position(|&b| b == b',').ok_or(INVALID)?;
            let name = &after[..end];
            if !saslname(name) {
                return Err(INVALID.into());
            }
            (String::from_utf8_lossy(name).into_owned(), &after[end..])
        }
        None => (String::new(), rest),
    };
    let rest = rest.strip_prefix(&[b',', SEP]).ok_or(INVALID)?;
    // KEY=VALUE^A pairs, then the final ^A.
    let pairs = rest.strip_suffix(&[SEP]).ok_or(INVALID)?;
    let mut auth = None;
    let mut extensions: Vec<(String, String)> = Vec::new();
    if !pairs.is_empty() {
        let pairs = pairs.strip_suffix(&[SEP]).ok_or(INVALID)?;
        for pair in pairs.split(|&b| b == SEP) {
            let eq = pair.iter().position(|&b| b == b'=').ok_or(INVALID)?;
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            let key_ok = !key.is_empty() && key.iter().all(u8::is_ascii_alphabetic);
            let value_ok = !value.is_empty()
                && value.iter().all(|&b| {
                    (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n')
                });
            if !key_ok || !value_ok {
                return Err(INVALID.into());
            }
            // Both are ASCII by now.
            let key = String::from_utf8_lossy(key).into_owned();
            let value = String::from_utf8_lossy(value).into_owned();
            if key == "auth" {
                auth = Some(value);
            } else {
                // A repeated key: the last one counts (Kafka reads the pairs into a map).
                extensions.retain(|(k, _)| *k != key);
                extensions.push((key, value));
            }
        }
    }
    let auth = auth.ok_or("Invalid OAUTHBEARER client first message: 'auth' not specified")?;
    let token = bearer_token(&auth)?;
    Ok(ClientFirst {
        authzid,
        token,
        extensions,
    })
}

/// `SCHEME SP+ TOKEN` with the scheme `bearer` in any case and the token in RFC 6750's
/// b64token characters.
fn bearer_token(auth: &str) -> Result<String, String> {
    let invalid = || "Invalid OAUTHBEARER client first message: invalid 'auth' format".to_string();
    let (scheme, rest) = auth.split_once(' ').ok_or_else(invalid)?;
    let token = rest.trim_start_matches(' ');
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let body = token.trim_end_matches('=');
    let token_ok = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '+' | '/' | '.'));
    if !scheme_ok || !token_ok {
        return Err(invalid());
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "Invalid scheme in OAUTHBEARER client first message: {scheme}"
        ));
    }
    Ok(token.to_string())
}

/// RFC 5801's saslname: UTF-8 without ',' and '=', those written =2C and =3D (Kafka: ASCII).
fn saslname(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'=' if name[i..].starts_with(b"=2C") || name[i..].starts_with(b"=3D") => i += 3,
            b'=' | b',' => return false,
            0x01..=0x7f => i += 1,
            _ => return false,
        }
    }
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_messages() {
        let m = parse(b"n,,\x01auth=Bearer abc.def-_~+/.ghi==\x01\x01").unwrap();
        assert_eq!(m.token, "abc.def-_~+/.ghi==");
        assert_eq!(m.authzid, "");
        assert!(m.extensions.is_empty());

        let m =
            parse(b"n,a=alice,\x01traceId=x y\x01auth=bearer  t\x01k=1\x01k=2\x01\x01").unwrap();
        assert_eq!((m.authzid.as_str(), m.token.as_str()), ("alice", "t"));
        assert_eq!(
            m.extensions,
            [("traceId".into(), "x y".into()), ("k".into(), "2".into())]
        );
        assert_eq!(
            parse(b"n,a=a=2Cb,\x01auth=Bearer t\x01\x01")
                .unwrap()
                .authzid,
            "a=2Cb"
        );
    }

    #[test]
    fn malformed_client_first_messages() {
        for bad in [
            &b""[..],
            b"y,,\x01auth=Bearer t\x01\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01",
            b"n,,\x01auth=Bearer t",
            b"n,a=,\x01auth=Bearer t\x01\x01",
            b"n,a=a=b,\x01auth=Bearer t\x01\x01",
            b"n,,\x01k1=v\x01auth=Bearer t\x01\x01",
            b"n,,\x01k=\x01auth=Bearer t\x01\x01",
            b"n,,\x01=v\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01\x01\x01",
            b"n,,\x01auth=Bearer t\xff\x01\x01",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(b"n,,\x01\x01")
            .unwrap_err()
            .contains("'auth' not specified"));
        assert!(parse(b"n,,\x01auth=Bearer\x01\x01")
            .unwrap_err()
            .contains("'auth' format"));
        assert!(parse(b"n,,\x01auth=Bearer a b\x01\x01")
            .unwrap_err()
            .contains("'auth' format"));
        assert!(parse(b"n,,\x01auth=Basic abc\x01\x01")
            .unwrap_err()
            .contains("Invalid scheme"));
    }
}
