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

/// A freeze as the rules see it: whether it covers every account (an admin lifts it with
/// `smv unfreeze --all`, not by naming the account), and who froze it, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pub all: bool,
    pub description: String,
}

/// What an account's policy and state say about publishing to it right now. Gathered by the
/// operations layer (freezes and policy from the vault, the rate from the audit log) so that
/// the decision itself stays a pure function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    /// Set while the account is frozen.
    pub frozen: Option<Frozen>,
    /// Approvals by a second person a post needs (0: direct posting allowed).
    pub approvals_required: u32,
    /// The two-person rule for everyone: holders of `approve` (admins included) may not
    /// post directly either (`smv policy set ACCOUNT --strict`).
    pub strict: bool,
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
    fn blocks(&self) -> Option<Deny> {
        if let Some(f) = &self.frozen {
            return Some(Deny::Frozen(f.clone()));
        }
        if let Some(r) = &self.rate
            && r.used >= r.max
        {
            return Some(Deny::RateGuard(r.clone()));
        }
        None
    }
}

/// Why the rules refused: the rule itself, typed, so that what a person is told to do
/// follows the rule and never the wording of its message (`Display` is the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deny {
    /// The member is disabled.
    Disabled,
    /// Only an admin may do this.
    AdminOnly,
    /// The member holds no grant on the account.
    NoGrant,
    /// `draft` is not enough: it needs `post`.
    DraftOnly,
    /// It needs this grant on the account.
    NeedsLevel(Level),
    /// It needs the admin role or this grant on the account.
    AdminOrLevel(Level),
    /// A direct post to an account whose policy needs approvals (`strict`: for everyone).
    NeedsApprovals {
        required: u32,
        strict: bool,
    },
    /// Publishing a draft that lacks approvals.
    MissingApprovals {
        have: u32,
        need: u32,
    },
    Frozen(Frozen),
    RateGuard(Rate),
    /// Only the draft's author may edit it.
    NotAuthor,
    /// The two-person rule: never one's own draft.
    OwnDraft,
    /// It needs `approve`, or to be the draft's author.
    ApproveOrAuthor,
    /// It needs `post`, or to be the draft's author.
    PostOrAuthor,
    /// Only admins freeze every account at once.
    FreezeAll,
    /// Only admins lift a freeze.
    Unfreeze,
    /// Only its author, an approver or an admin changes a scheduled post.
    NotQueueAuthor,
    /// Only admins mint a token for someone else.
    MintForOther,
    /// Auditors hold no grants, so no token can act for them.
    AuditorToken,
    /// A token above the minter's own grant.
    TokenAboveGrant,
    /// Tokens never mint tokens: minting needs a custodian's key (not a token, not a Unix
    /// peer the proxy maps to a member: `through_token` covers both).
    TokenMints,
    /// Only its owner or an admin revokes a token.
    RevokeToken,
    /// Only admins and auditors see everyone's access.
    ViewAllAccess,
    /// Only admins and auditors read the audit log.
    ReadAudit,
    /// The member may not see a draft: no grant on its accounts.
    DraftHidden,
    /// A new URL for an account would send its secret to another host: only a custodian
    /// (who can read the secret anyway) may.
    RedirectSecret,
    /// The authority a scheduled post was made under has lapsed (the token that scheduled it
    /// was revoked or expired, or its owner was removed): the post is held, not sent.
    AuthorityLapsed(String),
}

