//! The `hookgate` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use hookgate::cli::admin_client::Target;
use hookgate::cli::{dlq, events, explain, providers, routes, sign, store};
use hookgate::config::{self, LoadError};

// Measured: glibc malloc spent ~15 % of the gateway's CPU under load (allocations freed on
// other threads than the one that made them); mimalloc handles that pattern well.
#[global_allocator]
static ALLOC: hookgate::Allocator = hookgate::Allocator;

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
    /// Validate a config file (every error as file:line:col: message); with --explain, say why
    /// a captured request is accepted or refused by its route's verification.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// A captured raw HTTP request (request line, headers, blank line, body as received).
        #[arg(long, value_name = "CAPTURE")]
        explain: Option<PathBuf>,
        /// The route to judge it by [default: the one its path matches].
        #[arg(long, requires = "explain")]
        route: Option<String>,
        /// Judge as of this unix time (for a capture older than its replay window).
        #[arg(long, requires = "explain")]
        at: Option<u64>,
    },
    /// List every provider preset: headers it reads, scheme, handshake, defaults, methods,
    /// `verify` keys and sample event types.
    Providers {
        #[arg(long)]
        json: bool,
    },
    /// Print (or send) a correctly signed request for a provider preset.
    Sign {
        #[arg(long)]
        provider: String,
        /// Sign the provider's sample of this event type (see `hookgate providers`).
        #[arg(long, conflicts_with = "body")]
        event: Option<String>,
        /// Environment variable with the secret (Discord: hex Ed25519 seed; SendGrid: base64
        /// PKCS#8 P-256 private key).
        #[arg(long)]
        secret_env: String,
        /// The body to sign [default: a sample event of the provider].
        #[arg(long)]
        body: Option<PathBuf>,
        /// Where to send it; for Twilio and Square also the URL they sign.
        #[arg(long)]
        url: Option<String>,
        /// Send it and print the answer instead of printing a curl command.
        #[arg(long, requires = "url")]
        send: bool,
        /// Sign as of this unix time instead of now.
        #[arg(long)]
        at: Option<u64>,
    },
    /// Inspect and replay the dead-letter queue through the admin API.
    Dlq {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Find events, show one in full, replay, cancel or purge them through the admin API.
    Events {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: events::Action,
    },
    /// List routes with their states and queues; pause or resume a route's deliveries.
    Routes {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(subcommand)]
        action: RoutesAction,
    },
    /// Work on an embedded store's directory, with hookgate stopped.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Subcommand)]
enum StoreAction {
    /// Ready the store for a rollback to a hookgate from before the event log (it refuses
    /// format 4): move the events waiting in the log into the database, delete the log, write
    /// format 3.
    Downgrade {
        /// The store's directory: `store.path`, or the Redis store's `store.spill_path`.
        dir: PathBuf,
    },
    /// Cut the database's journal where it is damaged, when the store refuses to open for
    /// that: what the journal held from there on is lost (but for events still in the event
    /// log); the journal as it was is kept beside it. Restoring a backup loses less.
    CutJournal {
        /// The store's directory: `store.path`, or the Redis store's `store.spill_path`.
        dir: PathBuf,
    },
    /// Rewrite the store without its damaged table blocks, when it refuses to open for them
    /// or logs that a table is damaged: what can be read is kept, the events whose records
    /// cannot are made dead letters that say so; the store as it was is kept as DIR.damaged.
    /// Run it again if it was interrupted. Restoring a backup loses less.
    Salvage {
        /// The store's directory: `store.path`, or the Redis store's `store.spill_path`.
        dir: PathBuf,
    },
}

/// Where the admin API is.
#[derive(Args)]
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

impl AdminArgs {
    fn target(self) -> Target {
        Target {
            admin: self.admin,
            config: self.config,
            token_env: self.token_env,
        }
    }
}

