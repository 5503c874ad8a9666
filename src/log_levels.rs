//! The broker's log levels at run time: Kafka's BROKER_LOGGER resource
//! (`kafka-configs --entity-type broker-loggers`), over gregor's tracing targets.
//!
//! A logger is `root` (the level of everything not named) or a tracing target written with
//! dots as Kafka's logger names are (`gregor.api` is the target `gregor::api`: Kafka's tools
//! refuse a `:` in a config name); a level is one of Kafka's (FATAL logs as ERROR: tracing has no FATAL). The
//! levels start from `--log` and are not persisted: as in Kafka, a restart goes back to the
//! configured ones. The process's one log filter is swapped through the function `main`
//! installs; a broker without one (in-process tests) keeps the levels without logging them.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

pub const ROOT: &str = "root";

/// Kafka's valid levels, in its order (`LogLevelConfig.VALID_LOG_LEVELS`, sorted).
pub const LEVELS: [&str; 6] = ["DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN"];

/// gregor's own targets, listed even when no level is set for them.
const MODULES: &[&str] = &[
    "api",
    "app",
    "cli",
    "cluster",
    "config",
    "coord",
    "group",
    "http",
    "log",
    "meta",
    "mqtt",
    "partition",
    "pg",
    "quota",
    "security",
    "server",
    "store",
    "topics",
    "txn",
];

/// The most loggers with a level of their own.
const MAX_NAMED: usize = 256;

type Apply = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static APPLY: OnceLock<Apply> = OnceLock::new();

/// Install what replaces the process's log filter with a directive string (once, by `main`).
pub fn install(apply: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) {
    let _ = APPLY.set(Box::new(apply));
}

/// Why a change is refused: Kafka's error kind with its message.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// INVALID_CONFIG.
    Config(String),
    /// INVALID_REQUEST.
    Request(String),
}

#[derive(Debug, Clone, Default)]
struct Levels {
    root: String,
    /// Logger → Kafka level.
    named: BTreeMap<String, String>,
    /// Directives of `--log` that name no single target (span filters): kept as they are.
    opaque: Vec<String>,
}

pub struct LogLevels {
    levels: Mutex<Levels>,
}

