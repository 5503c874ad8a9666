use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::testdata::*;
use super::*;

const NOW_MS: i64 = 1_800_000_000_000;
const NOW: i64 = NOW_MS / 1000;

fn rules() -> Rules {
    Rules {
        expected_issuer: Some("https://issuer.test".into()),
        expected_audiences: vec!["gregor".into(), "kafka".into()],
        clock_skew_seconds: 30,
        sub_claim: "sub".into(),
        scope_claim: "scope".into(),
    }
}

fn keys() -> KeySet {
    KeySet::parse(&jwks()).unwrap()
}

fn claims() -> Value {
    json!({"sub": "alice", "iss": "https://issuer.test", "aud": "gregor",
           "iat": NOW - 10, "exp": NOW + 600, "scope": "produce"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(&STANDARD.decode(EC_PKCS8_DER_B64).unwrap()),
        _ => EncodingKey::from_rsa_der(&STANDARD.decode(RSA_PKCS1_DER_B64).unwrap()),
    };
    encode(&header, claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), claims)
}

fn check(token: &str) -> Result<ValidToken, String> {
    validate(&keys(), &rules(), token, NOW_MS)
}

fn with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    f(c.as_object_mut().unwrap());
    c
}

#[test]
fn good_tokens_rs256_and_es256() {
    let t = check(&rs256(&claims())).unwrap();
    assert_eq!(t.principal, "alice");
    assert_eq!(t.expires_ms, (NOW + 600) * 1000);
    assert_eq!(t.scopes, ["produce"]);
    // ES256 with its kid, and without one (the key is found by its type).
    assert_eq!(
        check(&sign(Algorithm::ES256, Some("ec-1"), &claims()))
            .unwrap()
            .principal,
        "alice"
    );
    assert!(check(&sign(Algorithm::ES256, None, &claims())).is_ok());
    // PS256 with the RSA key: its JWK says alg RS256, so it is refused.
    assert!(check(&sign(Algorithm::PS256, Some("rsa-1"), &claims())).is_err());
    // An audience list with one expected member; a scope list; the subject trimmed.
    let c = with(|c| {
        c.insert("aud".into(), json!(["other", "kafka"]));
        c.insert("scope".into(), json!(["a", "b"]));
        c.insert("sub".into(), json!("  alice "));
    });
    let t = check(&rs256(&c)).unwrap();
    assert_eq!((t.principal.as_str(), t.scopes.len()), ("alice", 2));
}

#[test]
fn expiry_and_not_before_with_clock_skew() {
    // Expired, but within the 30 s skew: accepted; past it: refused.
    let exp = |s: i64| {
        with(|c| {
            c.insert("iat".into(), json!(NOW - 1000));
            c.insert("exp".into(), json!(NOW + s));
        })
    };
    assert!(check(&rs256(&exp(-29))).is_ok());
    assert!(check(&rs256(&exp(-30)))
        .unwrap_err()
        .contains("no longer valid"));
    assert!(check(&rs256(&exp(-3600))).is_err());
    let nbf = |s: i64| {
        with(|c| {
            c.insert("nbf".into(), json!(NOW + s));
        })
    };
    assert!(check(&rs256(&nbf(30))).is_ok());
    assert!(check(&rs256(&nbf(31)))
        .unwrap_err()
        .contains("not yet valid"));
    // exp and iat are required.
    for claim in ["exp", "iat"] {
        let c = with(|c| {
            c.remove(claim);
        });
        assert!(check(&rs256(&c)).unwrap_err().contains(claim), "{claim}");
    }
    let c = with(|c| {
        c.insert("exp".into(), json!("soon"));
    });
    assert!(check(&rs256(&c)).is_err());
    // Numbers at the edges neither panic nor overflow.
    for exp in [
        json!(1e300),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(-1e300),
    ] {
        let c = with(|c| {
            c.insert("exp".into(), exp.clone());
        });
        if let Ok(t) = check(&rs256(&c)) {
            assert!(t.expires_ms > NOW_MS, "{exp}");
        }
    }
}

