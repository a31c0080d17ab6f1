//! The real binary: user administration, genpass, import-users, configuration layers, and serve
//! (start-up hint, a CLI change seen by a running server, graceful SIGTERM).

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Binary, python_bcrypt_check, python_bcrypt_hash, run_python};

use crate::support::{assert_not_stored, binary_with_user, get_bearer, keys, login};

fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_voicegate"))
}

#[tokio::test]
async fn user_commands_manage_users_on_the_data_dir() {
    let bin = binary_with_user("ovos", "change-me-now").await;
    let out = bin
        .run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n",
        )
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let out = bin
        .run(&["user", "add", "shorty", "--password-stdin"], "short\n")
        .await;
    assert!(!out.success);
    assert!(out.stderr.contains("at least 8"), "{}", out.stderr);
    let password_file = bin.work_dir.path().join("pw.txt");
    std::fs::write(&password_file, "from-a-file-1\n").unwrap();
    let out = bin
        .run(
            &[
                "user",
                "add",
                "admin",
                "--role",
                "admin",
                "--password-file",
                password_file.to_str().unwrap(),
            ],
            "",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    assert!(bin.run(&["user", "disable", "ovos"], "").await.success);
    let out = bin.run(&["user", "disable", "nobody"], "").await;
    assert!(
        !out.success && out.stderr.contains("nobody"),
        "{}",
        out.stderr
    );

    let out = bin.run(&["user", "list", "--json"], "").await;
    let users: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        users,
        json!([
            {"user": "admin", "role": "admin", "active": true, "source": "local"},
            {"user": "ovos", "role": "user", "active": false, "source": "local"},
        ])
    );
    assert!(bin.run(&["user", "enable", "ovos"], "").await.success);
    assert!(
        bin.run(
            &["user", "passwd", "ovos", "--password-stdin"],
            "another-secret\n"
        )
        .await
        .success
    );

    // The data directory is private; the generated signing key is readable by the owner only.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&bin.data_dir), 0o700);
    assert_eq!(mode(&bin.data_dir.join("signing.key")), 0o600);

    let server = bin.serve(&[]).await;
    assert_eq!(
        login(&server.base, "ovos", "another-secret").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&server.base, "admin", "from-a-file-1").await.status(),
        StatusCode::OK
    );
    server.terminate().await;
}

#[tokio::test]
async fn genpass_makes_hashes_the_original_ovos_api_accepts() {
    let bin = binary();
    let out = bin
        .run(&["genpass", "--password", "c-h-a-n-g-e-m-e"], "")
        .await;
    assert!(out.success, "{}", out.stderr);
    let hash = out.stdout.trim();
    assert!(hash.starts_with("$2b$12$"), "{hash}");
    assert!(python_bcrypt_check("c-h-a-n-g-e-m-e", hash));
    let too_long = "x".repeat(73);
    let out = bin.run(&["genpass", "--password", &too_long], "").await;
    assert!(!out.success);
    assert!(out.stderr.contains("72 bytes"), "{}", out.stderr);
}

#[tokio::test]
async fn serve_says_how_to_create_a_user_and_stops_cleanly_on_sigterm() {
    let bin = binary();
    let server = bin.serve(&[]).await;
    let hint = server
        .startup_log
        .iter()
        .find(|l| l.contains("no users yet"))
        .cloned();
    let hint = hint.unwrap_or_else(|| panic!("no hint in {:?}", server.startup_log));
    assert!(hint.contains("user add"), "{hint}");
    let ping = reqwest::get(server.url("/v1/network/ping")).await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    let (clean, log) = server.terminate().await;
    assert!(clean, "exit status after SIGTERM");
    assert!(log.iter().any(|l| l.contains("stopped")), "{log:?}");
}

#[tokio::test]
async fn a_user_disabled_by_the_cli_loses_access_on_the_running_server() {
    let bin = binary();
    assert!(
        bin.run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n"
        )
        .await
        .success
    );
    let server = bin.serve(&[]).await;
    let body: Value = login(&server.base, "ovos", "change-me-now")
        .await
        .json()
        .await
        .unwrap();
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status(),
        StatusCode::OK
    );

    assert!(bin.run(&["user", "disable", "ovos"], "").await.success);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = get_bearer(server.url("/v1/auth/me"), &access)
            .await
            .status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running server still accepts the disabled user's token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate().await;
}

