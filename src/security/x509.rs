//! A client certificate's subject as Kafka's default SSL principal names it: the subject DN
//! in RFC 2253 form as Java's `X500Principal.getName()` writes it (most specific RDN first;
//! CN, C, L, ST, O, OU, STREET, DC and UID by keyword, other attributes as OID=#hex), with
//! `ssl.principal.mapping.rules=DEFAULT` leaving it unchanged.

/// The principal name of a TLS connection's client certificate (the first of the chain it
/// presented), if it presented one that can be read.
pub fn client_principal_name(connection: &rustls::ServerConnection) -> Option<String> {
    let certificate = connection.peer_certificates()?.first()?;
    subject_principal_name(certificate.as_ref())
}

/// The principal name of a DER certificate's subject, or None if it cannot be read.
pub fn subject_principal_name(der: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial,
    // signature, issuer, validity, subject, ... }, ... }
    let (_, certificate, _) = read_tlv(der)?;
    let (_, mut tbs, _) = read_tlv(certificate)?;
    let (tag, _, rest) = read_tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
    }
    for _ in 0..4 {
        // serial, signature, issuer, validity
        tbs = read_tlv(tbs)?.2;
    }
    let (tag, name, _) = read_tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rdns = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (tag, set, next) = read_tlv(rest)?;
        if tag != SET {
            return None;
        }
        rest = next;
        let mut attributes = Vec::new();
        let mut atvs = set;
        while !atvs.is_empty() {
            let (tag, atv, next) = read_tlv(atvs)?;
            if tag != SEQUENCE {
                return None;
            }
            atvs = next;
            let (tag, oid, value) = read_tlv(atv)?;
            if tag != OID {
                return None;
            }
            let oid = oid_string(oid)?;
            let (value_tag, content, _) = read_tlv(value)?;
            let text = match value_tag {
                // UTF8String, PrintableString, IA5String, NumericString, TeletexString.
                0x0c | 0x13 | 0x16 | 0x12 | 0x14 => std::str::from_utf8(content).ok(),
                _ => None,
            };
            attributes.push(match (keyword(&oid), text) {
                (Some(k), Some(t)) => format!("{k}={}", escape(t)),
                // As Java writes what it has no keyword for: OID=#hex of the DER value.
                _ => {
                    let der = &value[..value.len() - read_tlv(value)?.2.len()];
                    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{}=#{hex}", keyword(&oid).unwrap_or(&oid))
                }
            });
        }
        rdns.push(attributes.join("+"));
    }
    // RFC 2253 writes the most specific RDN (the last encoded) first.
    rdns.reverse();
    Some(rdns.join(","))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// One DER element at the start of `der`: (tag, content, what follows). Single-byte tags
/// and definite lengths only, as DER has them in certificates.
fn read_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Dotted form of an OBJECT IDENTIFIER's content.
fn oid_string(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in content {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping: `,+"\<>;` anywhere, '#' or ' ' first, ' ' last.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// `openssl req -x509 -subj "/C=US/O=gregor, inc/OU=test/CN=client/emailAddress=a@b.c"`.
    const CERT: &str = "
MIICCTCCAa+gAwIBAgIUX6z43ICa1Z0gt7Kzq7ICJFx9FdIwCgYIKoZIzj0EAwIw
WTELMAkGA1UEBhMCVVMxFDASBgNVBAoMC2dyZWdvciwgaW5jMQ0wCwYDVQQLDAR0
ZXN0MQ8wDQYDVQQDDAZjbGllbnQxFDASBgkqhkiG9w0BCQEWBWFAYi5jMCAXDTI2
MTIwNDIwMTU0OFoYDzIxMjYxMTEwMjAxNTQ4WjBZMQswCQYDVQQGEwJVUzEUMBIG
A1UECgwLZ3JlZ29yLCBpbmMxDTALBgNVBAsMBHRlc3QxDzANBgNVBAMMBmNsaWVu
dDEUMBIGCSqGSIb3DQEJARYFYUBiLmMwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AATmQgye+G0pj238tZeeToJAXgZvUuuQ0hTXJ6nfCfgykJKkJRy11sbbEDKO1NDW
KmTUW5s5mC0deJsnrOUm2Y0fo1MwUTAdBgNVHQ4EFgQUlbka+aCjzQbeeG0JtGtE
VkwtedIwHwYDVR0jBBgwFoAUlbka+aCjzQbeeG0JtGtEVkwtedIwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAkMfVa8dTji3H3x5JernUy+LP6Mv+
29FWVm43QAN30VICIByp3giMKjui4KEIJzEvWE/AIdkmu6pGTfVUtKJiOWdJ
";

    #[test]
    fn subjects_as_kafka_names_them() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(CERT.split_whitespace().collect::<String>())
            .unwrap();
        assert_eq!(
            subject_principal_name(&der).unwrap(),
            "1.2.840.113549.1.9.1=#16056140622e63,CN=client,OU=test,O=gregor\\, inc,C=US"
        );
        assert_eq!(subject_principal_name(b"not a certificate"), None);
        // Cut anywhere, it is not read past its end.
        for n in 0..der.len() {
            let _ = subject_principal_name(&der[..n]);
        }
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(escape("#a b "), "\\#a b\\ ");
        assert_eq!(escape("a<b>;\"c\\"), "a\\<b\\>\\;\\\"c\\\\");
    }
}
