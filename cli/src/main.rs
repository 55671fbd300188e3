//! `strata`: drive Strata through its API (apply, plan, get, delete, watch, history), check
//! a spec offline (validate), print the component graph, or run a local stack to use them
//! against (`local start`, with `--local`).

mod client;
mod commands;
mod console;
mod context;
mod cost;
#[cfg(feature = "local-stack")]
mod local;
#[cfg(feature = "local-stack")]
mod local_control;
#[cfg(feature = "local-stack")]
mod local_stack;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// Exit codes: what a script can tell apart.
pub mod exit {
    /// Done: Ready (or Deleted for a delete), or the request was answered.
    pub const OK: u8 = 0;
    /// Refused or invalid: a bad spec, an API error, an unreadable file.
    pub const ERROR: u8 = 1;
    /// The command line itself is wrong (clap's own code too).
    pub const USAGE: u8 = 2;
    /// The operation ran and ended Failed.
    pub const FAILED: u8 = 3;
    /// `--timeout` passed before the operation ended.
    pub const TIMEOUT: u8 = 4;
}

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Create, converge and delete whole environments.",
    after_help = "Exit codes: 0 done (Ready/Deleted), 1 refused or invalid, 2 usage, \
                  3 the operation ended Failed, 4 timed out.\n\
                  The API endpoint is --endpoint or STRATA_ENDPOINT, else the ApiEndpoint output \
                  of --stack or STRATA_STACK, else the one scripts/deploy saved in \
                  ~/.config/strata/endpoint; requests are signed with SigV4 from the standard \
                  AWS credential chain."
)]
struct Cli {
    /// The API's URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// The deployed stack whose ApiEndpoint output is the API's URL (else STRATA_STACK).
    #[arg(long, global = true, value_name = "NAME")]
    stack: Option<String>,
    /// Use the local stack `strata local start` runs (its API, its dummy credentials).
    #[arg(long, global = true, conflicts_with_all = ["endpoint", "stack"])]
    local: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a spec offline; every error with its field path.
    Validate {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the component graph (Mermaid).
    Graph,
    /// Print the spec's JSON Schema (`contracts/environment.schema.json`), for an editor or a
    /// validator.
    Schema,
    /// Print an EKS token in kubectl's exec plugin protocol (an ExecCredential), minted from
    /// your AWS credentials: what the kubeconfig `strata kubeconfig` writes runs.
    Token {
        /// The EKS cluster's name.
        #[arg(long)]
        cluster: String,
        /// The cluster's region.
        #[arg(long)]
        region: String,
    },
    /// Print a shell completion script, e.g. `strata completions bash > ~/.local/share/bash-completion/completions/strata`.
    Completions { shell: clap_complete::Shell },
    /// The local stack (moto, cargo-lambda, the cluster simulator) on 127.0.0.1.
    #[cfg(feature = "local-stack")]
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    #[command(flatten)]
    Remote(Remote),
}

/// The commands that talk to the API.
#[derive(Subcommand)]
enum Remote {
    /// Create an environment or converge it to the spec (a file, or every spec in a directory).
    Apply {
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE|DIR",
            required_unless_present = "from",
            conflicts_with = "from"
        )]
        file: Option<PathBuf>,
        /// Make a preview of this environment instead (with --name and --ttl).
        #[arg(long, value_name = "BASE", requires_all = ["name", "ttl"])]
        from: Option<String>,
        /// The preview's name.
        #[arg(long, requires = "from")]
        name: Option<String>,
        /// The preview's time to live, e.g. 4h.
        #[arg(long, requires = "from")]
        ttl: Option<String>,
        /// An override of the base's spec, e.g. spec.app.services[api].version=2.4.0-pr.42.
        #[arg(long = "set", value_name = "PATH=VALUE", requires = "from")]
        set: Vec<String>,
        /// cluster: a namespace on the base's cluster; none: a full copy.
        #[arg(long, value_enum, default_value_t = ShareArg::Cluster, requires = "from")]
        share: ShareArg,
        /// snapshot: restored from the base's database; empty: a new one.
        #[arg(long, value_enum, default_value_t = DatabaseArg::Snapshot, requires = "from")]
        database: DatabaseArg,
        /// Stateful components the plan may recreate or delete (database, storage).
        #[arg(long, value_name = "COMPONENTS", value_delimiter = ',')]
        allow_recreate: Vec<String>,
        /// Follow the operation until it ends; the exit code says how.
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Show what applying the spec would change, without changing anything.
    Plan {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        #[arg(long, value_name = "COMPONENTS", value_delimiter = ',')]
        allow_recreate: Vec<String>,
    },
    /// List environments, or show one: components, outputs, ingress URLs.
    Get {
        name: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete an environment's resources (its onDelete policies apply).
    Delete {
        name: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Follow the running operation component by component until it ends.
    Watch {
        name: String,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Switch every blueGreen service back to its previous colour (still scaled).
    Rollback {
        name: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Put the environment to sleep: nodes and replicas to 0, the database stopped, NAT
    /// gateways removed (their addresses kept); data, DNS and resource ids stay.
    Sleep {
        name: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Wake a sleeping environment to exactly what its spec says.
    Wake {
        name: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Stop the running operation and give the environment back: it shows Cancelled with
    /// what was in flight, and a following apply or delete resumes.
    Cancel { name: String },
    /// Sync an environment now, due or not, as the schedule would: drift, newer images, TTL.
    Sync {
        name: String,
        /// Follow what the sync started (a repair, a rollout, the TTL's delete) until it ends.
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
        timeout: u64,
    },
    /// Push an environment's TTL expiry back (its TTL warnings start over).
    Extend {
        name: String,
        /// How much longer it may live: 10m to 30d, such as 24h.
        #[arg(long, value_name = "DURATION")]
        by: String,
    },
    /// Serve the web console on 127.0.0.1 for the API this command is configured for
    /// (requests signed with your credentials, as every command's are).
    Console {
        /// The port; 0 picks a free one.
        #[arg(long, default_value_t = 8470)]
        port: u16,
    },
    /// Write a kubeconfig for the environment's cluster: its endpoint and CA, and an exec
    /// plugin that mints a token from your AWS credentials each time (no secret in the file).
    Kubeconfig {
        name: String,
        /// Write it here instead of to standard output.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// The token command kubectl runs: `strata token`, or the AWS CLI's `aws eks get-token`.
        #[arg(long, value_enum, default_value_t = commands::Exec::Strata)]
        exec: commands::Exec,
        /// First give your own AWS principal this access to the cluster (an EKS access entry
        /// with an access policy: the environment's namespace, or the whole cluster).
        #[arg(long, value_enum, value_name = "ACCESS")]
        grant: Option<commands::Grant>,
    },
    /// This CLI's release and API contract, and the control plane's (when one is configured).
    Version,
    /// The environment's events, newest first.
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Without the local stack linked in, there is no local command.
#[cfg(not(feature = "local-stack"))]
type LocalCommand = std::convert::Infallible;

#[cfg(feature = "local-stack")]
#[derive(Subcommand)]
enum LocalCommand {
    /// Run the local stack until stopped: every other command reaches it with `--local`.
    /// Images, secrets and the DNS zone of each spec applied to it are stood in for first.
    Start {
        /// Run in the background (output in local.log next to the context file).
        #[arg(long)]
        detach: bool,
    },
    /// Stop the local stack `strata local start` runs (its state goes with it).
    Stop,
    /// Stand in for CI: push an image of a service (else the first in ECR) tagged TAG (else
    /// the next patch of the version it serves), and deliver ECR's push event to the
    /// functions EventBridge would (the sync function).
    Push {
        name: String,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        tag: Option<String>,
    },
    /// Change the environment behind Strata's back, as a person with console access would:
    /// its node group scaled (default: one node more than the spec says) and the first
    /// service's Deployment (default: three replicas more).
    Drift {
        name: String,
        #[arg(long)]
        nodes: Option<u32>,
        #[arg(long)]
        replicas: Option<u32>,
    },
    /// States entered, Lambda invocations and wall time of the environment's last execution.
    Figures { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

/// Output piped into `head` and closed early ends the program quietly, as for any Unix
/// tool: Rust ignores SIGPIPE, so `println!` would panic on the closed pipe instead.
fn default_sigpipe() {
    // SAFETY: called first in `main`, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The spec's JSON Schema, generated from its types (`functions/api/tests/spec_schema.rs`
/// keeps the file in step).
const SPEC_SCHEMA: &str = include_str!("../../contracts/environment.schema.json");

fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    let work = match cli.command {
        Command::Validate { file } => return ExitCode::from(commands::validate(&file)),
        Command::Graph => {
            print!("{}", strata_core::graph::mermaid());
            return ExitCode::SUCCESS;
        }
        Command::Schema => {
            print!("{}", SPEC_SCHEMA);
            return ExitCode::SUCCESS;
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "strata", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Token { cluster, region } => Work::Token { cluster, region },
        #[cfg(feature = "local-stack")]
        Command::Local { command } => Work::Local(command),
        Command::Remote(Remote::Version) => {
            commands::cli_version();
            Work::Remote(Remote::Version)
        }
        Command::Remote(remote) => Work::Remote(remote),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    ExitCode::from(runtime.block_on(async {
        match work {
            #[cfg(feature = "local-stack")]
            Work::Local(LocalCommand::Push { name, service, tag }) => {
                local::push(&name, service.as_deref(), tag.as_deref()).await
            }
            #[cfg(feature = "local-stack")]
            Work::Local(LocalCommand::Drift {
                name,
                nodes,
                replicas,
            }) => local::drift(&name, nodes, replicas).await,
            #[cfg(feature = "local-stack")]
            Work::Local(LocalCommand::Figures { name }) => local::figures(&name).await,
            #[cfg(feature = "local-stack")]
            Work::Local(LocalCommand::Start { detach }) => local_stack::start(detach).await,
            #[cfg(feature = "local-stack")]
            Work::Local(LocalCommand::Stop) => local_stack::stop().await,
            #[cfg(not(feature = "local-stack"))]
            Work::Local(never) => match never {},
            Work::Token { cluster, region } => token(cli.local, &cluster, &region).await,
            Work::Remote(remote) if cli.local => run_local(remote).await,
            Work::Remote(remote) => run(cli.endpoint, cli.stack, remote).await,
        }
    }))
}

/// A command against the local stack `strata local start` runs.
async fn run_local(command: Remote) -> u8 {
    match context::LocalContext::attach() {
        Ok((local, client)) => dispatch(&client, &local.aws_config(), true, command).await,
        Err(code) => code,
    }
}

/// What runs on the async runtime: a command against the API, a local-stack command, or
/// `strata token`.
enum Work {
    Remote(Remote),
    // Uninhabited without the local stack linked in.
    #[cfg_attr(not(feature = "local-stack"), allow(dead_code))]
    Local(LocalCommand),
    Token {
        cluster: String,
        region: String,
    },
}

/// `strata token`: offline but for the credentials (the local stack's with `--local`).
async fn token(local: bool, cluster: &str, region: &str) -> u8 {
    let config = match local {
        true => match context::LocalContext::attach() {
            Ok((context, _)) => context.sdk_config(),
            Err(code) => return code,
        },
        false => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    };
    commands::token(&config, cluster, region).await
}

async fn run(endpoint: Option<String>, stack: Option<String>, command: Remote) -> u8 {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // The flag, the environment variable, then the stack's output.
    let endpoint = endpoint.or_else(|| std::env::var("STRATA_ENDPOINT").ok());
    let stack = stack.or_else(|| std::env::var("STRATA_STACK").ok());
    let endpoint = match (endpoint, stack) {
        (Some(endpoint), _) => Some(endpoint),
        (None, Some(stack)) => match client::stack_endpoint(&config, &stack).await {
            Ok(endpoint) => Some(endpoint),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        },
        (None, None) => client::saved_endpoint(),
    };
    let client = match client::ApiClient::new(endpoint, &config) {
        Ok(client) => client,
        // The CLI's own line is printed; without an endpoint there is no other side.
        Err(e) if matches!(command, Remote::Version) => {
            println!("control plane: none configured ({e})");
            return exit::OK;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    dispatch(&client, &config, false, command).await
}

/// Runs one command against the API (`client`); `aws` reaches AWS (or the local stack,
/// `local`) for what the API does not answer (the cluster a kubeconfig names).
async fn dispatch(
    client: &client::ApiClient,
    aws: &aws_config::SdkConfig,
    local: bool,
    command: Remote,
) -> u8 {
    let limit = Duration::from_secs;
    match command {
        Remote::Apply {
            file,
            from,
            name,
            ttl,
            set,
            share,
            database,
            allow_recreate,
            wait,
            timeout,
        } => match (file, from) {
            (Some(file), _) => {
                commands::apply(client, &file, &allow_recreate, wait.then(|| limit(timeout))).await
            }
            (None, Some(base)) => {
                let request = commands::PreviewArgs {
                    name: name.unwrap_or_default(),
                    ttl: ttl.unwrap_or_default(),
                    set,
                    share: share.into(),
                    database: database.into(),
                };
                commands::preview(client, &base, request, wait.then(|| limit(timeout))).await
            }
            (None, None) => unreachable!("clap requires --file or --from"),
        },
        Remote::Plan {
            file,
            allow_recreate,
        } => commands::plan(client, &file, &allow_recreate).await,
        Remote::Get { name, output } => commands::get(client, name.as_deref(), output).await,
        Remote::Delete {
            name,
            wait,
            timeout,
        } => commands::delete(client, &name, wait.then(|| limit(timeout))).await,
        Remote::Watch { name, timeout } => {
            commands::watch(client, &name, None, limit(timeout)).await
        }
        Remote::Rollback {
            name,
            wait,
            timeout,
        } => commands::rollback(client, &name, wait.then(|| limit(timeout))).await,
        Remote::Sleep {
            name,
            wait,
            timeout,
        } => commands::sleep(client, &name, true, wait.then(|| limit(timeout))).await,
        Remote::Wake {
            name,
            wait,
            timeout,
        } => commands::sleep(client, &name, false, wait.then(|| limit(timeout))).await,
        Remote::Extend { name, by } => commands::extend(client, &name, &by).await,
        Remote::Sync {
            name,
            wait,
            timeout,
        } => commands::sync(client, &name, wait.then(|| limit(timeout))).await,
        Remote::History { name, limit } => commands::history(client, &name, limit).await,
        Remote::Version => commands::version(client).await,
        Remote::Kubeconfig {
            name,
            file,
            exec,
            grant,
        } => {
            let target = commands::Target {
                environment: &name,
                file: file.as_deref(),
                exec,
                local,
                grant,
            };
            commands::kubeconfig(client, aws, target).await
        }
        Remote::Cancel { name } => commands::cancel(client, &name).await,
        Remote::Console { port } => console::serve(client.clone(), port).await,
    }
}

/// `--share`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ShareArg {
    Cluster,
    None,
}

impl From<ShareArg> for strata_core::spec::Share {
    fn from(share: ShareArg) -> Self {
        match share {
            ShareArg::Cluster => strata_core::spec::Share::Cluster,
            ShareArg::None => strata_core::spec::Share::None,
        }
    }
}

/// `--database`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DatabaseArg {
    Snapshot,
    Empty,
}

impl From<DatabaseArg> for strata_core::spec::PreviewDatabase {
    fn from(database: DatabaseArg) -> Self {
        match database {
            DatabaseArg::Snapshot => strata_core::spec::PreviewDatabase::Snapshot,
            DatabaseArg::Empty => strata_core::spec::PreviewDatabase::Empty,
        }
    }
}
