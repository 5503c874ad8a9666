//! Reading a Kafka client properties file (`--command-config`, as Kafka's tools take it):
//! Java's `.properties` syntax and the `sasl.jaas.config` value's JAAS syntax. Pure.

use std::collections::HashMap;

/// `key=value` pairs of a Java properties text, in order: `#`/`!` comments, `=`, `:` or
/// whitespace between key and value, backslash escapes and line continuations.
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut logical = first.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        // A line ending in an odd number of backslashes continues on the next one.
        while ends_in_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        out.push(split_pair(&logical));
    }
    out
}

fn ends_in_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn split_pair(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(e) = chars.next() {
                    key.push(unescape_char(e, &mut chars));
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                // Whitespace, then optionally one '=' or ':', separates the value.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('=') | Some(':')) {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(e) = chars.next() {
                value.push(unescape_char(e, &mut chars));
            }
        } else {
            value.push(c);
        }
    }
    (key, value)
}

fn unescape_char(e: char, rest: &mut std::iter::Peekable<std::str::Chars>) -> char {
    match e {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'f' => '\x0c',
        'u' => {
            let hex: String = (0..4).filter_map(|_| rest.next()).collect();
            u32::from_str_radix(&hex, 16)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}')
        }
        c => c,
    }
}

/// The login module and options of a `sasl.jaas.config` value such as
/// `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice"
/// password="secret";` (Kafka's `JaasConfig`: one module entry, values quoted or bare).
pub fn jaas(value: &str) -> Result<(String, HashMap<String, String>), String> {
    let mut tokens = Tokens { rest: value.trim() };
    let module = tokens.word().ok_or("sasl.jaas.config: no login module")?;
    let flag = tokens.word().ok_or("sasl.jaas.config: no control flag")?;
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(format!(
            "sasl.jaas.config: control flag {flag:?} is not required, requisite, sufficient or optional"
        ));
    }
    let mut options = HashMap::new();
    loop {
        tokens.skip_space();
        if tokens.rest.starts_with(';') {
            tokens.rest = &tokens.rest[1..];
            break;
        }
        let key = tokens
            .word()
            .ok_or("sasl.jaas.config: expected an option or the closing ';'")?;
        tokens.skip_space();
        tokens.rest = tokens
            .rest
            .strip_prefix('=')
            .ok_or_else(|| format!("sasl.jaas.config: option {key} has no '='"))?;
        tokens.skip_space();
        let value = if tokens.rest.starts_with('"') {
            tokens.quoted()?
        } else {
            tokens
                .word()
                .ok_or_else(|| format!("sasl.jaas.config: option {key} has no value"))?
        };
        options.insert(key, value);
    }
    if !tokens.rest.trim().is_empty() {
        return Err("sasl.jaas.config: only one login module is allowed".into());
    }
    Ok((module, options))
}

struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    /// A bare word: up to whitespace, '=', ';' or '"'.
    fn word(&mut self) -> Option<String> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == ';' || c == '"')
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (w, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(w.to_string())
    }

    /// A "..." string; a backslash takes the next character literally.
    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        out.push(e);
                    }
                }
                c => out.push(c),
            }
        }
        Err("sasl.jaas.config: a quoted value is not closed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
    }

    #[test]
    fn java_properties_syntax() {
        let text = "# comment\n! also\n\nsecurity.protocol=SASL_SSL\n  sasl.mechanism : SCRAM-SHA-512\n\
                    ssl.truststore.location /etc/ca.pem\nempty=\nkey\\=with\\:escapes=a\\tb\\u0041\n\
                    sasl.jaas.config=org.Module required \\\n   username=\"a\" \\\n   password=\"p\";\n\
                    literal.backslash=C:\\\\dir\\\\\n";
        let p = pairs(text);
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            p,
            vec![
                kv("security.protocol", "SASL_SSL"),
                kv("sasl.mechanism", "SCRAM-SHA-512"),
                kv("ssl.truststore.location", "/etc/ca.pem"),
                kv("empty", ""),
                kv("key=with:escapes", "a\tbA"),
                kv(
                    "sasl.jaas.config",
                    "org.Module required username=\"a\" password=\"p\";"
                ),
                kv("literal.backslash", "C:\\dir\\"),
            ]
        );
    }

    #[test]
    fn jaas_config_values() {
        let (module, opts) = jaas(
            "org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"alice\" password=\"se;cr\\\"et\" tokenauth=false;",
        )
        .unwrap();
        assert_eq!(
            module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(opts["username"], "alice");
        assert_eq!(opts["password"], "se;cr\"et");
        assert_eq!(opts["tokenauth"], "false");
        let (_, opts) = jaas("M optional username = bob password=x ;").unwrap();
        assert_eq!(
            (opts["username"].as_str(), opts["password"].as_str()),
            ("bob", "x")
        );
    }

    #[test]
    fn bad_jaas_configs_are_errors() {
        for bad in [
            "",
            "M",
            "M maybe username=\"a\";",
            "M required username=\"a\"",
            "M required username;",
            "M required username=\"a;",
            "M required a=b; N required c=d;",
        ] {
            assert!(jaas(bad).is_err(), "{bad:?}");
        }
    }
}
