//! The frame codec: a `u32` little-endian length prefix, then a MessagePack
//! body (one or more MessagePack values back to back: a header, then the
//! payload it announces).
//!
//! Reading never trusts the prefix: a length above the cap is refused before
//! anything is allocated, and the body is read in bounded chunks, so a peer
//! that announces 4 GiB and sends ten bytes costs ten bytes. Every failure is a
//! [`FrameError`], never a panic.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Default cap on one frame's body: 256 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 256 << 20;

/// How much of a body is read (and allocated) at a time.
const CHUNK: usize = 64 << 10;

/// Why a frame could not be read or written.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The peer closed the channel cleanly, before the first byte of a frame.
    Closed,
    /// The channel ended inside a frame.
    Truncated { expected: usize, got: usize },
    /// The prefix announces more than the cap.
    Oversize { len: usize, max: usize },
    /// The body is not the MessagePack that was expected.
    Decode(String),
    /// The value could not be encoded.
    Encode(String),
    /// The channel failed.
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("channel closed"),
            FrameError::Truncated { expected, got } => {
                write!(
                    f,
                    "truncated frame: expected {expected} bytes, the channel ended after {got}"
                )
            }
            FrameError::Oversize { len, max } => {
                write!(f, "frame of {len} bytes exceeds the cap of {max} bytes")
            }
            FrameError::Decode(m) => write!(f, "undecodable frame: {m}"),
            FrameError::Encode(m) => write!(f, "could not encode: {m}"),
            FrameError::Io(e) => write!(f, "i/o error on the worker channel: {e}"),
        }
    }
}

/// Read exactly `buf.len()` bytes; `Ok(n < len)` when the channel ends first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Read one frame's body into `body` (cleared first). The body grows chunk by
/// chunk as bytes arrive, never to the announced length up front.
pub(crate) fn read_frame(
    r: &mut impl Read,
    max: usize,
    body: &mut Vec<u8>,
) -> Result<(), FrameError> {
    body.clear();
    let mut prefix = [0u8; 4];
    match read_full(r, &mut prefix).map_err(FrameError::Io)? {
        0 => return Err(FrameError::Closed),
        4 => {}
        got => return Err(FrameError::Truncated { expected: 4, got }),
    }
    let len = u32::from_le_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::Oversize { len, max });
    }
    while body.len() < len {
        let start = body.len();
        let step = (len - start).min(CHUNK);
        body.resize(start + step, 0);
        let got = read_full(r, &mut body[start..]).map_err(FrameError::Io)?;
        if got < step {
            return Err(FrameError::Truncated {
                expected: len,
                got: start + got,
            });
        }
    }
    Ok(())
}

/// Start a frame in `buf`: clears it and reserves the length prefix.
pub(crate) fn begin(buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
}

/// Append one MessagePack value to a frame begun with [`begin`].
pub(crate) fn push<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), FrameError> {
    rmp_serde::encode::write(buf, value).map_err(|e| FrameError::Encode(e.to_string()))
}

/// Finish a frame: check the cap and fill in the length prefix. `buf` is then
/// ready to be written in one `write_all`.
pub(crate) fn finish(buf: &mut [u8], max: usize) -> Result<(), FrameError> {
    let len = buf.len() - 4;
    if len > max || len > u32::MAX as usize {
        return Err(FrameError::Oversize {
            len,
            max: max.min(u32::MAX as usize),
        });
    }
    buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Encode `value` as a whole frame and write it.
pub(crate) fn write_value<T: Serialize>(
    w: &mut impl Write,
    value: &T,
    max: usize,
) -> Result<(), FrameError> {
    let mut buf = Vec::with_capacity(64);
    begin(&mut buf);
    push(&mut buf, value)?;
    finish(&mut buf, max)?;
    w.write_all(&buf)
        .and_then(|()| w.flush())
        .map_err(FrameError::Io)
}

/// Decode the MessagePack value at the front of `body` and advance `body`
/// past it (the rest is the payload it announces).
pub(crate) fn take<T: DeserializeOwned>(body: &mut &[u8]) -> Result<T, FrameError> {
    rmp_serde::decode::from_read(body).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Decode a whole slice as one value.
pub(crate) fn decode_all<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FrameError> {
    rmp_serde::from_slice(bytes).map_err(|e| FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Header {
        id: u64,
        name: String,
    }

    fn frame(h: &Header, payload: &[u32]) -> Vec<u8> {
        let mut buf = Vec::new();
        begin(&mut buf);
        push(&mut buf, h).unwrap();
        push(&mut buf, payload).unwrap();
        finish(&mut buf, DEFAULT_MAX_FRAME).unwrap();
        buf
    }

    /// Decode a frame the way the two ends do; any error is fine, a panic is not.
    fn decode(bytes: &[u8], max: usize) -> Result<(Header, Vec<u32>), FrameError> {
        let mut r = bytes;
        let mut body = Vec::new();
        read_frame(&mut r, max, &mut body)?;
        let mut rest = &body[..];
        let h: Header = take(&mut rest)?;
        let p: Vec<u32> = decode_all(rest)?;
        Ok((h, p))
    }

    #[test]
    fn round_trip() {
        let h = Header {
            id: 7,
            name: "job".into(),
        };
        let bytes = frame(&h, &[1, 2, 3]);
        let (h2, p) = decode(&bytes, DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(h2, h);
        assert_eq!(p, vec![1, 2, 3]);
    }

    #[test]
    fn closed_truncated_oversize() {
        let mut body = Vec::new();
        assert!(matches!(
            read_frame(&mut &b""[..], 100, &mut body),
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame(&mut &b"\x05\x00"[..], 100, &mut body),
            Err(FrameError::Truncated { .. })
        ));
        assert!(matches!(
            read_frame(&mut &b"\x05\x00\x00\x00ab"[..], 100, &mut body),
            Err(FrameError::Truncated {
                expected: 5,
                got: 2
            })
        ));
        // 4 GiB announced: refused without allocating it.
        assert!(matches!(
            read_frame(
                &mut &b"\xff\xff\xff\xffab"[..],
                DEFAULT_MAX_FRAME,
                &mut body
            ),
            Err(FrameError::Oversize { .. })
        ));
        // Under the cap but lying: only what arrived is allocated.
        assert!(matches!(
            read_frame(&mut &b"\x00\x00\x00\x08ab"[..], usize::MAX, &mut body),
            Err(FrameError::Truncated { got: 2, .. })
        ));
        assert!(body.capacity() <= CHUNK);
        let mut buf = Vec::new();
        begin(&mut buf);
        push(&mut buf, &vec![0u8; 100]).unwrap();
        assert!(matches!(
            finish(&mut buf, 10),
            Err(FrameError::Oversize { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, 1 << 16);
        }

        #[test]
        fn mutated_frames_never_panic(
            id in any::<u64>(),
            name in ".{0,40}",
            payload in proptest::collection::vec(any::<u32>(), 0..40),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let h = Header { id, name };
            let mut bytes = frame(&h, &payload);
            let good = decode(&bytes, DEFAULT_MAX_FRAME).unwrap();
            prop_assert_eq!(&good.0, &h);
            prop_assert_eq!(&good.1, &payload);
            for (at, x) in flips {
                let i = at % bytes.len();
                bytes[i] ^= x;
            }
            let _ = decode(&bytes, 1 << 16);
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = decode(&bytes, 1 << 16);
        }
    }
}
