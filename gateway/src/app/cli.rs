//! Command line: `run`, `check`, `ctl`, `dns export`, `demo`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::launch::{self, LaunchOptions};
use crate::app::logging::{self, LogFormat};

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
    /// Operate a running gateway through its admin API.
    Ctl {
        /// The admin API's address.
        #[arg(long, default_value = "http://127.0.0.1:9901")]
        admin: String,
        /// File holding the admin bearer token (default: the EDGE_ADMIN_TOKEN variable).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        command: crate::app::ctl::CtlCommand,
    },
    /// The DNS responder's records, for DNS servers of your own.
    Dns {
        /// What to do.
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// Run a self-contained demo: simulated origins in two geographies, a generated
    /// certificate, demo tenants, and ready-to-paste curl commands.
    #[cfg(feature = "demo")]
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
        /// Admin API port (on loopback).
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// Only the simulated origins, one per demo region on 127.0.0.1 from
        /// --origins-base-port on (northeurope, westeurope, eastus, westus), for gateways
        /// started on their own (config/examples/two-edges).
        #[arg(long)]
        origins_only: bool,
        /// First port of --origins-only.
        #[arg(long, default_value_t = 9101)]
        origins_base_port: u16,
    },
}

/// `edge-gateway dns ...`
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Write the `[dns]` zone as an RFC 1035 master file (BIND, PowerDNS, Azure DNS import):
    /// SOA, NS, each geography's edges, one name per tenant. Exit 1 when the configuration is
    /// invalid or has no [dns].
    Export {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Tenant names as a CNAME to their geography's name (compact, the default) or as
        /// the geography's addresses.
        #[arg(long, value_enum, default_value = "cname")]
        tenants: crate::dns::TenantRecords,
        /// Write here instead of to standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
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
        Command::Ctl {
            admin,
            token_file,
            command,
        } => crate::app::ctl::run(&crate::app::ctl::CtlTarget { admin, token_file }, &command),
        Command::Dns {
            command:
                DnsCommand::Export {
                    config,
                    tenants,
                    output,
                },
        } => dns_export(&config, tenants, output.as_deref()),
        #[cfg(feature = "demo")]
        Command::Demo {
            origins_only: true,
            origins_base_port,
            ..
        } => crate::app::demo::run_origins(origins_base_port),
        #[cfg(feature = "demo")]
        Command::Demo {
            bind,
            https_port,
            http_port,
            admin_port,
            ..
        } => crate::app::demo::run(bind, https_port, http_port, admin_port),
    }
}

fn check(path: &std::path::Path) -> i32 {
    match edge_config::load(path) {
        Ok(config) => {
            // Certificates are parsed as rustls will use them, not only as PEM, and the
            // location database is opened exactly as `run` opens it.
            if let Err(e) = crate::edge::tls::CertStore::load(&config.tls.certificates) {
                eprintln!("{}: tls.certificates: {e}", path.display());
                eprintln!("configuration is invalid (1 error)");
                return 1;
            }
            if let Err(e) = launch::open_geo(&config) {
                eprintln!("{}: geo.database: {e}", path.display());
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

fn dns_export(
    path: &std::path::Path,
    tenants: crate::dns::TenantRecords,
    output: Option<&std::path::Path>,
) -> i32 {
    use std::io::Write;
    let config = match edge_config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("configuration is invalid; nothing written");
            return 1;
        }
    };
    let Some(zone) = crate::dns::Zone::for_config(std::sync::Arc::new(config)) else {
        eprintln!(
            "{}: no [dns] section: there is no zone to export",
            path.display()
        );
        return 1;
    };
    let sink: Box<dyn Write> = match output {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("cannot create {}: {e}", p.display());
                return 1;
            }
        },
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(sink);
    match crate::dns::write_zone(&zone, tenants, &mut out).and_then(|s| out.flush().map(|()| s)) {
        Ok(summary) => {
            eprintln!(
                "zone {}: {} records, {} tenant names",
                zone.origin(),
                summary.records,
                summary.tenants
            );
            0
        }
        Err(e) => {
            eprintln!("writing the zone failed: {e}");
            1
        }
    }
}

fn run(path: &std::path::Path, launch: &LaunchOptions) -> i32 {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("refusing to start: cannot read {}: {e}", path.display());
            return 1;
        }
    };
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let config = match edge_config::parse(&source, &path.display().to_string(), base) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("refusing to start: configuration is invalid");
            return 1;
        }
    };
    match launch::serve(config, Some((path, &source)), launch, Box::new(|| ())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("refusing to start: {e}");
            1
        }
    }
}