impl fmt::Display for Deny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deny::Disabled => f.write_str("the member is disabled"),
            Deny::AdminOnly => f.write_str("only an admin may do this"),
            Deny::NoGrant => f.write_str("the member has no grant on the account"),
            Deny::DraftOnly => {
                f.write_str("it needs the `post` grant on the account (`draft` is not enough)")
            }
            Deny::NeedsLevel(l) => write!(f, "it needs the `{l}` grant on the account"),
            Deny::AdminOrLevel(l) => {
                write!(f, "it needs the admin role or the `{l}` grant on the account")
            }
            Deny::NeedsApprovals {
                required,
                strict: false,
            } => write!(
                f,
                "the account's policy needs {required} approval{} by a second person: draft the post instead",
                plural(*required)
            ),
            Deny::NeedsApprovals {
                required,
                strict: true,
            } => write!(
                f,
                "the account's policy is strict: every post needs {required} approval{} by a second person, approvers and admins included: draft the post instead",
                plural(*required)
            ),
            Deny::MissingApprovals { have, need } => write!(
                f,
                "the draft has {have} of the {need} approval{} the account's policy needs",
                plural(*need)
            ),
            Deny::Frozen(fr) => write!(f, "the account is frozen ({})", fr.description),
            Deny::RateGuard(r) => write!(
                f,
                "the rate guard allows {} posts per {} and {} were sent in that time",
                r.max, r.per, r.used
            ),
            Deny::NotAuthor => f.write_str("only the draft's author may edit it"),
            Deny::OwnDraft => {
                f.write_str("authors never approve their own drafts (two-person rule)")
            }
            Deny::ApproveOrAuthor => f.write_str(
                "it needs the `approve` grant on the account, or to be the draft's author",
            ),
            Deny::PostOrAuthor => {
                f.write_str("it needs the `post` grant on the account, or to be the draft's author")
            }
            Deny::FreezeAll => f.write_str(
                "only an admin may freeze every account at once; freeze one account by name",
            ),
            Deny::Unfreeze => f.write_str("only an admin may lift a freeze"),
            Deny::NotQueueAuthor => f.write_str(
                "only its author, an approver of the account or an admin may change a scheduled post",
            ),
            Deny::MintForOther => {
                f.write_str("only an admin may create a token for another member")
            }
            Deny::AuditorToken => {
                f.write_str("auditors hold no grants, so no token can act for them")
            }
            Deny::TokenAboveGrant => f.write_str(
                "a token can do no more than its owner: it needs a grant at least at the token's level on the account",
            ),
            Deny::TokenMints => f.write_str(
                "tokens never mint tokens: a token is created with a custodian's key, not through another token nor as a Unix user the proxy maps to a member",
            ),
            Deny::RevokeToken => f.write_str("only its owner or an admin may revoke a token"),
            Deny::ViewAllAccess => f.write_str("only admins and auditors see everyone's access"),
            Deny::ReadAudit => f.write_str("only admins and auditors read the audit log"),
            Deny::DraftHidden => f.write_str("the member has no grant on its accounts"),
            Deny::RedirectSecret => f.write_str(
                "a new URL sends the account's secret to that host, and only a custodian (who can read the secret anyway) may do that",
            ),
            Deny::AuthorityLapsed(why) => write!(f, "the authority it was scheduled under lapsed: {why}"),
        }
    }
}

