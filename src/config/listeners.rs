//! Listeners: the `listen` and `advertised_listener` values (`[NAME://]HOST:PORT`) as
//! [`ListenerSpec`]s.

use super::{invalid, Config, ConfigError, SecurityProtocol, DEFAULT_LISTENER};

/// One listener: where it binds, and what it tells clients if not its bound address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    /// `HOST:PORT` for `TcpListener::bind` (IPv6 hosts in brackets; port may be 0).
    pub bind: String,
    /// Host (IPv6 without brackets) and port from `advertised_listener`.
    pub advertised: Option<(String, u16)>,
    /// From `listener_security_protocol`, or the protocol the name stands for.
    pub protocol: SecurityProtocol,
}

impl Config {
    /// The listeners in `listen` order, each with its `advertised_listener` entry if any.
    pub fn listeners(&self) -> Result<Vec<ListenerSpec>, ConfigError> {
        let mut specs: Vec<ListenerSpec> = Vec::new();
        for entry in &self.listen {
            let (name, host, port) =
                parse_listener(entry).map_err(|m| invalid(format!("listen {entry:?}: {m}")))?;
            if specs.iter().any(|s| s.name == name) {
                return Err(invalid(format!("listen: listener {name} is given twice")));
            }
            // An empty host binds every interface, as in Kafka's `PLAINTEXT://:9092`.
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            let bind = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let protocol = self.listener_protocol(&name)?;
            specs.push(ListenerSpec {
                name,
                bind,
                advertised: None,
                protocol,
            });
        }
        if specs.is_empty() {
            return Err(invalid("listen: at least one listener is needed".into()));
        }
        for entry in &self.advertised_listener {
            let at = |m: String| invalid(format!("advertised_listener {entry:?}: {m}"));
            let (name, host, port) = parse_listener(entry).map_err(at)?;
            if host.is_empty() || port == 0 {
                return Err(at("a client needs a host and a port other than 0".into()));
            }
            let spec = specs
                .iter_mut()
                .find(|s| s.name == name)
                .ok_or_else(|| at(format!("no listener named {name} in listen")))?;
            if spec.advertised.is_some() {
                return Err(at(format!("listener {name} is advertised twice")));
            }
            spec.advertised = Some((host.to_string(), port));
        }
        Ok(specs)
    }
}

/// `[NAME://]HOST:PORT` → (upper-case name, host without IPv6 brackets, port).
fn parse_listener(s: &str) -> Result<(String, &str, u16), String> {
    let (name, addr) = s.split_once("://").unwrap_or((DEFAULT_LISTENER, s));
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid listener name {name:?}: use letters, digits, '_' and '-'"
        ));
    }
    let (host, port) = addr.rsplit_once(':').ok_or("expected [NAME://]HOST:PORT")?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("invalid port {port:?}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok((name.to_ascii_uppercase(), host, port))
}
