//! Attachments, streamed both ways.
//!
//! **Upload**: the request body is read frame by frame; each frame goes through a bounded
//! channel to a blocking thread that seals it ([`passerelle_vault::SealWriter`], age
//! STREAM to the referral's identity, part `Attachment`, item = the attachment id) into a
//! sink cutting the ciphertext into [`CHUNK_BYTES`] chunks, which another bounded channel
//! hands back to be stored one by one. At most a few chunks are in memory at any time,
//! whatever the file's size, and nothing is ever written in clear. The file name and the
//! plaintext's SHA-256 are sealed in a small record (part `AttachmentName`). Over the
//! limit, or on any error, the staged row and its chunks are deleted: nothing is kept.
//! The attachment is complete only in the transaction of its `attachment.uploaded` leaf,
//! which records the SHA-256 of the whole ciphertext and of the record.
//!
//! **Download**: the ciphertext is read once from the database to check its SHA-256
//! against the leaf (so that nothing of a swapped or forged file is ever sent), the read
//! is journaled, then it is read again and decrypted chunk by chunk into the response
//! (the binding header is checked before the first byte is sent; the digest is checked
//! again at the end, and a mismatch aborts the response).

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::enums::DataCategory;
use passerelle_domain::ids::{AttachmentId, ReferralId};
use passerelle_domain::policy::Route;
use passerelle_store::{AttachmentDone, AttachmentRow, ReferralRow};
use passerelle_vault::{Binding, Part, ReferralKey, SealWriter, VaultError};

use crate::auth::Principal;
use crate::integrity::{Recorded, tamper};
use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx};

/// Default attachment size limit (CONTRACT: 25 MiB).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;
/// Size of the ciphertext chunks stored in the database.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Longest file name, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// An upload still incomplete after this long was interrupted (a crash): it is swept.
pub const STALE_UPLOAD: Duration = Duration::hours(6);

/// Plaintext piece size of a download.
const READ_BYTES: usize = 64 * 1024;

/// What an upload says about its file (the bytes come as a stream).
#[derive(Clone)]
pub struct AttachmentUpload {
    /// The file name (decoded from `X-Filename`); sealed, never logged.
    pub filename: String,
    /// Its data category (`X-Data-Category`, default `narrative`); must be consented.
    pub category: DataCategory,
    /// The length the client announced (`Content-Length`), when any.
    pub declared_len: Option<u64>,
}

impl std::fmt::Debug for AttachmentUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentUpload")
            .field("filename", &"<redacted>")
            .field("category", &self.category)
            .field("declared_len", &self.declared_len)
            .finish()
    }
}

/// An attachment as the parties see it: `{"id","filename","size","sha256","category"}`.
#[derive(Clone, Serialize)]
pub struct AttachmentInfo {
    /// Id.
    pub id: AttachmentId,
    /// File name.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Data category.
    pub category: DataCategory,
}

impl std::fmt::Debug for AttachmentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentInfo")
            .field("id", &self.id)
            .field("filename", &"<redacted>")
            .field("size", &self.size)
            .field("category", &self.category)
            .finish()
    }
}

/// An attachment being downloaded: its description and its bytes, as a stream.
pub struct AttachmentDownload {
    /// Description.
    pub info: AttachmentInfo,
    /// The plaintext, in pieces; an `Err` item means the stored file failed a check
    /// midway (the response must be aborted).
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl std::fmt::Debug for AttachmentDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentDownload")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The sealed record of an attachment (part `AttachmentName`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    filename: String,
    sha256: String,
}

fn targets(row: &ReferralRow, a: AttachmentId) -> Targets {
    Targets {
        referral: Some(row.id),
        case: Some(row.case_id),
        attachment: Some(a),
        ..Targets::default()
    }
}

