//! Where a command runs: on the local vault (this shell's identity), or through an
//! `smv serve` proxy (`SMV_SERVER`). Both give the same result types, so every command
//! renders the same way on either path.

use crate::audit::{Entry, Filter};
use crate::client::Client;
use crate::ops::{self, Ctx, Scope};
use crate::secret::Secret;
use crate::vault::{Freeze, Queued, Token};
use crate::{Error, Result, api, clock};

pub enum Backend {
    Local(Box<Ctx>),
    Remote(Client),
}

/// One method per operation the proxy offers: the local arm calls `ops`, the remote arm
/// the same route of the server.
macro_rules! both {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, |$ctx:ident| $local:expr, |$c:ident| $remote:expr) => {
        pub fn $name(&mut self, $($arg: $ty),*) -> Result<$ret> {
            match self {
                Backend::Local($ctx) => $local,
                Backend::Remote($c) => $remote,
            }
        }
    };
}

impl Backend {
    /// The local session, for commands that need a custodian's key (members, accounts,
    /// secrets, offboarding, audit verification…): through a proxy they are refused, with
    /// the way to run them.
    pub fn local(&mut self, command: &str) -> Result<&mut Ctx> {
        match self {
            Backend::Local(ctx) => Ok(ctx),
            Backend::Remote(c) => Err(Error::NeedsCustodian {
                command: command.to_string(),
                server: c.server().to_string(),
            }),
        }
    }

    pub fn warnings(&self) -> &[String] {
        match self {
            Backend::Local(ctx) => &ctx.warnings,
            Backend::Remote(c) => &c.warnings,
        }
    }

    both!(whoami() -> ops::WhoAmI, |ctx| ops::whoami(ctx), |c| c.whoami());
    both!(status() -> ops::Status, |ctx| ops::status(ctx), |c| c.status());
    both!(access() -> ops::AccessReport, |ctx| ops::access(ctx), |c| c.access());
    both!(account_list() -> Vec<ops::AccountView>, |ctx| ops::account_list(ctx), |c| c.account_list());
    both!(post(targets: &str, text: &str, opts: &ops::PostOptions, sent: &mut dyn FnMut(&ops::PostResult)) -> Vec<ops::PostResult>,
        |ctx| ops::post_reporting(ctx, targets, text, opts, sent), |c| c.post(targets, text, opts));
    both!(retry_post(key: &str, dry_run: bool, sent: &mut dyn FnMut(&ops::PostResult)) -> Vec<ops::PostResult>,
        |ctx| ops::retry_post(ctx, key, dry_run, sent), |c| c.retry_post(key, dry_run));
    both!(schedule_post(targets: &str, text: &str, at: &str) -> Vec<Queued>,
        |ctx| ops::schedule_post(ctx, targets, text, clock::parse_time(at)?),
        |c| c.schedule_post(targets, text, at));
    both!(draft_create(targets: &str, text: &str) -> ops::DraftView,
        |ctx| ops::draft_create(ctx, targets, text), |c| c.draft_create(targets, text));
    both!(draft_edit(id: &str, text: &str) -> ops::DraftView,
        |ctx| ops::draft_edit(ctx, id, text), |c| c.draft_edit(id, text));
    both!(draft_show(id: &str) -> ops::DraftView, |ctx| ops::draft_show(ctx, id), |c| c.draft_show(id));
    both!(drafts(f: &ops::DraftFilter) -> Vec<ops::DraftView>, |ctx| ops::drafts(ctx, f), |c| c.drafts(f));
    both!(approve(id: &str) -> ops::DraftView, |ctx| ops::approve(ctx, id), |c| c.approve(id));
    both!(reject(id: &str, reason: Option<&str>) -> ops::DraftView,
        |ctx| ops::reject(ctx, id, reason), |c| c.reject(id, reason));
    both!(publish(id: &str, dry_run: bool, sent: &mut dyn FnMut(&ops::PostResult)) -> Vec<ops::PostResult>,
        |ctx| ops::publish_reporting(ctx, id, dry_run, sent), |c| c.publish(id, dry_run));
    both!(schedule_draft(id: &str, at: &str) -> Vec<Queued>,
        |ctx| ops::schedule_draft(ctx, id, clock::parse_time(at)?), |c| c.schedule_draft(id, at));
    both!(freeze(scope: &Scope, reason: &str, for_: Option<&str>) -> Vec<Freeze>,
        |ctx| ops::freeze(ctx, scope, reason, for_.map(clock::parse_duration).transpose()?),
        |c| c.freeze(scope, reason, for_));
    both!(unfreeze(scope: &Scope) -> Vec<Freeze>, |ctx| ops::unfreeze(ctx, scope), |c| c.unfreeze(scope));
    both!(queue_list(all: bool) -> Vec<Queued>, |ctx| ops::queue_list(ctx, all), |c| c.queue_list(all));
    both!(queue_cancel(id: &str) -> Queued, |ctx| ops::queue_cancel(ctx, id), |c| c.queue_cancel(id));
    both!(queue_release(id: &str) -> Queued, |ctx| ops::queue_release(ctx, id), |c| c.queue_release(id));
    both!(resolve_post(seq: u64, r: &ops::Resolution) -> ops::Resolved,
        |ctx| ops::resolve_post(ctx, seq, r.clone()), |c| c.resolve_post(seq, r));
    both!(audit_log(f: &Filter) -> Vec<Entry>, |ctx| ops::audit_log(ctx, f), |c| c.audit_log(f));
    both!(posts(f: &ops::PostsFilter, progress: &mut dyn FnMut(u64, u64)) -> Vec<ops::PostRecord>,
        |ctx| ops::posts(ctx, f, progress), |c| c.posts(f));
    both!(post_show(seq: u64) -> ops::PostRecord, |ctx| ops::post_show(ctx, seq), |c| c.post_show(seq));
    both!(token_list(all: bool) -> Vec<ops::TokenView>, |ctx| ops::token_list(ctx, all), |c| c.token_list(all));
    both!(token_create(req: &api::TokenRequest) -> (Token, Secret),
        |ctx| ops::token_create(ctx, req.spec()?), |c| c.token_create(req));
    both!(token_revoke(accessor: &str, reason: Option<&str>) -> Token,
        |ctx| ops::token_revoke(ctx, accessor, reason), |c| c.token_revoke(accessor, reason));
}
