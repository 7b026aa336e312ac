//! Who may do what (CONTRACT.md "Who may do what") and the order of the checks, as one
//! pure function, [`authorize`].
//!
//! The checks run in the contract's order and the first that fails answers:
//!
//! 1. the actor's role may never call the route → [`Refusal::Forbidden`] (`403`);
//! 2. on a referral's (or a case's) routes, the actor's organisation is party to none of
//!    the referrals → [`Refusal::NotParty`] (`404`, exactly like a missing referral);
//! 3. the organisation is party, but not on a side the route allows (the sender accepting,
//!    say) → [`Refusal::WrongSide`] (`403`).
//!
//! State (`410`, `409`) and rules (`422`) come after, elsewhere.

use crate::enums::Role;
use crate::ids::OrgId;

/// An API route, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /referrals`.
    FileReferral,
    /// `GET /referrals?box=…` (own organisation only; coordinators get metadata).
    ListReferrals,
    /// `GET /referrals/{id}`.
    ReadReferral,
    /// `GET /referrals/{id}/attachments/{aid}`.
    ReadAttachment,
    /// `POST /referrals/{id}/accept`.
    Accept,
    /// `POST /referrals/{id}/decline`.
    Decline,
    /// `POST /referrals/{id}/close`.
    Close,
    /// `POST /referrals/{id}/forward`.
    Forward,
    /// `GET /referrals/{id}/messages`.
    ReadMessages,
    /// `POST /referrals/{id}/messages`.
    WriteMessage,
    /// `POST /referrals/{id}/attachments`.
    UploadAttachment,
    /// `POST /cases/{id}/consent/withdraw`.
    WithdrawConsent,
    /// `POST /referrals/{id}/tasks/{task_id}/close`.
    CloseTask,
    /// `GET /audit/…`.
    ReadAudit,
    /// `POST /referrals/{id}/contact`: the holder records a contact (retention).
    RecordContact,
    /// `POST /referrals/{id}/archive/read`: the coordinator of the holding organisation
    /// (the receiver, with whom the referral is) reads an archived referral with a stated
    /// reason (issue #6 §5). The one exception to "coordinators see no content": archived
    /// referrals have left every box, and the organisation's coordinator answers for what it
    /// keeps; referrers and receivers read them no more.
    ReadArchived,
    /// `GET /notifications`: the organisation's content-free notices.
    ListNotifications,
    /// `GET /stats`: counts and delays of the caller's own organisation, no content.
    ReadStats,
    /// `POST /users/{username}/reset|disable`: managing the users of the caller's own
    /// organisation (which organisation is checked by the use case, `404` otherwise).
    ManageUsers,
    /// The admin pages: organisations, API tokens, key status (ids, versions and counts,
    /// never content, never a secret).
    Administer,
}

/// A side of a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The sending organisation.
    Sender,
    /// The receiving organisation.
    Receiver,
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The caller's role.
    pub role: Role,
    /// The caller's organisation.
    pub org: OrgId,
}

/// The two organisations of one referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    /// Sending organisation.
    pub from: OrgId,
    /// Receiving organisation.
    pub to: OrgId,
}

impl Parties {
    /// The sides `org` holds in this referral (both for a referral to oneself).
    pub fn sides_of(&self, org: OrgId) -> impl Iterator<Item = Side> {
        [(self.from, Side::Sender), (self.to, Side::Receiver)]
            .into_iter()
            .filter(move |(o, _)| *o == org)
            .map(|(_, s)| s)
    }
}

/// Why access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    /// The role may never call this route (`403`).
    #[error("this role may not do this")]
    Forbidden,
    /// The caller's organisation is not party to the referral (`404`, never revealing
    /// that it exists).
    #[error("not found")]
    NotParty,
    /// The organisation is party, on the wrong side (`403`).
    #[error("the organisation is on the wrong side of the referral for this")]
    WrongSide,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Forbidden | Refusal::WrongSide => 403,
            Refusal::NotParty => 404,
        }
    }

    /// The reason code recorded in the audit outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Forbidden => "role",
            Refusal::NotParty => "not-party",
            Refusal::WrongSide => "wrong-side",
        }
    }
}

