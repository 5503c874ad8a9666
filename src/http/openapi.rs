//! `GET /openapi.json`: the OpenAPI 3 document of everything the HTTP listener serves,
//! written by hand beside this file. A test here checks that it lists exactly the routes the
//! router has; the compat suite calls every route it lists.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document (`src/http/openapi.json`).
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (method, path) of every `.route(...)` in router.rs, its `{v3}` prefix spelled out.
    fn routed() -> BTreeSet<(String, String)> {
        let text = include_str!("router.rs");
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            // The call's text: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(j, _)| j);
            let call = &rest[..end];
            let instance = "/consumers/{group}/instances/{instance}";
            let path = if call.trim_start().starts_with("v3,") {
                "/v3/clusters/{cluster_id}".to_string()
            } else if call.trim_start().starts_with("instance,") {
                instance.to_string()
            } else {
                let start = call.find('"').expect("a path literal") + 1;
                let len = call[start..].find('"').expect("a closed literal");
                let literal = &call[start..start + len];
                let literal = match literal.strip_prefix("{instance}") {
                    Some(rest) => format!("{instance}{rest}"),
                    None => literal.to_string(),
                };
                literal
                    .replace("{v3}", "/v3/clusters/{cluster_id}")
                    .replace("{{", "{")
                    .replace("}}", "}")
            };
            for method in ["get", "post", "delete"] {
                if call.contains(&format!("{method}(")) {
                    out.insert((method.to_string(), path.clone()));
                }
            }
        }
        out
    }

    /// (method, path) of the document, its parameters named as the router names them.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let path = path
                    .replace("{topic_name}", "{topic}")
                    .replace("{partition_id}", "{partition}")
                    .replace("{consumer_group_id}", "{group}")
                    .replace("{group_name}", "{group}");
                out.insert((method.clone(), path));
            }
        }
        out
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let routed = routed();
        assert!(routed.len() >= 19, "{routed:?}");
        assert_eq!(documented(), routed);
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = super::DOCUMENT;
        let mut rest = text;
        while let Some(i) = rest.find("#/components/schemas/") {
            rest = &rest[i + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "unresolved $ref {name}");
        }
    }
}
