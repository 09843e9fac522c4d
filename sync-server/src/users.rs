//! Office users and their sessions.
//!
//! A user has a name and a password. The server keeps a PBKDF2-HMAC-SHA256
//! hash of the password (random salt, [`ITERATIONS`] rounds, as OWASP
//! advises) and never the password itself. Signing in makes a session: a
//! 256-bit random token the browser holds in a cookie (or an API client
//! sends as a bearer token); the server stores only its SHA-256 and an
//! expiry, [`SESSION_HOURS`] after sign-in. Signing out deletes it, and so
//! does removing the user.
//!
//! Each user has a role ([`UserRole`]): admin, dispatcher, warehouse lead
//! (at one or more locations) or viewer. Users from before roles existed
//! are admins (the migration's default), so an upgrade locks nobody out.

mod access;

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::identity::sha256_hex;
use crate::storage::{Storage, StorageError};

pub use access::{Access, UserRole};

/// PBKDF2 rounds for new passwords.
pub const ITERATIONS: u32 = 600_000;

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// What can go wrong with users.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is empty, too long, or not `[A-Za-z0-9._@-]`.
    #[error("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName,
    /// The name stands for someone else in events and the audit log.
    #[error(
        "{0:?} is reserved (it names the service token, the command line or customers in the audit log): choose another name"
    )]
    Reserved(String),
    /// The password is too short.
    #[error("a password has at least {MIN_PASSWORD} characters")]
    WeakPassword,
    /// A user with this name exists.
    #[error("user {0} exists already: choose another name, or remove them first")]
    Exists(String),
    /// No such user.
    #[error("no user {0}")]
    Unknown(String),
    /// Wrong name or password (which one is not said).
    #[error("wrong user name or password")]
    WrongPassword,
    /// Storage failed.
    #[error("{0}")]
    Storage(StorageError),
    /// Randomness was not available.
    #[error("no randomness available")]
    Random,
    /// A warehouse lead was given no location.
    #[error("a warehouse_lead works at one or more locations: name them with --location")]
    NeedsLocation,
    /// A role other than warehouse lead was given locations.
    #[error("a {0} works at every location: --location is only for a warehouse_lead")]
    NotScoped(UserRole),
    /// A location the server does not hold.
    #[error("there is no location {0}: import it first, or name one the server holds ({1})")]
    UnknownLocation(String, String),
}

// By hand rather than `#[from]`: the message already holds the cause, so
// it is not reported again as the source (an error chain says it once).
impl From<StorageError> for UserError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// A session just made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// The user.
    pub user: String,
    /// The token: shown once, stored only hashed.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

fn random<const N: usize>() -> Result<[u8; N], UserError> {
    let mut raw = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| UserError::Random)?;
    Ok(raw)
}

fn hash(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, password.as_bytes(), &mut out);
    out
}

/// Names that stand for someone other than a user in events and the
/// audit log: the service token, the command line, a customer.
pub const RESERVED: &[&str] = &["api", "cli", crate::tracking::CUSTOMER];

fn check_name(name: &str) -> Result<(), UserError> {
    if RESERVED.contains(&name) {
        return Err(UserError::Reserved(name.to_owned()));
    }
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok { Ok(()) } else { Err(UserError::BadName) }
}

/// Adds a user as an admin (as `waybill-server user add NAME` without
/// `--role` does).
pub async fn add(storage: &Storage, name: &str, password: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    add_as(storage, name, password, UserRole::Admin, &[], now).await
}

