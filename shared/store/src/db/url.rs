//! `SEATFLOW_DATABASE_URL`: the scheme picks the backend, so a mistyped or unreachable URL is
//! reported as what it is instead of diesel's generic multi-connection error.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://seatflow.db";

#[derive(Debug, thiserror::Error)]
#[error("SEATFLOW_DATABASE_URL must start with postgres:// or sqlite:// (got {0})")]
pub struct UnknownScheme(String);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, UnknownScheme> {
        let backend = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Backend::Postgres
        } else if raw.starts_with("sqlite://") {
            Backend::Sqlite
        } else {
            return Err(UnknownScheme(redact(raw)));
        };
        Ok(DatabaseUrl {
            raw: raw.to_owned(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The full URL, password included, for handing to a child process. Never log it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// What the driver is given: the libpq URL, or the SQLite file path.
    pub(crate) fn connect_target(&self) -> &str {
        match self.backend {
            Backend::Postgres => &self.raw,
            Backend::Sqlite => &self.raw["sqlite://".len()..],
        }
    }
}

/// Shown in logs and errors: the password, if any, is replaced by `***`.
/// So that command lines take it as it is (clap parses arguments with `FromStr`).
impl std::str::FromStr for DatabaseUrl {
    type Err = UnknownScheme;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(raw)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.raw))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

fn redact(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let authority_end = raw[scheme_end..]
        .find('/')
        .map_or(raw.len(), |i| scheme_end + i);
    let authority = &raw[scheme_end..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &raw[..scheme_end],
            &authority[..colon],
            &raw[scheme_end + at..]
        ),
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selects_backend() {
        let pg = DatabaseUrl::parse("postgres://u@h/db")
            .map(|u| u.backend())
            .ok();
        assert_eq!(pg, Some(Backend::Postgres));
        let lite = DatabaseUrl::parse("sqlite://x.db").map(|u| u.connect_target().to_owned());
        assert_eq!(lite.ok().as_deref(), Some("x.db"));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
    }

    #[test]
    fn password_is_hidden() {
        let url = DatabaseUrl::parse("postgres://seat:s3cr3t@db:5432/seatflow").ok();
        let shown = url.map(|u| u.to_string()).unwrap_or_default();
        assert_eq!(shown, "postgres://seat:***@db:5432/seatflow");
        assert!(!shown.contains("s3cr3t"));
        let no_password = DatabaseUrl::parse("postgres://seat@db/x").map(|u| u.to_string());
        assert_eq!(no_password.ok().as_deref(), Some("postgres://seat@db/x"));
        let err = DatabaseUrl::parse("mongodb://a:secret@h/x")
            .err()
            .map(|e| e.to_string());
        assert!(!err.unwrap_or_default().contains("secret"));
    }
}
