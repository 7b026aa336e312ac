//! Exports of the whole log (JSON lines, format in `files.rs`), streamed in pages under the
//! current signed head, with the public key alone.

use std::io::Write;

use passerelle_domain::audit::AuditLeaf;
use passerelle_domain::checkpoint;

use super::files::{EXPORT_FORMAT, ExportLine, ExportSummary};
use super::log::{AuditLog, PAGE, b64};
use super::render::readable;
use crate::{CoreError, CoreResult};

impl AuditLog {
    /// Writes the export (JSON lines, see [`ExportLine`]) of every entry under the current
    /// signed head, then that head's checkpoint and the verifier key. Streams the leaves.
    pub async fn export(&self, out: &mut (dyn Write + Send)) -> CoreResult<ExportSummary> {
        let head = self.signed_head().await?;
        let (size, root, text) = match &head {
            Some(h) => (h.size, h.root, Some(h.checkpoint.clone())),
            None => (0, passerelle_domain::merkle::empty_root(), None),
        };
        let write = |out: &mut (dyn Write + Send), line: &ExportLine| -> CoreResult<()> {
            serde_json::to_writer(&mut *out, line)
                .map_err(|e| CoreError::Internal(format!("export: {e}")))?;
            out.write_all(b"\n")
                .map_err(|e| CoreError::Internal(format!("export: {e}")))
        };
        write(
            out,
            &ExportLine::Header {
                format: EXPORT_FORMAT.to_owned(),
                origin: head
                    .as_ref()
                    .and_then(|h| checkpoint::parse(&h.checkpoint).ok())
                    .map(|c| c.origin),
                key_name: self.key.name.clone(),
                size,
            },
        )?;
        let mut next = 0u64;
        let mut flagged = 0;
        while next < size {
            let page = self.store.audit_leaves(next, PAGE).await?;
            let Some(last) = page.last().map(|r| r.seq) else {
                break;
            };
            // Rows are by seq: the next page starts after the last one, gaps or not.
            let after = last.saturating_add(1);
            for row in page.into_iter().take_while(|r| r.seq < size) {
                let entry = AuditLeaf::decode(&row.leaf.bytes)
                    .map(|l| {
                        flagged += u64::from(l.flag_226_14());
                        readable(&l)
                    })
                    .unwrap_or(serde_json::Value::Null);
                write(
                    out,
                    &ExportLine::Leaf {
                        seq: row.seq,
                        hash: hex::encode(row.leaf_hash),
                        bytes: b64(&row.leaf.bytes),
                        entry,
                    },
                )?;
            }
            next = after;
        }
        if let Some(text) = text {
            write(
                out,
                &ExportLine::Checkpoint {
                    size,
                    checkpoint: text,
                },
            )?;
        }
        write(
            out,
            &ExportLine::Key {
                verifier_key: self.key.line(),
            },
        )?;
        out.flush()
            .map_err(|e| CoreError::Internal(format!("export: {e}")))?;
        Ok(ExportSummary {
            entries: size,
            root,
            checkpoint_size: head.map(|h| h.size),
            flagged_226_14: flagged,
        })
    }
}