#[test]
fn issuer_and_audience() {
    for (claim, value) in [
        ("iss", json!("https://elsewhere")),
        ("iss", Value::Null),
        ("aud", json!("someone-else")),
        ("aud", json!(["x", "y"])),
        ("aud", Value::Null),
    ] {
        let c = with(|c| {
            c.insert(claim.into(), value.clone());
        });
        assert!(check(&rs256(&c)).is_err(), "{claim} {value}");
    }
    // Without expected values (oauth_allow_unverified_*) neither is checked.
    let open = Rules {
        expected_issuer: None,
        expected_audiences: vec![],
        ..rules()
    };
    let c = with(|c| {
        c.insert("iss".into(), json!("https://elsewhere"));
        c.insert("aud".into(), json!("someone-else"));
    });
    assert!(validate(&keys(), &open, &rs256(&c), NOW_MS).is_ok());
}

#[test]
fn subject_and_scope_claims() {
    for bad in [Value::Null, json!(""), json!("   "), json!(7)] {
        let c = with(|c| {
            c.insert("sub".into(), bad.clone());
        });
        assert!(check(&rs256(&c)).is_err(), "sub {bad}");
    }
    for bad in [json!(["a", "a"]), json!(["a", ""]), json!([1])] {
        let c = with(|c| {
            c.insert("scope".into(), bad.clone());
        });
        assert!(check(&rs256(&c)).is_err(), "scope {bad}");
    }
    // Another subject claim name.
    let named = Rules {
        sub_claim: "client_id".into(),
        ..rules()
    };
    let c = with(|c| {
        c.insert("client_id".into(), json!("svc"));
    });
    assert_eq!(
        validate(&keys(), &named, &rs256(&c), NOW_MS)
            .unwrap()
            .principal,
        "svc"
    );
}

#[test]
fn bad_signatures_algorithms_and_keys() {
    let good = rs256(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    // Another payload under the same signature.
    let forged = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&with(|c| {
            c.insert("sub".into(), json!("admin"));
        }))
        .unwrap(),
    );
    let t = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert!(check(&t).unwrap_err().contains("signature"));
    // A flipped signature byte.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let t = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert!(check(&t).is_err());
    // alg none, HS256 (with the RSA modulus as the secret), an unknown kid.
    let header = |h: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap());
    let none = format!("{}.{}.", header(json!({"alg": "none"})), parts[1]);
    assert!(check(&none).is_err());
    let none = format!("{}.{}.x", header(json!({"alg": "none"})), parts[1]);
    assert!(check(&none).unwrap_err().contains("not allowed"));
    let hs = format!(
        "{}.{}.{}",
        header(json!({"alg": "HS256", "kid": "rsa-1"})),
        parts[1],
        parts[2]
    );
    assert!(check(&hs).unwrap_err().contains("not allowed"));
    assert!(check(&sign(Algorithm::RS256, Some("nope"), &claims()))
        .unwrap_err()
        .contains("kid"));
    // The EC key's kid on an RS256 token.
    assert!(check(&sign(Algorithm::RS256, Some("ec-1"), &claims())).is_err());
    let crit = format!(
        "{}.{}.{}",
        header(json!({"alg": "RS256", "crit": ["x"]})),
        parts[1],
        parts[2]
    );
    assert!(check(&crit).is_err());
}

#[test]
fn malformed_and_oversized_tokens() {
    for bad in ["", "  ", "a.b", "a.b.c.d", "a..c", "!!.??.x", "e30.e30.e30"] {
        assert!(check(bad).is_err(), "{bad:?}");
    }
    let big = with(|c| {
        c.insert("pad".into(), json!("x".repeat(MAX_TOKEN_BYTES)));
    });
    assert!(check(&rs256(&big)).unwrap_err().contains("more than"));
}

#[test]
fn jwks_documents() {
    assert!(KeySet::parse("[]").is_err());
    assert!(KeySet::parse("{\"keys\": []}").is_err());
    assert!(KeySet::parse("not json").is_err());
    // Unusable keys are skipped; a symmetric one alone leaves nothing.
    assert!(KeySet::parse(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
    let mixed = format!(
        r#"{{"keys":[{{"kty":"oct","k":"c2VjcmV0"}},{{"kty":"RSA","use":"enc","n":"{RSA_N}","e":"AQAB"}},{{"kty":"RSA","alg":"RSA-OAEP-999","n":"{RSA_N}","e":"AQAB"}}]}}"#
    );
    assert_eq!(KeySet::parse(&mixed).unwrap().len(), 1);
    assert_eq!(keys().len(), 2);
}
