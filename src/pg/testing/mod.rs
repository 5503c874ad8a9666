//! A real PostgreSQL server for the tests of the PostgreSQL backend: Debian's `postgresql`
//! binaries, started once per test process on a loopback port (as the `postgres` user when
//! the tests run as root, since PostgreSQL refuses root), with a fresh database per test. The
//! server dies with the test process (parent-death signal), so nothing outlives a run; data
//! directories of runs that were killed are removed by the next one. [`tls`] is a second
//! server that takes TCP connections over TLS only.

pub mod tls;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use r2d2_postgres::postgres::{Client, Config, NoTls};

const DIR_PREFIX: &str = "gregor-test-pg-";

/// One test's own database on the shared server.
pub struct TestDb {
    pub url: String,
}

impl TestDb {
    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }
}

/// A running test server: its TCP port on 127.0.0.1 and its directory (data, log, and the
/// Unix socket, which every test server trusts).
struct Server {
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// A connection as `postgres` over the Unix socket.
    fn admin(&self) -> Result<Client, r2d2_postgres::postgres::Error> {
        Config::new()
            .host_path(&self.dir)
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(NoTls)
    }

    /// A new, empty database; its name.
    fn create_database(&self) -> String {
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        self.admin()
            .expect("connect to the test server")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        name
    }
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A new, empty database on the test process's PostgreSQL server (started on first use).
pub fn database() -> TestDb {
    let server = SERVER.get_or_init(|| start("", |_, _| Vec::new()));
    let name = server.create_database();
    TestDb {
        url: format!("postgres://postgres@127.0.0.1:{}/{name}", server.port),
    }
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect(
        "the PostgreSQL backend's tests need Debian's postgresql package \
         (scripts/test-all.sh installs it: apt-get install postgresql)",
    )
}

/// (uid, gid) of the `postgres` user when running as root; None otherwise.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions; getpwnam returns a pointer into static storage,
    // read at once (the tests' threads do not call getpwnam concurrently with this).
    unsafe {
        if libc::getuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"postgres".as_ptr());
        assert!(
            !pw.is_null(),
            "running as root needs the postgres user (Debian's postgresql package makes it)"
        );
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// A command run as `user` (if given), killed when the thread that spawned it ends.
fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = user {
                if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After setuid, which clears it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

fn remove_stale_dirs() {
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // gregor-test-pg-PID, gregor-test-pg-PID-tls
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|p| p.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A port for a PostgreSQL server, taken in turn from 30000-30999: below Linux's ephemeral
/// ports (32768-60999), so that no other test's bind to port 0, and no outgoing connection,
/// takes it between this check and the server's bind. Each test process starts at its own
/// place in the range.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 30_000;
    const COUNT: u32 = 1_000;
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    for _ in 0..COUNT {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 30000-30999");
}

/// Start a server in its own directory (`suffix` tells it from the others); `configure`, given
/// the directory and the user the server runs as, writes what it needs there and returns the
/// server's further arguments.
fn start(suffix: &str, configure: impl FnOnce(&Path, Option<(u32, u32)>) -> Vec<String>) -> Server {
    remove_stale_dirs();
    let bin = bin_dir();
    let user = run_as();
    let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}{suffix}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test server directory");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the data directory");
    }
    let data = dir.join("data");
    let out = command(&bin.join("initdb"), user)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = configure(&dir, user);
    let port = free_port();
    // The server is spawned from a thread that lives as long as the process: the
    // parent-death signal fires when the spawning thread ends.
    let (tx, rx) = std::sync::mpsc::channel();
    let postgres = bin.join("postgres");
    let log = dir.join("server.log");
    let server_dir = dir.clone();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let log = std::fs::File::create(&log).expect("server log");
            let child = command(&postgres, user)
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&server_dir)
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=400",
                ])
                // Test data need not survive a crash of the machine.
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn();
            match child {
                Ok(mut child) => {
                    tx.send(Ok(())).ok();
                    let _ = child.wait();
                }
                Err(e) => {
                    tx.send(Err(e)).ok();
                }
            }
        })
        .expect("spawn the test server's thread");
    rx.recv()
        .expect("test server thread")
        .expect("start postgres");
    let server = Server { port, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match server.admin() {
            Ok(_) => return server,
            Err(e) if Instant::now() > deadline => panic!("test postgres did not start: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
