//! Command line: `run`, `check`, `demo`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::{self, LogFormat};
use crate::server::{self, LaunchOptions};

/// Edge gateway and traffic router: TLS in, tenant identified, home geography out.
#[derive(Debug, Parser)]
#[command(name = "edge-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway with a configuration file.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Take over the listening sockets of the running instance (graceful binary upgrade;
        /// then send SIGQUIT to the old process).
        #[arg(long)]
        upgrade: bool,
        /// Unix socket used to hand listening sockets over during an upgrade.
        #[arg(long)]
        upgrade_sock: Option<String>,
    },
    /// Validate a configuration file, like `nginx -t`: print every error (exit 1) or a summary
    /// of the topology (exit 0).
    Check {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run a self-contained demo: simulated origins in two geographies, a generated
    /// certificate, demo tenants, and ready-to-paste curl commands.
    Demo {
        /// Address to bind the demo's listeners on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// HTTPS port.
        #[arg(long, default_value_t = 8443)]
        https_port: u16,
        /// HTTP (redirect) port.
        #[arg(long, default_value_t = 8080)]
        http_port: u16,
    },
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            upgrade,
            upgrade_sock,
        } => run(
            &config,
            &LaunchOptions {
                upgrade,
                upgrade_sock,
            },
        ),
        Command::Demo {
            bind,
            https_port,
            http_port,
        } => crate::demo::run(bind, https_port, http_port),
    }
}

fn check(path: &std::path::Path) -> i32 {
    match edge_config::load(path) {
        Ok(config) => {
            // Certificates are parsed as rustls will use them, not only as PEM.
            if let Err(e) = crate::tls::CertStore::load(&config.tls.certificates) {
                eprintln!("{}: tls.certificates: {e}", path.display());
                eprintln!("configuration is invalid (1 error)");
                return 1;
            }
            println!("{}", edge_config::summary(&config));
            println!("configuration {} is valid", path.display());
            0
        }
        Err(errors) => {
            eprintln!("{errors}");
            let n = errors.0.len();
            eprintln!(
                "configuration is invalid ({n} error{})",
                if n == 1 { "" } else { "s" }
            );
            1
        }
    }
}

fn run(path: &std::path::Path, launch: &LaunchOptions) -> i32 {
    let config = match edge_config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("refusing to start: configuration is invalid");
            return 1;
        }
    };
    match serve(config, launch) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("refusing to start: {e}");
            1
        }
    }
}

/// Builds and runs the gateway until it is told to stop (SIGTERM: graceful; SIGINT: fast;
/// SIGQUIT: hand the sockets to an `--upgrade` process).
pub fn serve(
    config: edge_config::Config,
    launch: &LaunchOptions,
) -> Result<(), server::StartError> {
    let state = server::build_state(config.clone())?;
    let srv = server::build_server(&config, state, launch)?;
    tracing::info!(
        https = ?config.listeners.https,
        http = ?config.listeners.http,
        tenants = config.tenants.by_id.len(),
        "edge-gateway starting"
    );
    srv.run(pingora::server::RunArgs::default());
    tracing::info!("edge-gateway stopped");
    Ok(())
}
