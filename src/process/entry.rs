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
//! A pool with per-worker state (`process_with`) names two more functions
//! the same way, once per worker process in its setup frame: the user's
//! `init: fn(usize) -> S` and a *builder*, `build::<S>`, which calls it and
//! boxes the state. Its jobs carry a trampoline `trampoline_with::<S, A, R>`
//! that finds `S` in the worker's [`State`] (a `Box<dyn Any>`, downcast).
//!
//! This is sound only if the worker runs a byte-identical executable, which is
//! what the handshake's fingerprint establishes before any job is accepted,
//! and only if the function lives in that executable image (not in a shared
//! library loaded at its own address), which [`entry_of`] checks with `dladdr`.

use std::any::Any;
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
    /// Not run: it was cancelled before it started (see `worker_queue`).
    Skipped,
}

/// The base symbol every offset is measured from. Never called; only its
/// address matters.
#[inline(never)]
pub(crate) fn anchor() {}

fn base() -> usize {
    anchor as fn() as usize
}

/// A worker's state: `None` for a pool without one (or while it is being
/// rebuilt), else the boxed `S` that `init` built.
pub(crate) type State = Option<Box<dyn Any>>;

/// What a trampoline looks like: function address, the worker's state,
/// encoded arguments, buffer for the encoded result.
///
/// # Safety
///
/// Callable only with the address of a `fn(A) -> R` (or, for
/// `trampoline_with::<S, A, R>`, a `fn(&mut S, A) -> R`) of this image for
/// the very types the trampoline was monomorphized with (what `resolve`
/// returns for an entry made by `entry_of::<A, R>` or `entry_with`).
pub(crate) type Trampoline = unsafe fn(usize, &mut State, &[u8], &mut Vec<u8>) -> Status;

/// What a builder looks like: the address of `init: fn(usize) -> S` and the
/// worker index; the boxed state, or the message of `init`'s panic.
///
/// # Safety
///
/// Callable only with the address of a `fn(usize) -> S` of this image for
/// the `S` the builder was monomorphized with (what `resolve` returns for an
/// entry made by `init_entry`).
pub(crate) type Builder = unsafe fn(usize, usize) -> Result<Box<dyn Any>, String>;

/// The entry for `f`, or why it cannot travel to another process.
pub(crate) fn entry_of<A, R>(f: fn(A) -> R) -> Result<Entry, String>
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    offsets(f as usize, trampoline::<A, R> as Trampoline as usize)
}

/// The entry for a job of a pool with per-worker state `S`.
pub(crate) fn entry_with<S, A, R>(f: fn(&mut S, A) -> R) -> Result<Entry, String>
where
    S: 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    offsets(
        f as usize,
        trampoline_with::<S, A, R> as Trampoline as usize,
    )
}

/// The entry of a pool's `init`, sent once per worker in its setup frame.
pub(crate) fn init_entry<S: 'static>(init: fn(usize) -> S) -> Result<Entry, String> {
    offsets(init as usize, build::<S> as Builder as usize)
}

fn offsets(func: usize, tramp: usize) -> Result<Entry, String> {
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
pub(crate) fn call_encoded<A, R>(f: impl FnOnce(A) -> R, args: &[u8], out: &mut Vec<u8>) -> Status
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
unsafe fn trampoline<A, R>(func: usize, _: &mut State, args: &[u8], out: &mut Vec<u8>) -> Status
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: by the contract, `func` is the address of a `fn(A) -> R`, and a
    // fn pointer has the size and representation of an address.
    let f: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    call_encoded(f, args, out)
}

/// The trampoline of a job of a pool with per-worker state `S`: the state
/// is the worker's, built by `build::<S>` before the job.
///
/// # Safety
///
/// As for [`trampoline`], with `func` the address of a `fn(&mut S, A) -> R`
/// chosen together with this trampoline by `entry_with::<S, A, R>`.
unsafe fn trampoline_with<S, A, R>(
    func: usize,
    state: &mut State,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Status
where
    S: 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    // SAFETY: by the contract, `func` is the address of a `fn(&mut S, A) -> R`.
    let f: fn(&mut S, A) -> R = unsafe { std::mem::transmute::<usize, fn(&mut S, A) -> R>(func) };
    match state.as_mut().and_then(|s| s.downcast_mut::<S>()) {
        Some(s) => call_encoded(|a| f(s, a), args, out),
        None => Status::Protocol("the worker has no state of the pool's type".to_owned()),
    }
}

/// Build a worker's state: `init(index)`, boxed; its panic as a message.
///
/// # Safety
///
/// `func` is the address of a `fn(usize) -> S` in this process, chosen
/// together with this builder by `init_entry::<S>` (see [`trampoline`]).
unsafe fn build<S: 'static>(func: usize, index: usize) -> Result<Box<dyn Any>, String> {
    // SAFETY: by the contract, `func` is the address of a `fn(usize) -> S`.
    let init: fn(usize) -> S = unsafe { std::mem::transmute::<usize, fn(usize) -> S>(func) };
    catch_unwind(|| Box::new(init(index)) as Box<dyn Any>)
        .map_err(|payload| format!("init panicked: {}", panic_message(&*payload)))
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

/// [`resolve`] for the init entry of a setup frame.
///
/// # Safety
///
/// As for [`resolve`]; the entry was made by `init_entry`, so its
/// trampoline offset is that of a `build::<S>` (a `Builder`).
pub(crate) unsafe fn resolve_init(entry: Entry) -> (Builder, usize) {
    let func = base().wrapping_add(entry.func as usize);
    let tramp = base().wrapping_add(entry.tramp as usize);
    // SAFETY: the caller guarantees the handshake and an init entry.
    let b = unsafe { std::mem::transmute::<usize, Builder>(tramp) };
    (b, func)
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
        assert_eq!(unsafe { t(func, &mut None, &args, &mut out) }, Status::Ok);
        assert_eq!(rmp_serde::from_slice::<u32>(&out).unwrap(), 42);
        // SAFETY: as above.
        let bad = unsafe { t(func, &mut None, b"\xc1", &mut out) };
        assert!(matches!(bad, Status::Protocol(_)));
    }

    fn start(index: usize) -> u64 {
        assert!(index != 7, "no seven");
        index as u64 * 100
    }

    fn count(n: &mut u64, x: u64) -> u64 {
        *n += x;
        *n
    }

    #[test]
    fn stateful_round_trip() {
        let i = init_entry(start as fn(usize) -> u64).unwrap();
        let e = entry_with(count as fn(&mut u64, u64) -> u64).unwrap();
        // SAFETY: same process; entries made by `init_entry` and `entry_with`.
        let ((b, init), (t, func)) = unsafe { (resolve_init(i), resolve(e)) };
        // SAFETY: `resolve_init` paired `b` with `init`.
        let mut state: State = Some(unsafe { b(init, 2) }.unwrap());
        let mut out = Vec::new();
        for want in [201u64, 202] {
            let args = rmp_serde::to_vec(&1u64).unwrap();
            // SAFETY: `resolve` paired `t` with `func`, the address of `count`.
            assert_eq!(unsafe { t(func, &mut state, &args, &mut out) }, Status::Ok);
            assert_eq!(rmp_serde::from_slice::<u64>(&out).unwrap(), want);
        }
        // SAFETY: as above.
        let failed = unsafe { b(init, 7) }.map(drop).unwrap_err();
        assert!(failed.contains("no seven"), "{failed}");
        // SAFETY: as above; no state is reported, never dereferenced.
        let none = unsafe { t(func, &mut None, &[], &mut out) };
        assert!(matches!(none, Status::Protocol(_)));
    }
}