impl Deny {
    /// What a person can do about it, where that needs no more than the rule (the
    /// operations add hints that name the account, draft or member).
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Deny::Disabled => "a removed member acts no more; ask an admin".into(),
            Deny::RedirectSecret => {
                "ask an admin who is a custodian, or remove the account and add it again with its new URL and secret".into()
            }
            Deny::AdminOnly
            | Deny::Unfreeze
            | Deny::MintForOther
            | Deny::ViewAllAccess
            | Deny::ReadAudit => "ask an admin".into(),
            Deny::NoGrant | Deny::DraftOnly | Deny::NeedsLevel(_) | Deny::AdminOrLevel(_) => {
                "ask an admin or the account's manager for the grant it needs (`smv access` shows who holds what)".into()
            }
            Deny::NeedsApprovals { .. } => {
                "draft it (`smv draft ACCOUNT \"…\"`), then ask someone with `approve` on the account".into()
            }
            Deny::MissingApprovals { .. } => {
                "ask a member with `approve` on the account to `smv approve` the draft; `smv draft show ID` shows its approvals".into()
            }
            Deny::Frozen(f) if f.all => {
                "an admin lifts the freeze on every account with `smv unfreeze --all`; `smv status` shows every freeze".into()
            }
            Deny::Frozen(_) => {
                "an admin lifts it with `smv unfreeze ACCOUNT`; `smv status` shows every freeze".into()
            }
            Deny::RateGuard(_) => {
                "the rate guard lets posts through again as earlier ones leave its window; `smv policy list` shows it".into()
            }
            Deny::NotAuthor => "ask the draft's author to edit it, or write a draft of your own".into(),
            Deny::OwnDraft => "ask another member with `approve` on the account".into(),
            Deny::ApproveOrAuthor | Deny::PostOrAuthor | Deny::NotQueueAuthor => {
                "ask the author, an approver of the account or an admin".into()
            }
            Deny::FreezeAll => "freeze one account: `smv freeze ACCOUNT --reason \"…\"`".into(),
            Deny::AuditorToken => return None,
            Deny::TokenAboveGrant => {
                "choose a level no higher than your grant (`smv account list` shows it), or ask an admin".into()
            }
            Deny::TokenMints => {
                "run `smv token create` where a custodian's key opens the vault (SMV_SERVER unset), or ask an admin".into()
            }
            Deny::RevokeToken => "ask the token's owner or an admin".into(),
            Deny::DraftHidden => "ask for a grant on one of the draft's accounts".into(),
            Deny::AuthorityLapsed(_) => {
                "schedule it again with a valid credential, or `smv queue cancel ID`".into()
            }
        })
    }
}

