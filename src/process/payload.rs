//! Job arguments and results in frames, with a fast path for bytes.
//!
//! serde sees a `Vec<u8>` as a sequence of numbers: MessagePack would write
//! (and read back) one integer per byte, about 15 s for 50 MB in a debug
//! build. An argument or result whose type *is* `Vec<u8>` is written instead
//! as one MessagePack `bin` (a header and a copy of the bytes) and read back
//! with one copy. Bytes inside other types travel as `bin` when they are
//! marked so for serde, with the `serde_bytes` crate
//! (`#[serde(with = "serde_bytes")]` or `serde_bytes::ByteBuf`).

use std::any::{Any, TypeId};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::{self, FrameError};

/// Append an argument or a result to a frame begun with `frame::begin`.
pub(crate) fn push<T: Serialize + 'static>(buf: &mut Vec<u8>, value: &T) -> Result<(), FrameError> {
    match (value as &dyn Any).downcast_ref::<Vec<u8>>() {
        Some(bytes) => push_bin(buf, bytes),
        None => frame::push(buf, value),
    }
}

/// Decode a whole slice as one argument or result.
pub(crate) fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, FrameError> {
    if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        if let Some(data) = bin(bytes) {
            let boxed: Box<dyn Any> = Box::new(data.to_vec());
            return Ok(*boxed.downcast::<T>().expect("T is Vec<u8>"));
        }
    }
    frame::decode_all(bytes)
}

/// MessagePack `bin 8/16/32`: a marker, a big-endian length, the bytes.
fn push_bin(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), FrameError> {
    let len = bytes.len();
    if len <= u8::MAX as usize {
        buf.extend_from_slice(&[0xc4, len as u8]);
    } else if len <= u16::MAX as usize {
        buf.push(0xc5);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        buf.push(0xc6);
        buf.extend_from_slice(&len.to_be_bytes());
    } else {
        return Err(FrameError::Encode(format!(
            "{len} bytes do not fit in one MessagePack bin"
        )));
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

/// The data of `bytes` when it is exactly one MessagePack `bin`.
fn bin(bytes: &[u8]) -> Option<&[u8]> {
    let (&marker, rest) = bytes.split_first()?;
    let (len, data) = match marker {
        0xc4 => (*rest.first()? as usize, rest.get(1..)?),
        0xc5 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            &rest[2..],
        ),
        0xc6 => (
            u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            &rest[4..],
        ),
        _ => return None,
    };
    (data.len() == len).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: Serialize + 'static>(value: &T) -> Vec<u8> {
        let mut buf = Vec::new();
        push(&mut buf, value).unwrap();
        buf
    }

    #[test]
    fn a_byte_vector_is_one_bin() {
        for len in [0, 1, 255, 256, 65_535, 65_536, 1 << 20] {
            let v: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let buf = encoded(&v);
            let header = match len {
                0..=255 => 2,
                256..=65_535 => 3,
                _ => 5,
            };
            assert_eq!(buf.len(), len + header, "len {len}: a header and the bytes");
            assert_eq!(&buf[header..], &v[..]);
            // Any MessagePack reader sees a bin; serde's Vec<u8> reads it back.
            assert_eq!(frame::decode_all::<Vec<u8>>(&buf).unwrap(), v);
            assert_eq!(decode::<Vec<u8>>(&buf).unwrap(), v);
            assert_eq!(decode::<serde_bytes_like::Buf>(&buf).unwrap().0, v);
        }
    }

    #[test]
    fn other_types_are_plain_messagepack() {
        let v = vec![1u32, 300, 70_000];
        assert_eq!(encoded(&v), rmp_serde::to_vec(&v).unwrap());
        assert_eq!(decode::<Vec<u32>>(&encoded(&v)).unwrap(), v);
        // A byte vector written the generic way still decodes.
        let bytes = vec![1u8, 2, 3];
        let generic = rmp_serde::to_vec(&bytes).unwrap();
        assert_eq!(decode::<Vec<u8>>(&generic).unwrap(), bytes);
        // Not exactly one bin (cut short): an error, not a panic.
        let short = &encoded(&vec![7u8; 300])[..100];
        assert!(decode::<Vec<u8>>(short).is_err());
    }

    /// What `serde_bytes::ByteBuf` does: read a bin as bytes.
    mod serde_bytes_like {
        pub(super) struct Buf(pub(super) Vec<u8>);
        impl<'de> serde::Deserialize<'de> for Buf {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = Buf;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Buf, E> {
                        Ok(Buf(v.to_vec()))
                    }
                }
                d.deserialize_byte_buf(V)
            }
        }
    }
}
