//! The statuses of drafts and scheduled posts: typed in the code, a word in the vault's
//! columns (each column's `CHECK` lists the same words) and in JSON.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A status stored as one lower-case word: `as_str`, `Display`, SQL and serde agree.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let word = value.as_str()?;
                $name::parse(word).ok_or_else(|| {
                    FromSqlError::Other(
                        format!(concat!("not a ", stringify!($name), ": {:?}"), word).into(),
                    )
                })
            }
        }
    };
}

word_enum! {
    /// Where a draft stands.
    DraftStatus {
        /// Waiting for its approvals, or for `smv publish`.
        Pending => "pending",
        Published => "published",
        /// Closed by someone else than its author, with a reason.
        Rejected => "rejected",
        /// Withdrawn by its author, or closed because its account or author left.
        Cancelled => "cancelled",
    }
}

word_enum! {
    /// Where a scheduled post stands.
    QueueStatus {
        /// Waits for its time (or for the rate guard).
        Pending => "pending",
        /// Frozen when due, handed over, or its token revoked: waits for `smv queue release`.
        Held => "held",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
        /// Sent without a trustworthy answer: it may be live. It waits for `smv posts
        /// resolve`, and no run sends it again.
        Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words are the vault's: each one round-trips through SQL and JSON, and a word
    /// the code does not know is an error, not a default.
    #[test]
    fn statuses_are_the_vaults_words() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for s in QueueStatus::ALL {
            let back: QueueStatus = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, *s);
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        for s in DraftStatus::ALL {
            let back: DraftStatus = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, *s);
        }
        let bad: rusqlite::Result<QueueStatus> = conn.query_row("SELECT 'maybe'", [], |r| r.get(0));
        assert!(bad.is_err());
        assert_eq!(QueueStatus::parse("unknown"), Some(QueueStatus::Unknown));
        assert_eq!(DraftStatus::parse("held"), None);
    }
}
