//! The command line, as clap definitions. Completions and the man page are generated from
//! these, so they are the single description of the interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::access::{Level, Role};

#[derive(Debug, Parser)]
#[command(
    name = "smv",
    version,
    about = "A credential vault and posting proxy for company social-media accounts",
    long_about = "smv keeps the company's social-media credentials in one age-encrypted vault. \
People and CI jobs get grants, not secrets; every action is written to an audit log.",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage or bad input, 3 not found, 4 denied, \
5 conflict, 6 identity, 7 vault or audit log unusable, 8 busy (locked, or throttled by the proxy), 9 I/O error, 10 audit log does not verify, 11 a post failed at the network, \
12 a post's outcome is unknown (it may be live: `smv posts resolve`)."
)]
pub struct Cli {
    /// The vault file [env: SMV_VAULT; config: vault; default: $XDG_DATA_HOME/smv/vault.smv]
    #[arg(long, global = true, value_name = "PATH")]
    pub vault: Option<PathBuf>,

    /// The identity (age key) file to act with [env: SMV_IDENTITY_FILE; config: identity_file]
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Machine-readable output (and errors as JSON on stderr)
    #[arg(long, global = true)]
    pub json: bool,

    /// Colour on stderr's error, hint and warning prefixes [env: NO_COLOR turns auto off]
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: super::output::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault and audit log; you become its first admin and custodian
    Init(InitArgs),
    /// Publish as company accounts (or groups of them), without seeing their secrets
    Post(PostArgs),
    /// Write a draft for approval (`smv draft ACCOUNT "text"`), or edit or show one
    Draft(DraftArgs),
    /// List drafts: id, accounts, author, approvals, status and text
    Drafts {
        /// Only drafts for this account
        #[arg(long)]
        account: Option<String>,
        /// Only your own drafts
        #[arg(long)]
        mine: bool,
        /// Published, rejected and cancelled drafts too
        #[arg(long)]
        all: bool,
    },
    /// Approve a draft's current text (you cannot approve your own)
    Approve { id: String },
    /// Reject a draft (or withdraw your own)
    Reject {
        id: String,
        /// Why: the author reads it (needed to reject; optional to withdraw your own)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Publish an approved draft, byte for byte as approved
    Publish {
        id: String,
        /// Schedule it instead: RFC 3339 with offset (2026-12-01T09:00+01:00), or relative
        /// to now in your time zone (+1h, "tomorrow 09:00")
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        at: Option<String>,
        /// Authorize and validate only; send nothing
        #[arg(long, conflicts_with = "at")]
        dry_run: bool,
    },
    /// Stop all posting to an account, or to every account: the crisis switch
    Freeze {
        /// The accounts or groups to freeze, comma-separated (or --all)
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_name = "ACCOUNTS"
        )]
        account: Option<String>,
        /// Freeze every account
        #[arg(long)]
        all: bool,
        /// Why: shown to everyone whose post is refused, and kept in the audit log
        #[arg(long)]
        reason: String,
        /// Lift by itself after this long (e.g. 30m, 2h, 1d, 1h30m, "2 days")
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
    },
    /// Lift a freeze (admins)
    Unfreeze {
        /// The accounts or groups whose freezes to lift, comma-separated (or --all: every
        /// freeze)
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_name = "ACCOUNTS"
        )]
        account: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// What is frozen (since when, by whom, why, until when), and what waits
    Status,
    /// Per-account policy: approvals needed, rate guard
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Scheduled posts: list them (default), run the due ones, cancel or release one
    Queue {
        #[command(subcommand)]
        cmd: Option<QueueCmd>,
        /// Sent, failed and cancelled posts too
        #[arg(long)]
        all: bool,
    },
    /// What was posted: time, account, who, how, text, URL — from the audit log (newest
    /// first); `smv posts show SEQ` prints one post's exact text and receipt
    Posts(PostsArgs),
    /// Add, list, set, rename, check and remove accounts
    #[command(subcommand)]
    Account(AccountCmd),
    /// Name several accounts as one group, to post to them at once
    #[command(subcommand)]
    Group(GroupCmd),
    /// Add, list and remove members and custodians
    #[command(subcommand)]
    Member(MemberCmd),
    /// A leaver's access gone in one step: disable, remove grants, hand over or cancel their
    /// drafts and scheduled posts, drop their key, and report the secrets to rotate
    Offboard {
        member: String,
        /// Hand their pending drafts and scheduled posts to this member (fresh approval
        /// needed); without it they are cancelled
        #[arg(long, value_name = "MEMBER")]
        to: Option<String>,
        /// Print the report and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Write the new secret of each CI token that lives on (handed to --to, or kept by
        /// its owner) to a file in this directory (mode 0600, one file per token; the
        /// directory must be closed to group and others). Without it the new secrets are
        /// printed once on a terminal, or, with no terminal (or --json), those tokens are
        /// revoked and listed for re-issue
        #[arg(long, value_name = "DIR")]
        handover_dir: Option<PathBuf>,
    },
    /// Replace an account's secret (hidden prompt, stdin or file), after proving it works
    Rotate {
        account: String,
        /// Let smv make the new credential at the network (Bluesky app passwords with the
        /// account's main password, X OAuth 2.0 refresh tokens)
        #[arg(long, conflicts_with_all = ["secret_stdin", "secret_file"])]
        auto: bool,
        #[command(flatten)]
        secret: SecretSource,
        /// Do not prove the new secret with a read-only call first
        #[arg(long)]
        no_check: bool,
    },
    /// Every stored secret: age, last rotated, last used, exposed to, expiring (never the
    /// secret itself)
    Secrets,
    /// Make a backup copy the vault again, on the record (admins): after the vault, or the
    /// vault and its audit log, were put back from a backup (docs/runbooks.md)
    Restore {
        /// The backup copy of the vault to put in place; without it, the vault file already
        /// at the vault's path is kept
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Why the vault is restored (recorded in the audit log)
        #[arg(long)]
        reason: String,
        /// Print what the restore would undo, and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Restore although the audit log is older than this machine has seen (both files
        /// were put back): removals recorded in the lost entries cannot be replayed, and the
        /// members the copy brings back are listed (recorded in the audit log)
        #[arg(long)]
        accept_lost_history: bool,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// API tokens for the proxy: create (shown once), list, revoke
    #[command(subcommand)]
    Token(TokenCmd),
    /// Give a member a level on accounts (draft < post < approve < manage): `smv grant joe
    /// a,b,group post`, all or none
    Grant {
        member: String,
        /// Accounts or groups, comma-separated
        #[arg(value_name = "ACCOUNTS")]
        account: String,
        #[arg(value_enum)]
        level: LevelArg,
    },
    /// Take a member's grants on accounts away (accounts or groups, comma-separated)
    Revoke {
        member: String,
        #[arg(value_name = "ACCOUNTS")]
        account: String,
    },
    /// Who can do what: the members × accounts matrix
    ///
    /// On a terminal too narrow for the matrix, one line per member with their grants
    /// (nothing is cut); piped, the matrix as tab-separated values. Removed members are left
    /// out unless --all or named with --member.
    Access {
        /// Only these members (comma-separated)
        #[arg(long, value_name = "MEMBERS")]
        member: Option<String>,
        /// Only these accounts (comma-separated), and the members who hold a grant on one
        #[arg(long, value_name = "ACCOUNTS")]
        account: Option<String>,
        /// Removed members too
        #[arg(long)]
        all: bool,
    },
    /// Which identity and member this shell acts as
    Whoami,
    /// Run the proxy: members and CI post through it with tokens, never holding a secret
    Serve(ServeArgs),
    /// Store your API token for an smv server in the OS keyring, or with --file in a 0600
    /// file (read from a hidden prompt or --token-stdin), after checking it with the server
    Login {
        /// The server, as in SMV_SERVER: http://127.0.0.1:7878, https://HOST, unix:/PATH
        server: String,
        /// Read the token from standard input instead of a prompt
        #[arg(long)]
        token_stdin: bool,
        /// Keep the token in a file (server-tokens.json in smv's data directory, mode 0600)
        /// instead of the OS keyring: for machines without a usable keyring
        #[arg(long)]
        file: bool,
    },
    /// Forget the token stored for a server
    Logout { server: String },
    /// The networks smv can post to
    Providers,
    /// Read, prove, verify and export the signed audit log
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Your identity: show its public key, or back it up to a file
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Your member name in the new vault [default: $USER]
    #[arg(long)]
    pub name: Option<String>,
    /// Protect a newly created identity file with a passphrase (asked on the terminal)
    #[arg(long)]
    pub passphrase: bool,
}

