//! How a job names its function: offsets from a base symbol in lox.
//!
//! A job carries two numbers: the offset of the user's `fn(A) -> R` and the
//! offset of a *trampoline*, `trampoline::<A, R>`, both measured from the
//! address of [`anchor`], a function of this crate. All three live in the same
//! executable image, which the loader moves as one block under ASLR, so the
//! offsets are the same in every process running the same file. The worker
//! adds its own anchor address back and calls the trampoline, which decodes
//! `A`, calls the function, and encodes `R`: no registration table, no names.
//!
//! This is sound only if the worker runs a byte-identical executable, which is
//! what the handshake's fingerprint establishes before any job is accepted,
//! and only if the function lives in that executable image (not in a shared
//! library loaded at its own address), which [`entry_of`] checks with `dladdr`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::payload;
use crate::error::panic_message;

/// A job's function, as offsets from [`anchor`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) func: i64,
    pub(crate) tramp: i64,
}

/// How a job ended, as the worker reports it; `Ok` is followed in the frame by
/// the encoded result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Panicked(String),
    Protocol(String),
}

/// The base symbol every offset is measured from. Never called; only its
/// address matters.
#[inline(never)]
pub(crate) fn anchor() {}

fn base() -> usize {
    anchor as fn() as usize
}

/// What a trampoline looks like: function address, encoded arguments, buffer
/// for the encoded result.
///
/// # Safety
///
/// Callable only with the address of a `fn(A) -> R` of this image for the
/// very `A` and `R` the trampoline was monomorphized with (what `resolve`
/// returns for an entry made by `entry_of::<A, R>`).
pub(crate) type Trampoline = unsafe fn(usize, &[u8], &mut Vec<u8>) -> Status;

/// The entry for `f`, or why it cannot travel to another process.
pub(crate) fn entry_of<A, R>(f: fn(A) -> R) -> Result<Entry, String>
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let func = f as usize;
    let tramp = trampoline::<A, R> as Trampoline as usize;
    same_image(func)?;
    Ok(Entry {
        func: func.wrapping_sub(base()) as i64,
        tramp: tramp.wrapping_sub(base()) as i64,
    })
}

/// Check that `addr` is in the same loaded object as [`anchor`] (the main
/// executable, when lox is linked statically as usual).
#[cfg(all(unix, not(target_os = "emscripten")))]
fn same_image(addr: usize) -> Result<(), String> {
    fn object_of(addr: usize) -> Option<usize> {
        // SAFETY: Dl_info is plain old data (pointers); all-zero is a valid value.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables for `addr` and writes `info`.
        let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) };
        (found != 0).then_some(info.dli_fbase as usize)
    }
    match (object_of(addr), object_of(base())) {
        (Some(f), Some(b)) if f != b => Err(
            "the function lives in a shared library, not in the executable: a worker process \
             could not find it at the same offset; wrap it in a function of the executable"
                .to_owned(),
        ),
        // Same object, or the loader cannot tell (a static executable): one image.
        _ => Ok(()),
    }
}

#[cfg(not(all(unix, not(target_os = "emscripten"))))]
fn same_image(_addr: usize) -> Result<(), String> {
    Ok(())
}

/// Decode `A`, call `f`, encode `R` into `out` (cleared first). Panics in `f`
/// are caught and reported; nothing here unwinds.
pub(crate) fn call_encoded<A, R>(f: fn(A) -> R, args: &[u8], out: &mut Vec<u8>) -> Status
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    out.clear();
    let a: A = match payload::decode(args) {
        Ok(a) => a,
        Err(e) => return Status::Protocol(format!("could not decode the job's arguments: {e}")),
    };
    let r = match catch_unwind(AssertUnwindSafe(|| f(a))) {
        Ok(r) => r,
        Err(payload) => return Status::Panicked(panic_message(&*payload)),
    };
    match catch_unwind(AssertUnwindSafe(|| payload::push(out, &r))) {
        Ok(Ok(())) => Status::Ok,
        Ok(Err(e)) => Status::Protocol(format!("could not encode the job's result: {e}")),
        Err(payload) => Status::Protocol(format!(
            "encoding the result panicked: {}",
            panic_message(&*payload)
        )),
    }
}

/// The monomorphized trampoline whose offset a job carries.
///
/// # Safety
///
/// `func` is the address of a function of type `fn(A) -> R` in this process.
/// For a job that holds when `func` is `anchor + offset`, where the parent
/// computed `offset` from a real `fn(A) -> R` in the same `entry_of::<A, R>`
/// call that chose this very trampoline (so the types agree), and the
/// handshake proved that this process runs a byte-identical executable (so
/// the function sits at the same offset here); `entry_of` checked that it
/// lies in the executable image, which ASLR moves as one block with `anchor`.
unsafe fn trampoline<A, R>(func: usize, args: &[u8], out: &mut Vec<u8>) -> Status
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: by the contract, `func` is the address of a `fn(A) -> R`, and a
    // fn pointer has the size and representation of an address.
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    call_encoded(f, args, out)
}

/// Turn an entry received from a parent back into callable addresses.
///
/// # Safety
///
/// The caller must have completed the handshake with the parent that sent
/// `entry`: same protocol version and same executable fingerprint. The
/// returned trampoline may then be called with the returned address (its
/// own contract).
pub(crate) unsafe fn resolve(entry: Entry) -> (Trampoline, usize) {
    let func = base().wrapping_add(entry.func as usize);
    let tramp = base().wrapping_add(entry.tramp as usize);
    // SAFETY: the caller guarantees the handshake; `entry.tramp` is then the
    // offset of a `trampoline::<A, R>` (a `Trampoline`) in this same image.
    let t = unsafe { std::mem::transmute::<usize, Trampoline>(tramp) };
    (t, func)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    #[test]
    fn resolve_round_trip() {
        let e = entry_of(double as fn(u32) -> u32).unwrap();
        // SAFETY: same process, so trivially the same executable.
        let (t, func) = unsafe { resolve(e) };
        let args = rmp_serde::to_vec(&21u32).unwrap();
        let mut out = Vec::new();
        // SAFETY: `resolve` paired `t` with `func`, the address of `double`.
        assert_eq!(unsafe { t(func, &args, &mut out) }, Status::Ok);
        assert_eq!(rmp_serde::from_slice::<u32>(&out).unwrap(), 42);
        // SAFETY: as above.
        let bad = unsafe { t(func, b"\xc1", &mut out) };
        assert!(matches!(bad, Status::Protocol(_)));
    }
}
