//! Integrity of stored ciphertexts: before a ciphertext is opened, its SHA-256 must be the
//! one recorded by the audit leaf of the action that wrote it — not only the one in a
//! column next to it, which whoever can write the database can rewrite too.
//!
//! The vault's binding header already makes a ciphertext moved to another row, referral,
//! part or item fail; this check adds what the header cannot: a ciphertext freshly sealed
//! to the referral's public key by someone who can write the database (with a correct
//! header) is refused, because no leaf recorded it. The leaf must be inside the signed
//! head, hash to its stored leaf hash, decode, name the target, come from one of the
//! expected actions and list the digest. (Editing the leaf itself breaks the Merkle tree
//! under the signed checkpoints, which `audit verify` detects.)

use passerelle_domain::audit::{Action, AuditLeaf, Outcome};
use passerelle_domain::merkle;
use passerelle_vault::Binding;
use uuid::Uuid;

use crate::{Core, CoreError, CoreResult};

/// Which leaves may have recorded a ciphertext.
pub(crate) enum Recorded<'a> {
    /// A leaf of one of these actions whose main target is this id.
    By(&'a [Action], Uuid),
    /// Any allowed leaf whose main target is one of these ids.
    AnyOf(&'a [Uuid]),
}

impl Core {
    /// Checks `ciphertext` against its recorded digest (see the module documentation); on
    /// failure, logs an alert naming only ids and answers [`CoreError::Tamper`].
    pub(crate) async fn check_recorded(
        &self,
        ciphertext: &[u8],
        column_sha256: Option<&[u8; 32]>,
        recorded: Recorded<'_>,
        binding: &Binding,
    ) -> CoreResult<()> {
        let sha = passerelle_vault::sha256(ciphertext);
        self.check_recorded_digest(&sha, column_sha256, recorded, binding)
            .await
    }

    /// Like [`Core::check_recorded`], for a digest computed by the caller (streams).
    pub(crate) async fn check_recorded_digest(
        &self,
        sha: &[u8; 32],
        column_sha256: Option<&[u8; 32]>,
        recorded: Recorded<'_>,
        binding: &Binding,
    ) -> CoreResult<()> {
        if column_sha256.is_some_and(|c| c != sha) {
            return Err(tamper(
                binding,
                "ciphertext does not match its stored digest",
            ));
        }
        let head = self.store().audit_head().await?.map_or(0, |h| h.size);
        let (actions, targets): (Option<&[Action]>, Vec<Uuid>) = match recorded {
            Recorded::By(actions, target) => (Some(actions), vec![target]),
            Recorded::AnyOf(targets) => (None, targets.to_vec()),
        };
        for target in targets {
            for row in self
                .store()
                .leaves_recording(&target.to_string(), sha)
                .await?
            {
                if row.seq >= head || row.leaf_hash != merkle::leaf_hash(&row.leaf.bytes) {
                    continue;
                }
                let Ok(leaf) = AuditLeaf::decode(&row.leaf.bytes) else {
                    continue;
                };
                if leaf.outcome == Outcome::Allowed
                    && leaf.targets.main() == Some(target)
                    && actions.is_none_or(|a| a.contains(&leaf.action))
                    && leaf.ciphertext_sha256.contains(sha)
                {
                    return Ok(());
                }
            }
        }
        Err(tamper(
            binding,
            "ciphertext is not the one recorded in the audit log",
        ))
    }
}

impl Core {
    /// The referral's recipient as the key unwrapped by the caller's organisation says,
    /// checked against the stored column: new parts are sealed to a key the parties hold,
    /// never to a recipient rewritten in the database.
    pub(crate) fn checked_recipient(
        &self,
        key: &passerelle_vault::ReferralKey,
        row: &passerelle_store::ReferralRow,
    ) -> CoreResult<String> {
        let recipient = key.recipient();
        if recipient != row.recipient {
            return Err(tamper(
                &Binding::new(row.id, passerelle_vault::Part::Content, None),
                "the referral's stored recipient is not its key's",
            ));
        }
        Ok(recipient)
    }
}

/// The alert and the error of a failed integrity check (ids only, never content).
pub(crate) fn tamper(binding: &Binding, reason: &'static str) -> CoreError {
    tracing::warn!(
        referral = %binding.referral,
        part = ?binding.part,
        item = ?binding.item,
        reason,
        "sealed ciphertext failed its integrity check"
    );
    CoreError::Tamper(reason)
}
