//! Identifiers: UUID newtypes for every entity, and validated textual identifiers
//! (organisation slugs, usernames). Ids are generated outside the domain (no RNG here)
//! and passed in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The inner UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }
    };
}

uuid_id!(
    /// A referral (one packet sent from one organisation to another).
    ReferralId
);
uuid_id!(
    /// A case: the referrals that stem from one filing (the filing and its forwards).
    CaseId
);
uuid_id!(
    /// An organisation.
    OrgId
);
uuid_id!(
    /// A user account.
    UserId
);
uuid_id!(
    /// An API token (its public id, never the secret).
    TokenId
);
uuid_id!(
    /// A message in a referral's thread.
    MessageId
);
uuid_id!(
    /// An attachment of a referral.
    AttachmentId
);
uuid_id!(
    /// A task attached to a referral (e.g. "inform the victim").
    TaskId
);

/// The textual identifier was not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {0}: use 2 to 64 lowercase letters, digits, '-' or '_' starting with a letter or digit"
)]
pub struct InvalidIdentifier(pub &'static str);

fn valid_ident(s: &str, allow_dot: bool) -> bool {
    let b = s.as_bytes();
    (2..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || *c == b'-'
                || *c == b'_'
                || (allow_dot && *c == b'.')
        })
}

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident, $label:literal, $dot:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn parse(s: &str) -> Result<Self, InvalidIdentifier> {
                if valid_ident(s, $dot) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(InvalidIdentifier($label))
                }
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether `s` would parse (without building the value).
            pub fn is_valid(s: &str) -> bool {
                valid_ident(s, $dot)
            }
        }

        impl FromStr for $name {
            type Err = InvalidIdentifier;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id!(
    /// An organisation's slug, e.g. `avec63`, `chambre-vif`.
    OrgSlug, "organisation slug", false
);
text_id!(
    /// A username, unique in a deployment; never an e-mail address.
    Username, "username", true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(OrgSlug::parse("avec63").is_ok());
        assert!(OrgSlug::parse("chambre-vif").is_ok());
        assert!(OrgSlug::parse("A").is_err());
        assert!(OrgSlug::parse("-x").is_err());
        assert!(OrgSlug::parse("x y").is_err());
        assert!(OrgSlug::parse("a.b").is_err());
        assert!(Username::parse("marie.dupont").is_ok());
        assert!(Username::parse("marie@x.fr").is_err());
    }
}