const REFERRAL_ROLES: &[Role] = &[Role::Referrer, Role::Receiver];
const BOTH: &[Side] = &[Side::Sender, Side::Receiver];

impl Route {
    /// Every route.
    pub const ALL: &'static [Route] = &[
        Route::FileReferral,
        Route::ListReferrals,
        Route::ReadReferral,
        Route::ReadAttachment,
        Route::Accept,
        Route::Decline,
        Route::Close,
        Route::Forward,
        Route::ReadMessages,
        Route::WriteMessage,
        Route::UploadAttachment,
        Route::WithdrawConsent,
        Route::CloseTask,
        Route::ReadAudit,
        Route::RecordContact,
        Route::ReadArchived,
        Route::ListNotifications,
        Route::ReadStats,
        Route::ManageUsers,
        Route::Administer,
    ];

    /// The roles that may ever call this route.
    pub fn allowed_roles(self) -> &'static [Role] {
        match self {
            Route::FileReferral => &[Role::Referrer],
            Route::ListReferrals | Route::ListNotifications => {
                &[Role::Referrer, Role::Receiver, Role::Coordinator]
            }
            Route::ReadAudit => &[Role::Auditor],
            Route::ReadStats => &[Role::Coordinator],
            Route::ManageUsers => &[Role::Admin, Role::Coordinator],
            Route::ReadArchived => &[Role::Coordinator],
            Route::Administer => &[Role::Admin],
            _ => REFERRAL_ROLES,
        }
    }

    /// The sides allowed on a referral's (or case's) route; empty for the routes that are
    /// not about one referral or case (filing, lists, audit).
    pub fn allowed_sides(self) -> &'static [Side] {
        match self {
            Route::FileReferral
            | Route::ListReferrals
            | Route::ReadAudit
            | Route::ListNotifications
            | Route::ReadStats
            | Route::ManageUsers
            | Route::Administer => &[],
            Route::Accept
            | Route::Decline
            | Route::Close
            | Route::Forward
            | Route::RecordContact
            | Route::ReadArchived => &[Side::Receiver],
            Route::CloseTask => &[Side::Sender],
            Route::ReadReferral
            | Route::ReadAttachment
            | Route::ReadMessages
            | Route::WriteMessage
            | Route::UploadAttachment
            | Route::WithdrawConsent => BOTH,
        }
    }

    /// Whether the route acts on a referral or a case (and so checks parties).
    pub fn on_referral(self) -> bool {
        !self.allowed_sides().is_empty()
    }

    /// Whether the route returns or writes victim content.
    pub fn touches_content(self) -> bool {
        matches!(
            self,
            Route::ReadReferral
                | Route::ReadAttachment
                | Route::Forward
                | Route::ReadMessages
                | Route::WriteMessage
                | Route::UploadAttachment
                | Route::ReadArchived
        )
    }
}