impl LogLevels {
    /// The levels a `--log` filter (an EnvFilter directive string) sets.
    pub fn new(filter: &str) -> Self {
        let mut levels = Levels {
            root: "ERROR".into(),
            ..Levels::default()
        };
        for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                _ if directive.contains('[') => levels.opaque.push(directive.to_string()),
                None => levels.root = directive.to_ascii_uppercase(),
                Some((target, level)) => {
                    levels
                        .named
                        .insert(target.replace("::", "."), level.to_ascii_uppercase());
                }
            }
        }
        Self {
            levels: Mutex::new(levels),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Levels> {
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every logger with its effective level (root, gregor's modules, and any named), by name.
    pub fn describe(&self) -> Vec<(String, String)> {
        let levels = self.lock();
        let mut names: Vec<String> = std::iter::once("gregor".to_string())
            .chain(MODULES.iter().map(|m| format!("gregor.{m}")))
            .chain(levels.named.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        let mut out = vec![(ROOT.to_string(), levels.root.clone())];
        out.extend(names.into_iter().map(|name| {
            let level = effective(&levels, &name);
            (name, level)
        }));
        out
    }

    /// Check a SET before any change is made (Kafka validates a request's every op first).
    pub fn check_set(logger: &str, level: Option<&str>) -> Result<(), Refused> {
        check_exists(logger)?;
        match level {
            Some(l) if LEVELS.contains(&l) => Ok(()),
            l => Err(Refused::Config(format!(
                "Cannot set the log level of {logger} to {} as it is not a supported log level. \
                 Valid log levels are {}",
                l.unwrap_or("null"),
                LEVELS.join(", ")
            ))),
        }
    }

    /// Check a DELETE (unset) before any change is made.
    pub fn check_unset(logger: &str) -> Result<(), Refused> {
        check_exists(logger)?;
        if logger == ROOT {
            return Err(Refused::Request(
                "Removing the log level of the root logger is not allowed".into(),
            ));
        }
        Ok(())
    }

    /// Apply checked changes (logger → Some(level) to set, None to unset) at once.
    pub fn change(&self, changes: &[(String, Option<String>)]) -> Result<(), String> {
        let mut levels = self.lock();
        let mut next = levels.clone();
        for (logger, level) in changes {
            match (logger.as_str(), level) {
                (ROOT, Some(level)) => next.root = level.clone(),
                (_, Some(level)) => {
                    next.named.insert(logger.clone(), level.clone());
                }
                (_, None) => {
                    next.named.remove(logger);
                }
            }
        }
        // Each named logger is a filter directive: an admin's requests cannot grow them without
        // bound.
        if next.named.len() > MAX_NAMED {
            return Err(format!(
                "At most {MAX_NAMED} loggers may have a level of their own; unset some first"
            ));
        }
        if let Some(apply) = APPLY.get() {
            apply(&directive(&next))?;
        }
        tracing::warn!(?changes, "changed log levels");
        *levels = next;
        Ok(())
    }
}

/// A logger is root or a tracing target path in dots (`gregor.api`, `rustls`).
fn check_exists(logger: &str) -> Result<(), Refused> {
    let segment =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if logger == ROOT || logger.split('.').all(segment) {
        Ok(())
    } else {
        Err(Refused::Config(format!("Logger {logger} does not exist!")))
    }
}

/// The level of the most specific named logger that is `name` or a parent of it, else root's.
fn effective(levels: &Levels, name: &str) -> String {
    let mut path = name;
    loop {
        if let Some(level) = levels.named.get(path) {
            return level.clone();
        }
        match path.rfind('.') {
            Some(i) => path = &path[..i],
            None => return levels.root.clone(),
        }
    }
}

/// The EnvFilter directive string of these levels.
fn directive(levels: &Levels) -> String {
    let filter_level = |kafka: &str| match kafka {
        "FATAL" => "error".to_string(),
        other => other.to_ascii_lowercase(),
    };
    std::iter::once(filter_level(&levels.root))
        .chain(levels.named.iter().map(|(target, level)| {
            format!("{}={}", target.replace('.', "::"), filter_level(level))
        }))
        .chain(levels.opaque.iter().cloned())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_start_from_the_log_filter_and_children_inherit() {
        let levels = LogLevels::new("info,gregor::api=debug,h2=warn,gregor[conn]=trace");
        let described: BTreeMap<_, _> = levels.describe().into_iter().collect();
        assert_eq!(described["root"], "INFO");
        assert_eq!(described["gregor.api"], "DEBUG");
        assert_eq!(described["gregor.topics"], "INFO");
        assert_eq!(described["h2"], "WARN");
        assert_eq!(
            directive(&levels.lock()),
            "info,gregor::api=debug,h2=warn,gregor[conn]=trace"
        );
        assert_eq!(effective(&levels.lock(), "gregor.api.produce"), "DEBUG");
    }

    #[test]
    fn changes_are_checked_as_kafka_checks_them() {
        assert_eq!(LogLevels::check_set("gregor.api", Some("DEBUG")), Ok(()));
        assert!(matches!(
            LogLevels::check_set("gregor.api", Some("LOUD")),
            Err(Refused::Config(m)) if m.ends_with("Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN")
        ));
        assert_eq!(
            LogLevels::check_set("no such", Some("INFO")),
            Err(Refused::Config("Logger no such does not exist!".into()))
        );
        assert!(matches!(
            LogLevels::check_unset(ROOT),
            Err(Refused::Request(_))
        ));
        let levels = LogLevels::new("info");
        levels
            .change(&[
                ("gregor.api".into(), Some("FATAL".into())),
                (ROOT.into(), Some("WARN".into())),
            ])
            .unwrap();
        assert_eq!(directive(&levels.lock()), "warn,gregor::api=error");
        levels.change(&[("gregor.api".into(), None)]).unwrap();
        let described: BTreeMap<_, _> = levels.describe().into_iter().collect();
        assert_eq!(described["gregor.api"], "WARN");
    }

    #[test]
    fn named_loggers_are_bounded() {
        let levels = LogLevels::new("info");
        let many: Vec<_> = (0..=MAX_NAMED)
            .map(|i| (format!("t{i}"), Some("DEBUG".to_string())))
            .collect();
        assert!(levels.change(&many).is_err());
        assert!(levels.change(&many[..MAX_NAMED]).is_ok());
    }
}
