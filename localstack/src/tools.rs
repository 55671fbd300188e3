//! The Python tools (moto, cargo-lambda), installed once into a project-local, git-ignored
//! venv. Concurrent test processes wait on a file lock instead of installing twice.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LocalStackError;

const REQUIREMENTS: &str = include_str!("../requirements.txt");

/// The workspace root (where `Cargo.toml` with `[workspace]` is): above the package cargo
/// runs now (`CARGO_MANIFEST_DIR` at run time: a build cache shared between clones must not
/// send the local stack to another clone), else above this crate as compiled.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or(&start)
        })
        .to_owned()
}

/// `<workspace>/.localstack` (git-ignored), or `$STRATA_LOCALSTACK_DIR`: the venv, logs and
/// the install lock. CI points it outside the clone to reuse the venv between runs.
pub fn state_dir() -> PathBuf {
    std::env::var_os("STRATA_LOCALSTACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".localstack"))
}

pub struct Tools {
    pub bin: PathBuf,
}

impl Tools {
    pub fn moto_server(&self) -> PathBuf {
        self.bin.join("moto_server")
    }

    /// PATH with the venv first, so `cargo lambda` finds the `cargo-lambda` subcommand.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin.clone()];
        if let Some(existing) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(paths).expect("PATH entries contain no separator")
    }
}

/// Installs the pinned tools if the venv lacks them or holds other versions.
pub fn ensure_tools() -> Result<Tools, LocalStackError> {
    let dir = state_dir();
    fs::create_dir_all(&dir).map_err(|e| LocalStackError::io(&dir, e))?;
    let venv = dir.join("venv");
    let marker = venv.join(".strata-requirements");
    let tools = Tools {
        bin: venv.join("bin"),
    };
    if fs::read_to_string(&marker).is_ok_and(|m| m == REQUIREMENTS) {
        return Ok(tools);
    }
    let lock_path = dir.join("install.lock");
    let lock = File::create(&lock_path).map_err(|e| LocalStackError::io(&lock_path, e))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(LocalStackError::io(
            &lock_path,
            std::io::Error::last_os_error(),
        ));
    }
    if fs::read_to_string(&marker).is_ok_and(|m| m == REQUIREMENTS) {
        return Ok(tools);
    }
    eprintln!(
        "strata-localstack: installing moto and cargo-lambda into {}",
        venv.display()
    );
    let python = std::env::var("STRATA_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(
        Command::new(&python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv",
    )?;
    let requirements = dir.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS).map_err(|e| LocalStackError::io(&requirements, e))?;
    run(
        Command::new(tools.bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "pip install",
    )?;
    fs::write(&marker, REQUIREMENTS).map_err(|e| LocalStackError::io(&marker, e))?;
    Ok(tools)
}

fn run(command: &mut Command, what: &str) -> Result<(), LocalStackError> {
    let output = command.output().map_err(|e| LocalStackError::Spawn {
        what: what.to_owned(),
        reason: e.to_string(),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LocalStackError::Spawn {
            what: what.to_owned(),
            reason: format!(
                "{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}