#[derive(Debug, Args)]
pub struct PostArgs {
    /// Account or group names, separated by commas
    #[arg(required_unless_present = "retry")]
    pub targets: Option<String>,
    /// The text; or --file FILE; or standard input when omitted (or `-`)
    pub text: Option<String>,
    /// Read the text from a file
    #[arg(
        long,
        visible_alias = "text-file",
        value_name = "FILE",
        conflicts_with = "text"
    )]
    pub file: Option<PathBuf>,
    /// Authorize and validate every target; send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// A retried job with the same key and text does not post twice (smv answers with the
    /// original receipts); without one, smv makes a random key and prints it
    #[arg(long, value_name = "KEY", conflicts_with = "at")]
    pub idempotency_key: Option<String>,
    /// Send the post made with this idempotency key again, with its recorded text, to its
    /// accounts where it certainly failed (never where it was published or may be live)
    #[arg(
        long,
        value_name = "KEY",
        conflicts_with_all = ["targets", "text", "file", "idempotency_key", "at"]
    )]
    pub retry: Option<String>,
    /// Schedule the post for this time: RFC 3339 with offset (2026-12-01T09:00+01:00), or
    /// relative to now in your time zone (+1h, "in 2 hours", "tomorrow 09:00"); smv prints
    /// the instant it resolved, and `smv queue run` sends it when due
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "dry_run",
        allow_hyphen_values = true
    )]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DraftArgs {
    #[command(subcommand)]
    pub cmd: Option<DraftCmd>,
    /// Account or group names, separated by commas
    #[arg(required = true)]
    pub targets: Option<String>,
    /// The text; or --file FILE; or standard input when omitted (or `-`)
    pub text: Option<String>,
    /// Read the text from a file
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DraftCmd {
    /// Replace a draft's text (its approvals are cleared)
    Edit {
        id: String,
        text: Option<String>,
        #[arg(long, value_name = "FILE", conflicts_with = "text")]
        file: Option<PathBuf>,
    },
    /// Show a draft: its exact text, hash and approvals
    Show { id: String },
}

#[derive(Debug, Args)]
pub struct PostsArgs {
    #[command(subcommand)]
    pub cmd: Option<PostsCmd>,
    /// Posts to this account (found under its earlier names too, after a rename)
    #[arg(long)]
    pub account: Option<String>,
    /// Posts by this member
    #[arg(long)]
    pub member: Option<String>,
    /// From this time on: RFC 3339, a date (midnight UTC), or relative (2d, yesterday)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Before this time (as --since)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Posts whose text has all these words (`word*` for a prefix)
    #[arg(long, value_name = "WORDS")]
    pub text: Option<String>,
    /// At most this many, newest first (0: all)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    #[command(flatten)]
    pub offline: OfflineLog,
}

/// Reading an export or a copy of the log without the vault: verified with its public key
/// first, refused if it does not verify.
#[derive(Debug, Args, Default)]
pub struct OfflineLog {
    /// Read this log copy or JSON-lines export instead of this vault's log (no vault or
    /// identity needed; needs --pubkey, and the file must verify)
    #[arg(long, value_name = "FILE", requires = "pubkey", global = true)]
    pub log: Option<PathBuf>,
    /// The log's public key (from `smv audit pubkey`), as text or a file
    #[arg(long, value_name = "KEY", requires = "log", global = true)]
    pub pubkey: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PostsCmd {
    /// One post: its exact text, who sent it how, and the network's receipt
    Show {
        /// The post's audit entry (the `seq` of `smv posts`)
        seq: u64,
    },
    /// Say what became of a post whose outcome is unknown, after looking at the account:
    /// `--published URL` or `--not-published --reason …` (admins, or `approve` on the account)
    Resolve {
        /// The post's audit seq: its report's audit column, or its intent's (`smv status` lists
        /// the unknown ones)
        seq: u64,
        /// It is live at this URL
        #[arg(
            long,
            value_name = "URL",
            conflicts_with = "not_published",
            required_unless_present = "not_published"
        )]
        published: Option<String>,
        /// It is not on the network (say why with --reason)
        #[arg(long, requires = "reason")]
        not_published: bool,
        /// Why it is not published (what you looked at)
        #[arg(long, requires = "not_published")]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Set an account's policy (`manage` on the account, or admin)
    Set {
        account: String,
        /// Approvals by a second person before a post goes out (0: direct posting allowed)
        #[arg(long, value_name = "N")]
        approvals: Option<u32>,
        /// The two-person rule for everyone: holders of `approve` and admins must draft and
        /// get a second person's approval too (at least 1 approval). The default when a
        /// policy starts to need approvals
        #[arg(long, conflicts_with = "no_strict")]
        strict: bool,
        /// The visible exemption: holders of `approve` (admins too) may post directly
        /// (policies made before strict was the default keep it)
        #[arg(long)]
        no_strict: bool,
        /// Rate guard: at most N posts…
        #[arg(
            long,
            value_name = "N",
            requires = "per",
            conflicts_with = "no_rate_guard"
        )]
        max_posts: Option<u32>,
        /// …per this long (e.g. 1h, 1d)
        #[arg(long, value_name = "DURATION", requires = "max_posts")]
        per: Option<String>,
        /// Remove the rate guard
        #[arg(long)]
        no_rate_guard: bool,
    },
    /// Every account's policy
    List,
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// List scheduled posts (pending and held; --all for the rest)
    List {
        #[arg(long)]
        all: bool,
    },
    /// Send the posts that are due (for cron or a systemd timer)
    Run,
    /// Cancel a pending or held post
    Cancel { id: String },
    /// Release a held post: it goes out with the next run if still due and not frozen
    Release { id: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group, or add accounts to it
    Add {
        name: String,
        /// Account names, separated by commas
        accounts: String,
    },
    /// List groups
    List,
    /// Remove a group (its accounts stay)
    Remove { name: String },
    /// Take accounts out of a group (the accounts stay; an emptied group is removed)
    RemoveAccount {
        group: String,
        /// Account names, separated by commas
        accounts: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Add an account; its secret is read from a hidden prompt, stdin or a file, never argv
    Add {
        name: String,
        #[arg(long)]
        provider: String,
        /// The account's public handle (e.g. @company)
        #[arg(long)]
        handle: Option<String>,
        /// Instance or base URL, where the provider needs one (e.g. Mastodon)
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        secret: SecretSource,
    },
    /// List accounts (never their secrets)
    List,
    /// Change an account's public handle, URL or API version (admins; a new URL for an
    /// account with a secret needs a custodian: the secret goes there). An empty value
    /// removes it
    Set {
        name: String,
        #[arg(long)]
        handle: Option<String>,
        #[arg(long)]
        url: Option<String>,
        /// The network's API version for this account, where smv pins one (LinkedIn
        /// YYYYMM, Facebook vNN.0); empty: back to config.toml's, else smv's
        #[arg(long, value_name = "VERSION")]
        api_version: Option<String>,
    },
    /// Rename an account (admins): its grants, groups, drafts, scheduled posts, policy,
    /// freezes and tokens follow, and `smv posts --account NEW` finds what it posted before
    Rename { old: String, new: String },
    /// Prove the stored credential works, with a read-only call to the network (audited)
    Check { name: String },
    /// Remove an account and its secret; its scheduled posts and drafts are cancelled (kept
    /// as history), a token left with no account is revoked; the report lists each
    Remove {
        name: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Print what it would change, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct SecretSource {
    /// Read the secret from standard input
    #[arg(long)]
    pub secret_stdin: bool,
    /// Read the secret from a file
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Add a member
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        /// Make the member a custodian (a key holder) with this age recipient (age1…)
        #[arg(long, value_name = "RECIPIENT")]
        custodian: Option<String>,
    },
    /// List members, with their last recorded action
    List {
        /// Only active members with no action for this long (e.g. 90d): the quarterly review
        #[arg(long, value_name = "DURATION")]
        stale: Option<String>,
    },
    /// Remove a member (like `smv offboard` without --to: their drafts are cancelled)
    Remove {
        name: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct AuditFilter {
    /// Entries about this account
    #[arg(long)]
    pub account: Option<String>,
    /// Entries by or about this member
    #[arg(long)]
    pub member: Option<String>,
    /// Entries of this action (e.g. account.add, grant)
    #[arg(long)]
    pub action: Option<String>,
    /// From this time on: RFC 3339, a date (YYYY-MM-DD, midnight UTC), or relative to now
    /// in your time zone (2d, 12h, yesterday, today 09:00)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Before this time (as --since)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List entries
    Log {
        #[command(flatten)]
        filter: AuditFilter,
        #[command(flatten)]
        offline: OfflineLog,
    },
    /// One entry, with its inclusion proof in the latest signed checkpoint
    Show { seq: u64 },
    /// Recompute the tree and check every signature; with --checkpoint, prove the log still
    /// extends a checkpoint kept elsewhere. With --log and --pubkey, no vault is needed.
    Verify {
        /// A signed checkpoint kept outside the log (from `smv audit checkpoint`)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// A log file or JSON-lines export to verify instead of this vault's log
        #[arg(long, value_name = "FILE", requires = "pubkey")]
        log: Option<PathBuf>,
        /// The log's public key (from `smv audit pubkey`), as text or a file
        #[arg(long, value_name = "KEY")]
        pubkey: Option<String>,
    },
    /// Print the latest signed checkpoint (keep it outside: a ticket, a git repository)
    Checkpoint,
    /// Print the log's public key, for auditors (--all: every key it was signed with)
    Pubkey {
        /// Every key the log was signed with, oldest first, with its era and the entry at
        /// which it was retired (what `verify --log --pubkey` takes for a rotated log)
        #[arg(long)]
        all: bool,
    },
    /// Replace the audit signing key and the fingerprint key now (admins; removing a
    /// custodian does it by itself)
    RotateKey {
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
    },
    /// Export entries: jsonl (verifiable offline) or csv
    Export {
        #[arg(long, value_enum)]
        format: ExportArg,
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// A checkpoint the reader kept (from `smv audit checkpoint`): the export then
        /// carries the proof that the log still extends it (jsonl)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        filter: AuditFilter,
    },
    /// Copy the log into FILE as one consistent file (safe while smv runs; a plain `cp` can
    /// miss the entries still in its -wal file), then verify the copy
    Backup {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// The keyed hash the log uses for a secret (read from stdin, or asked), to search for it
    Hash {
        /// Read the value from standard input instead of asking
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportArg {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// Make your own key, to join a vault as a custodian: kept like `smv init` keeps one
    /// (--identity FILE, else a keyring that survives a reboot, else the default identity
    /// file); prints the
    /// recipient to hand to an admin (`smv member add NAME --custodian RECIPIENT`)
    New {
        /// Protect it with a passphrase (asked on the terminal; it is then kept in a file)
        #[arg(long)]
        passphrase: bool,
    },
    /// Print the identity's public key (its age recipient) and where it is kept
    Show,
    /// Write a copy of the identity to a new file (mode 0600)
    Backup {
        file: PathBuf,
        /// Protect the copy with a passphrase (asked on the terminal)
        #[arg(long)]
        passphrase: bool,
    },
    /// Internal: print the recipient of the identity in the OS keyring (`smv init` runs it
    /// as a new process to prove that the key it stored is found again)
    #[command(hide = true)]
    ProbeKeyring,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    Draft,
    Post,
    Approve,
    Manage,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Draft => Level::Draft,
            LevelArg::Post => Level::Post,
            LevelArg::Approve => Level::Approve,
            LevelArg::Manage => Level::Manage,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Auditor,
    Member,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Member => Role::Member,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token acting for you (or, admins, for --for MEMBER) on some accounts; the
    /// token is printed once and stored only as a hash
    Create {
        #[arg(long)]
        name: String,
        /// Accounts or groups, comma-separated
        #[arg(long, value_name = "ACCOUNTS")]
        account: String,
        #[arg(long, value_enum, default_value = "post")]
        level: LevelArg,
        /// How long it lives (e.g. 90d; at most 366d)
        #[arg(long, default_value = "90d", value_name = "DURATION")]
        expires: String,
        /// A token that serves a CI job: handed over, not revoked, when its owner leaves
        #[arg(long)]
        ci: bool,
        /// The member it acts for (admins only)
        #[arg(long = "for", value_name = "MEMBER")]
        owner: Option<String>,
    },
    /// List tokens: accessor, name, owner, scopes, created, last used, expires — never the token
    List {
        /// Revoked tokens too
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by its accessor
    Revoke {
        accessor: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen on this TCP address (loopback unless --tls-cert/--tls-key are given)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Listen on this Unix socket (peers may be mapped to members with --uid)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<std::path::PathBuf>,
    /// TLS certificate chain (PEM) for --listen
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM) for --listen
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// On --socket, let the Unix user UID act as MEMBER without a token (repeatable)
    #[arg(long = "uid", value_name = "UID=MEMBER")]
    pub uids: Vec<String>,
    /// At most this many open connections; more wait in the kernel's queue
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Answer 503 for a request not done in this long (the operation still completes)
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub request_timeout: String,
    /// Run the due scheduled posts this often (0: never; another runner does it)
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub queue_every: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every word a command takes where an account or group name may stand is reserved, so
    /// that no account is made that some command cannot name.
    #[test]
    fn reserved_names_cover_the_words_that_stand_where_an_account_may() {
        let cli = super::Cli::command();
        let draft = cli.find_subcommand("draft").unwrap();
        let words: Vec<&str> = draft.get_subcommands().map(|c| c.get_name()).collect();
        assert!(!words.is_empty());
        for w in words.iter().chain(["help"].iter()) {
            assert!(
                crate::ops::RESERVED_NAMES.contains(w),
                "`{w}` is not reserved"
            );
        }
        // `smv post ACCOUNT` takes no subcommand word.
        assert_eq!(
            cli.find_subcommand("post")
                .unwrap()
                .get_subcommands()
                .count(),
            0
        );
    }
}
