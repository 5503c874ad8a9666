//! The `gregor` binary: configuration, logging, then the broker until SIGINT or SIGTERM; or,
//! with `topics`/`groups`/`users`/`health` first, an admin command against a running broker (see [`gregor::cli`]).

use std::process::ExitCode;

use gregor::config::{Config, ConfigError, LoadOutcome, LogFormat};

fn main() -> ExitCode {
    share_one_allocator_arena();
    trim_the_heap_now_and_then();
    // Lossy rather than std::env::args(), which panics on arguments that are not UTF-8.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // `gregor topics ...` / `gregor groups ...`: admin commands against a running broker.
    // Everything else is the broker's own command line.
    if gregor::cli::is_admin_command(&args) {
        return gregor::cli::main(args);
    }
    let env = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    let config = match Config::load(args, env) {
        Ok(LoadOutcome::Run(config)) => config,
        Ok(LoadOutcome::PrintConfig(config)) => {
            return match config.to_toml() {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gregor: cannot print the configuration: {e}");
                    ExitCode::from(2)
                }
            };
        }
        // --help and --version (exit 0) and bad flags (exit 2), in clap's own format.
        Err(ConfigError::Cli(e)) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
        Err(e) => {
            eprintln!("gregor: {e}");
            return ExitCode::from(2);
        }
    };

    // Config::validate has checked the filter. It is reloadable: BROKER_LOGGER changes swap it
    // (gregor::log_levels).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log))
        .with_writer(std::io::stderr);
    match config.log_format {
        // No colour codes in files and `docker logs`.
        LogFormat::Text => {
            let logs = logs
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter_reloading();
            let handle = logs.reload_handle();
            gregor::log_levels::install(move |d| reload_filter(&handle, d));
            logs.init()
        }
        // One object a line; the event's fields at the top level, the request's span beside.
        LogFormat::Json => {
            let logs = logs
                .json()
                .flatten_event(true)
                .with_span_list(false)
                .with_filter_reloading();
            let handle = logs.reload_handle();
            gregor::log_levels::install(move |d| reload_filter(&handle, d));
            logs.init()
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // Only async workers park: marking them lets blocking calls made there be caught.
        .on_thread_park(gregor::blocking::mark_async_worker)
        .on_thread_unpark(gregor::blocking::mark_async_worker)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gregor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gregor::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Replace the log filter with a new directive string.
fn reload_filter<S>(
    handle: &tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, S>,
    directive: &str,
) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
    handle.reload(filter).map_err(|e| e.to_string())
}

/// Request frames (a producer's request is up to a few MiB) are allocated and freed by
/// whichever worker thread reads them, and glibc serves each thread from an arena of its own
/// (up to 8 per core) that keeps what it served: the broker held one large frame's worth per
/// arena long after the requests were answered (peak RSS in a produce run ~10 MiB above what
/// was in flight). One arena reuses the same warm memory for every frame. (A fixed mmap
/// threshold gave the memory back too, but faulting fresh pages for every request raised the
/// Java producer's W1 p99 by half: bench/README.md.)
fn share_one_allocator_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// On free, glibc gives back only the top of the heap. Frames of a few MiB come and go between
/// long-lived allocations that grow and move (partition indexes, maps), so the heap's
/// resident pages ratcheted up with the data written: ~4 MiB per GB of small keyed batches
/// over 64 partitions (20-second W6 cells in bench/README.md). malloc_trim returns the free
/// pages inside the heap too; every 5 s it costs a walk of the free lists.
fn trim_the_heap_now_and_then() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            // SAFETY: malloc_trim only hands free pages back to the kernel.
            unsafe {
                libc::malloc_trim(0);
            }
        });
}
