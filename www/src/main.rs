//! `livesource-dev serve`, `livesource-dev token` and `livesource-dev with` (a server for the
//! length of one command: `main/with.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

// In `src/main/`, not `src/`: it belongs to the binary, and `src/`'s top level is the library's
// layers (`tests/layout.rs`).
#[path = "main/with.rs"]
mod with;
use livesource_dev::auth::{format_duration, load_secret, Keys, Role};
use livesource_dev::config::{
    default_pkg_dir, default_static_dir, parse_cors_origin, parse_duration, Config, Storage,
    DEFAULT_MAX_SSE_PER_CLIENT,
};

#[derive(Parser)]
#[command(
    version,
    about = "Development server for livesource: RESTHeart-style change streams over SSE"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Serve),
    /// Print a JWT (HS256) that a server using the same data dir or secret accepts.
    Token(Token),
    /// Run COMMAND (a test run) against a server of its own, stopped afterwards.
    ///
    /// The server gets a free port and a temporary data directory, and allows a second origin,
    /// for the test runner's page, through CORS. COMMAND's exit status is passed through; the
    /// server is stopped and its temporary files removed afterwards, also on failure and on
    /// Ctrl-C.
    #[command(after_help = with::AFTER_HELP)]
    With(with::With),
}

#[derive(Args)]
struct Serve {
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Directory for the SQLite database and the signing secret (created if missing).
    #[arg(long, default_value = "data", conflicts_with = "memory")]
    data: PathBuf,
    /// Keep everything in memory (for tests); tokens then come from LIVESOURCE_JWT_SECRET.
    #[arg(long)]
    memory: bool,
    #[command(flatten)]
    server: ServerFlags,
}

/// The `serve` flags that `with` passes on to the server it starts.
#[derive(Args)]
struct ServerFlags {
    /// Interval of `heartbeat` events on change streams and /api/events (patch topics: 15 s).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    heartbeat: Duration,
    /// How many events back a Last-Event-ID may be before the client gets `event: reset`.
    #[arg(long, default_value_t = 10_000)]
    replay: u64,
    /// Required prefix of patch topics.
    #[arg(long, default_value = "dashboard:")]
    topic_prefix: String,
    /// Origin allowed to call the server cross-origin, with credentials (repeatable; none by
    /// default): `scheme://host[:port]`, e.g. http://localhost:5173. `*` is refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = parse_cors_origin)]
    cors_origins: Vec<String>,
    /// File of JSON access rules, checked before the defaults. The file holds e.g.
    /// `[{"prefix": "/reports", "methods": ["GET"], "role": "$unauthenticated"}]`.
    #[arg(long, value_name = "FILE")]
    access: Option<PathBuf>,
    /// Close a connection whose writes stall this long (a client that stopped reading).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// Most SSE streams one client address (IPv6: one /64) may hold open; more get 429 with
    /// Retry-After. 0 means no limit. Behind a reverse proxy every client has the proxy's
    /// address: raise it or use 0 there.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SSE_PER_CLIENT)]
    max_sse_per_client: usize,
    /// Refuse tokens whose `exp` lies further ahead than this (from now or from their `iat`).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    max_token_ttl: Duration,
    /// Directory served at /pkg (the wasm-pack output).
    #[arg(long, default_value_os_t = default_pkg_dir())]
    pkg_dir: PathBuf,
    /// Directory served at /static.
    #[arg(long, default_value_os_t = default_static_dir())]
    static_dir: PathBuf,
}

impl ServerFlags {
    /// The flags again, as `serve` parses them.
    fn to_args(&self) -> Vec<std::ffi::OsString> {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let mut args: Vec<std::ffi::OsString> = vec![
            "--heartbeat".into(),
            millis(self.heartbeat).into(),
            "--replay".into(),
            self.replay.to_string().into(),
            "--topic-prefix".into(),
            self.topic_prefix.clone().into(),
            "--write-timeout".into(),
            millis(self.write_timeout).into(),
            "--max-sse-per-client".into(),
            self.max_sse_per_client.to_string().into(),
            "--max-token-ttl".into(),
            millis(self.max_token_ttl).into(),
            "--pkg-dir".into(),
            self.pkg_dir.clone().into(),
            "--static-dir".into(),
            self.static_dir.clone().into(),
        ];
        for origin in &self.cors_origins {
            args.extend(["--cors-origin".into(), origin.into()]);
        }
        if let Some(access) = &self.access {
            args.extend(["--access".into(), access.clone().into()]);
        }
        args
    }
}

#[derive(Args)]
struct Token {
    #[arg(long)]
    sub: String,
    #[arg(long, value_enum)]
    role: Role,
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    ttl: Duration,
    /// The server's --max-token-ttl: a longer --ttl is refused, since that server would
    /// refuse the token.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    max_token_ttl: Duration,
    /// The server's data dir, whose signing secret is used (created if missing).
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => token(args),
        Command::With(args) => return with::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livesource-dev: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Serve) -> Result<(), String> {
    let Serve {
        addr,
        data,
        memory,
        server: args,
    } = args;
    let access_rules = args
        .access
        .map(|path| std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display())))
        .transpose()?;
    let config = Config {
        addr,
        storage: if memory {
            Storage::Memory
        } else {
            Storage::Dir(data)
        },
        heartbeat: args.heartbeat,
        replay: args.replay,
        topic_prefix: args.topic_prefix,
        cors_origins: args.cors_origins,
        access_rules,
        write_timeout: args.write_timeout,
        max_sse_per_client: args.max_sse_per_client,
        max_token_ttl: args.max_token_ttl,
        pkg_dir: args.pkg_dir,
        static_dir: args.static_dir,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let result = runtime.block_on(livesource_dev::http::serve(config));
    // Do not wait for tasks still running (streams past the drain deadline): exit now.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

fn token(args: Token) -> Result<(), String> {
    // An error rather than a warning: a token the server refuses is useless, and scripts
    // would only notice at its first 401.
    if args.ttl > args.max_token_ttl {
        return Err(format!(
            "--ttl {} is longer than the server's token lifetime limit ({}): it would refuse \
             the token; start the server with a larger --max-token-ttl and pass the same here",
            format_duration(secs(args.ttl)),
            format_duration(secs(args.max_token_ttl)),
        ));
    }
    let secret = load_secret(Some(&args.data)).map_err(|e| format!("signing secret: {e}"))?;
    let ttl = i64::try_from(args.ttl.as_secs()).map_err(|_| "ttl too large".to_owned())?;
    let token = Keys::new(&secret)
        .mint(&args.sub, args.role, ttl)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Serve {
        let argv = ["livesource-dev", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(s) => s,
            _ => unreachable!("parsed as serve"),
        }
    }

    #[test]
    fn serve_defaults_are_the_documented_ones() {
        // docs/GUIDE.md: "the server's heartbeat (30 s by default ...)".
        let s = serve(&[]);
        assert_eq!(s.server.heartbeat, Duration::from_secs(30));
        assert_eq!(s.server.replay, 10_000);
        assert_eq!(s.server.topic_prefix, "dashboard:");
        assert!(s.server.cors_origins.is_empty());
        assert_eq!(
            serve(&["--heartbeat", "1s"]).server.heartbeat,
            Duration::from_secs(1)
        );
    }
}
