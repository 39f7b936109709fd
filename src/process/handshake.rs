//! The handshake: protocol version and executable fingerprint.
//!
//! The parent speaks first (`Hello` with its version, fingerprint and frame
//! cap); the worker compares, answers with its own `Hello`, and serves jobs
//! only if both match. The parent compares too, so a mismatch is reported on
//! the parent's side as a `TaskError::Launch` naming both values.
//!
//! The fingerprint is a 128-bit hash of the executable file's *contents*
//! (not its path or mtime), computed once per process and cached: a
//! byte-identical copy at another path, or on another host, passes; any other
//! binary (another build, another program) fails. Equal fingerprints are what
//! make the function-pointer offsets of [`super::entry`] meaningful.

use std::io::Read;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Bumped whenever a frame's layout changes.
pub(crate) const PROTOCOL_VERSION: u32 = 4;

/// What each side says first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) version: u32,
    /// Hex fingerprint of the sender's executable.
    pub(crate) fingerprint: String,
    /// Parent → worker: the frame cap the worker must respect. Worker →
    /// parent: 0.
    pub(crate) max_frame: u64,
    /// The sender's process id (for messages and tests).
    pub(crate) pid: u32,
    /// Parent → worker: the worker's index in its pool (it labels the
    /// worker's panic reports). Worker → parent: 0.
    pub(crate) worker: u64,
}

impl Hello {
    pub(crate) fn ours(max_frame: usize) -> Result<Hello, String> {
        Ok(Hello {
            version: PROTOCOL_VERSION,
            fingerprint: own_fingerprint()?.to_owned(),
            max_frame: max_frame as u64,
            pid: std::process::id(),
            worker: 0,
        })
    }

    /// The parent's hello to worker number `index`.
    pub(crate) fn for_worker(self, index: usize) -> Hello {
        Hello {
            worker: index as u64,
            ..self
        }
    }

    /// `None` when `theirs` may talk to us; otherwise why not.
    pub(crate) fn mismatch(&self, theirs: &Hello) -> Option<String> {
        if self.version != theirs.version {
            Some(format!(
                "protocol version mismatch: this side speaks v{}, the other v{}",
                self.version, theirs.version
            ))
        } else if self.fingerprint != theirs.fingerprint {
            Some(format!(
                "executable fingerprint mismatch: this program is {}, the worker executable is {} \
                 (the worker must run a byte-identical copy of this executable)",
                self.fingerprint, theirs.fingerprint
            ))
        } else {
            None
        }
    }
}

/// The fingerprint of the running executable, computed on first use.
pub(crate) fn own_fingerprint() -> Result<&'static str, String> {
    static FP: OnceLock<Result<String, String>> = OnceLock::new();
    FP.get_or_init(|| {
        // On Linux /proc/self/exe is the file that is running even if its
        // path has since been replaced or deleted.
        let path = if cfg!(target_os = "linux") {
            std::path::PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe()
                .map_err(|e| format!("cannot locate the current executable: {e}"))?
        };
        fingerprint_file(&path).map_err(|e| {
            format!(
                "cannot read the executable {} to fingerprint it: {e}",
                path.display()
            )
        })
    })
    .as_ref()
    .map(String::as_str)
    .map_err(Clone::clone)
}

/// 128-bit hash of a file's contents, as 32 hex digits.
pub(crate) fn fingerprint_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.write(&buf[..n]);
    }
    Ok(h.finish())
}

/// A fast non-cryptographic 2×64-bit hash over 8-byte words (the fingerprint
/// guards against running the wrong binary by mistake, not against an
/// adversary who can already replace the executable).
struct Hasher {
    a: u64,
    b: u64,
    len: u64,
    tail: Vec<u8>,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

impl Hasher {
    fn new() -> Self {
        Hasher {
            a: 0x243F_6A88_85A3_08D3,
            b: 0x1319_8A2E_0370_7344,
            len: 0,
            tail: Vec::new(),
        }
    }

    #[inline]
    fn word(&mut self, w: u64) {
        self.a = (self.a ^ w).wrapping_mul(K1).rotate_left(29);
        self.b = (self.b.rotate_left(17) ^ w).wrapping_mul(K2);
    }

    fn write(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.tail.is_empty() {
            let need = 8 - self.tail.len();
            let take = need.min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() == 8 {
                let w = u64::from_le_bytes(self.tail[..].try_into().expect("8 bytes"));
                self.word(w);
                self.tail.clear();
            }
        }
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        self.tail.extend_from_slice(chunks.remainder());
    }

    fn finish(mut self) -> String {
        let mut last = [0u8; 8];
        last[..self.tail.len()].copy_from_slice(&self.tail);
        let w = u64::from_le_bytes(last);
        self.word(w);
        self.word(self.len);
        let mix = |mut x: u64| {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            x ^ (x >> 33)
        };
        format!(
            "{:016x}{:016x}",
            mix(self.a ^ self.b.rotate_left(7)),
            mix(self.b ^ self.len)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(chunks: &[&[u8]]) -> String {
        let mut h = Hasher::new();
        for c in chunks {
            h.write(c);
        }
        h.finish()
    }

    #[test]
    fn chunking_does_not_change_the_hash() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let whole = hash(&[&data]);
        assert_eq!(whole, hash(&[&data[..3], &data[3..11], &data[11..]]));
        assert_ne!(whole, hash(&[&data[..999]]));
        let mut flipped = data.clone();
        flipped[500] ^= 1;
        assert_ne!(whole, hash(&[&flipped]));
        assert_ne!(hash(&[b"a"]), hash(&[b"a\0"]));
    }

    #[test]
    fn own_fingerprint_is_stable() {
        let a = own_fingerprint().unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, own_fingerprint().unwrap());
    }
}
