//! Background processes that outlive aideploy: started in their own process group,
//! recognised later by pid *and* start time (so a recycled pid is never signalled),
//! stopped with SIGTERM, then SIGKILL.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: u32,
    /// Start time in clock ticks since boot (Linux `/proc/PID/stat`), when known.
    pub start: Option<u64>,
}

impl Proc {
    pub fn of(pid: u32) -> Proc {
        Proc { pid, start: start_time(pid) }
    }

    /// Still running, and still the process we started.
    pub fn alive(&self) -> bool {
        // SAFETY: signal 0 only checks that the pid exists and may be signalled.
        let exists =
            unsafe { libc::kill(self.pid as libc::pid_t, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists || is_zombie(self.pid) {
            return false;
        }
        match (self.start, start_time(self.pid)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// Stops the process and its group: SIGTERM, up to `grace`, then SIGKILL.
    pub fn stop(&self, grace: Duration) {
        if !self.alive() {
            return;
        }
        let pgid = -(self.pid as libc::pid_t);
        // SAFETY: signalling the process group we created for this process.
        unsafe { libc::kill(pgid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap(self.pid);
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(pgid, libc::SIGKILL) };
        for _ in 0..100 {
            reap(self.pid);
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Collects the exit status if the process is our own child, so it does not linger as a
/// zombie; harmless otherwise.
fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: non-blocking wait on one pid.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

fn start_time(pid: u32) -> Option<u64> {
    // Field 22 overall; after the command name it is the 20th (index 19).
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).and_then(|f| f.first().cloned()).is_some_and(|s| s == "Z" || s == "X")
}

/// A free loopback port, as the kernel hands one out.
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Whether something accepts connections on the loopback port.
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}
