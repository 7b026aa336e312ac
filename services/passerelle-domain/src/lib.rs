//! Pure domain of Passerelle: identifiers, vocabularies, the referral model, consent and
//! legal rules, the lifecycle, the access policy, audit leaves and Merkle math.
//!
//! Architecture invariant: this crate does no IO and reads no clock and no RNG; time and
//! ids are parameters. Everything that *decides* lives here and is unit- and
//! property-tested.

pub mod audit;
pub mod checkpoint;
pub mod enums;
pub mod ids;
pub mod lifecycle;
pub mod merkle;
pub mod model;
pub mod policy;
pub mod proof;
pub mod rules;
pub mod verify;
