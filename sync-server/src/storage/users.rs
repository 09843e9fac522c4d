//! Office users (their password hashes) and their sessions (by the
//! SHA-256 of the token).

use super::{Statement, Storage, StorageError, WriteOp, args};

impl Storage {
    /// Adds a user with a role and (for a warehouse lead) locations;
    /// [`StorageError::Conflict`] if the name is taken.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn add_user(
        &self,
        name: &str,
        salt: &[u8],
        hash: &[u8],
        iterations: u32,
        created_at: &str,
        role: &str,
        locations: &[String],
    ) -> Result<(), StorageError> {
        let mut ops = vec![
            Statement::claim(
                "INSERT INTO users (name, salt, hash, iterations, created_at, role) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING",
                args![name, salt, hash, iterations, created_at, role],
            )
            .into(),
        ];
        ops.extend(locations.iter().map(|l| {
            Statement::new("INSERT INTO user_locations (name, location) VALUES (?1, ?2)", args![name, l])
                .into()
        }));
        self.write(ops).await
    }

    /// Gives a user another role and locations (their sessions carry on
    /// under it); [`StorageError::Conflict`] if there is no such user.
    pub(crate) async fn set_user_role(
        &self,
        name: &str,
        role: &str,
        locations: &[String],
    ) -> Result<(), StorageError> {
        let mut ops: Vec<WriteOp> = vec![
            Statement::claim("UPDATE users SET role = ?2 WHERE name = ?1", args![name, role]).into(),
            Statement::new("DELETE FROM user_locations WHERE name = ?1", args![name]).into(),
        ];
        ops.extend(locations.iter().map(|l| {
            Statement::new("INSERT INTO user_locations (name, location) VALUES (?1, ?2)", args![name, l])
                .into()
        }));
        self.write(ops).await
    }

    /// Removes a user, their locations and their sessions;
    /// [`StorageError::Conflict`] if there is no such user.
    pub(crate) async fn remove_user(&self, name: &str) -> Result<(), StorageError> {
        self.write(vec![
            Statement::new("DELETE FROM sessions WHERE \"user\" = ?1", args![name]).into(),
            Statement::new("DELETE FROM user_locations WHERE name = ?1", args![name]).into(),
            Statement::claim("DELETE FROM users WHERE name = ?1", args![name]).into(),
        ])
        .await
    }

    /// Each user's name, role and locations (one row per location, a
    /// `NULL` location for a user with none), sorted by name and location;
    /// only `name` if given.
    pub(crate) async fn user_roles(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<(String, String, Option<String>)>, StorageError> {
        self.query(
            "SELECT u.name, u.role, l.location FROM users u LEFT JOIN user_locations l ON l.name = u.name
             WHERE CAST(?1 AS TEXT) IS NULL OR u.name = ?1 ORDER BY u.name, l.location",
            args![name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .await
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

    /// The user a session token (by its SHA-256) belongs to, with their
    /// role and locations (a row per location, as [`Self::user_roles`]),
    /// if the session is live at `now`.
    pub(crate) async fn session_access(
        &self,
        token_sha256: &str,
        now: &str,
    ) -> Result<Vec<(String, String, Option<String>)>, StorageError> {
        self.query(
            "SELECT u.name, u.role, l.location FROM sessions s JOIN users u ON u.name = s.\"user\"
             LEFT JOIN user_locations l ON l.name = u.name
             WHERE s.token_sha256 = ?1 AND s.expires_at > ?2 ORDER BY l.location",
            args![token_sha256, now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
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
