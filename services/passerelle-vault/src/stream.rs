//! Streaming seal and open, for attachments: the same envelope as [`crate::seal`] —
//! `age(header || body)`, one standard binary age file — written and read in pieces, so a
//! file of any size is never held whole in memory and never written in clear anywhere.
//!
//! - [`SealWriter`] writes the binding header, then whatever is written to it, encrypted
//!   (age STREAM, 64 KiB chunks) into any [`Write`] sink; [`SealWriter::finish`] writes
//!   the last chunk and returns the sink. Only the referral's public recipient is needed.
//! - [`ReferralKey::open_reader`] decrypts from any [`Read`] source, checks the binding
//!   header before returning, and then yields the body; every chunk is authenticated
//!   before its bytes are returned, and a truncated or altered stream fails with an
//!   [`std::io::ErrorKind::InvalidData`] error (alerted in the log, without content).
//!
//! Both are plain `std::io` adapters, reusable by benchmarks and export tools.

use std::io::{self, Read, Write};

use crate::envelope::{Binding, HEADER_LEN, MAGIC, alert, parse_referral_recipient};
use crate::error::VaultError;
use crate::referral::ReferralKey;

/// An age stream being written: header first, then the body, encrypted chunk by chunk.
pub struct SealWriter<W: Write> {
    inner: age::stream::StreamWriter<W>,
}

impl<W: Write> std::fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealWriter")
    }
}

impl<W: Write> SealWriter<W> {
    /// Starts sealing for `binding` to a referral recipient (`age1…`) into `sink`; the
    /// age header and the binding header are written first.
    pub fn new(
        referral_recipient: &str,
        binding: &Binding,
        sink: W,
    ) -> Result<SealWriter<W>, VaultError> {
        const FAIL: &str = "age encryption failed";
        let recipient = parse_referral_recipient(referral_recipient)?;
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|_| VaultError::Crypto(FAIL))?;
        let mut inner = encryptor
            .wrap_output(sink)
            .map_err(|_| VaultError::Crypto(FAIL))?;
        inner
            .write_all(&binding.header())
            .map_err(|_| VaultError::Crypto(FAIL))?;
        Ok(SealWriter { inner })
    }

    /// Writes the last chunk and returns the sink. Without it the stream is truncated and
    /// will not open.
    pub fn finish(self) -> Result<W, VaultError> {
        self.inner
            .finish()
            .map_err(|_| VaultError::Crypto("age encryption failed"))
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The body of an opened age stream, its binding header already checked.
pub struct OpenReader<R: Read> {
    inner: age::stream::StreamReader<R>,
    binding: Binding,
    failed: bool,
}

impl<R: Read> std::fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenReader")
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                if !self.failed {
                    self.failed = true;
                    let _ = alert(&self.binding, "age payload failed authentication");
                }
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("sealed stream failed its integrity check ({})", e.kind()),
                ))
            }
        }
    }
}

impl ReferralKey {
    /// Opens an age stream of this referral from `source`, reading and checking its binding
    /// header first: a stream of another referral, part or item, or one that does not open
    /// with this key, fails here with [`VaultError::Tamper`] before any body byte is read.
    pub fn open_reader<R: Read>(
        &self,
        binding: &Binding,
        source: R,
    ) -> Result<OpenReader<R>, VaultError> {
        let decryptor = age::Decryptor::new(source).map_err(|e| {
            alert(
                binding,
                match e {
                    age::DecryptError::UnknownFormat => "not a known age format",
                    _ => "age header is invalid",
                },
            )
        })?;
        let mut inner = decryptor
            .decrypt(std::iter::once(self.age_identity() as &dyn age::Identity))
            .map_err(|e| {
                alert(
                    binding,
                    match e {
                        age::DecryptError::NoMatchingKeys => "no matching key for this ciphertext",
                        age::DecryptError::InvalidMac => "age header failed authentication",
                        _ => "age file key failed to decrypt",
                    },
                )
            })?;
        let mut header = [0u8; HEADER_LEN];
        inner.read_exact(&mut header).map_err(|_| {
            alert(
                binding,
                "envelope header is missing or does not authenticate",
            )
        })?;
        if header[..4] != MAGIC {
            return Err(alert(
                binding,
                "envelope header is missing or of an unknown version",
            ));
        }
        if header != binding.header() {
            return Err(alert(binding, "envelope header does not match its binding"));
        }
        Ok(OpenReader {
            inner,
            binding: *binding,
            failed: false,
        })
    }
}
