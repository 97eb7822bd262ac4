//! The open-file limit (raised from soft to hard, or a clear message why it is not enough),
//! and CPU time used, of this process and of the server.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and checks that `needed` descriptors fit.
/// Returns the limit now in force.
pub fn raise_open_files(needed: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE) failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(format!(
                "could not raise the open-file limit from {} to the hard limit {}: {}",
                lim.rlim_cur,
                lim.rlim_max,
                std::io::Error::last_os_error()
            ));
        }
        lim.rlim_cur = lim.rlim_max;
    }
    let have: u64 = lim.rlim_cur;
    if have < needed {
        return Err(format!(
            "this process needs about {needed} open files but may hold only {have} \
             (hard limit {}; only root can raise it, and not always): use more processes",
            lim.rlim_max
        ));
    }
    Ok(have)
}

/// CPU time (user + system) this process has used, in ms.
pub fn own_cpu_ms() -> f64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a pointer to our own struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// CPU time (user + system) another process has used, in ms, from `/proc/<pid>/stat`.
pub fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (utime + stime) * 1000.0 / hz as f64)
}

/// Time a process's threads ran and waited for a CPU (run queue), summed, in ms, from
/// `/proc/<pid>/task/*/schedstat`. Waiting is what a busy machine adds to latency.
pub fn process_sched_ms(pid: u32) -> Option<(f64, f64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut run, mut wait) = (0u64, 0u64);
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let mut fields = stat
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        run += fields.next().unwrap_or(0);
        wait += fields.next().unwrap_or(0);
    }
    Some((run as f64 / 1e6, wait as f64 / 1e6))
}
