//! ovos-api users.json: hashes made by another bcrypt implementation (Python's), imported by the
//! service and synced from USERS_DB at start.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{TestServer, python_bcrypt_check, python_bcrypt_hash};
use voicegate::identity::UserSource;

use crate::support::login;

#[tokio::test]
async fn python_bcrypt_hashes_log_in_and_inactive_users_cannot() {
    let server = TestServer::start().await;
    let file = server.data_dir.path().join("users.json");
    let users = json!([
        {"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true},
        {"user": "legacy", "password": python_bcrypt_hash("old-style-2a", "2a", 5), "active": true},
        {"user": "jarvis", "password": python_bcrypt_hash("jarvis-pass", "2b", 4), "active": false},
    ]);
    std::fs::write(&file, users.to_string()).unwrap();
    let report = server
        .state
        .identity
        .import_users(&file, UserSource::Local)
        .await
        .unwrap();
    assert_eq!(report.created, 3);

    assert_eq!(
        login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&server.base, "legacy", "old-style-2a").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&server.base, "ovos", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server.base, "jarvis", "jarvis-pass").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Importing the same file again changes nothing.
    let report = server
        .state
        .identity
        .import_users(&file, UserSource::Local)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, 0));
}

#[tokio::test]
async fn users_db_is_synced_at_start_and_users_leaving_it_are_disabled() {
    let dir = tempfile_dir();
    let file = dir.join("users.json");
    std::fs::write(
        &file,
        json!([
            {"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true},
            {"user": "gone", "password": python_bcrypt_hash("gone-soon", "2b", 4), "active": true},
        ])
        .to_string(),
    )
    .unwrap();
    let users_db = file.clone();
    let server = TestServer::start_with(|config| config.users_db = Some(users_db)).await;
    assert_eq!(
        login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&server.base, "gone", "gone-soon").await.status(),
        StatusCode::OK
    );

    std::fs::write(
        &file,
        json!([{"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true}]).to_string(),
    )
    .unwrap();
    let report = server
        .state
        .identity
        .import_users(&file, UserSource::UsersDb)
        .await
        .unwrap();
    assert_eq!(report.disabled, 1);
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
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_users_file_with_a_plaintext_password_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let file = server.data_dir.path().join("users.json");
    std::fs::write(
        &file,
        json!([{"user": "ovos", "password": "plaintext", "active": true}]).to_string(),
    )
    .unwrap();
    let err = server
        .state
        .identity
        .import_users(&file, UserSource::Local)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("genpass"), "{err}");
    assert_eq!(server.state.identity.user_count().await.unwrap(), 0);
}

#[test]
fn our_bcrypt_hashes_are_accepted_by_python_bcrypt() {
    let hash = voicegate::identity::password::hash_bcrypt("c-h-a-n-g-e-m-e", 4).unwrap();
    assert!(python_bcrypt_check("c-h-a-n-g-e-m-e", &hash));
    assert!(!python_bcrypt_check("something-else", &hash));
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vg-usersdb-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
