//! `smv member add`, `grant`, `revoke`, `access`, `whoami` (member list and remove are the
//! offboarding's: [`super::offboarding`]).

use super::args::{LevelArg, MemberCmd, RoleArg};
use super::backend::Backend;
use super::output::{OneOrMany, Out, Render, Said, escape, opt};
use super::table::{self, keep};
use crate::Result;
use crate::ops::{self, AccessReport, Revoked, WhoAmI};
use crate::vault::Grant;

pub fn member_add(
    b: &mut Backend,
    name: String,
    role: RoleArg,
    custodian: Option<String>,
    out: &Out,
) -> Result<()> {
    let m = ops::member_add(
        b.local("smv member add")?,
        &name,
        role.into(),
        custodian.as_deref(),
    )?;
    out.show(&Said::new(
        &m,
        format!(
            "Added member {} ({}{})",
            m.name,
            m.role,
            if m.is_custodian() { ", custodian" } else { "" }
        ),
    ));
    Ok(())
}

pub fn run(b: &mut Backend, cmd: MemberCmd, out: &Out) -> Result<()> {
    match cmd {
        MemberCmd::Add {
            name,
            role,
            custodian,
        } => member_add(b, name, role, custodian, out),
        other => super::offboarding::run(b, super::args::Command::Member(other), out),
    }
}

pub fn grant(
    b: &mut Backend,
    member: &str,
    accounts: &str,
    level: LevelArg,
    out: &Out,
) -> Result<()> {
    let granted = ops::grant(b.local("smv grant")?, member, accounts, level.into())?;
    out.show(&OneOrMany(&granted));
    Ok(())
}

pub fn revoke(b: &mut Backend, member: &str, accounts: &str, out: &Out) -> Result<()> {
    let revoked = ops::revoke(b.local("smv revoke")?, member, accounts)?;
    out.show(&OneOrMany(&revoked));
    Ok(())
}

impl Render for Grant {
    fn human(&self, out: &Out) {
        out.say(format!(
            "Granted {} on {} to {}",
            self.level, self.account, self.member
        ));
    }
}

impl Render for Revoked {
    fn human(&self, out: &Out) {
        out.say(format!(
            "Revoked {}'s {} grant on {}",
            self.member, self.revoked, self.account
        ));
    }
}

impl Render for AccessReport {
    /// The members × accounts matrix when it fits (and always piped: tab-separated, one
    /// column per account, for scripts); on a terminal too narrow for it, one line per
    /// member with their grants (`demo:approve x-main:post`), wrapped under its header:
    /// nothing is cut either way.
    fn human(&self, out: &Out) {
        if self.members.is_empty() {
            out.say("No members match.");
            return;
        }
        let name = |row: &crate::ops::AccessRow| {
            if row.active {
                row.member.clone()
            } else {
                format!("{} (removed)", row.member)
            }
        };
        let custodian =
            |row: &crate::ops::AccessRow| if row.custodian { "yes" } else { "no" }.to_string();
        let mut header = vec![keep("member"), keep("role"), keep("custodian")];
        header.extend(
            self.accounts
                .iter()
                .map(|a| table::Col::named(escape(a).into_owned(), table::Fit::Keep)),
        );
        let rows: Vec<Vec<String>> = self
            .members
            .iter()
            .map(|row| {
                let mut cells = vec![name(row), row.role.to_string(), custodian(row)];
                cells.extend(
                    self.accounts
                        .iter()
                        .map(|a| row.grants.get(a).map_or("-".into(), |l| l.to_string())),
                );
                cells
            })
            .collect();
        if out.table_fits(&header, &rows) {
            out.table(&header, rows);
            return;
        }
        let list = self
            .members
            .iter()
            .map(|row| {
                let grants: Vec<String> = self
                    .accounts
                    .iter()
                    .filter_map(|a| row.grants.get(a).map(|l| format!("{a}:{l}")))
                    .collect();
                vec![
                    name(row),
                    row.role.to_string(),
                    custodian(row),
                    if grants.is_empty() {
                        "-".into()
                    } else {
                        grants.join(" ")
                    },
                ]
            })
            .collect();
        out.table_wrapped(
            &[
                keep("member"),
                keep("role"),
                keep("custodian"),
                keep("grants"),
            ],
            list,
        );
    }
}

impl Render for WhoAmI {
    fn human(&self, out: &Out) {
        out.say(format!(
            "member:    {} ({})",
            escape(&self.member),
            self.role
        ));
        out.say(format!(
            "custodian: {}",
            if self.custodian { "yes" } else { "no" }
        ));
        out.say(format!("identity:  {}", self.identity));
        if self.channel != "local" {
            out.say(format!("via:       {}", escape(&self.channel)));
        }
        out.say(format!("key:       {}", opt(&self.recipient)));
        out.say(format!("vault:     {}", self.vault));
        out.say(format!("grants:    {}", self.grants));
    }
}
