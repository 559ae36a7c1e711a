//! Who may do what: roles, grant levels and the decisions over them.
//!
//! Everything here is a pure function of its inputs (the actor, their grant on the account
//! concerned, the action), so that the rules can be tested exhaustively without a vault, and
//! so that the operations layer asks exactly one question per action. Deny by default: an
//! action is allowed only by a rule below that names it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// What an account's policy and state say about publishing to it right now. Gathered by the
/// operations layer (freezes and policy from the vault, the rate from the audit log) so that
/// the decision itself stays a pure function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// Set while the account is frozen: who froze it, when and why, for the refusal.
    pub frozen: Option<String>,
    /// Approvals by a second person a post needs (0: direct posting allowed).
    pub approvals_required: u32,
    /// The rate guard, when the account has one.
    pub rate: Option<Rate>,
}

/// A rate guard's state: `used` posts in the window, `max` allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub max: u32,
    pub used: u32,
    /// The window as the policy wrote it (e.g. "1h"), for the refusal.
    pub per: String,
}

impl Guard {
    /// The refusal the account's state alone imposes on any publication, if any.
    fn blocks(&self) -> Option<String> {
        if let Some(f) = &self.frozen {
            return Some(format!("the account is frozen ({f})"));
        }
        if let Some(r) = &self.rate
            && r.used >= r.max
        {
            return Some(format!(
                "the rate guard allows {} posts per {} and {} were sent in that time",
                r.max, r.per, r.used
            ));
        }
        None
    }
}

