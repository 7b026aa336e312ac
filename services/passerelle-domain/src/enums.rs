//! Closed vocabularies of the contract: organisation kinds, roles, purposes, urgencies,
//! data categories, referral states, closing outcomes and consent fields.
//!
//! Every enum here has one spelling on the wire (snake_case, as CONTRACT.md writes it),
//! parsed by `FromStr` and written by `as_str`; an unknown value is a parse error, which the
//! HTTP layer turns into `400`.

/// The value given is not one of the enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value")]
pub struct UnknownValue {
    /// Which vocabulary was being parsed (never the rejected value itself).
    pub kind: &'static str,
}

macro_rules! str_enum_impl {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::enums::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::enums::UnknownValue { kind: $label }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|_| {
                    serde::de::Error::unknown_variant(&s, &[$($text),+])
                })
            }
        }
    };
}

pub(crate) use str_enum_impl as str_enum;

str_enum_impl!(
    /// What an organisation is; decides, among others, who may receive a 226-14 3° report.
    OrgKind, "organisation kind" {
    /// A police station (commissariat).
    Police => "police",
    /// A gendarmerie brigade.
    Gendarmerie => "gendarmerie",
    /// A hospital department (e.g. CHU emergency).
    Hospital => "hospital",
    /// An association (AVEC 63, CIDFF 63, Planning familial…).
    Association => "association",
    /// The women's centre.
    Centre => "centre",
    /// The VIF chamber's clerk's office, the court's victim desk.
    Court => "court",
    /// The prosecutor's office (parquet).
    Prosecutor => "prosecutor",
    /// A shelter.
    Shelter => "shelter",
});

str_enum_impl!(
    /// A user's role inside their organisation.
    Role, "role" {
    /// Files referrals.
    Referrer => "referrer",
    /// Handles incoming referrals.
    Receiver => "receiver",
    /// Manages the organisation's users; sees counts and delays, never content.
    Coordinator => "coordinator",
    /// Reads the audit log, never content.
    Auditor => "auditor",
    /// Organisations, keys, users; never content.
    Admin => "admin",
});

str_enum_impl!(
    /// Why a referral is made; also the purposes a consent covers.
    Purpose, "purpose" {
    /// Psychological support.
    PsychologicalSupport => "psychological_support",
    /// Social support.
    SocialSupport => "social_support",
    /// Legal information.
    LegalInformation => "legal_information",
    /// Health care.
    HealthCare => "health_care",
    /// Shelter.
    Shelter => "shelter",
    /// Court proceedings.
    CourtProceedings => "court_proceedings",
    /// A report to the prosecutor.
    ReportToProsecutor => "report_to_prosecutor",
});

str_enum_impl!(
    /// How fast a referral must be handled; ordered from least to most urgent.
    Urgency, "urgency" {
    /// Within 72 hours.
    Normal => "normal",
    /// Within 24 hours.
    High => "high",
    /// Within one hour.
    Immediate => "immediate",
});

str_enum_impl!(
    /// The categories of data a consent may cover, and the fields they cover.
    DataCategory, "data category" {
    /// subject.name, subject.birth_date
    Identity => "identity",
    /// subject.phone
    Contact => "contact",
    /// notes.narrative
    Narrative => "narrative",
    /// notes.risk, danger_grid
    Risk => "risk",
    /// notes.medical
    Medical => "medical",
});

str_enum_impl!(
    /// The states of a referral (CONTRACT.md "Transitions").
    ReferralStatus, "status" {
    /// Filed, not yet opened by the receiving organisation.
    Sent => "sent",
    /// Opened by the receiving organisation.
    Acknowledged => "acknowledged",
    /// Accepted by the receiving organisation.
    Accepted => "accepted",
    /// Declined by the receiving organisation.
    Declined => "declined",
    /// Closed with an outcome.
    Closed => "closed",
    /// The victim withdrew her consent.
    Withdrawn => "withdrawn",
});

str_enum_impl!(
    /// The outcome recorded when a referral is closed.
    CloseOutcome, "outcome" {
    /// The person got help.
    GotHelp => "got_help",
    /// The person could not be contacted.
    CouldNotContact => "could_not_contact",
    /// No capacity.
    NoCapacity => "no_capacity",
    /// Not eligible.
    NotEligible => "not_eligible",
    /// The person no longer wants it.
    NoLongerWanted => "no_longer_wanted",
    /// Referred elsewhere.
    ReferredElsewhere => "referred_elsewhere",
});

str_enum_impl!(
    /// The legal basis on which content is shared.
    ConsentBasis, "consent basis" {
    /// The victim's consent (CSP L1110-4).
    Consent => "consent",
    /// Code pénal art. 226-14 3°: report to the prosecutor without the adult victim's agreement.
    LegalException22614 => "legal_exception_226_14",
});

str_enum_impl!(
    /// How the consent was obtained.
    ConsentMethod, "consent method" {
    /// Said aloud, recorded by the professional.
    Oral => "oral",
    /// Signed form (a scan may be attached).
    Written => "written",
});

str_enum_impl!(
    /// The safe channel to reach the victim.
    SafetyChannel, "safety channel" {
    /// Text message.
    Sms => "sms",
    /// Phone call.
    Phone => "phone",
    /// E-mail.
    Email => "email",
    /// In person, at a partner's premises.
    InPerson => "in_person",
    /// Through the referring professional only.
    ThroughReferrer => "through_referrer",
});

impl Urgency {
    /// How long after filing a referral of this urgency is due, in seconds.
    pub const fn due_after_seconds(self) -> i64 {
        match self {
            Urgency::Immediate => 3600,
            Urgency::High => 24 * 3600,
            Urgency::Normal => 72 * 3600,
        }
    }
}
