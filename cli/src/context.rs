//! Where a running local stack can be found: `strata local start` writes it, `--local`
//! reads it (like a kubectl context, but one: the local stack of this user). The file lives
//! as long as the local stack does.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The dummy credentials every call to the local stack is signed with.
pub const LOCAL_KEY: &str = "testing";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalContext {
    /// The `strata local start` process that holds the local stack.
    pub pid: u32,
    /// The API's endpoint (the front door of the api function's URL).
    pub api: String,
    /// The AWS endpoint (the router: moto, Lambda, the fidelity layer).
    pub aws: String,
    pub region: String,
    /// The directory with moto's and cargo-lambda's logs.
    pub logs: PathBuf,
    /// What only the holding process can do (`cli/src/local_control.rs`); absent in a
    /// context written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// `$STRATA_LOCAL_STATE`, else `$XDG_STATE_HOME/strata/local.json`, else
/// `~/.local/state/strata/local.json`.
pub fn path() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_LOCAL_STATE") {
        return PathBuf::from(path);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("strata").join("local.json")
}

/// Whether a process with `pid` runs (signal 0 checks without sending anything). One that
/// ended but was not reaped yet (a zombie, whose parent has not waited) does not.
pub fn alive(pid: u32) -> bool {
    let Ok(id) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(id, 0) == 0 };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // `pid (comm) state …`: the state follows the last parenthesis.
            let (_, rest) = stat.rsplit_once(')')?;
            rest.trim_start().chars().next()
        })
        .is_some_and(|state| state == 'Z');
    exists && !zombie
}

impl LocalContext {
    /// The running local stack's context; `None` when none runs (a file left by one that
    /// died is ignored).
    pub fn read() -> Option<Self> {
        let text = std::fs::read_to_string(path()).ok()?;
        let context: Self = serde_json::from_str(&text).ok()?;
        alive(context.pid).then_some(context)
    }

    #[cfg_attr(not(feature = "local-stack"), allow(dead_code))]
    pub fn write(&self) -> std::io::Result<()> {
        let path = path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).expect("a context serialises");
        // Written whole, then renamed: a reader never sees half a file.
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, path)
    }

    /// Removes the file if it is still this process's.
    #[cfg_attr(not(feature = "local-stack"), allow(dead_code))]
    pub fn remove_if_mine(pid: u32) {
        let path = path();
        let mine = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Self>(&t).ok())
            .is_some_and(|c| c.pid == pid);
        if mine {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The running local stack and a client of its API; else the error said and the exit
    /// code (usage: start one first).
    pub fn attach() -> Result<(Self, crate::client::ApiClient), u8> {
        let Some(local) = Self::read() else {
            eprintln!(
                "error: no local stack runs ({} names none that is alive); start one with `strata local start --detach`",
                path().display()
            );
            return Err(crate::exit::USAGE);
        };
        match crate::client::ApiClient::new(Some(local.api.clone()), &local.sdk_config()) {
            Ok(client) => Ok((local, client)),
            Err(e) => {
                eprintln!("error: {e}");
                Err(crate::exit::USAGE)
            }
        }
    }

    /// An SDK config for the local stack's AWS endpoint (moto behind the router).
    pub fn aws_config(&self) -> aws_config::SdkConfig {
        self.sdk_config()
            .into_builder()
            .endpoint_url(&self.aws)
            .build()
    }

    /// An SDK config that signs for the local stack: its region, the dummy credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials = aws_credential_types::Credentials::new(
            LOCAL_KEY,
            LOCAL_KEY,
            None,
            None,
            "strata-local",
        );
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .build()
    }
}
