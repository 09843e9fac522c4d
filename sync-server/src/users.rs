//! Office users and their sessions.
//!
//! A user has a name and a password. The server keeps a PBKDF2-HMAC-SHA256
//! hash of the password (random salt, [`ITERATIONS`] rounds, as OWASP
//! advises) and never the password itself. Signing in makes a session: a
//! 256-bit random token the browser holds in a cookie (or an API client
//! sends as a bearer token); the server stores only its SHA-256 and an
//! expiry, [`SESSION_HOURS`] after sign-in. Signing out deletes it, and so
//! does removing the user.

use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::identity::sha256_hex;

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
    /// The database failed.
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    /// Randomness was not available.
    #[error("no randomness available")]
    Random,
}

// By hand rather than `#[from]`: the message already holds the cause, so
// it is not reported again as the source (an error chain says it once).
impl From<rusqlite::Error> for UserError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

/// A session just made.
#[derive(Debug, Clone, Serialize)]
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

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok { Ok(()) } else { Err(UserError::BadName) }
}

/// Adds a user.
pub fn add(c: &Connection, name: &str, password: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    check_name(name)?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::WeakPassword);
    }
    let salt = random::<16>()?;
    let inserted = c.execute(
        "INSERT OR IGNORE INTO users (name, salt, hash, iterations, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, &salt[..], &hash(password, &salt, ITERATIONS)[..], ITERATIONS, now.to_rfc3339()],
    )?;
    if inserted == 0 {
        return Err(UserError::Exists(name.to_owned()));
    }
    Ok(())
}

/// Removes a user and ends their sessions.
pub fn remove(c: &Connection, name: &str) -> Result<(), UserError> {
    c.execute("DELETE FROM sessions WHERE user = ?1", [name])?;
    if c.execute("DELETE FROM users WHERE name = ?1", [name])? == 0 {
        return Err(UserError::Unknown(name.to_owned()));
    }
    Ok(())
}

/// User names, sorted.
pub fn list(c: &Connection) -> Result<Vec<String>, UserError> {
    let mut stmt = c.prepare("SELECT name FROM users ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(names)
}

/// Whether any user exists.
pub fn any(c: &Connection) -> Result<bool, UserError> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?)
}

/// Checks the password and makes a session.
pub fn sign_in(c: &Connection, name: &str, password: &str, now: DateTime<Utc>) -> Result<Session, UserError> {
    let stored: Option<(Vec<u8>, Vec<u8>, u32)> = c
        .query_row("SELECT salt, hash, iterations FROM users WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((salt, want, iterations)) = stored else {
        // Spend the same time as a real check, so timing does not tell
        // which names exist.
        let _ = hash(password, b"no such user....", ITERATIONS);
        return Err(UserError::WrongPassword);
    };
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::verify(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &want)
        .map_err(|_| UserError::WrongPassword)?;
    let token = waybill_shared::blob::BlobHash::of(&random::<32>()?).hex();
    let expires_at = now + Duration::hours(SESSION_HOURS);
    c.execute("DELETE FROM sessions WHERE expires_at < ?1", [now.to_rfc3339()])?;
    c.execute(
        "INSERT INTO sessions (token_sha256, user, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![sha256_hex(token.as_bytes()), name, now.to_rfc3339(), expires_at.to_rfc3339()],
    )?;
    Ok(Session { user: name.to_owned(), token, expires_at })
}

/// The user a session token belongs to, if it is live.
pub fn session_user(c: &Connection, token: &str, now: DateTime<Utc>) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT user FROM sessions WHERE token_sha256 = ?1 AND expires_at > ?2",
        params![sha256_hex(token.as_bytes()), now.to_rfc3339()],
        |r| r.get(0),
    )
    .optional()
}

/// Ends a session.
pub fn sign_out(c: &Connection, token: &str) -> Result<(), UserError> {
    c.execute("DELETE FROM sessions WHERE token_sha256 = ?1", [sha256_hex(token.as_bytes())])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::storage::prepare(&dir.path().join("w.db")).unwrap();
        (dir, c)
    }

    #[test]
    fn a_user_signs_in_with_the_right_password_only_and_sessions_expire() {
        let (_dir, c) = db();
        let now = Utc::now();
        add(&c, "ana", "correct horse", now).unwrap();
        assert!(matches!(add(&c, "ana", "another one", now), Err(UserError::Exists(_))));
        assert!(matches!(add(&c, "bo b", "long enough", now), Err(UserError::BadName)));
        assert!(matches!(add(&c, "bob", "short", now), Err(UserError::WeakPassword)));
        assert!(matches!(sign_in(&c, "ana", "wrong horse", now), Err(UserError::WrongPassword)));
        assert!(matches!(sign_in(&c, "nobody", "correct horse", now), Err(UserError::WrongPassword)));
        let s = sign_in(&c, "ana", "correct horse", now).unwrap();
        assert_eq!(session_user(&c, &s.token, now).unwrap().as_deref(), Some("ana"));
        assert_eq!(session_user(&c, "not a token", now).unwrap(), None);
        let later = now + Duration::hours(SESSION_HOURS) + Duration::seconds(1);
        assert_eq!(session_user(&c, &s.token, later).unwrap(), None);
        // The password is not stored.
        let stored: Vec<u8> = c.query_row("SELECT hash FROM users", [], |r| r.get(0)).unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("correct horse"));
    }

    #[test]
    fn signing_out_or_removing_the_user_ends_the_session() {
        let (_dir, c) = db();
        let now = Utc::now();
        add(&c, "ana", "correct horse", now).unwrap();
        let a = sign_in(&c, "ana", "correct horse", now).unwrap();
        let b = sign_in(&c, "ana", "correct horse", now).unwrap();
        sign_out(&c, &a.token).unwrap();
        assert_eq!(session_user(&c, &a.token, now).unwrap(), None);
        assert!(session_user(&c, &b.token, now).unwrap().is_some());
        remove(&c, "ana").unwrap();
        assert_eq!(session_user(&c, &b.token, now).unwrap(), None);
        assert!(matches!(remove(&c, "ana"), Err(UserError::Unknown(_))));
    }
}