/// Adds a user with a role; a warehouse lead needs `locations` (the
/// server must hold each), the others take none.
pub async fn add_as(
    storage: &Storage,
    name: &str,
    password: &str,
    role: UserRole,
    locations: &[String],
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    check_name(name)?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::WeakPassword);
    }
    let locations = check_role(storage, role, locations).await?;
    let salt = random::<16>()?;
    let hashed = hash(password, &salt, ITERATIONS);
    let added = storage
        .add_user(name, &salt, &hashed, ITERATIONS, &now.to_rfc3339(), role.as_str(), &locations)
        .await;
    match added {
        Ok(()) => Ok(()),
        Err(StorageError::Conflict) => Err(UserError::Exists(name.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Gives a user another role (and locations, for a warehouse lead). Their
/// live sessions carry on under the new role from their next request.
pub async fn set_role(
    storage: &Storage,
    name: &str,
    role: UserRole,
    locations: &[String],
) -> Result<Access, UserError> {
    let locations = check_role(storage, role, locations).await?;
    match storage.set_user_role(name, role.as_str(), &locations).await {
        Ok(()) => Ok(Access { user: name.to_owned(), role, locations }),
        Err(StorageError::Conflict) => Err(UserError::Unknown(name.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// The locations of a user with `role`, sorted and without repeats: some
/// for a warehouse lead, none for the others, each one the server holds.
pub async fn check_role(
    storage: &Storage,
    role: UserRole,
    locations: &[String],
) -> Result<Vec<String>, UserError> {
    let mut out: Vec<String> = locations.iter().map(|l| l.trim().to_owned()).collect();
    out.sort();
    out.dedup();
    match (role.is_scoped(), out.is_empty()) {
        (true, true) => return Err(UserError::NeedsLocation),
        (false, false) => return Err(UserError::NotScoped(role)),
        _ => {}
    }
    for l in &out {
        if crate::scope::latest_location(storage, l).await?.is_none() {
            return Err(UserError::UnknownLocation(
                l.clone(),
                crate::devices::known_locations(storage).await?,
            ));
        }
    }
    Ok(out)
}

/// Removes a user and ends their sessions.
pub async fn remove(storage: &Storage, name: &str) -> Result<(), UserError> {
    match storage.remove_user(name).await {
        Ok(()) => Ok(()),
        Err(StorageError::Conflict) => Err(UserError::Unknown(name.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Each user, with role and locations, sorted by name.
pub async fn list(storage: &Storage) -> Result<Vec<Access>, UserError> {
    Ok(fold_access(storage.user_roles(None).await?)?)
}

/// One user's role and locations.
pub async fn access_of(storage: &Storage, name: &str) -> Result<Option<Access>, UserError> {
    Ok(fold_access(storage.user_roles(Some(name)).await?)?.pop())
}

/// Rows of (name, role, location), sorted by name, as one [`Access`] per
/// user.
fn fold_access(rows: Vec<(String, String, Option<String>)>) -> Result<Vec<Access>, StorageError> {
    let mut out: Vec<Access> = Vec::new();
    for (name, role, location) in rows {
        if out.last().is_none_or(|a| a.user != name) {
            let role = role.parse().map_err(|e| StorageError::Corrupt(format!("user {name}: {e}")))?;
            out.push(Access { user: name, role, locations: Vec::new() });
        }
        if let (Some(a), Some(l)) = (out.last_mut(), location) {
            a.locations.push(l);
        }
    }
    Ok(out)
}

/// Whether any user exists.
pub async fn any(storage: &Storage) -> Result<bool, UserError> {
    Ok(storage.any_user().await?)
}

/// Checks the password and makes a session.
pub async fn sign_in(
    storage: &Storage,
    name: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Session, UserError> {
    let stored = storage.user_password(name).await?;
    let password = password.to_owned();
    // PBKDF2 is slow on purpose: off the async workers.
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some((salt, want, iterations)) => {
            let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
            ring::pbkdf2::verify(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &want)
                .is_ok()
        }
        None => {
            // Spend the same time as a real check, so timing does not tell
            // which names exist.
            let _ = hash(&password, b"no such user....", ITERATIONS);
            false
        }
    })
    .await
    .unwrap_or(false);
    if !matches {
        return Err(UserError::WrongPassword);
    }
    let token = waybill_shared::blob::BlobHash::of(&random::<32>()?).hex();
    let expires_at = now + Duration::hours(SESSION_HOURS);
    let made = storage
        .add_session(&sha256_hex(token.as_bytes()), name, &now.to_rfc3339(), &expires_at.to_rfc3339())
        .await;
    match made {
        Ok(()) => Ok(Session { user: name.to_owned(), token, expires_at }),
        // Removed since the password was checked.
        Err(StorageError::Conflict) => Err(UserError::WrongPassword),
        Err(e) => Err(e.into()),
    }
}

/// The user a session token belongs to, if it is live.
pub async fn session_user(
    storage: &Storage,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StorageError> {
    Ok(session_access(storage, token, now).await?.map(|a| a.user))
}

/// The user a session token belongs to, with their role and locations as
/// they are now, if the session is live.
pub async fn session_access(
    storage: &Storage,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Access>, StorageError> {
    let rows = storage.session_access(&sha256_hex(token.as_bytes()), &now.to_rfc3339()).await?;
    Ok(fold_access(rows)?.pop())
}

/// Ends a session.
pub async fn sign_out(storage: &Storage, token: &str) -> Result<(), UserError> {
    Ok(storage.remove_session(&sha256_hex(token.as_bytes())).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_user_signs_in_with_the_right_password_only_and_sessions_expire() {
        let (_dir, c) = crate::storage::scratch().await;
        let now = Utc::now();
        add(&c, "ana", "correct horse", now).await.unwrap();
        assert!(matches!(add(&c, "ana", "another one", now).await, Err(UserError::Exists(_))));
        assert!(matches!(add(&c, "bo b", "long enough", now).await, Err(UserError::BadName)));
        assert!(matches!(add(&c, "bob", "short", now).await, Err(UserError::WeakPassword)));
        assert!(matches!(sign_in(&c, "ana", "wrong horse", now).await, Err(UserError::WrongPassword)));
        assert!(matches!(sign_in(&c, "nobody", "correct horse", now).await, Err(UserError::WrongPassword)));
        let s = sign_in(&c, "ana", "correct horse", now).await.unwrap();
        assert_eq!(session_user(&c, &s.token, now).await.unwrap().as_deref(), Some("ana"));
        assert_eq!(session_user(&c, "not a token", now).await.unwrap(), None);
        let later = now + Duration::hours(SESSION_HOURS) + Duration::seconds(1);
        assert_eq!(session_user(&c, &s.token, later).await.unwrap(), None);
        // The password is not stored.
        let (_, stored, _) = c.user_password("ana").await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("correct horse"));
    }

    #[tokio::test]
    async fn signing_out_or_removing_the_user_ends_the_session() {
        let (_dir, c) = crate::storage::scratch().await;
        let now = Utc::now();
        add(&c, "ana", "correct horse", now).await.unwrap();
        let a = sign_in(&c, "ana", "correct horse", now).await.unwrap();
        let b = sign_in(&c, "ana", "correct horse", now).await.unwrap();
        sign_out(&c, &a.token).await.unwrap();
        assert_eq!(session_user(&c, &a.token, now).await.unwrap(), None);
        assert!(session_user(&c, &b.token, now).await.unwrap().is_some());
        remove(&c, "ana").await.unwrap();
        assert_eq!(session_user(&c, &b.token, now).await.unwrap(), None);
        assert!(matches!(remove(&c, "ana").await, Err(UserError::Unknown(_))));
    }
}
