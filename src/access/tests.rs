use super::*;

fn actor(role: Role, active: bool) -> Actor {
    Actor {
        name: "t".into(),
        role,
        active,
    }
}

const GRANTS: [Option<Level>; 5] = [
    None,
    Some(Level::Draft),
    Some(Level::Post),
    Some(Level::Approve),
    Some(Level::Manage),
];

/// Every role × grant × action, against the expected table written out independently of
/// `decide`'s structure.
#[test]
fn decision_table() {
    for role in Role::ALL {
        for active in [true, false] {
            for grant in GRANTS {
                for level in Level::ALL {
                    let a = actor(role, active);
                    let admin = role == Role::Admin;
                    let cases = [
                        (Action::AddAccount, admin),
                        (Action::RemoveAccount, admin),
                        (Action::ManageMembers, admin),
                        (Action::RestoreVault, admin),
                        (
                            Action::Grant { grant, level },
                            admin || grant == Some(Level::Manage),
                        ),
                        (
                            Action::ViewAccount { grant },
                            admin || role == Role::Auditor || grant.is_some(),
                        ),
                        (Action::ViewAllAccess, admin || role == Role::Auditor),
                        (Action::ReadAudit, admin || role == Role::Auditor),
                        // Posting comes from grants only, admins included: deny by default.
                        (
                            Action::Post {
                                grant,
                                guard: Guard::default(),
                            },
                            grant >= Some(Level::Post),
                        ),
                        (Action::Check { grant }, grant >= Some(Level::Post)),
                        (
                            Action::MintToken {
                                grant,
                                level,
                                for_other: false,
                                through_token: false,
                            },
                            admin || (role != Role::Auditor && grant >= Some(level)),
                        ),
                        (
                            Action::MintToken {
                                grant,
                                level,
                                for_other: true,
                                through_token: false,
                            },
                            admin,
                        ),
                        // Tokens never mint tokens: not for oneself, not for others, not
                        // an admin's token.
                        (
                            Action::MintToken {
                                grant,
                                level,
                                for_other: false,
                                through_token: true,
                            },
                            false,
                        ),
                        (
                            Action::MintToken {
                                grant,
                                level,
                                for_other: true,
                                through_token: true,
                            },
                            false,
                        ),
                        (Action::RevokeToken, admin),
                        (
                            Action::RotateSecret { grant },
                            admin || grant == Some(Level::Manage),
                        ),
                        (Action::Draft { grant }, grant.is_some()),
                        (
                            Action::SetPolicy { grant },
                            admin || grant == Some(Level::Manage),
                        ),
                        (
                            Action::Freeze { grant },
                            admin || grant >= Some(Level::Approve),
                        ),
                        (Action::FreezeAll, admin),
                        (Action::Unfreeze, admin),
                        (Action::RunQueue, true),
                        (
                            Action::ResolvePost { grant },
                            admin || grant >= Some(Level::Approve),
                        ),
                    ];
                    for (action, expected) in cases {
                        let expected = expected && active;
                        let got = decide(&a, action.clone());
                        assert_eq!(
                            got.is_allowed(),
                            expected,
                            "{role:?} active={active} grant={grant:?} {action:?} → {got:?}"
                        );
                        if let Decision::Deny(why) = got {
                            assert!(!why.to_string().is_empty());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn levels_are_ordered_and_parse() {
    assert!(
        Level::Draft < Level::Post
            && Level::Post < Level::Approve
            && Level::Approve < Level::Manage
    );
    for l in Level::ALL {
        assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
    }
    let err = "publish".parse::<Level>().unwrap_err().to_string();
    assert!(err.contains("draft, post, approve, manage"), "{err}");
    assert!("Admin".parse::<Role>().is_err());
}

/// The account states a publication can meet.
fn guards() -> Vec<(&'static str, Guard)> {
    let rate = |used| Rate {
        max: 3,
        used,
        per: "1h".into(),
    };
    vec![
        ("open", Guard::default()),
        (
            "approvals",
            Guard {
                approvals_required: 2,
                ..Guard::default()
            },
        ),
        (
            "frozen",
            Guard {
                frozen: Some(frozen(false)),
                ..Guard::default()
            },
        ),
        (
            "frozen-all",
            Guard {
                frozen: Some(frozen(true)),
                ..Guard::default()
            },
        ),
        (
            "rate-left",
            Guard {
                rate: Some(rate(2)),
                ..Guard::default()
            },
        ),
        (
            "rate-full",
            Guard {
                rate: Some(rate(3)),
                ..Guard::default()
            },
        ),
        (
            "frozen+approvals",
            Guard {
                frozen: Some(frozen(false)),
                approvals_required: 1,
                ..Guard::default()
            },
        ),
        (
            "strict",
            Guard {
                approvals_required: 1,
                strict: true,
                ..Guard::default()
            },
        ),
        (
            "strict+frozen",
            Guard {
                frozen: Some(frozen(true)),
                approvals_required: 2,
                strict: true,
                ..Guard::default()
            },
        ),
    ]
}

fn frozen(all: bool) -> Frozen {
    Frozen {
        all,
        description: "by alice: hacked".into(),
    }
}

/// Every role × grant × authorship × approvals × account state, for the governance
/// actions, against the expected rules written out on their own.
#[test]
fn governance_table() {
    for role in Role::ALL {
        for active in [true, false] {
            for grant in GRANTS {
                for author in [false, true] {
                    for (state, guard) in guards() {
                        for approvals in [0, 1, 2] {
                            let a = actor(role, active);
                            let admin = role == Role::Admin;
                            let blocked = guard.frozen.is_some()
                                || guard.rate.as_ref().is_some_and(|r| r.used >= r.max);
                            let met = approvals >= guard.approvals_required;
                            let cases = [
                                (
                                    Action::Post {
                                        grant,
                                        guard: guard.clone(),
                                    },
                                    // A strict policy holds everyone, admins and
                                    // approvers included, to the two-person rule.
                                    grant >= Some(Level::Post)
                                        && (guard.approvals_required == 0
                                            || (!guard.strict && grant >= Some(Level::Approve)))
                                        && !blocked,
                                ),
                                (
                                    Action::Publish {
                                        grant,
                                        author,
                                        approvals,
                                        guard: guard.clone(),
                                    },
                                    (grant >= Some(Level::Post) || (author && grant.is_some()))
                                        && met
                                        && !blocked,
                                ),
                                (
                                    Action::EditDraft { grant, author },
                                    author && grant.is_some(),
                                ),
                                // Two-person rule: never one's own draft, whatever the role.
                                (
                                    Action::Approve { grant, author },
                                    !author && grant >= Some(Level::Approve),
                                ),
                                (
                                    Action::Reject { grant, author },
                                    grant >= Some(Level::Approve) || (author && grant.is_some()),
                                ),
                                (
                                    Action::ManageQueued { grant, author },
                                    admin || author || grant >= Some(Level::Approve),
                                ),
                            ];
                            for (action, expected) in cases {
                                let expected = expected && active;
                                let got = decide(&a, action.clone());
                                assert_eq!(
                                    got.is_allowed(),
                                    expected,
                                    "{role:?} active={active} grant={grant:?} author={author} state={state} approvals={approvals} {action:?} → {got:?}"
                                );
                                if let Decision::Deny(why) = got {
                                    assert!(!why.to_string().is_empty());
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A refusal says which rule refused: people act on the message.
#[test]
fn refusals_name_the_rule() {
    let member = actor(Role::Member, true);
    let frozen = Guard {
        frozen: Some(Frozen {
            all: false,
            description: "by alice since 2026-11-23T10:00:00Z: hacked".into(),
        }),
        ..Guard::default()
    };
    let Decision::Deny(why) = decide(
        &member,
        Action::Post {
            grant: Some(Level::Manage),
            guard: frozen,
        },
    ) else {
        panic!("a frozen account takes no post")
    };
    let why = why.to_string();
    assert!(
        why.contains("frozen") && why.contains("alice") && why.contains("hacked"),
        "{why}"
    );
    let Decision::Deny(why) = decide(
        &member,
        Action::Post {
            grant: Some(Level::Post),
            guard: Guard {
                approvals_required: 2,
                ..Guard::default()
            },
        },
    ) else {
        panic!("approvals needed")
    };
    let why = why.to_string();
    assert!(
        why.contains("2 approvals") && why.contains("draft"),
        "{why}"
    );
    let Decision::Deny(why) = decide(
        &member,
        Action::Approve {
            grant: Some(Level::Manage),
            author: true,
        },
    ) else {
        panic!("self-approval")
    };
    assert!(why.to_string().contains("own"), "{why}");
}

/// The refusal is typed: what a person is told to do follows the rule, not the wording.
#[test]
fn refusals_are_typed_and_their_hints_follow_the_rule() {
    let admin = actor(Role::Admin, true);
    let post = |grant, guard| decide(&admin, Action::Post { grant, guard });
    let strict = Guard {
        approvals_required: 1,
        strict: true,
        ..Guard::default()
    };
    // Strict: the admin with `manage` is held to the two-person rule too.
    assert_eq!(
        post(Some(Level::Manage), strict.clone()),
        Decision::Deny(Deny::NeedsApprovals {
            required: 1,
            strict: true
        })
    );
    // Not strict: `approve` posts directly, as documented.
    let gated = Guard {
        strict: false,
        ..strict
    };
    assert!(post(Some(Level::Approve), gated.clone()).is_allowed());
    assert_eq!(
        post(Some(Level::Post), gated),
        Decision::Deny(Deny::NeedsApprovals {
            required: 1,
            strict: false
        })
    );
    // A freeze on every account is lifted with `--all`, not by naming the account.
    let Decision::Deny(all) = post(
        Some(Level::Post),
        Guard {
            frozen: Some(frozen(true)),
            ..Guard::default()
        },
    ) else {
        panic!("frozen")
    };
    assert!(
        all.hint().unwrap().contains("smv unfreeze --all"),
        "{all:?}"
    );
    let Decision::Deny(one) = post(
        Some(Level::Post),
        Guard {
            frozen: Some(frozen(false)),
            ..Guard::default()
        },
    ) else {
        panic!("frozen")
    };
    assert!(!one.hint().unwrap().contains("--all"), "{one:?}");
    // Publishing without approvals points at approvers, not at grants.
    let Decision::Deny(missing) = decide(
        &actor(Role::Member, true),
        Action::Publish {
            grant: Some(Level::Post),
            author: true,
            approvals: 0,
            guard: Guard {
                approvals_required: 1,
                ..Guard::default()
            },
        },
    ) else {
        panic!("approvals missing")
    };
    assert_eq!(missing, Deny::MissingApprovals { have: 0, need: 1 });
    let hint = missing.hint().unwrap();
    assert!(
        hint.contains("smv approve") && !hint.contains("grant"),
        "{hint}"
    );
    // Tokens never mint, whoever owns them.
    assert_eq!(
        decide(
            &admin,
            Action::MintToken {
                grant: Some(Level::Manage),
                level: Level::Draft,
                for_other: false,
                through_token: true,
            }
        ),
        Decision::Deny(Deny::TokenMints)
    );
}

/// `account set`/`rename`: admins; a new URL for an account with a secret sends the secret
/// there, so only an admin who is a custodian (who can read the secret anyway) may.
#[test]
fn editing_an_account_is_for_admins_and_redirecting_its_secret_for_custodians() {
    let admin = actor(Role::Admin, true);
    let member = actor(Role::Member, true);
    let edit = |redirects_secret, custodian| Action::EditAccount {
        redirects_secret,
        custodian,
    };
    assert_eq!(decide(&admin, edit(false, false)), Decision::Allow);
    assert_eq!(decide(&admin, edit(true, true)), Decision::Allow);
    assert_eq!(
        decide(&admin, edit(true, false)),
        Decision::Deny(Deny::RedirectSecret)
    );
    assert!(Deny::RedirectSecret.hint().unwrap().contains("custodian"));
    for (r, c) in [(false, false), (false, true), (true, true)] {
        assert_eq!(decide(&member, edit(r, c)), Decision::Deny(Deny::AdminOnly));
    }
    assert_eq!(
        decide(&actor(Role::Admin, false), edit(false, true)),
        Decision::Deny(Deny::Disabled)
    );
}
