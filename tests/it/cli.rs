//! The real binary's command line: exit codes, --print-config, --help.

use std::process::{Command, Output};

fn gregor(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    // Only the variables a test gives: unknown GREGOR_* variables are errors.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GREGOR_") || var == "RUST_LOG" {
            cmd.env_remove(var);
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .output()
        .expect("gregor runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn print_config_shows_the_effective_settings() {
    let o = gregor(
        &["--print-config", "--node-id", "3"],
        &[("GREGOR_NODE_ID", "2"), ("GREGOR_STORAGE", "memory")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for line in [
        "node_id = 3",
        "storage = \"memory\"",
        "listen = [\"0.0.0.0:9092\"]",
        "topic = [\"loms.order-events:2:1\"]",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[test]
fn configuration_errors_exit_2_naming_the_culprit() {
    let o = gregor(&["--print-config"], &[("GREGOR_NO_SUCH", "1")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("GREGOR_NO_SUCH"), "{}", stderr(&o));

    let o = gregor(&["--advertised-listener", "EXTERNAL://kafka:9092"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("EXTERNAL"), "{}", stderr(&o));

    let o = gregor(&["--no-such-flag"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_documents_every_setting() {
    let o = gregor(&["--help"], &[]);
    assert!(o.status.success());
    let help = stdout(&o);
    for flag in [
        "--listen",
        "--advertised-listener",
        "--data-dir",
        "--storage",
        "--topic",
        "--fsync",
        "--print-config",
        "--metrics-listen",
        "--log-format",
        "GREGOR_",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

/// `--log-format json`: every line the broker logs is one JSON object.
#[test]
fn json_logs_are_one_object_a_line() {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GREGOR_") || var == "RUST_LOG" {
            cmd.env_remove(var);
        }
    }
    let mut child = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "memory",
            "--log-format",
            "json",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gregor runs");
    let stderr = child.stderr.take().unwrap();
    let mut started = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
        if event["message"] == "gregor started" {
            assert!(event["cluster_id"].is_string(), "{line}");
            started = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "no \"gregor started\" event");
}