/// One question to the rules. Account-scoped actions carry the actor's grant on that account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    AddAccount,
    RemoveAccount,
    /// Add, change or remove members and custodians.
    ManageMembers,
    /// Make a backup copy of the vault the vault again (`smv restore`).
    RestoreVault,
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
    /// Publish to an account directly.
    Post {
        grant: Option<Level>,
        guard: Guard,
    },
    /// Replace an account's secret (`smv rotate`): admins, and `manage` holders of it.
    RotateSecret {
        grant: Option<Level>,
    },
    /// Mint an API token acting on an account at `level`: for oneself within one's own
    /// grant, or (admins) for anyone.
    MintToken {
        grant: Option<Level>,
        level: Level,
        for_other: bool,
    },
    /// Revoke someone else's token (one's own is always allowed).
    RevokeToken,
    /// Prove an account's credential works (read-only call to the network).
    Check {
        grant: Option<Level>,
    },
    /// Write a draft for an account.
    Draft {
        grant: Option<Level>,
    },
    /// Change a draft's text (which clears its approvals).
    EditDraft {
        grant: Option<Level>,
        author: bool,
    },
    /// Approve a draft for an account: the two-person rule.
    Approve {
        grant: Option<Level>,
        author: bool,
    },
    /// Reject a draft (approvers), or withdraw it (its author).
    Reject {
        grant: Option<Level>,
        author: bool,
    },
    /// Publish an approved draft to an account. `approvals` counts the valid approvals for
    /// that account: by other members holding `approve` on it, of the draft's current text.
    Publish {
        grant: Option<Level>,
        author: bool,
        approvals: u32,
        guard: Guard,
    },
    /// Set the account's policy (approvals, rate guard).
    SetPolicy {
        grant: Option<Level>,
    },
    /// Freeze one account.
    Freeze {
        grant: Option<Level>,
    },
    /// Freeze every account at once.
    FreezeAll,
    /// Lift a freeze.
    Unfreeze,
    /// Cancel or release a scheduled post (`author`: the member who scheduled it).
    ManageQueued {
        grant: Option<Level>,
        author: bool,
    },
    /// Send the scheduled posts that are due (each is still authorized as its author).
    RunQueue,
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

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn decide(actor: &Actor, action: Action) -> Decision {
    if !actor.active {
        return deny("the member is disabled");
    }
    let admin = actor.role == Role::Admin;
    match action {
        Action::AddAccount
        | Action::RemoveAccount
        | Action::ManageMembers
        | Action::RestoreVault => {
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
        Action::Post { grant, guard } => {
            match grant {
                Some(level) if level >= Level::Post => {}
                Some(_) => {
                    return deny(
                        "it needs the `post` grant on the account (`draft` is not enough)",
                    );
                }
                None => return deny("the member has no grant on the account"),
            }
            if guard.approvals_required > 0 && grant < Some(Level::Approve) {
                return deny(format!(
                    "the account's policy needs {} approval{} by a second person: draft the post instead",
                    guard.approvals_required,
                    plural(guard.approvals_required)
                ));
            }
            guard.blocks().map_or(Decision::Allow, deny)
        }
        Action::Check { grant } => match grant {
            Some(level) if level >= Level::Post => Decision::Allow,
            Some(_) => deny("it needs the `post` grant on the account (`draft` is not enough)"),
            None => deny("the member has no grant on the account"),
        },
        Action::Draft { grant } => match grant {
            Some(_) => Decision::Allow,
            None => deny("the member has no grant on the account"),
        },
        Action::EditDraft { grant, author } => {
            if !author {
                deny("only the draft's author may edit it")
            } else if grant.is_none() {
                deny("the member has no grant on the account")
            } else {
                Decision::Allow
            }
        }
        Action::Approve { grant, author } => {
            if author {
                deny("authors never approve their own drafts (two-person rule)")
            } else if grant >= Some(Level::Approve) {
                Decision::Allow
            } else {
                deny("it needs the `approve` grant on the account")
            }
        }
        Action::Reject { grant, author } => {
            if grant >= Some(Level::Approve) || (author && grant.is_some()) {
                Decision::Allow
            } else {
                deny("it needs the `approve` grant on the account, or to be the draft's author")
            }
        }
        Action::Publish {
            grant,
            author,
            approvals,
            guard,
        } => {
            if !(grant >= Some(Level::Post) || (author && grant.is_some())) {
                return deny(
                    "it needs the `post` grant on the account, or to be the draft's author",
                );
            }
            if approvals < guard.approvals_required {
                return deny(format!(
                    "the draft has {approvals} of the {} approval{} the account's policy needs",
                    guard.approvals_required,
                    plural(guard.approvals_required)
                ));
            }
            guard.blocks().map_or(Decision::Allow, deny)
        }
        Action::SetPolicy { grant } => {
            if admin || grant == Some(Level::Manage) {
                Decision::Allow
            } else {
                deny("it needs the admin role or the `manage` grant on the account")
            }
        }
        Action::Freeze { grant } => {
            if admin || grant >= Some(Level::Approve) {
                Decision::Allow
            } else {
                deny("it needs the admin role or the `approve` grant on the account")
            }
        }
        Action::FreezeAll => {
            if admin {
                Decision::Allow
            } else {
                deny("only an admin may freeze every account at once; freeze one account by name")
            }
        }
        Action::Unfreeze => {
            if admin {
                Decision::Allow
            } else {
                deny("only an admin may lift a freeze")
            }
        }
        Action::ManageQueued { grant, author } => {
            if admin || grant >= Some(Level::Approve) || author {
                Decision::Allow
            } else {
                deny(
                    "only its author, an approver of the account or an admin may change a scheduled post",
                )
            }
        }
        Action::RunQueue => Decision::Allow,
        Action::MintToken {
            grant,
            level,
            for_other,
        } => {
            if admin {
                Decision::Allow
            } else if for_other {
                deny("only an admin may create a token for another member")
            } else if actor.role == Role::Auditor {
                deny("auditors hold no grants, so no token can act for them")
            } else if grant >= Some(level) {
                Decision::Allow
            } else {
                deny(
                    "a token can do no more than its owner: it needs a grant at least at the token's level on the account",
                )
            }
        }
        Action::RevokeToken => {
            if admin {
                Decision::Allow
            } else {
                deny("only its owner or an admin may revoke a token")
            }
        }
        Action::RotateSecret { grant } => {
            if admin || grant == Some(Level::Manage) {
                Decision::Allow
            } else {
                deny("it needs the admin role or the `manage` grant on the account")
            }
        }
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