/// Decides whether `actor` may call `route`. `parties` holds the referral's organisations
/// (one item), or those of every referral of the case for [`Route::WithdrawConsent`]; it is
/// ignored on routes that are not about a referral. An empty `parties` on a referral's
/// route is [`Refusal::NotParty`].
pub fn authorize(route: Route, actor: &Actor, parties: &[Parties]) -> Result<(), Refusal> {
    if !route.allowed_roles().contains(&actor.role) {
        return Err(Refusal::Forbidden);
    }
    if !route.on_referral() {
        return Ok(());
    }
    let mut sides = parties
        .iter()
        .flat_map(|p| p.sides_of(actor.org))
        .peekable();
    if sides.peek().is_none() {
        return Err(Refusal::NotParty);
    }
    if sides.any(|s| route.allowed_sides().contains(&s)) {
        Ok(())
    } else {
        Err(Refusal::WrongSide)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn org(n: u8) -> OrgId {
        OrgId(Uuid::from_bytes([n; 16]))
    }

    const SENDER: u8 = 1;
    const RECEIVER: u8 = 2;
    const OTHER: u8 = 3;

    fn one() -> [Parties; 1] {
        [Parties {
            from: org(SENDER),
            to: org(RECEIVER),
        }]
    }

    fn auth(route: Route, role: Role, o: u8) -> Result<(), Refusal> {
        authorize(route, &Actor { role, org: org(o) }, &one())
    }

    #[test]
    fn contract_table() {
        use Refusal::*;
        use Role::*;
        use Route::*;
        // (route, role, org, expected)
        let cases = [
            (FileReferral, Referrer, OTHER, Ok(())),
            (FileReferral, Receiver, SENDER, Err(Forbidden)),
            (ListReferrals, Coordinator, OTHER, Ok(())),
            (ListReferrals, Auditor, OTHER, Err(Forbidden)),
            (ReadReferral, Referrer, SENDER, Ok(())),
            (ReadReferral, Receiver, RECEIVER, Ok(())),
            (ReadReferral, Receiver, OTHER, Err(NotParty)),
            (ReadReferral, Coordinator, RECEIVER, Err(Forbidden)),
            (ReadReferral, Admin, OTHER, Err(Forbidden)),
            (Accept, Receiver, RECEIVER, Ok(())),
            (Accept, Referrer, RECEIVER, Ok(())),
            (Accept, Referrer, SENDER, Err(WrongSide)),
            (Accept, Referrer, OTHER, Err(NotParty)),
            (Forward, Receiver, SENDER, Err(WrongSide)),
            (Close, Coordinator, RECEIVER, Err(Forbidden)),
            (WriteMessage, Referrer, SENDER, Ok(())),
            (UploadAttachment, Receiver, RECEIVER, Ok(())),
            (CloseTask, Referrer, SENDER, Ok(())),
            (CloseTask, Receiver, RECEIVER, Err(WrongSide)),
            (ReadAudit, Auditor, OTHER, Ok(())),
            (ReadAudit, Admin, OTHER, Err(Forbidden)),
            (RecordContact, Receiver, RECEIVER, Ok(())),
            (RecordContact, Referrer, SENDER, Err(WrongSide)),
            (RecordContact, Coordinator, RECEIVER, Err(Forbidden)),
            (ReadArchived, Coordinator, RECEIVER, Ok(())),
            (ReadArchived, Coordinator, SENDER, Err(WrongSide)),
            (ReadArchived, Coordinator, OTHER, Err(NotParty)),
            (ReadArchived, Receiver, RECEIVER, Err(Forbidden)),
            (ReadArchived, Referrer, SENDER, Err(Forbidden)),
            (ReadArchived, Admin, RECEIVER, Err(Forbidden)),
            (ReadArchived, Auditor, RECEIVER, Err(Forbidden)),
            (ListNotifications, Coordinator, OTHER, Ok(())),
            (ListNotifications, Auditor, OTHER, Err(Forbidden)),
            (ReadStats, Coordinator, OTHER, Ok(())),
            (ReadStats, Admin, OTHER, Err(Forbidden)),
            (ReadStats, Receiver, RECEIVER, Err(Forbidden)),
            (ManageUsers, Admin, OTHER, Ok(())),
            (ManageUsers, Coordinator, OTHER, Ok(())),
            (ManageUsers, Auditor, OTHER, Err(Forbidden)),
            (ManageUsers, Referrer, SENDER, Err(Forbidden)),
            (Administer, Admin, OTHER, Ok(())),
            (Administer, Coordinator, OTHER, Err(Forbidden)),
            (Administer, Auditor, OTHER, Err(Forbidden)),
        ];
        for (route, role, o, want) in cases {
            assert_eq!(auth(route, role, o), want, "{route:?} {role} {o}");
        }
    }

    #[test]
    fn withdraw_covers_any_referral_of_the_case() {
        let case = [
            Parties {
                from: org(SENDER),
                to: org(RECEIVER),
            },
            Parties {
                from: org(RECEIVER),
                to: org(OTHER),
            },
        ];
        let a = |o| {
            authorize(
                Route::WithdrawConsent,
                &Actor {
                    role: Role::Receiver,
                    org: org(o),
                },
                &case,
            )
        };
        assert_eq!(a(OTHER), Ok(()));
        assert_eq!(a(SENDER), Ok(()));
        assert_eq!(a(9), Err(Refusal::NotParty));
        let none = authorize(
            Route::WithdrawConsent,
            &Actor {
                role: Role::Receiver,
                org: org(1),
            },
            &[],
        );
        assert_eq!(none, Err(Refusal::NotParty));
    }

    #[test]
    fn refusal_codes() {
        assert_eq!(Refusal::Forbidden.status(), 403);
        assert_eq!(Refusal::NotParty.status(), 404);
        assert_eq!(Refusal::WrongSide.status(), 403);
        assert_eq!(Refusal::NotParty.as_str(), "not-party");
    }

    fn parties() -> impl Strategy<Value = Vec<Parties>> {
        prop::collection::vec(
            (0u8..5, 0u8..5).prop_map(|(f, t)| Parties {
                from: org(f),
                to: org(t),
            }),
            0..4,
        )
    }

    proptest! {
        #[test]
        fn outsiders_never_pass(route in prop::sample::select(Route::ALL),
                                role in prop::sample::select(Role::ALL), ps in parties()) {
            let actor = Actor { role, org: org(200) };
            let r = authorize(route, &actor, &ps);
            if route.on_referral() {
                prop_assert!(r.is_err());
                if route.allowed_roles().contains(&role) {
                    prop_assert_eq!(r, Err(Refusal::NotParty));
                }
            }
        }

        #[test]
        /// Admins and auditors never; coordinators only an archived referral of their own
        /// organisation's holding, with a stated reason (issue #6 §5).
        fn admin_auditor_coordinator_never_reach_content(
            route in prop::sample::select(Route::ALL),
            role in prop::sample::select(&[Role::Admin, Role::Auditor, Role::Coordinator][..]),
            o in 0u8..5, ps in parties())
        {
            let r = authorize(route, &Actor { role, org: org(o) }, &ps);
            let archive = role == Role::Coordinator && route == Route::ReadArchived;
            if (route.touches_content() || route.on_referral()) && !archive {
                prop_assert_eq!(r, Err(Refusal::Forbidden));
            }
            if archive && r.is_ok() {
                prop_assert!(ps.iter().any(|p| p.to == org(o)), "only the holder");
            }
        }

        #[test]
        fn order_role_then_party_then_side(route in prop::sample::select(Route::ALL),
                                           role in prop::sample::select(Role::ALL),
                                           o in 0u8..5, ps in parties()) {
            let actor = Actor { role, org: org(o) };
            let r = authorize(route, &actor, &ps);
            let party = ps.iter().any(|p| p.from == actor.org || p.to == actor.org);
            let expected = if !route.allowed_roles().contains(&role) {
                Err(Refusal::Forbidden)
            } else if !route.on_referral() {
                Ok(())
            } else if !party {
                Err(Refusal::NotParty)
            } else if ps.iter().any(|p| {
                (p.from == actor.org && route.allowed_sides().contains(&Side::Sender))
                    || (p.to == actor.org && route.allowed_sides().contains(&Side::Receiver))
            }) {
                Ok(())
            } else {
                Err(Refusal::WrongSide)
            };
            prop_assert_eq!(r, expected);
        }
    }
}
