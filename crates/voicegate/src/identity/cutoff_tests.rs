//! The token cut-off of a password change: tokens issued before it stop working, to the
//! millisecond, and a login whose password check overlaps the change issues nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::identity::error::IdentityError;
use crate::identity::model::Role;
use crate::identity::password;
use crate::identity::service::IdentityService;
use crate::store::Db;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn service(dir: &tempfile::TempDir, clock: &ManualClock) -> Arc<IdentityService> {
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let db = Db::open_sqlite(dir.path()).await.unwrap();
    let service = IdentityService::new(db, Arc::new(clock.clone()), &config, &[7u8; 32])
        .await
        .unwrap();
    service
        .add_user("ana", "old-password-1", Role::User)
        .await
        .unwrap();
    Arc::new(service)
}

#[tokio::test]
async fn a_password_change_ends_tokens_issued_earlier_in_the_same_second() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let service = service(&dir, &clock).await;
    let pair = service.login(LOCAL, "ana", "old-password-1").await.unwrap();
    let access = pair.access_token.expose().to_string();
    assert!(service.authenticate(&access).await.is_ok());

    clock.advance_ms(1);
    let second = clock.now();
    service.set_password("ana", "new-password-1").await.unwrap();
    assert_eq!(clock.now(), second, "the change is in the same second");
    assert!(matches!(
        service.authenticate(&access).await,
        Err(IdentityError::InvalidToken)
    ));
    // A login after the change, in the same millisecond, works.
    let fresh = service.login(LOCAL, "ana", "new-password-1").await.unwrap();
    assert!(
        service
            .authenticate(fresh.access_token.expose())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_password_change_during_a_login_check_stops_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let service = service(&dir, &clock).await;
    let new_hash = password::hash_argon2("new-password-1").unwrap();
    let user = service.repo.find_user("ana").await.unwrap().unwrap();

    // Every hashing slot is taken, so the login reads the user and then waits for its check.
    let slots = service.hash_permits.available_permits();
    let held = service
        .hash_permits
        .acquire_many(u32::try_from(slots).unwrap())
        .await
        .unwrap();
    let login = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.login(LOCAL, "ana", "old-password-1").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!login.is_finished());
    service
        .repo
        .set_password(user.id, &new_hash, None, clock.now_ms())
        .await
        .unwrap();
    drop(held);

    let answer = login.await.unwrap();
    assert!(
        matches!(answer, Err(IdentityError::InvalidCredentials)),
        "a login checked against the replaced password must issue nothing: {answer:?}"
    );
}