/// Checks a file name: 1 to 255 characters, no control character, no path separator.
fn valid_filename(name: &str) -> CoreResult<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_FILENAME_CHARS || name.trim().is_empty() {
        return Err(CoreError::BadRequest(
            "X-Filename must name the file in 1 to 255 characters",
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(CoreError::BadRequest(
            "X-Filename must be a file name without control characters or path separators",
        ));
    }
    Ok(())
}

/// A `Write` sink cutting the ciphertext into chunks handed to the storing task.
struct ChunkSink {
    buf: Vec<u8>,
    out: mpsc::Sender<Vec<u8>>,
}

impl ChunkSink {
    fn send(&mut self) -> std::io::Result<()> {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.out
            .blocking_send(full)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "storing stopped"))
    }

    fn close(mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_BYTES - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `Read` over ciphertext chunks arriving from the fetching task, hashing them.
struct ChunkSource {
    rx: mpsc::Receiver<CoreResult<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    hasher: Arc<std::sync::Mutex<Sha256>>,
}

impl Read for ChunkSource {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.hasher
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .update(&chunk);
                    self.current = chunk;
                    self.pos = 0;
                }
                Some(Err(_)) => {
                    return Err(std::io::Error::other("reading the stored file failed"));
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// What the upload pipeline produced.
/// An attachment streamed and sealed, not yet complete (invisible).
pub(crate) struct StagedUpload {
    /// Its id.
    pub(crate) aid: AttachmentId,
    /// What completes it.
    pub(crate) done: AttachmentDone,
    /// What the API answers about it.
    pub(crate) info: AttachmentInfo,
}

impl StagedUpload {
    /// The `attachment.uploaded` leaf of its completion on `row`.
    pub(crate) fn entry(&self, p: &Principal, row: &ReferralRow) -> Entry {
        Entry::by(p, Action::AttachmentUploaded, targets(row, self.aid))
            .basis(row.basis)
            .ciphertext(self.done.ciphertext_sha256)
            .ciphertext(self.done.record_sha256)
    }
}

struct Streamed {
    size: u64,
    plain_sha256: [u8; 32],
    chunks: u32,
    ciphertext_sha256: [u8; 32],
}

impl Core {
    /// The attachment size limit in bytes.
    pub fn max_attachment_bytes(&self) -> u64 {
        self.inner.max_attachment_bytes.load(Ordering::Relaxed)
    }

    /// Sets the attachment size limit (`PASSERELLE_MAX_ATTACHMENT_BYTES`).
    pub fn set_max_attachment_bytes(&self, bytes: u64) {
        self.inner
            .max_attachment_bytes
            .store(bytes, Ordering::Relaxed);
    }

    /// Uploads an attachment to a referral (its sender or receiver), streaming `body`
    /// (see the module documentation). Checks, in the contract's order: role, party,
    /// content destroyed (410), consent withdrawn or category not consented (422); then
    /// the limit (413, nothing kept).
    pub async fn upload_attachment<S>(
        &self,
        p: &Principal,
        id: ReferralId,
        req: AttachmentUpload,
        body: &mut S,
        ctx: &RequestCtx,
    ) -> CoreResult<AttachmentInfo>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        valid_filename(&req.filename)?;
        let row = self.load_for(p, id, Route::UploadAttachment, ctx).await?;
        self.check_addition(p, &row, Some(req.category), Action::AttachmentUploaded, ctx)
            .await?;
        let limit = self.max_attachment_bytes();
        if req.declared_len.is_some_and(|n| n > limit) {
            return Err(CoreError::TooLarge);
        }
        let key = self.referral_key(p, &row).await?;
        let recipient = self.checked_recipient(&key, &row)?;
        drop(key);

        let now = micros(self.now());
        if let Err(e) = self
            .store()
            .discard_stale_attachments(now - STALE_UPLOAD)
            .await
        {
            tracing::warn!(error = %e, "could not sweep interrupted uploads");
        }
        let aid = AttachmentId(Uuid::new_v4());
        self.store()
            .begin_attachment(&AttachmentRow {
                id: aid,
                referral_id: row.id,
                uploaded_by: p.user_id,
                org_id: p.org_id,
                category: req.category,
                created_at: now,
                done: None,
            })
            .await?;
        let result = self
            .finish_upload(p, &row, aid, &recipient, &req, limit, body, ctx)
            .await;
        if result.is_err() {
            match self.store().discard_attachment(aid).await {
                Ok(_) => {}
                Err(e) => tracing::error!(
                    attachment = %aid,
                    error = %e,
                    "could not discard a failed upload; it will be swept"
                ),
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_upload<S>(
        &self,
        p: &Principal,
        row: &ReferralRow,
        aid: AttachmentId,
        recipient: &str,
        req: &AttachmentUpload,
        limit: u64,
        body: &mut S,
        ctx: &RequestCtx,
    ) -> CoreResult<AttachmentInfo>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        let staged = self
            .stage_upload(row.id, aid, recipient, req, limit, body)
            .await?;
        let mut tx = self.store().begin().await?;
        if !tx.complete_attachment(aid, &staged.done).await? {
            return Err(CoreError::Gone);
        }
        self.commit_with(tx, staged.entry(p, row), ctx).await?;
        Ok(staged.info)
    }

    /// Streams an upload into the chunks of the incomplete attachment `aid`, sealed to
    /// `recipient` and bound to `referral`, and seals its record; nothing is visible until
    /// a transaction completes it ([`StagedUpload::done`]).
    pub(crate) async fn stage_upload<S>(
        &self,
        referral: ReferralId,
        aid: AttachmentId,
        recipient: &str,
        req: &AttachmentUpload,
        limit: u64,
        body: &mut S,
    ) -> CoreResult<StagedUpload>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        let binding = Binding::new(referral, Part::Attachment, Some(aid.0));
        let s = self.stream_in(aid, recipient, binding, limit, body).await?;
        let sha_hex = hex::encode(s.plain_sha256);
        let record = zeroize::Zeroizing::new(
            serde_json::to_vec(&Record {
                filename: req.filename.clone(),
                sha256: sha_hex.clone(),
            })
            .map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        let record = passerelle_vault::seal(
            recipient,
            &Binding::new(referral, Part::AttachmentName, Some(aid.0)),
            &record,
        )?;
        let record_sha256 = passerelle_vault::sha256(&record);
        let done = AttachmentDone {
            size: s.size,
            chunks: s.chunks,
            ciphertext_sha256: s.ciphertext_sha256,
            record,
            record_sha256,
            completed_at: micros(self.now()),
        };
        Ok(StagedUpload {
            aid,
            done,
            info: AttachmentInfo {
                id: aid,
                filename: req.filename.clone(),
                size: s.size,
                sha256: sha_hex,
                category: req.category,
            },
        })
    }

    /// The upload pipeline: body → (channel) → sealing thread → (channel) → chunk inserts.
    async fn stream_in<S>(
        &self,
        aid: AttachmentId,
        recipient: &str,
        binding: Binding,
        limit: u64,
        body: &mut S,
    ) -> CoreResult<Streamed>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send,
    {
        let (plain_tx, mut plain_rx) = mpsc::channel::<Bytes>(8);
        let (ct_tx, mut ct_rx) = mpsc::channel::<Vec<u8>>(2);
        let aborted = Arc::new(AtomicBool::new(false));
        let abort_seen = Arc::clone(&aborted);
        let recipient = recipient.to_owned();
        let sealer = tokio::task::spawn_blocking(move || -> Result<(), VaultError> {
            let sink = ChunkSink {
                buf: Vec::with_capacity(CHUNK_BYTES),
                out: ct_tx,
            };
            let mut w = SealWriter::new(&recipient, &binding, sink)?;
            while let Some(piece) = plain_rx.blocking_recv() {
                w.write_all(&piece)
                    .map_err(|_| VaultError::Crypto("sealing stopped"))?;
            }
            if abort_seen.load(Ordering::SeqCst) {
                return Err(VaultError::Crypto("upload aborted"));
            }
            w.finish()?
                .close()
                .map_err(|_| VaultError::Crypto("storing stopped"))
        });

        let feed = async {
            let mut size = 0u64;
            let mut hasher = Sha256::new();
            let result = loop {
                match body.next().await {
                    None => break Ok(()),
                    Some(Err(_)) => break Err(CoreError::BadRequest("the upload was interrupted")),
                    Some(Ok(piece)) => {
                        size += piece.len() as u64;
                        if size > limit {
                            break Err(CoreError::TooLarge);
                        }
                        hasher.update(&piece);
                        if plain_tx.send(piece).await.is_err() {
                            break Err(CoreError::Internal("sealing stopped".into()));
                        }
                    }
                }
            };
            if result.is_err() {
                aborted.store(true, Ordering::SeqCst);
            }
            drop(plain_tx);
            result.map(|()| (size, <[u8; 32]>::from(hasher.finalize())))
        };
        let store_chunks = async {
            let mut seq = 0u32;
            let mut hasher = Sha256::new();
            while let Some(chunk) = ct_rx.recv().await {
                hasher.update(&chunk);
                self.store().put_attachment_chunk(aid, seq, &chunk).await?;
                seq += 1;
            }
            Ok::<_, CoreError>((seq, <[u8; 32]>::from(hasher.finalize())))
        };
        let (fed, stored) = tokio::join!(feed, store_chunks);
        let sealed = sealer
            .await
            .map_err(|e| CoreError::Internal(format!("sealing task: {e}")))?;
        let (size, plain_sha256) = fed?;
        let (chunks, ciphertext_sha256) = stored?;
        sealed?;
        Ok(Streamed {
            size,
            plain_sha256,
            chunks,
            ciphertext_sha256,
        })
    }

    /// Checks an attachment's sealed record against its leaf and opens it.
    pub(crate) async fn open_record(
        &self,
        key: &ReferralKey,
        a: &AttachmentRow,
        done: &AttachmentDone,
    ) -> CoreResult<AttachmentInfo> {
        let binding = Binding::new(a.referral_id, Part::AttachmentName, Some(a.id.0));
        self.check_recorded(
            &done.record,
            Some(&done.record_sha256),
            Recorded::By(&[Action::AttachmentUploaded], a.id.0),
            &binding,
        )
        .await?;
        let plain = key.open(&binding, &done.record)?;
        let record: Record = serde_json::from_slice(&plain)
            .map_err(|_| tamper(&binding, "attachment record is not what was sealed"))?;
        Ok(AttachmentInfo {
            id: a.id,
            filename: record.filename,
            size: done.size,
            sha256: record.sha256,
            category: a.category,
        })
    }

    /// The complete attachments of a referral, described (for the referral's view).
    pub(crate) async fn attachment_infos(
        &self,
        key: &ReferralKey,
        row: &ReferralRow,
    ) -> CoreResult<Vec<AttachmentInfo>> {
        let mut out = Vec::new();
        for a in self.store().attachments(row.id).await? {
            if let Some(done) = &a.done {
                out.push(self.open_record(key, &a, done).await?);
            }
        }
        Ok(out)
    }

    /// Downloads an attachment (the referral's sender or receiver); see the module
    /// documentation. An attachment of another referral is not found.
    pub async fn read_attachment(
        &self,
        p: &Principal,
        id: ReferralId,
        aid: AttachmentId,
        ctx: &RequestCtx,
    ) -> CoreResult<AttachmentDownload> {
        let row = self.load_for(p, id, Route::ReadAttachment, ctx).await?;
        if row.shredded_at.is_some() {
            return Err(CoreError::Gone);
        }
        let a = self
            .store()
            .attachment(aid)
            .await?
            .filter(|a| a.referral_id == row.id)
            .ok_or(CoreError::NotFound)?;
        let Some(done) = a.done.clone() else {
            return Err(CoreError::NotFound);
        };
        let key = self.referral_key(p, &row).await?;
        let info = self.open_record(&key, &a, &done).await?;
        let binding = Binding::new(row.id, Part::Attachment, Some(aid.0));

        // First pass: the whole ciphertext against its leaf, before anything is sent.
        let mut hasher = Sha256::new();
        for seq in 0..done.chunks {
            let chunk = self
                .store()
                .attachment_chunk(aid, seq)
                .await?
                .ok_or_else(|| tamper(&binding, "a chunk of the stored file is missing"))?;
            hasher.update(&chunk);
        }
        let sha: [u8; 32] = hasher.finalize().into();
        self.check_recorded_digest(
            &sha,
            Some(&done.ciphertext_sha256),
            Recorded::By(&[Action::AttachmentUploaded], aid.0),
            &binding,
        )
        .await?;

        let tx = self.store().begin().await?;
        let entry = Entry::by(p, Action::AttachmentRead, targets(&row, aid)).basis(row.basis);
        self.commit_with(tx, entry, ctx).await?;

        let body = self.stream_out(aid, done.chunks, key, binding, sha);
        Ok(AttachmentDownload { info, body })
    }

    /// The download pipeline: chunk reads → (channel) → opening thread → (channel) →
    /// response pieces.
    pub(crate) fn stream_out(
        &self,
        aid: AttachmentId,
        chunks: u32,
        key: ReferralKey,
        binding: Binding,
        expected: [u8; 32],
    ) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        let (chunk_tx, chunk_rx) = mpsc::channel::<CoreResult<Vec<u8>>>(2);
        let (out_tx, out_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let store = Arc::clone(&self.inner.store);
        tokio::spawn(async move {
            for seq in 0..chunks {
                let item = match store.attachment_chunk(aid, seq).await {
                    Ok(Some(c)) => Ok(c),
                    Ok(None) => Err(CoreError::Tamper("a chunk of the stored file is missing")),
                    Err(e) => Err(e.into()),
                };
                let failed = item.is_err();
                if chunk_tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        tokio::task::spawn_blocking(move || {
            let hasher = Arc::new(std::sync::Mutex::new(Sha256::new()));
            let source = ChunkSource {
                rx: chunk_rx,
                current: Vec::new(),
                pos: 0,
                hasher: Arc::clone(&hasher),
            };
            let fail = || {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the stored file failed its integrity check",
                )
            };
            let Ok(mut reader) = key.open_reader(&binding, source) else {
                let _ = out_tx.blocking_send(Err(fail()));
                return;
            };
            // Each piece is sent when the next one is read, and the last one only once the
            // whole ciphertext matched its digest again: a file swapped between the two
            // passes never reaches the client complete.
            let mut pending: Option<Bytes> = None;
            let mut buf = vec![0u8; READ_BYTES];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let piece = Bytes::copy_from_slice(&buf[..n]);
                        if let Some(ready) = pending.replace(piece)
                            && out_tx.blocking_send(Ok(ready)).is_err()
                        {
                            return; // the client went away
                        }
                    }
                    Err(_) => {
                        let _ = out_tx.blocking_send(Err(fail()));
                        return;
                    }
                }
            }
            drop(reader);
            let sha: [u8; 32] = hasher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .finalize()
                .into();
            if sha != expected {
                let _ = tamper(&binding, "the stored file changed while it was read");
                let _ = out_tx.blocking_send(Err(fail()));
                return;
            }
            if let Some(last) = pending {
                let _ = out_tx.blocking_send(Ok(last));
            }
        });
        futures::stream::unfold(out_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }
}
