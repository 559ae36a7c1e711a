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
                            },
                            admin || (role != Role::Auditor && grant >= Some(level)),
                        ),
                        (
                            Action::MintToken {
                                grant,
                                level,
                                for_other: true,
                            },
                            admin,
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
                            assert!(!why.is_empty());
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
                frozen: Some("by alice: hacked".into()),
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
                frozen: Some("by alice: hacked".into()),
                approvals_required: 1,
                ..Guard::default()
            },
        ),
    ]
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
                                    grant >= Some(Level::Post)
                                        && (guard.approvals_required == 0
                                            || grant >= Some(Level::Approve))
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
                                    assert!(!why.is_empty());
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
        frozen: Some("by alice since 2026-11-23T10:00:00Z: hacked".into()),
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
    assert!(why.contains("own"), "{why}");
}
