//! The command line: `serve` and the administration commands. Every command takes the same
//! `--config` and `--data-dir`, so the CLI works on the data directory of a running server.

mod backup;
mod config_show;
mod doctor;
mod logging;
mod migrate;
mod nlu_bench;
mod password_input;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, App};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::identity::{IdentityService, PkcePolicy, Role, UserSource, password};

/// voicegate: a secure REST API for a home voice platform.
// No Debug: the parsed command line can hold a password (genpass).
#[derive(Parser)]
#[command(name = "voicegate", version, about)]
pub struct Cli {
    /// Configuration file (default: ./voicegate.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, signing key); overrides `data_dir` from the configuration.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (it applies the migrations the database lacks first, as `migrate` does).
    Serve {
        /// Address to listen on (default 127.0.0.1:8000).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage named long-lived tokens (the Snips console's alias tokens).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage API keys for HMAC-signed requests.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Manage OAuth2 clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Print a bcrypt hash (cost 12) of a password, for an ovos-api users.json.
    Genpass {
        /// The password.
        #[arg(long)]
        password: String,
    },
    /// Import an ovos-api users.json file (`[{"user","password","active"}]`).
    ImportUsers {
        /// The file.
        file: PathBuf,
    },
    /// Check the configuration, the data directory, the store, the instances and every
    /// configured peer (bus, Snapcast, engines, disk), saying what to fix; fails if a check fails.
    Doctor,
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(config_show::ConfigCommand),
    /// Apply the migrations to the configured database and print its backend and schema version.
    Migrate,
    /// Print the OpenAPI document the server serves at /openapi.json (or, with --scopes-table,
    /// the route table of docs/scopes.md made from it).
    Openapi {
        /// Print the markdown table of routes, credentials and scopes instead.
        #[arg(long)]
        scopes_table: bool,
    },
    /// Benchmark the NLU trainer: cross-validate on TRAIN, or train on TRAIN and test on
    /// `--test` (2017 nlu-benchmark files or folders, merged, or Snips datasets); prints accuracy,
    /// slot F1, training time, parse latency and model size.
    NluBench(nlu_bench::NluBenchArgs),
    /// Back up the data directory (the database by SQLite's online backup, or PostgreSQL's by
    /// pg_dump, and every file beside it) into one file, while the server runs.
    Backup(backup::BackupArgs),
    /// Restore a backup into the data directory and database (refused over existing data or a
    /// running server unless --force).
    Restore(backup::RestoreArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        /// User name.
        name: String,
        /// Role: `user` or `admin`.
        #[arg(long, default_value = "user", value_parser = ["user", "admin"])]
        role: String,
        /// E-mail address (the Snips console logs in with it).
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forbid a user to log in or use tokens.
    Disable {
        /// User name.
        name: String,
    },
    /// Allow a disabled user again.
    Enable {
        /// User name.
        name: String,
    },
    /// Change a user's password (their tokens stop working).
    Passwd {
        /// User name.
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client; its secret is printed once.
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// The user client_credentials tokens act for (and whose role bounds the scopes).
        #[arg(long)]
        owner: String,
        /// Allowed grant type (repeat): client_credentials, authorization_code, refresh_token, password.
        #[arg(long = "grant", required = true)]
        grants: Vec<String>,
        /// Allowed redirect URI, matched exactly (repeat).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed scope (repeat; default: all of the owner's role).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// PKCE at the authorization_code grant: `optional` lets this (confidential) client
        /// redeem codes with its secret alone, as the HK contract's clients do.
        #[arg(long, default_value = "required", value_parser = ["required", "optional"])]
        pkce: String,
        /// Print JSON: `{"client_id","client_secret"}`.
        #[arg(long)]
        json: bool,
    },
    /// List clients (never the secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client and revoke its refresh tokens.
    Remove {
        /// The client id.
        client_id: String,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key for a user; the secret is printed once.
    Add {
        /// The user the key acts for.
        #[arg(long)]
        user: String,
        /// Scopes, space- or comma-separated (default: all of the user's role).
        #[arg(long)]
        scope: Option<String>,
        /// Print JSON: `{"api_key","secret"}`.
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never the secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an API key.
    Remove {
        /// The public key id.
        api_key: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a named token for a user; it is printed once.
    Create {
        /// User name.
        user: String,
        /// Token name.
        alias: String,
        /// Scopes, space- or comma-separated (default: all of the user's role).
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime in days (default: until revoked).
        #[arg(long)]
        expires_days: Option<i64>,
        /// Print JSON: `{"token","alias"}`.
        #[arg(long)]
        json: bool,
    },
    /// List named tokens (never the tokens themselves).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a named token.
    Revoke {
        /// User name.
        user: String,
        /// Token name.
        alias: String,
    },
}

/// Where a new password comes from: a prompt (default), standard input, or a file.
#[derive(Args)]
#[group(multiple = false)]
struct PasswordSource {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Read the password from the first line of a file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// Parses the command line, runs the command, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Command::Openapi { scopes_table } = &cli.command {
        let document = crate::http::router::document();
        let json = serde_json::to_value(&document).map_err(|e| e.to_string())?;
        if *scopes_table {
            print!("{}", crate::http::openapi::scopes_table(&json));
        } else {
            let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            println!("{text}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::NluBench(args) = &cli.command {
        return nlu_bench::run(args);
    }
    if let Command::Genpass { password } = &cli.command {
        let hash =
            password::hash_bcrypt(password, password::BCRYPT_COST).map_err(|e| e.to_string())?;
        println!("{hash}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Config(command) = &cli.command {
        return config_show::run(cli.config.as_deref(), cli.data_dir.as_deref(), command);
    }
    let mut config = load_config(&cli)?;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            logging::init(&config.log_level);
            let app = App::build(config, clock).await.map_err(|e| e.to_string())?;
            app.serve(app::shutdown_signal())
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => Ok(doctor::run(&config, clock).await),
        Command::Migrate => migrate::run(&config).await,
        Command::Backup(args) => backup::backup(&config, args).await,
        Command::Restore(args) => backup::restore(&config, args).await,
        Command::ImportUsers { file } => {
            logging::init("warn");
            let (_, identity, _) = app::open_identity(&config, clock)
                .await
                .map_err(|e| e.to_string())?;
            let report = identity
                .import_users(&file, UserSource::Local)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "imported {}: {} created, {} updated, {} skipped",
                file.display(),
                report.created,
                report.updated,
                report.skipped
            );
            Ok(ExitCode::SUCCESS)
        }
        admin => {
            logging::init("warn");
            let (_, identity, _) = app::open_identity(&config, clock)
                .await
                .map_err(|e| e.to_string())?;
            match admin {
                Command::User(command) => user_command(&identity, command).await?,
                Command::Token(command) => token_command(&identity, command).await?,
                Command::Apikey(command) => api_key_command(&identity, command).await?,
                Command::Client(command) => client_command(&identity, command).await?,
                _ => unreachable!("handled above"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn user_command(identity: &IdentityService, command: UserCommand) -> Result<(), String> {
    let text = |e: crate::identity::IdentityError| e.to_string();
    match command {
        UserCommand::Add {
            name,
            role,
            email,
            password,
        } => {
            let role = Role::parse(&role).unwrap_or(Role::User);
            let secret =
                password_input::read(password.password_stdin, password.password_file.as_deref())?;
            identity
                .add_user_with_email(&name, email.as_deref(), secret.expose(), role)
                .await
                .map_err(text)?;
            println!("user {name} created ({})", role.as_str());
        }
        UserCommand::Passwd { name, password } => {
            let secret =
                password_input::read(password.password_stdin, password.password_file.as_deref())?;
            identity
                .set_password(&name, secret.expose())
                .await
                .map_err(text)?;
            println!("password of {name} changed; their tokens no longer work");
        }
        UserCommand::Disable { name } => {
            identity.set_active(&name, false).await.map_err(text)?;
            println!("user {name} disabled");
        }
        UserCommand::Enable { name } => {
            identity.set_active(&name, true).await.map_err(text)?;
            println!("user {name} enabled");
        }
        UserCommand::List { json } => {
            let users = identity.list_users().await.map_err(text)?;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({"user": u.name, "role": u.role.as_str(), "active": u.active, "source": u.source.as_str()}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!("{:<32} {:<6} {:<8} source", "user", "role", "status");
                for u in users {
                    let status = if u.active { "active" } else { "disabled" };
                    println!(
                        "{:<32} {:<6} {:<8} {}",
                        u.name,
                        u.role.as_str(),
                        status,
                        u.source.as_str()
                    );
                }
            }
        }
    }
    Ok(())
}

async fn token_command(identity: &IdentityService, command: TokenCommand) -> Result<(), String> {
    let text = |e: crate::identity::IdentityError| e.to_string();
    match command {
        TokenCommand::Create {
            user,
            alias,
            scope,
            expires_days,
            json,
        } => {
            let expires_in = expires_days.map(|days| days.saturating_mul(86_400));
            let token = identity
                .create_named_token_for(&user, &alias, scope.as_deref(), expires_in)
                .await
                .map_err(text)?;
            if json {
                println!("{}", serde_json::json!({"token": token, "alias": alias}));
            } else {
                println!("{}", token.expose());
                eprintln!("token {alias} created for {user}: it is shown only now");
            }
        }
        TokenCommand::List { user, json } => {
            let tokens = identity
                .list_named_tokens(user.as_deref())
                .await
                .map_err(text)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&tokens).map_err(|e| e.to_string())?
                );
            } else {
                println!("{:<24} {:<24} {:<12} scopes", "user", "alias", "expires");
                for t in tokens {
                    let expires = t
                        .expires_at
                        .map_or_else(|| "never".to_string(), |at| at.to_string());
                    println!(
                        "{:<24} {:<24} {:<12} {}",
                        t.user, t.alias, expires, t.scopes
                    );
                }
            }
        }
        TokenCommand::Revoke { user, alias } => {
            identity
                .revoke_named_token_for(&user, &alias)
                .await
                .map_err(text)?;
            println!("token {alias} of {user} revoked");
        }
    }
    Ok(())
}

async fn api_key_command(identity: &IdentityService, command: ApiKeyCommand) -> Result<(), String> {
    let text = |e: crate::identity::IdentityError| e.to_string();
    match command {
        ApiKeyCommand::Add { user, scope, json } => {
            let key = identity
                .create_api_key(&user, scope.as_deref())
                .await
                .map_err(text)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&key).map_err(|e| e.to_string())?
                );
            } else {
                println!("api_key: {}\nsecret:  {}", key.api_key, key.secret.expose());
                eprintln!("the secret is shown only now");
            }
        }
        ApiKeyCommand::List { json } => {
            let keys = identity.list_api_keys().await.map_err(text)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&keys).map_err(|e| e.to_string())?
                );
            } else {
                println!("{:<28} {:<24} scopes", "api_key", "user");
                for k in keys {
                    println!("{:<28} {:<24} {}", k.api_key, k.user, k.scopes);
                }
            }
        }
        ApiKeyCommand::Remove { api_key } => {
            identity.remove_api_key(&api_key).await.map_err(text)?;
            println!("api key {api_key} removed");
        }
    }
    Ok(())
}

async fn client_command(identity: &IdentityService, command: ClientCommand) -> Result<(), String> {
    let text = |e: crate::identity::IdentityError| e.to_string();
    match command {
        ClientCommand::Add {
            name,
            owner,
            grants,
            redirect_uris,
            scopes,
            pkce,
            json,
        } => {
            let scope_text = (!scopes.is_empty()).then(|| scopes.join(" "));
            let pkce = PkcePolicy::parse(&pkce).ok_or("--pkce is required or optional")?;
            let client = identity
                .add_client_with_pkce(
                    &name,
                    &owner,
                    &grants,
                    &redirect_uris,
                    scope_text.as_deref(),
                    pkce,
                )
                .await
                .map_err(text)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&client).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "client_id:     {}\nclient_secret: {}",
                    client.client_id,
                    client.client_secret.expose()
                );
                eprintln!("the secret is shown only now");
            }
        }
        ClientCommand::List { json } => {
            let clients = identity.list_clients().await.map_err(text)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&clients).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{:<22} {:<20} {:<16} {:<9} grants",
                    "client_id", "name", "owner", "pkce"
                );
                for c in clients {
                    println!(
                        "{:<22} {:<20} {:<16} {:<9} {}",
                        c.client_id,
                        c.name,
                        c.owner,
                        c.pkce.as_str(),
                        c.grants.join(" ")
                    );
                }
            }
        }
        ClientCommand::Remove { client_id } => {
            identity.remove_client(&client_id).await.map_err(text)?;
            println!("client {client_id} removed");
        }
    }
    Ok(())
}
