//! Who may do what: roles, grant levels and the decisions over them.
//!
//! Everything here is a pure function of its inputs (the actor, their grant on the account
//! concerned, the action), so that the rules can be tested exhaustively without a vault, and
//! so that the operations layer asks exactly one question per action. Deny by default: an
//! action is allowed only by a rule below that names it.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Members, custodians, accounts and offboarding.
    Admin,
    /// Reads and verifies the audit log; cannot post.
    Auditor,
    /// Acts on accounts through grants only.
    Member,
}

/// Per-account grant levels; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Draft = 1,
    Post = 2,
    Approve = 3,
    /// Rotate the secret, set policy, grant on that account.
    Manage = 4,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Auditor, Role::Member];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Member => "member",
        }
    }
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Draft, Level::Post, Level::Approve, Level::Manage];
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Draft => "draft",
            Level::Post => "post",
            Level::Approve => "approve",
            Level::Manage => "manage",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_one_of<T: Copy>(
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &'static str,
) -> crate::Result<T> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|v| name(*v)).collect();
        crate::Error::invalid(what, format!("`{s}` is not one of {}", names.join(", ")))
    })
}

impl FromStr for Role {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Role> {
        parse_one_of(s, &Role::ALL, Role::as_str, "role")
    }
}

impl FromStr for Level {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Level> {
        parse_one_of(s, &Level::ALL, Level::as_str, "grant level")
    }
}

/// The acting member as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// One question to the rules. Account-scoped actions carry the actor's grant on that account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddAccount,
    RemoveAccount,
    /// Add, change or remove members and custodians.
    ManageMembers,
    /// Give or take a grant on an account; `level` is the level being given (or taken).
    Grant {
        grant: Option<Level>,
        level: Level,
    },
    /// See an account's record (never its secret).
    ViewAccount {
        grant: Option<Level>,
    },
    /// See everyone's grants (the whole access matrix).
    ViewAllAccess,
    /// Read the audit log.
    ReadAudit,
    /// Publish to an account directly (and check its credential).
    Post {
        grant: Option<Level>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

fn deny(why: impl Into<String>) -> Decision {
    Decision::Deny(why.into())
}

pub fn decide(actor: &Actor, action: Action) -> Decision {
    if !actor.active {
        return deny("the member is disabled");
    }
    let admin = actor.role == Role::Admin;
    match action {
        Action::AddAccount | Action::RemoveAccount | Action::ManageMembers => {
            if admin {
                Decision::Allow
            } else {
                deny("only an admin may do this")
            }
        }
        Action::Grant { grant, level } => {
            if admin {
                return Decision::Allow;
            }
            match grant {
                Some(Level::Manage) if level <= Level::Manage => Decision::Allow,
                _ => deny("it needs the admin role or the `manage` grant on the account"),
            }
        }
        Action::ViewAccount { grant } => {
            if admin || actor.role == Role::Auditor || grant.is_some() {
                Decision::Allow
            } else {
                deny("the member has no grant on the account")
            }
        }
        Action::Post { grant } => match grant {
            Some(level) if level >= Level::Post => Decision::Allow,
            Some(_) => deny("it needs the `post` grant on the account (`draft` is not enough)"),
            None => deny("the member has no grant on the account"),
        },
        Action::ViewAllAccess => {
            if admin || actor.role == Role::Auditor {
                Decision::Allow
            } else {
                deny("only admins and auditors see everyone's access")
            }
        }
        Action::ReadAudit => {
            if admin || actor.role == Role::Auditor {
                Decision::Allow
            } else {
                deny("only admins and auditors read the audit log")
            }
        }
    }
}

#[cfg(test)]
mod tests;