#[tokio::test]
async fn an_ovos_api_env_file_works_unchanged() {
    let bin = binary();
    let users = bin.work_dir.path().join("users.json");
    std::fs::write(
        &users,
        json!([
            {"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true},
            {"user": "jarvis", "password": python_bcrypt_hash("jarvis-pass", "2b", 4), "active": false},
        ])
        .to_string(),
    )
    .unwrap();
    let secret = "0123-env-file-secret-0123456789abcdef";
    std::fs::write(
        bin.work_dir.path().join(".env"),
        format!(
            "SECRET=\"{secret}\"\nWS_HOST=\"127.0.0.1\"\nWS_PORT=\"8181\"\nAPI_KEY=\"\"\nUSERS_DB=\"{}\"\n",
            users.display()
        ),
    )
    .unwrap();
    let server = bin
        .serve(&[("VOICEGATE_LOG_LEVEL", "debug,sqlx=warn")])
        .await;
    assert_eq!(
        login(&server.base, "jarvis", "jarvis-pass").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let body: Value = login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
        .await
        .json()
        .await
        .unwrap();
    let access = body["access_token"].as_str().unwrap();
    // The token is signed with the .env SECRET: check it with Python's hmac.
    let verified = run_python(
        "import sys, hmac, hashlib, base64\n\
         h, p, s = sys.argv[1].split('.')\n\
         mac = hmac.new(sys.argv[2].encode(), f'{h}.{p}'.encode(), hashlib.sha256).digest()\n\
         print(base64.urlsafe_b64encode(mac).rstrip(b'=').decode() == s)",
        &[access, secret],
    );
    assert_eq!(verified, "True");
    assert!(
        !bin.data_dir.join("signing.key").exists(),
        "no key is generated when SECRET is set"
    );
    // The secret goes where a careless server would log it: a wrong password, a bearer token.
    assert_eq!(
        login(&server.base, "ovos", secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let startup_log = server.startup_log.clone();
    let (_, log) = server.terminate().await;
    let answered = log.iter().filter(|l| l.contains("answered")).count();
    assert!(answered >= 3, "the requests were logged: {log:#?}");
    assert!(
        !startup_log.iter().chain(&log).any(|l| l.contains(secret)),
        "the secret appears in the log"
    );
}

#[tokio::test]
async fn layers_go_toml_then_env_file_then_environment_and_unknown_keys_are_named() {
    let bin = binary();
    let toml = bin.work_dir.path().join("voicegate.toml");
    std::fs::write(&toml, "[auth]\naccess_ttl_secs = 60\n").unwrap();
    assert!(
        bin.run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n"
        )
        .await
        .success
    );
    async fn ttl(base: &str) -> i64 {
        let body: Value = login(base, "ovos", "change-me-now")
            .await
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap();
        let me: Value = get_bearer(format!("{base}/v1/auth/me"), token)
            .await
            .json()
            .await
            .unwrap();
        me["expires_at"].as_i64().unwrap() - me["issued_at"].as_i64().unwrap()
    }
    let server = bin.serve(&[]).await;
    assert_eq!(
        ttl(&server.base).await,
        60,
        "the TOML file wins over the defaults"
    );
    server.terminate().await;

    std::fs::write(
        bin.work_dir.path().join(".env"),
        "VOICEGATE_AUTH__ACCESS_TTL_SECS=90\n",
    )
    .unwrap();
    let server = bin.serve(&[]).await;
    assert_eq!(ttl(&server.base).await, 90, ".env wins over the TOML file");
    server.terminate().await;

    let server = bin
        .serve(&[("VOICEGATE_AUTH__ACCESS_TTL_SECS", "120")])
        .await;
    assert_eq!(
        ttl(&server.base).await,
        120,
        "the environment wins over .env"
    );
    server.terminate().await;

    std::fs::write(&toml, "[auth]\naccess_ttl = 60\n").unwrap();
    let out = bin.run(&["user", "list"], "").await;
    assert!(!out.success);
    assert!(out.stderr.contains("access_ttl"), "{}", out.stderr);
}

#[tokio::test]
async fn import_users_takes_an_ovos_api_users_file() {
    let bin = binary();
    let users = bin.work_dir.path().join("users.json");
    std::fs::write(
        &users,
        json!([{"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4).replacen("$2b$", "$2y$", 1), "active": true}]).to_string(),
    )
    .unwrap();
    let out = bin
        .run(&["import-users", users.to_str().unwrap()], "")
        .await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("1 created"), "{}", out.stdout);
    let server = bin.serve(&[]).await;
    assert_eq!(
        login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
            .await
            .status(),
        StatusCode::OK
    );
    server.terminate().await;
}

#[tokio::test]
async fn users_db_is_synced_at_every_start() {
    let bin = binary();
    let users = bin.work_dir.path().join("users.json");
    let write = |entries: Value| std::fs::write(&users, entries.to_string()).unwrap();
    let ovos = json!({"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true});
    let gone = json!({"user": "gone", "password": python_bcrypt_hash("gone-soon", "2b", 4), "active": true});
    write(json!([ovos, gone]));
    let users_db = users.to_str().unwrap();
    let server = bin.serve(&[("USERS_DB", users_db)]).await;
    assert_eq!(
        login(&server.base, "gone", "gone-soon").await.status(),
        StatusCode::OK
    );
    server.terminate().await;

    write(json!([ovos]));
    let server = bin.serve(&[("USERS_DB", users_db)]).await;
    assert_eq!(
        login(&server.base, "gone", "gone-soon").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
            .await
            .status(),
        StatusCode::OK
    );
    server.terminate().await;
    let out = bin
        .run(
            &["user", "passwd", "ovos", "--password-stdin"],
            "another-secret\n",
        )
        .await;
    assert!(
        !out.success && out.stderr.contains("USERS_DB"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn token_commands_create_list_and_revoke_named_tokens() {
    let bin = binary();
    assert!(
        bin.run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n"
        )
        .await
        .success
    );
    let out = bin
        .run(
            &[
                "token",
                "create",
                "ovos",
                "home-assistant",
                "--scope",
                "ovos user:info",
                "--json",
            ],
            "",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let created: Value = serde_json::from_str(&out.stdout).unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let server = bin.serve(&[]).await;
    let me: Value = get_bearer(server.url("/v1/auth/me"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["scopes"], json!(["ovos", "user:info"]));

    let out = bin.run(&["token", "list", "--json"], "").await;
    let listed: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(listed[0]["alias"], "home-assistant");
    assert_eq!(
        keys(&listed[0]),
        ["alias", "created_at", "expires_at", "scopes", "user"]
    );
    assert_not_stored(&bin.data_dir, &token);
    let out = bin
        .run(
            &["token", "create", "ovos", "bad", "--scope", "everything"],
            "",
        )
        .await;
    assert!(
        !out.success && out.stderr.contains("unknown scope"),
        "{}",
        out.stderr
    );

    assert!(
        bin.run(&["token", "revoke", "ovos", "home-assistant"], "")
            .await
            .success
    );
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    server.terminate().await;
}

#[tokio::test]
async fn apikey_commands_add_list_and_remove_keys() {
    let bin = binary();
    assert!(
        bin.run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n"
        )
        .await
        .success
    );
    let out = bin
        .run(
            &[
                "apikey",
                "add",
                "--user",
                "ovos",
                "--scope",
                "user:info",
                "--json",
            ],
            "",
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    let key: Value = serde_json::from_str(&out.stdout).unwrap();
    let (api_key, secret) = (
        key["api_key"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    assert!(api_key.starts_with("vgk_") && secret.len() >= 64, "{key}");
    let listed = bin.run(&["apikey", "list", "--json"], "").await;
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["api_key"], api_key);
    assert_eq!(listed[0]["scopes"], json!(["user:info"]));
    assert_eq!(
        keys(&listed[0]),
        ["api_key", "created_at", "scopes", "user"]
    );
    assert_not_stored(&bin.data_dir, secret);
    assert!(bin.run(&["apikey", "remove", api_key], "").await.success);
    let out = bin.run(&["apikey", "remove", api_key], "").await;
    assert!(
        !out.success && out.stderr.contains("no API key"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn client_commands_register_list_and_remove_oauth_clients() {
    let bin = binary();
    assert!(
        bin.run(
            &["user", "add", "ovos", "--password-stdin"],
            "change-me-now\n"
        )
        .await
        .success
    );
    let args = [
        "client",
        "add",
        "--name",
        "Home Assistant",
        "--owner",
        "ovos",
        "--grant",
        "client_credentials",
        "--scope",
        "ovos",
        "--scope",
        "user:info",
        "--json",
    ];
    let out = bin.run(&args, "").await;
    assert!(out.success, "{}", out.stderr);
    let created: Value = serde_json::from_str(&out.stdout).unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    assert!(secret.len() >= 43, "at least 256 bits");
    let server = bin.serve(&[]).await;
    let token = crate::support::client()
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(
        token.json::<Value>().await.unwrap()["scope"],
        "ovos user:info"
    );

    let listed: Value =
        serde_json::from_str(&bin.run(&["client", "list", "--json"], "").await.stdout).unwrap();
    assert_eq!(listed[0]["client_id"], id);
    assert_eq!(
        keys(&listed[0]),
        [
            "client_id",
            "grants",
            "name",
            "owner",
            "pkce",
            "redirect_uris",
            "scopes"
        ]
    );
    assert_not_stored(&bin.data_dir, secret);
    let out = bin
        .run(
            &[
                "client", "add", "--name", "x", "--owner", "ovos", "--grant", "implicit",
            ],
            "",
        )
        .await;
    assert!(
        !out.success && out.stderr.contains("unknown grant"),
        "{}",
        out.stderr
    );
    assert!(bin.run(&["client", "remove", id], "").await.success);
    let refused = crate::support::client()
        .post(server.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    server.terminate().await;
}

#[tokio::test]
async fn every_log_line_of_a_request_names_its_request_id() {
    let bin = binary_with_user("ann", "ann-password").await;
    let server = bin
        .serve(&[("VOICEGATE_LOG_LEVEL", "debug,sqlx=warn")])
        .await;
    let body: Value = login(&server.base, "ann", "ann-password")
        .await
        .json()
        .await
        .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let spend = |id: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .get(server.url("/v1/auth/refresh"))
            .bearer_auth(&refresh);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    // The client's id is echoed; a spent refresh token presented again logs a warning in the
    // request's span.
    let first = spend(Some("client-id-1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["x-request-id"], "client-id-1");
    let reused = spend(Some("client-id-2")).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    // No id, or one that could forge a log line: the server makes one.
    let made = spend(None).await.unwrap();
    let made_id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    let forged = reqwest::Client::new()
        .get(server.url("/v1/network/ping"))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(replaced, "a b\"c");
    assert_ne!(replaced, made_id);
    let (_, log) = server.terminate().await;
    let lines_of = |id: &str| -> Vec<&String> {
        log.iter()
            .filter(|l| l.contains(&format!("id={id}")))
            .collect()
    };
    let second = lines_of("client-id-2");
    assert!(
        second
            .iter()
            .any(|l| l.contains("spent refresh token presented again")),
        "{log:#?}"
    );
    assert!(second.iter().any(|l| l.contains("answered")), "{log:#?}");
    assert!(
        lines_of(&made_id).iter().any(|l| l.contains("answered")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("a b\"c")), "{log:#?}");
}

#[tokio::test]
async fn plain_outputs_print_the_new_secrets_themselves() {
    let bin = binary_with_user("ovos", "change-me-now").await;
    let token = bin.run(&["token", "create", "ovos", "plain"], "").await;
    assert!(token.success, "{}", token.stderr);
    let token = token.stdout.trim().to_string();
    assert!(token.starts_with("vgt_") && token.len() == 47, "{token}");
    let key = bin.run(&["apikey", "add", "--user", "ovos"], "").await;
    assert!(key.success, "{}", key.stderr);
    let secret = key
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        secret.len() >= 64 && !secret.contains("redacted"),
        "{secret}"
    );
    let client = bin
        .run(
            &[
                "client",
                "add",
                "--name",
                "plain",
                "--owner",
                "ovos",
                "--grant",
                "client_credentials",
            ],
            "",
        )
        .await;
    assert!(client.success, "{}", client.stderr);
    let field = |name: &str| {
        client
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let (client_id, client_secret) = (field("client_id:"), field("client_secret:"));
    let server = bin.serve(&[]).await;
    assert_eq!(
        get_bearer(server.url("/v1/auth/me"), &token).await.status(),
        StatusCode::OK
    );
    let issued = reqwest::Client::new()
        .post(server.url("/oauth/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::OK);
    server.terminate().await;
}

#[tokio::test]
async fn a_short_signing_key_stops_the_start_and_says_how_to_make_one() {
    for env_line in [
        "SECRET=\"short-secret\"\n",
        "VOICEGATE_SECRET_FILE=key.txt\n",
    ] {
        let bin = binary();
        std::fs::write(bin.work_dir.path().join(".env"), env_line).unwrap();
        std::fs::write(bin.work_dir.path().join("key.txt"), "also-short\n").unwrap();
        let out = bin.run(&["serve", "--listen", "127.0.0.1:0"], "").await;
        assert!(!out.success, "{env_line}: {}", out.stderr);
        assert!(
            out.stderr.contains("at least 32 bytes") && out.stderr.contains("openssl rand -hex 32"),
            "{env_line}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("short-secret"), "{}", out.stderr);
    }
    // 32 bytes and more start.
    let bin = binary();
    std::fs::write(
        bin.work_dir.path().join(".env"),
        "SECRET=\"0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    bin.serve(&[]).await.terminate().await;
}

/// The VocaliD signature of a GET without body, made here (no process to start: the request
/// goes out the moment the key exists).
fn sign_get(secret: &str, path: &str, query: &str, nonce: &str) -> String {
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let timestamp = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{now}"), "+%Y-%m-%dT%H:%M:%S"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let body_hash = hex(&Sha256::digest(b""));
    let data = format!("GET\n{path}\n{query}\n{nonce}\n{body_hash}\n{timestamp}");
    let digest = hex(&Sha256::digest(data.as_bytes()));
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(digest.as_bytes());
    let signature = hex(&mac.finalize().into_bytes());
    format!("signature={signature}, nonce={nonce}, timestamp={timestamp}")
}

#[tokio::test]
async fn credentials_made_by_the_cli_work_on_the_very_next_request() {
    let bin = binary_with_user("ovos", "change-me-now").await;
    let server = bin.serve(&[]).await;
    let http = crate::support::client();
    for round in 0..20 {
        let out = bin
            .run(&["apikey", "add", "--user", "ovos", "--json"], "")
            .await;
        assert!(out.success, "{}", out.stderr);
        let key: Value = serde_json::from_str(&out.stdout).unwrap();
        let (api_key, secret) = (
            key["api_key"].as_str().unwrap(),
            key["secret"].as_str().unwrap(),
        );
        let path = "/api/v1/external/user/info/";
        let query = format!("api_key={api_key}");
        let signed = http
            .get(server.url(&format!("{path}?{query}")))
            .header(
                "authorization",
                sign_get(secret, path, &query, &format!("n{round}")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), StatusCode::OK, "API key of round {round}");

        let name = format!("user{round}");
        let out = bin
            .run(
                &["user", "add", &name, "--password-stdin"],
                "a-new-password\n",
            )
            .await;
        assert!(out.success, "{}", out.stderr);
        let body: Value = login(&server.base, &name, "a-new-password")
            .await
            .json()
            .await
            .unwrap();
        let access = body["access_token"].as_str().unwrap();
        let me = get_bearer(server.url("/v1/auth/me"), access).await;
        assert_eq!(me.status(), StatusCode::OK, "user of round {round}");
    }
    server.terminate().await;
}