/// One question to the rules. Account-scoped actions carry the actor's grant on that account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    AddAccount,
    /// Rename an account, or change its handle or URL (`smv account set`/`rename`).
    /// `redirects_secret`: the URL changes on an account whose secret is sent there, and
    /// `custodian`: the actor holds a key that can read that secret anyway.
    EditAccount {
        redirects_secret: bool,
        custodian: bool,
    },
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
    /// grant, or (admins) for anyone — never through a token (`through_token`: the caller
    /// acts with an API token, not a custodian's key).
    MintToken {
        grant: Option<Level>,
        level: Level,
        for_other: bool,
        through_token: bool,
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
    /// Say what became of a post whose outcome is unknown (`smv posts resolve`): admins, and
    /// holders of `approve` on its account (who may also freeze it).
    ResolvePost {
        grant: Option<Level>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Deny),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn allow_if(ok: bool, otherwise: Deny) -> Decision {
    if ok {
        Decision::Allow
    } else {
        Decision::Deny(otherwise)
    }
}

/// The grant a post-like action needs: `post` (a `draft` grant is named as not enough).
fn needs_post(grant: Option<Level>) -> Option<Deny> {
    match grant {
        Some(level) if level >= Level::Post => None,
        Some(_) => Some(Deny::DraftOnly),
        None => Some(Deny::NoGrant),
    }
}

pub fn decide(actor: &Actor, action: Action) -> Decision {
    if !actor.active {
        return Decision::Deny(Deny::Disabled);
    }
    let admin = actor.role == Role::Admin;
    match action {
        Action::AddAccount
        | Action::RemoveAccount
        | Action::ManageMembers
        | Action::RestoreVault => allow_if(admin, Deny::AdminOnly),
        // Sending the secret to another host is reading it: only for one who could anyway.
        Action::EditAccount {
            redirects_secret,
            custodian,
        } => match (admin, redirects_secret && !custodian) {
            (false, _) => Decision::Deny(Deny::AdminOnly),
            (true, true) => Decision::Deny(Deny::RedirectSecret),
            (true, false) => Decision::Allow,
        },
        Action::Grant { grant, level } => allow_if(
            admin || (grant == Some(Level::Manage) && level <= Level::Manage),
            Deny::AdminOrLevel(Level::Manage),
        ),
        Action::ViewAccount { grant } => allow_if(
            admin || actor.role == Role::Auditor || grant.is_some(),
            Deny::NoGrant,
        ),
        Action::Post { grant, guard } => {
            if let Some(d) = needs_post(grant) {
                return Decision::Deny(d);
            }
            if guard.approvals_required > 0 && (guard.strict || grant < Some(Level::Approve)) {
                return Decision::Deny(Deny::NeedsApprovals {
                    required: guard.approvals_required,
                    strict: guard.strict,
                });
            }
            guard.blocks().map_or(Decision::Allow, Decision::Deny)
        }
        Action::Check { grant } => needs_post(grant).map_or(Decision::Allow, Decision::Deny),
        Action::Draft { grant } => allow_if(grant.is_some(), Deny::NoGrant),
        Action::EditDraft { grant, author } => {
            if !author {
                Decision::Deny(Deny::NotAuthor)
            } else {
                allow_if(grant.is_some(), Deny::NoGrant)
            }
        }
        Action::Approve { grant, author } => {
            if author {
                Decision::Deny(Deny::OwnDraft)
            } else {
                allow_if(
                    grant >= Some(Level::Approve),
                    Deny::NeedsLevel(Level::Approve),
                )
            }
        }
        Action::Reject { grant, author } => allow_if(
            grant >= Some(Level::Approve) || (author && grant.is_some()),
            Deny::ApproveOrAuthor,
        ),
        Action::Publish {
            grant,
            author,
            approvals,
            guard,
        } => {
            if !(grant >= Some(Level::Post) || (author && grant.is_some())) {
                return Decision::Deny(Deny::PostOrAuthor);
            }
            if approvals < guard.approvals_required {
                return Decision::Deny(Deny::MissingApprovals {
                    have: approvals,
                    need: guard.approvals_required,
                });
            }
            guard.blocks().map_or(Decision::Allow, Decision::Deny)
        }
        Action::SetPolicy { grant } => allow_if(
            admin || grant == Some(Level::Manage),
            Deny::AdminOrLevel(Level::Manage),
        ),
        Action::Freeze { grant } => allow_if(
            admin || grant >= Some(Level::Approve),
            Deny::AdminOrLevel(Level::Approve),
        ),
        Action::FreezeAll => allow_if(admin, Deny::FreezeAll),
        Action::Unfreeze => allow_if(admin, Deny::Unfreeze),
        Action::ManageQueued { grant, author } => allow_if(
            admin || grant >= Some(Level::Approve) || author,
            Deny::NotQueueAuthor,
        ),
        Action::RunQueue => Decision::Allow,
        Action::ResolvePost { grant } => allow_if(
            admin || grant >= Some(Level::Approve),
            Deny::AdminOrLevel(Level::Approve),
        ),
        Action::MintToken {
            grant,
            level,
            for_other,
            through_token,
        } => {
            if through_token {
                Decision::Deny(Deny::TokenMints)
            } else if admin {
                Decision::Allow
            } else if for_other {
                Decision::Deny(Deny::MintForOther)
            } else if actor.role == Role::Auditor {
                Decision::Deny(Deny::AuditorToken)
            } else {
                allow_if(grant >= Some(level), Deny::TokenAboveGrant)
            }
        }
        Action::RevokeToken => allow_if(admin, Deny::RevokeToken),
        Action::RotateSecret { grant } => allow_if(
            admin || grant == Some(Level::Manage),
            Deny::AdminOrLevel(Level::Manage),
        ),
        Action::ViewAllAccess => {
            allow_if(admin || actor.role == Role::Auditor, Deny::ViewAllAccess)
        }
        Action::ReadAudit => allow_if(admin || actor.role == Role::Auditor, Deny::ReadAudit),
    }
}

#[cfg(test)]
mod tests;
