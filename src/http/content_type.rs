//! REST Proxy v2 content types: `application/vnd.kafka[.embedded].v2+json`, which say how
//! record keys and values are embedded in the JSON body.

/// How a v2 body embeds keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    /// Any JSON value; the record holds its JSON text (what REST Proxy's json format writes).
    Json,
    /// A base64 string; the record holds the decoded bytes.
    Binary,
}

/// Why a content type is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// A format that needs a schema registry (avro, protobuf, jsonschema).
    NeedsSchemaRegistry(String),
    /// Not a v2 produce content type at all.
    Unsupported(String),
}

/// The embedded format of a v2 produce body's `Content-Type` (parameters such as charset
/// ignored, case-insensitive). `application/json` is taken as the json format, and
/// `application/vnd.kafka.v2+json` (no embedded format) as binary, as REST Proxy assumes.
pub fn v2_embedded(content_type: Option<&str>) -> Result<Embedded, Refused> {
    let raw = content_type.unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/vnd.kafka.json.v2+json" | "application/json" => Ok(Embedded::Json),
        "application/vnd.kafka.binary.v2+json" | "application/vnd.kafka.v2+json" => {
            Ok(Embedded::Binary)
        }
        "application/vnd.kafka.avro.v2+json"
        | "application/vnd.kafka.protobuf.v2+json"
        | "application/vnd.kafka.jsonschema.v2+json" => Err(Refused::NeedsSchemaRegistry(essence)),
        _ => Err(Refused::Unsupported(raw.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok = |ct| v2_embedded(Some(ct)).unwrap();
        assert_eq!(ok("application/vnd.kafka.json.v2+json"), Embedded::Json);
        assert_eq!(
            ok("Application/VND.kafka.JSON.v2+json; charset=utf-8"),
            Embedded::Json
        );
        assert_eq!(ok("application/json"), Embedded::Json);
        assert_eq!(ok("application/vnd.kafka.binary.v2+json"), Embedded::Binary);
        assert_eq!(ok(" application/vnd.kafka.v2+json "), Embedded::Binary);
        assert!(matches!(
            v2_embedded(Some("application/vnd.kafka.avro.v2+json")),
            Err(Refused::NeedsSchemaRegistry(_))
        ));
        for bad in ["text/plain", "application/vnd.kafka.json.v1+json", ""] {
            assert!(
                matches!(v2_embedded(Some(bad)), Err(Refused::Unsupported(_))),
                "{bad}"
            );
        }
        assert!(matches!(v2_embedded(None), Err(Refused::Unsupported(_))));
    }
}