#[derive(Subcommand)]
enum RoutesAction {
    /// Every route: mode, state (`*`: set through the admin API), pending and dead events.
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold the route's deliveries (it still accepts and stores events).
    Pause { route: String },
    /// Deliver again (also takes a disabled route back into service).
    Resume { route: String },
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
    match Cli::parse().command {
        Command::Run { config, json_logs } => run(&config, json_logs),
        Command::Check {
            config,
            explain: None,
            ..
        } => check(&config),
        Command::Check {
            config,
            explain: Some(capture),
            route,
            at,
        } => match explain::run(&config, &capture, route.as_deref(), at) {
            Ok((report, verified)) => {
                println!("{report}");
                if verified {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(&e),
        },
        Command::Providers { json } => {
            println!("{}", providers::run(json));
            ExitCode::SUCCESS
        }
        Command::Sign {
            provider,
            event,
            secret_env,
            body,
            url,
            send,
            at,
        } => {
            // Read as the route's `env:` reference is (one trailing newline dropped), so the
            // same variable signs what the gateway accepts.
            let secret = match hookgate::secret::resolve_value(&format!("env:{secret_env}")) {
                Ok(s) => s.expose_str().into_owned(),
                Err(e) => return fail(&e),
            };
            match sign::run(&sign::Args {
                provider,
                event,
                secret,
                body,
                url,
                send,
                at,
            }) {
                Ok(out) => {
                    println!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Dlq { admin, action } => {
            let action = match action {
                DlqAction::List { route, json } => dlq::Action::List { route, json },
                DlqAction::Replay { id, route, all } => dlq::Action::Replay { id, route, all },
            };
            done(dlq::run(admin.target(), action))
        }
        Command::Events { admin, action } => done(events::run(admin.target(), action)),
        Command::Routes { admin, action } => {
            let action = match action {
                RoutesAction::List { json } => routes::Action::List { json },
                RoutesAction::Pause { route } => routes::Action::Pause(route),
                RoutesAction::Resume { route } => routes::Action::Resume(route),
            };
            done(routes::run(admin.target(), action))
        }
        Command::Store {
            action: StoreAction::Downgrade { dir },
        } => done(store::downgrade(&dir).map(|said| println!("{said}"))),
        Command::Store {
            action: StoreAction::CutJournal { dir },
        } => done(store::cut_journal(&dir).map(|said| println!("{said}"))),
        Command::Store {
            action: StoreAction::Salvage { dir },
        } => done(store::salvage(&dir).map(|said| println!("{said}"))),
    }
}

fn done(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("hookgate: {e}");
    ExitCode::from(1)
}

fn init_logs(json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,pingora_core=warn,pingora_proxy=warn,fjall=warn,lsm_tree=warn",
        )
    });
    // Colour codes only for a person at a terminal: a file or a log shipper gets plain text.
    let ansi = !json && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // One record, one line, whatever a sender put in an event ID.
        .with_writer(hookgate::logline::queued_stderr(if json {
            hookgate::logline::Escape::Json
        } else if ansi {
            hookgate::logline::Escape::Colours
        } else {
            hookgate::logline::Escape::Text
        }));
    // Other crates' lines are capped per call site (`log_burst`). `try_init` also routes
    // pingora's and the Redis client's `log` records into tracing.
    let _ = if json {
        // Fields at the top level (`{"route":..,"status":..}`), not under "fields", so a log
        // query is `.status == 502`; no span context (hookgate's spans are OpenTelemetry's).
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(hookgate::log_burst::Burst)
            .try_init()
    } else {
        builder.finish().with(hookgate::log_burst::Burst).try_init()
    };
}

fn run(config: &std::path::Path, json_logs: bool) -> ExitCode {
    init_logs(json_logs);
    // Every panic ends the process: a half-alive gateway (e.g. a listener task that failed
    // while the rest runs on) is worse than a restart, and nothing acknowledged is lost.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "panic; exiting");
        hookgate::logline::flush();
        default_hook(info);
        std::process::abort();
    }));
    // reqwest (delivery) shares pingora's TLS stack; pick its crypto provider explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let code = match hookgate::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            fail(&e.to_string())
        }
    };
    hookgate::logline::flush();
    code
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
        Err(e) => fail(&e.to_string()),
    }
}
