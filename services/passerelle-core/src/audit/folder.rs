//! Reading the checkpoint folder (`PASSERELLE_CHECKPOINT_DIR`), where every instance
//! appends each signed checkpoint after its commit.
//!
//! File format (`checkpoints.jsonl`, documented in ARCHITECTURE.md): one JSON object per
//! line, `{"size": N, "checkpoint": "<C2SP signed note>"}`, appended with `O_APPEND` in one
//! write. Several instances append to it, so lines are in commit order only roughly (a
//! process may write its line after a later commit's); the latest checkpoint is the one
//! with the largest size. A crash can leave a torn line: lines that are not such an object
//! are skipped and counted, never trusted.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use passerelle_domain::checkpoint;
use passerelle_domain::merkle::Hash;
use serde::Deserialize;

/// The file name of the checkpoint log in the checkpoint folder.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";

/// How much of the end of the file holds the latest checkpoint: lines are written right
/// after their commit, so the largest size is among the last lines written (a few hundred
/// bytes each; this covers thousands of concurrent appends).
const TAIL_BYTES: u64 = 1024 * 1024;

#[derive(Deserialize)]
struct Line {
    size: u64,
    checkpoint: String,
}

/// The latest checkpoint found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// Its size (from the line; the signature is checked by the verifier).
    pub size: u64,
    /// The signed note.
    pub text: String,
}

/// What the folder holds, as far as verification is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderState {
    /// The latest checkpoint, when the file has any readable line.
    pub latest: Option<Latest>,
    /// Lines skipped because they are not `{"size", "checkpoint"}` objects (torn writes).
    pub unreadable_lines: u64,
}

/// The checkpoint folder.
#[derive(Debug, Clone)]
pub struct Folder {
    file: PathBuf,
}

impl Folder {
    /// The folder at `dir`.
    pub fn new(dir: &Path) -> Folder {
        Folder {
            file: dir.join(CHECKPOINTS_FILE),
        }
    }

    /// The checkpoint log's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Reads the latest checkpoint from the end of the file. A missing file is an empty
    /// folder.
    pub fn latest(&self) -> std::io::Result<FolderState> {
        let mut f = match File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(FolderState::default()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        f.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity((len - start) as usize);
        f.take(TAIL_BYTES).read_to_end(&mut tail)?;
        // Starting mid-file, the first piece is part of a line: drop it.
        let body: &[u8] = if start > 0 {
            match tail.iter().position(|&b| b == b'\n') {
                Some(i) => &tail[i + 1..],
                None => &[],
            }
        } else {
            &tail
        };
        let mut state = FolderState::default();
        for raw in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Line>(raw) {
                Ok(line) => {
                    if state.latest.as_ref().is_none_or(|l| line.size > l.size) {
                        state.latest = Some(Latest {
                            size: line.size,
                            text: line.checkpoint,
                        });
                    }
                }
                Err(_) => state.unreadable_lines += 1,
            }
        }
        Ok(state)
    }

    /// Every readable checkpoint's `(size, root)`, parsed but not verified, in file order.
    /// Streams the file; only the pairs are kept (40 bytes per checkpoint).
    pub fn all_roots(&self) -> std::io::Result<Vec<(u64, Hash)>> {
        let mut out = Vec::new();
        self.each(|cp| {
            out.push((cp.size, cp.root));
            false
        })?;
        Ok(out)
    }

    /// The text of a checkpoint of `size` with `root`, when the folder holds one.
    pub fn find(&self, size: u64, root: &Hash) -> std::io::Result<Option<String>> {
        let mut found = None;
        self.each(|cp| {
            if cp.size == size && cp.root == *root {
                found = Some(cp.text.clone());
                true
            } else {
                false
            }
        })?;
        Ok(found)
    }

    /// Calls `f` on every readable line until it returns true.
    fn each(&self, mut f: impl FnMut(&Parsed) -> bool) -> std::io::Result<()> {
        let file = match File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw)? == 0 {
                return Ok(());
            }
            let Ok(line) = serde_json::from_slice::<Line>(&raw) else {
                continue;
            };
            let Ok(cp) = checkpoint::parse(&line.checkpoint) else {
                continue;
            };
            let parsed = Parsed {
                size: cp.size,
                root: cp.root,
                text: line.checkpoint,
            };
            if f(&parsed) {
                return Ok(());
            }
        }
    }
}

/// One readable line.
struct Parsed {
    size: u64,
    root: Hash,
    text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn note(size: u64, root: u8) -> String {
        // Parsed, not verified: any well-formed note will do.
        let body = checkpoint::body("passerelle/audit", size, &[root; 32]);
        checkpoint::signed_note(&body, "passerelle-audit", [0; 4], &[0; 64])
    }

    fn line(size: u64, root: u8) -> String {
        format!(
            "{}\n",
            serde_json::json!({"size": size, "checkpoint": note(size, root)})
        )
    }

    #[test]
    fn latest_is_the_largest_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(dir.path());
        assert_eq!(folder.latest().unwrap(), FolderState::default());
        assert!(folder.all_roots().unwrap().is_empty());
        let mut f = std::fs::File::create(folder.path()).unwrap();
        // Out of order (two instances), and a torn line glued to the next one.
        for l in [line(1, 1), line(3, 3), line(2, 2)] {
            f.write_all(l.as_bytes()).unwrap();
        }
        f.write_all(b"{\"size\": 4, \"checkp").unwrap();
        f.write_all(line(5, 5).as_bytes()).unwrap();
        f.write_all(line(4, 4).as_bytes()).unwrap();
        drop(f);
        let state = folder.latest().unwrap();
        assert_eq!(state.latest.as_ref().map(|l| l.size), Some(4));
        assert_eq!(state.latest.unwrap().text, note(4, 4));
        assert_eq!(state.unreadable_lines, 1);
        let roots = folder.all_roots().unwrap();
        assert_eq!(
            roots,
            vec![(1, [1; 32]), (3, [3; 32]), (2, [2; 32]), (4, [4; 32])]
        );
        assert_eq!(folder.find(3, &[3; 32]).unwrap(), Some(note(3, 3)));
        assert_eq!(folder.find(3, &[4; 32]).unwrap(), None);
    }

    #[test]
    fn latest_reads_only_the_tail_of_a_large_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::new(dir.path());
        let mut f = std::io::BufWriter::new(std::fs::File::create(folder.path()).unwrap());
        let mut size = 0;
        while f.get_ref().metadata().unwrap().len() < 2 * TAIL_BYTES {
            size += 1;
            f.write_all(line(size, 1).as_bytes()).unwrap();
            if size % 1000 == 0 {
                f.flush().unwrap();
            }
        }
        f.flush().unwrap();
        let state = folder.latest().unwrap();
        assert_eq!(state.latest.map(|l| l.size), Some(size));
        // The partial first line of the tail is dropped, not counted as torn.
        assert_eq!(state.unreadable_lines, 0);
    }
}
