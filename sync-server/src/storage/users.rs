//! Office users (their password hashes) and their sessions (by the
//! SHA-256 of the token).

use super::{Statement, Storage, StorageError, args};

impl Storage {
    /// Adds a user; [`StorageError::Conflict`] if the name is taken.
    pub(crate) async fn add_user(
        &self,
        name: &str,
        salt: &[u8],
        hash: &[u8],
        iterations: u32,
        created_at: &str,
    ) -> Result<(), StorageError> {
        self.write(vec![
            Statement::claim(
                "INSERT INTO users (name, salt, hash, iterations, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                args![name, salt, hash, iterations, created_at],
            )
            .into(),
        ])
        .await
    }

    /// Removes a user and their sessions; [`StorageError::Conflict`] if
    /// there is no such user.
    pub(crate) async fn remove_user(&self, name: &str) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("DELETE FROM sessions WHERE \"user\" = ?1", args![name]).into(),
            Statement::claim("DELETE FROM users WHERE name = ?1", args![name]).into(),
        ])
        .await
    }

    /// User names, sorted.
    pub(crate) async fn user_names(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT name FROM users ORDER BY name", args![], |r| r.get(0)).await
    }

    /// Whether any user exists.
    pub(crate) async fn any_user(&self) -> Result<bool, StorageError> {
        let n: i64 = self.query_opt("SELECT COUNT(*) FROM users", args![], |r| r.get(0)).await?.unwrap_or(0);
        Ok(n > 0)
    }

    /// A user's password salt, hash and PBKDF2 rounds.
    pub(crate) async fn user_password(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, u32)>, StorageError> {
        self.query_opt("SELECT salt, hash, iterations FROM users WHERE name = ?1", args![name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .await
    }

    /// Makes a session for `user` and drops the sessions expired by `now`;
    /// [`StorageError::Conflict`] if the user was removed meanwhile.
    pub(crate) async fn add_session(
        &self,
        token_sha256: &str,
        user: &str,
        now: &str,
        expires_at: &str,
    ) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("DELETE FROM sessions WHERE expires_at < ?1", args![now]).into(),
            Statement::claim(
                "INSERT INTO sessions (token_sha256, \"user\", created_at, expires_at)
                 SELECT CAST(?1 AS TEXT), name, CAST(?3 AS TEXT), CAST(?4 AS TEXT) FROM users WHERE name = ?2",
                args![token_sha256, user, now, expires_at],
            )
            .into(),
        ])
        .await
    }

    /// The user a session token (by its SHA-256) belongs to, if the
    /// session is live at `now`.
    pub(crate) async fn session_user(
        &self,
        token_sha256: &str,
        now: &str,
    ) -> Result<Option<String>, StorageError> {
        self.query_opt(
            "SELECT \"user\" FROM sessions WHERE token_sha256 = ?1 AND expires_at > ?2",
            args![token_sha256, now],
            |r| r.get(0),
        )
        .await
    }

    /// Ends a session.
    pub(crate) async fn remove_session(&self, token_sha256: &str) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("DELETE FROM sessions WHERE token_sha256 = ?1", args![token_sha256]).into(),
        ])
        .await
    }
}
