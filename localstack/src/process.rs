//! Child processes that cannot outlive the local stack: each runs in its own process group
//! (so its own children go with it), is killed with that group on drop (also when a test
//! panics), and gets SIGTERM from the kernel if the thread that started it dies.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::LocalStackError;

pub struct ProcessGroup {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ProcessGroup {
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self, LocalStackError> {
        use std::os::unix::process::CommandExt;
        let out = File::create(log).map_err(|e| LocalStackError::io(log, e))?;
        let err = out.try_clone().map_err(|e| LocalStackError::io(log, e))?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| LocalStackError::Spawn {
            what: name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    /// The peak resident memory (VmHWM, KiB) of each live descendant of the leader, by its
    /// command name (the executable's first 15 bytes, as Linux keeps it). Descendants, not
    /// the group: cargo-lambda starts each function in a process group of its own.
    pub fn peak_rss_kib(&self) -> Vec<(String, u64)> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        // pid → (parent, command name, VmHWM)
        let processes: std::collections::HashMap<u32, (u32, String, Option<u64>)> = entries
            .filter_map(|entry| {
                let dir = entry.ok()?.path();
                let pid = dir.file_name()?.to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // pid (comm) state ppid …: comm may hold spaces, so split after its ')'.
                let (head, rest) = stat.rsplit_once(')')?;
                let comm = head.split_once('(')?.1.to_owned();
                let parent = rest.split_whitespace().nth(1)?.parse().ok()?;
                let peak = crate::bench::peak_rss_kib(&dir);
                Some((pid, (parent, comm, peak)))
            })
            .collect();
        let leader = self.group_id();
        let descends = |mut pid: u32| {
            while pid > 1 {
                if pid == leader {
                    return true;
                }
                pid = processes.get(&pid).map_or(0, |p| p.0);
            }
            false
        };
        processes
            .iter()
            .filter(|(pid, _)| **pid != leader && descends(**pid))
            .filter_map(|(_, (_, comm, peak))| Some((comm.clone(), (*peak)?)))
            .collect()
    }

    /// The process group's id (the leader's pid).
    pub fn group_id(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the process has already ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn signal_group(&self, signal: i32) {
        let pgid = self.child.id() as i32;
        // SAFETY: sends a signal to the group this process leads; no memory is touched.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }

    /// SIGTERM to the whole group, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            self.signal_group(libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Children of the leader may outlive it; the group is killed either way.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
    }
}
