//! Release builds link the functions a broker runs (start-up, produce, fetch, groups; listed in
//! code-layout/hot-functions.txt by code-layout/record.sh) first, so they share a few MiB of
//! pages. The kernel maps a binary's code 64 KiB or more around each page that runs, so with
//! the default layout an idle broker held 15-18 MiB of its 22 MiB text resident; with this, ~5-6.
//! Names missing from the file (another toolchain, changed code) only stay where they were.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "code-layout/hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=GREGOR_CODE_LAYOUT");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let wanted = env::var("GREGOR_CODE_LAYOUT").as_deref() != Ok("off");
    if !(release && wanted && linked_by_lld()) {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    // Relative (rustc links from the package root): the argument, which the binary's symbol
    // names depend on, is then the same in every checkout, and so are the names in the file.
    if Path::new(&dir).join(ORDER).is_file() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={ORDER}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// `--symbol-ordering-file` is an lld option: rustc links x86_64 Linux binaries with its own
/// lld from 1.90 on, unless the flags choose another linker.
fn linked_by_lld() -> bool {
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    target == "x86_64-unknown-linux-gnu"
        && minor.is_some_and(|m| m >= 90)
        && !flags.contains("linker")
        && !flags.contains("link-self-contained")
}
