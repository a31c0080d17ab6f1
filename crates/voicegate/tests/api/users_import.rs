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
async fn a_bcrypt_hash_is_upgraded_to_argon2id_at_the_first_login_and_syncs_still_see_the_file() {
    let server = TestServer::start().await;
    let file = server.data_dir.path().join("users.json");
    let hash = python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4);
    std::fs::write(
        &file,
        json!([{"user": "ovos", "password": hash, "active": true}]).to_string(),
    )
    .unwrap();
    server
        .state
        .identity
        .import_users(&file, UserSource::UsersDb)
        .await
        .unwrap();
    let response = login(&server.base, "ovos", "c-h-a-n-g-e-m-e").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let users = server.state.identity.list_users().await.unwrap();
    assert!(
        users[0].password_hash.starts_with("$argon2id$"),
        "{:?}",
        users[0]
    );
    assert_eq!(
        login(&server.base, "ovos", "c-h-a-n-g-e-m-e")
            .await
            .status(),
        StatusCode::OK
    );
    // The same file again is no change: the session from before stays valid.
    let report = server
        .state
        .identity
        .import_users(&file, UserSource::UsersDb)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated), (0, 0));
    let me = crate::support::get_bearer(
        server.url("/v1/auth/me"),
        body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn users_db_users_are_changed_in_the_file_not_by_the_cli_and_local_users_are_not_taken_over()
{
    let server = TestServer::start().await;
    server.add_user("local", "change-me-please").await;
    let file = server.data_dir.path().join("users.json");
    std::fs::write(
        &file,
        json!([
            {"user": "ovos", "password": python_bcrypt_hash("c-h-a-n-g-e-m-e", "2b", 4), "active": true},
            {"user": "local", "password": python_bcrypt_hash("taken-over", "2b", 4), "active": true},
        ])
        .to_string(),
    )
    .unwrap();
    let report = server
        .state
        .identity
        .import_users(&file, UserSource::UsersDb)
        .await
        .unwrap();
    assert_eq!((report.created, report.skipped), (1, 1));
    assert_eq!(
        login(&server.base, "local", "change-me-please")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&server.base, "local", "taken-over").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let err = server
        .state
        .identity
        .set_password("ovos", "another-pass")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("USERS_DB"), "{err}");
    let err = server
        .state
        .identity
        .set_active("ovos", false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("USERS_DB"), "{err}");
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
