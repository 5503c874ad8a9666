//! Process metrics as Prometheus client libraries name them, read from /proc (Linux only;
//! elsewhere they are left out).

use super::exposition::{Encoder, Kind};

/// The kernel reports CPU times and start times in USER_HZ ticks, 100 a second on every
/// architecture Linux exposes to user space this way (client_golang's procfs assumes it too).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub start_time_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: u64,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

pub fn encode(e: &mut Encoder) {
    let Some(stats) = read() else { return };
    e.family(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
    );
    e.sample("process_cpu_seconds_total", &[], stats.cpu_seconds);
    e.family(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        Kind::Gauge,
    );
    e.sample(
        "process_virtual_memory_bytes",
        &[],
        stats.virtual_bytes as f64,
    );
    let optional = [
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            stats.start_time_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            stats.resident_bytes.map(|v| v as f64),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            stats.open_fds.map(|v| v as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            stats.max_fds.map(|v| v as f64),
        ),
    ];
    for (name, help, value) in optional {
        if let Some(value) = value {
            e.family(name, help, Kind::Gauge);
            e.sample(name, &[], value);
        }
    }
}

fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s));
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let mut stats = parse_stat(&stat, boot_time)?;
    stats.resident_bytes = parse_status_kb(&status, "VmRSS:").map(|kb| kb * 1024);
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    stats.max_fds = parse_max_open_files(&limits);
    Some(stats)
}

/// Fields of /proc/self/stat after the command name (which may hold spaces and parentheses,
/// hence the last ')'): utime is field 14, stime 15, starttime 22, vsize 23.
fn parse_stat(stat: &str, boot_time: Option<u64>) -> Option<ProcessStats> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = field(14)? + field(15)?;
    Some(ProcessStats {
        cpu_seconds: ticks as f64 / USER_HZ,
        start_time_seconds: boot_time
            .zip(field(22))
            .map(|(boot, start)| boot as f64 + start as f64 / USER_HZ),
        virtual_bytes: field(23)?,
        ..ProcessStats::default()
    })
}

fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix(key))?;
    value.split_whitespace().next()?.parse().ok()
}

fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    // "Max open files            1048576              1048576              files"
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1191 0 0 0 150 50 0 0 20 0 \
                    9 0 12345 104857600 2560 18446744073709551615";
        let s = parse_stat(stat, Some(1_700_000_000)).unwrap();
        assert_eq!(s.cpu_seconds, 2.0);
        assert_eq!(s.start_time_seconds, Some(1_700_000_123.45));
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_status_kb("Name:\tgregor\nVmRSS:\t   10240 kB\n", "VmRSS:"),
            Some(10240)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let s = read().unwrap();
        assert!(s.resident_bytes.unwrap() > 0);
        assert!(s.open_fds.unwrap() > 0);
        assert!(s.start_time_seconds.unwrap() > 1_600_000_000.0);
    }
}
