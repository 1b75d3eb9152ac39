//! The `hookgate` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;

use hookgate::admin::client::{AdminClient, ClientError, encode};
use hookgate::config::{self, LoadError};

// Measured: glibc malloc spent ~15 % of the gateway's CPU under load (allocations freed on
// other threads than the one that made them); mimalloc handles that pattern well.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hookgate",
    version,
    about = "A webhook receiving gateway: verify, deduplicate, persist, deliver."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Log lines as JSON objects instead of text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Validate a config file; print every error as file:line:col: message.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Inspect and replay the dead-letter queue through the admin API.
    Dlq {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(clap::Args)]
struct AdminArgs {
    /// Admin API base URL [default: from --config's server.admin_listen, else http://127.0.0.1:9180]
    #[arg(long, global = true)]
    admin: Option<String>,
    /// Config file to take the admin address from.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Environment variable holding the admin token.
    #[arg(long, global = true, default_value = "HOOKGATE_ADMIN_TOKEN")]
    token_env: String,
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters.
    List {
        #[arg(long)]
        route: Option<String>,
        /// Print the raw JSON pages.
        #[arg(long)]
        json: bool,
    },
    /// Replay one dead letter by event ID, or all of them (of a route) with --all.
    Replay {
        id: Option<String>,
        #[arg(long)]
        route: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, json_logs } => run(&config, json_logs),
        Command::Check { config } => check(&config),
        Command::Dlq { admin, action } => dlq(admin, action),
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,pingora_core=warn,pingora_proxy=warn,fjall=warn,lsm_tree=warn",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` also routes pingora's `log` records into tracing.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn run(config: &std::path::Path, json_logs: bool) -> ExitCode {
    init_logs(json_logs);
    // Every panic ends the process: a half-alive gateway (e.g. a listener task that failed
    // while the rest runs on) is worse than a restart, and nothing acknowledged is lost.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "panic; exiting");
        default_hook(info);
        std::process::abort();
    }));
    // reqwest (delivery) shares pingora's TLS stack; pick its crypto provider explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match hookgate::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("hookgate: {e}");
            ExitCode::from(1)
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: ok ({} routes, {} upstreams, sha256 {})",
                path.display(),
                cfg.routes.len(),
                cfg.upstreams.len(),
                cfg.hash
            );
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{}: {} error(s)", path.display(), errors.len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The admin URL: `--admin`, else `server.admin_listen` of `--config` (read without resolving
/// the file's secrets, which this command does not need), else the default address.
fn admin_base(args: &AdminArgs) -> Result<String, String> {
    if let Some(a) = &args.admin {
        return Ok(a.clone());
    }
    let Some(path) = &args.config else {
        return Ok("http://127.0.0.1:9180".to_string());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let addr = doc
        .get("server")
        .and_then(|s| s.get("admin_listen"))
        .and_then(|v| v.as_str())
        .unwrap_or("127.0.0.1:9180");
    // An unspecified bind address is reached through loopback.
    let addr = addr
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    Ok(format!("http://{addr}"))
}

fn dlq(args: AdminArgs, action: DlqAction) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookgate: cannot start a runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = std::env::var(&args.token_env).ok();
    let base = match admin_base(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hookgate: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let client = AdminClient::new(&base, token)?;
        match action {
            DlqAction::List { route, json } => list(&client, route.as_deref(), json).await,
            DlqAction::Replay {
                id: Some(id),
                route,
                ..
            } => {
                let q = route
                    .map(|r| format!("?route={}", encode(&r)))
                    .unwrap_or_default();
                let v = client
                    .post(&format!("/dlq/{}/replay{q}", encode(&id)))
                    .await?;
                println!("{v}");
                Ok(())
            }
            DlqAction::Replay {
                id: None,
                route,
                all: true,
            } => {
                let q = route
                    .map(|r| format!("?route={}", encode(&r)))
                    .unwrap_or_default();
                let v = client.post(&format!("/dlq/replay{q}")).await?;
                println!("{v}");
                Ok(())
            }
            DlqAction::Replay {
                id: None,
                all: false,
                ..
            } => {
                eprintln!("hookgate: give an event ID, or --all");
                Err(ClientError::Refused {
                    status: 0,
                    body: "nothing to replay".into(),
                })
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookgate: {e}");
            ExitCode::from(1)
        }
    }
}

async fn list(client: &AdminClient, route: Option<&str>, json: bool) -> Result<(), ClientError> {
    let mut after: Option<String> = None;
    if !json {
        println!(
            "{:<16} {:<40} {:>8}  {:<24}  last error",
            "ROUTE", "EVENT ID", "ATTEMPTS", "DEAD SINCE (ms)"
        );
    }
    loop {
        let mut q = vec!["limit=500".to_string()];
        if let Some(r) = route {
            q.push(format!("route={}", encode(r)));
        }
        if let Some(a) = &after {
            q.push(format!("after={}", encode(a)));
        }
        let page = client.get(&format!("/dlq?{}", q.join("&"))).await?;
        if json {
            println!("{page}");
        } else {
            for item in page["items"].as_array().into_iter().flatten() {
                let s = |k: &str| item[k].as_str().unwrap_or("").to_string();
                println!(
                    "{:<16} {:<40} {:>8}  {:<24}  {}",
                    s("route"),
                    s("event_id"),
                    item["attempts"].as_u64().unwrap_or(0),
                    item["finished_at_ms"]
                        .as_u64()
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    s("last_error")
                );
            }
        }
        match &page["next"] {
            Value::String(n) => after = Some(n.clone()),
            _ => return Ok(()),
        }
    }
}
