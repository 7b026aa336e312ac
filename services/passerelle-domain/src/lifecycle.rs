//! The referral lifecycle of CONTRACT.md "Transitions" as one pure function.
//!
//! ```text
//! sent ──first read──► acknowledged
//! sent | acknowledged ──accept──► accepted ──close──► closed
//! sent | acknowledged ──decline──► declined
//! sent | acknowledged | accepted ──withdraw──► withdrawn
//! ```
//!
//! `declined`, `closed` and `withdrawn` are terminal. A first read of anything but `sent`
//! and a withdrawal of a terminal referral change nothing; every other move not drawn above
//! is refused (HTTP `409`).

use crate::enums::ReferralStatus;

/// What happens to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The receiving organisation opens it.
    FirstRead,
    /// The receiving organisation accepts it.
    Accept,
    /// The receiving organisation declines it.
    Decline,
    /// The receiving organisation closes it with an outcome.
    Close,
    /// The victim withdrew her consent (case-wide).
    Withdraw,
}

impl Transition {
    /// Every transition.
    pub const ALL: &'static [Transition] = &[
        Transition::FirstRead,
        Transition::Accept,
        Transition::Decline,
        Transition::Close,
        Transition::Withdraw,
    ];
}

/// The referral's state does not allow this transition (HTTP `409`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} referral does not allow {transition:?}")]
pub struct InvalidTransition {
    /// The state the referral was in.
    pub from: ReferralStatus,
    /// The refused transition.
    pub transition: Transition,
}

/// The state after `t` from `from`: `Ok(Some(state))` for a change, `Ok(None)` when nothing
/// changes (a later read, a withdrawal of a terminal referral), `Err` when refused.
pub fn next(
    from: ReferralStatus,
    t: Transition,
) -> Result<Option<ReferralStatus>, InvalidTransition> {
    use ReferralStatus::*;
    use Transition::*;
    let to = match (t, from) {
        (FirstRead, Sent) => Some(Acknowledged),
        (FirstRead, _) => None,
        (Accept, Sent | Acknowledged) => Some(Accepted),
        (Decline, Sent | Acknowledged) => Some(Declined),
        (Close, Accepted) => Some(Closed),
        (Withdraw, Sent | Acknowledged | Accepted) => Some(Withdrawn),
        (Withdraw, Declined | Closed | Withdrawn) => None,
        (Accept | Decline | Close, _) => {
            return Err(InvalidTransition {
                from,
                transition: t,
            });
        }
    };
    Ok(to)
}

/// Whether a withdrawal from `from` destroys the content: only a referral never opened
/// (`sent`).
pub fn withdraw_destroys_content(from: ReferralStatus) -> bool {
    from == ReferralStatus::Sent
}

/// Whether `status` is terminal (`declined`, `closed`, `withdrawn`).
pub fn is_terminal(status: ReferralStatus) -> bool {
    matches!(
        status,
        ReferralStatus::Declined | ReferralStatus::Closed | ReferralStatus::Withdrawn
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;
    use Transition::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let ok = |f, t| next(f, t).unwrap();
        assert_eq!(ok(Sent, FirstRead), Some(Acknowledged));
        for s in [Acknowledged, Accepted, Declined, Closed, Withdrawn] {
            assert_eq!(ok(s, FirstRead), None);
        }
        for s in [Sent, Acknowledged] {
            assert_eq!(ok(s, Accept), Some(Accepted));
            assert_eq!(ok(s, Decline), Some(Declined));
            assert!(next(s, Close).is_err());
        }
        assert_eq!(ok(Accepted, Close), Some(Closed));
        for s in [Accepted, Declined, Closed, Withdrawn] {
            assert_eq!(
                next(s, Accept),
                Err(InvalidTransition {
                    from: s,
                    transition: Accept
                })
            );
            assert!(next(s, Decline).is_err());
        }
        for s in [Declined, Closed, Withdrawn] {
            assert!(next(s, Close).is_err());
            assert_eq!(ok(s, Withdraw), None);
        }
        for s in [Sent, Acknowledged, Accepted] {
            assert_eq!(ok(s, Withdraw), Some(Withdrawn));
        }
        let destroys: Vec<_> = ReferralStatus::ALL
            .iter()
            .filter(|s| withdraw_destroys_content(**s))
            .collect();
        assert_eq!(destroys, [&Sent]);
    }

    proptest! {
        #[test]
        fn terminal_states_stay_terminal(
            start in prop::sample::select(ReferralStatus::ALL),
            moves in prop::collection::vec(prop::sample::select(Transition::ALL), 0..20),
        ) {
            let mut state = start;
            let mut was_terminal = is_terminal(state);
            for t in moves {
                match next(state, t) {
                    Ok(Some(s)) => {
                        prop_assert!(!was_terminal, "{state} -> {s} by {t:?}");
                        prop_assert_ne!(s, state);
                        prop_assert_ne!(s, Sent, "nothing moves back to sent");
                        state = s;
                    }
                    Ok(None) => {}
                    Err(e) => prop_assert_eq!(e, InvalidTransition { from: state, transition: t }),
                }
                was_terminal |= is_terminal(state);
                prop_assert!(!was_terminal || is_terminal(state));
            }
        }

        #[test]
        fn unchanged_means_ok_none(s in prop::sample::select(ReferralStatus::ALL),
                                   t in prop::sample::select(Transition::ALL)) {
            // `next` never returns `Some(from)`: no change is always `None`.
            prop_assert_ne!(next(s, t), Ok(Some(s)));
        }
    }
}
