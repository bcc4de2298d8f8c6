//! `tandem emulator`: serve one emulated workspace until interrupted.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::emulator::{self, EmulatorOptions, TokenGrant};

/// `--help` of `--oauth-clients`: what the file holds.
const OAUTH_CLIENTS_HELP: &str = r#"YAML file of OAuth clients (service principals) and trusted JWT issuers: enables
`POST /oidc/v1/token` (client credentials and token exchange) and Entra ID bearer tokens.

account_id: 7f1c0c9e-…          # optional, the host metadata's account id
workspace_id: "1234567890"       # optional, the host metadata's workspace id
clients:
  - client_id: 0b6f7c4e-…        # the service principal's application id
    client_secret: m2m-secret    # optional: enables client_credentials
    user_name: 0b6f7c4e-…        # optional: whom its tokens act as (default client_id)
    federation_policies:         # optional: token exchange (e.g. GitHub Actions OIDC)
      - issuer: http://127.0.0.1:PORT
        audiences: [7f1c0c9e-…]
        subject: repo:acme/dr:environment:prod
issuers:                         # HS256 test issuers this workspace trusts
  - issuer: http://127.0.0.1:PORT
    hs256_key: some-shared-test-key
    entra: false                 # true: its tokens for Azure Databricks are bearer tokens

Issued tokens act as the client's user_name. Entra ID tokens (aud 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d)
act as their upn claim, else their appid."#;

/// Arguments of `tandem emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (anything but a loopback address exposes a test tool to the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8001)]
    pub port: u16,
    /// Persist the workspace in FILE (and resume from it); without it, state is in memory.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Accepted bearer token, as TOKEN or TOKEN=user@example.com (repeatable; default: dev).
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Requests per second allowed (token bucket); beyond it, 429 REQUEST_LIMIT_EXCEEDED.
    #[arg(long, value_name = "REQS_PER_SEC")]
    pub rate_limit: Option<u32>,
    /// Fault profile: flaky:SEED (a deterministic mix of 503s, 429s and creates that commit then fail).
    #[arg(long, value_name = "PROFILE")]
    pub faults: Option<String>,
    /// YAML file of users, groups and service principals (default: a built-in set).
    #[arg(long, value_name = "FILE")]
    pub principals: Option<PathBuf>,
    /// How long new or started clusters stay PENDING, in milliseconds (0: RUNNING from the next request on).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub cluster_start_ms: u64,
    /// YAML file of OAuth clients (service principals) and trusted JWT issuers (see --help).
    #[arg(long, value_name = "FILE", long_help = OAUTH_CLIENTS_HELP)]
    pub oauth_clients: Option<PathBuf>,
    /// Lifetime of the tokens the token endpoint issues, in seconds (--token tokens never expire).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub token_ttl: u64,
    /// The cloud the workspace runs on: its node types, runtimes and zones are that cloud's only.
    #[arg(long, value_enum, default_value_t = emulator::clusters::Cloud::Azure)]
    pub cloud: emulator::clusters::Cloud,
}

impl EmulatorArgs {
    fn options(&self) -> EmulatorOptions {
        let tokens = if self.tokens.is_empty() {
            vec![TokenGrant::default()]
        } else {
            self.tokens.iter().map(|t| TokenGrant::parse(t)).collect()
        };
        EmulatorOptions {
            bind: SocketAddr::new(self.host, self.port),
            state: self.state.clone(),
            state_confined_to: None,
            tokens,
            latency: Duration::from_millis(self.latency_ms),
            rate_limit: self.rate_limit,
            faults: self.faults.clone(),
            principals: self.principals.clone(),
            cluster_start: Duration::from_millis(self.cluster_start_ms),
            oauth: self.oauth_clients.clone(),
            token_ttl: Duration::from_secs(self.token_ttl),
            cloud: self.cloud,
        }
    }
}

/// Runs the command: serves until Ctrl-C (or SIGTERM), then persists the state.
pub fn run(args: &EmulatorArgs) -> miette::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))?;
    if !args.host.is_loopback() {
        eprintln!("{}", exposure_warning(args.host));
    }
    runtime.block_on(async {
        let running = emulator::start(args.options()).await?;
        println!("tandem workspace emulator listening on {}", running.url);
        if let Some(state) = &args.state {
            println!("state: {}", state.display());
        }
        wait_for_shutdown().await;
        running.stop().await;
        println!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The warning for listening on `host`, which is not a loopback address.
fn exposure_warning(host: IpAddr) -> String {
    format!(
        "warning: listening on {host}, not a loopback address: the tandem workspace emulator is \
         for tests and has no real security (its tokens travel in clear text over plain HTTP, \
         its state is not encrypted); keep it on 127.0.0.1 unless the network is yours alone"
    )
}

async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_go_without_a_warning() {
        for host in ["127.0.0.1", "127.8.9.10", "::1"] {
            assert!(host.parse::<IpAddr>().expect("ip").is_loopback(), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2"] {
            assert!(!host.parse::<IpAddr>().expect("ip").is_loopback(), "{host}");
        }
        let warning = exposure_warning("0.0.0.0".parse().expect("ip"));
        assert!(
            warning.starts_with("warning: listening on 0.0.0.0"),
            "{warning}"
        );
        assert!(warning.contains("for tests"), "{warning}");
    }

    #[test]
    fn the_cloud_defaults_to_azure_as_embedded_workspaces_do() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: EmulatorArgs,
        }
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).map(|c| c.args.options().cloud);
        assert_eq!(
            parse(&["tandem"]).expect("parse"),
            emulator::clusters::Cloud::Azure
        );
        assert_eq!(
            parse(&["tandem", "--cloud", "gcp"]).expect("parse"),
            emulator::clusters::Cloud::Gcp
        );
        assert!(parse(&["tandem", "--cloud", "oracle"]).is_err());
        let embedded = emulator::embedded_options(std::path::Path::new("/tmp/x"), "primary");
        assert_eq!(embedded.cloud, emulator::clusters::Cloud::Azure);
    }
}
