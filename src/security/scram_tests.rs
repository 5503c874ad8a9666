use super::*;

const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

/// RFC 7677's example exchange (user "user", password "pencil").
#[test]
fn rfc7677_exchange() {
    let salt = B64.decode(SALT).unwrap();
    let credential = ScramMechanism::Sha256.credential("pencil", &salt, 4096);
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    let first = ScramServer::parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
    assert_eq!(first.user, "user");
    let server_first = server.server_first(
        first,
        Some(credential),
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        b"unused",
    );
    assert_eq!(
        String::from_utf8(server_first).unwrap(),
        format!("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s={SALT},i=4096")
    );
    let (user, server_final) = server
        .client_final(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    assert_eq!(user, "user");
    assert_eq!(
        String::from_utf8(server_final).unwrap(),
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
}

/// A client's final message for `password`, computed as RFC 5802 says.
fn client_final(
    m: ScramMechanism,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> String {
    let attrs: Vec<&str> = server_first.split(',').collect();
    let nonce = attrs[0].strip_prefix("r=").unwrap();
    let salt = B64.decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
    let iterations: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
    let salted = m.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = m.hmac(&salted, b"Client Key");
    let stored_key = m.hash(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = m.hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    format!("{without_proof},p={}", B64.encode(proof))
}

fn exchange(stored_password: Option<&str>, tried: &str) -> Result<String, ScramError> {
    let m = ScramMechanism::Sha512;
    let credential = stored_password.map(|p| m.credential(p, b"salt-salt", MIN_ITERATIONS));
    let mut server = ScramServer::new(m);
    let first = ScramServer::parse_client_first(b"n,,n=al=3Dice=2C,r=abc")?;
    assert_eq!(first.user, "al=ice,");
    let server_first = server.server_first(first, credential, "xyz", b"fake-salt");
    let server_first = String::from_utf8(server_first).unwrap();
    let fin = client_final(m, tried, "n=al=3Dice=2C,r=abc", &server_first);
    server.client_final(fin.as_bytes()).map(|(u, _)| u)
}

#[test]
fn sha512_right_and_wrong_passwords() {
    assert_eq!(exchange(Some("secret"), "secret").unwrap(), "al=ice,");
    assert_eq!(
        exchange(Some("secret"), "Secret"),
        Err(ScramError::InvalidCredentials)
    );
    // An unknown user gets a server-first message all the same, and fails at the proof.
    assert_eq!(
        exchange(None, "secret"),
        Err(ScramError::InvalidCredentials)
    );
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    for bad in [
        &b""[..],
        b"n",
        b"n,,",
        b"p=tls-unique,,n=a,r=b",
        b"n,,n=a",
        b"n,,n=a,r=",
        b"n,,n=a=,r=b",
        b"n,,n=a=4,r=b",
        b"n,a=b,n=a,r=b",
        b"n,,n=a,r=b,other=1",
        b"n,,n=a,r=b,tokenauth",
        b"n,,n=a,r=b,=x",
        b"\xff\xfe",
    ] {
        assert!(ScramServer::parse_client_first(bad).is_err(), "{bad:?}");
    }
    assert!(ScramServer::parse_client_first(b"n,a=a,n=a,r=b").is_ok());
    // Kafka's one extension: a delegation token (TRUE in any case), or not.
    for (message, token) in [
        (&b"n,,n=id,r=b,tokenauth=true"[..], true),
        (b"n,,n=id,r=b,tokenauth=TRUE", true),
        (b"n,,n=id,r=b,tokenauth=false", false),
        (b"n,,n=id,r=b", false),
    ] {
        let first = ScramServer::parse_client_first(message).unwrap();
        assert_eq!((first.user.as_str(), first.token_auth), ("id", token));
    }
    let mut server = ScramServer::new(ScramMechanism::Sha256);
    // A final message before the first.
    assert!(server.client_final(b"c=biws,r=x,p=AAAA").is_err());
    for bad in [
        &b"c=biws,r=abcxyz"[..],
        b"c=eSws,r=abcxyz,p=AAAA",
        b"c=biws,r=other,p=AAAA",
        b"c=biws,r=abcxyz,p=!!",
        b"c=biws,r=abcxyz,p=AAAA",
    ] {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let first = ScramServer::parse_client_first(b"n,,n=a,r=abc").unwrap();
        let credential = ScramMechanism::Sha256.credential("p", b"s", MIN_ITERATIONS);
        server.server_first(first, Some(credential), "xyz", b"");
        assert!(server.client_final(bad).is_err(), "{bad:?}");
        // And nothing more after a failure.
        assert!(server.client_final(bad).is_err());
    }
}

#[test]
fn mechanisms_by_name_and_number() {
    for m in ScramMechanism::ALL {
        assert_eq!(ScramMechanism::from_name(m.name()), Some(m));
        assert_eq!(ScramMechanism::from_kafka_type(m.kafka_type()), Some(m));
    }
    assert_eq!(ScramMechanism::from_kafka_type(0), None);
    assert!(constant_time_eq(b"ab", b"ab"));
    assert!(!constant_time_eq(b"ab", b"ac"));
    assert!(!constant_time_eq(b"ab", b"abc"));
}
