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
                        (Action::Post { grant }, grant >= Some(Level::Post)),
                    ];
                    for (action, expected) in cases {
                        let expected = expected && active;
                        let got = decide(&a, action);
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
