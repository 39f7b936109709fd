//! Attribute macros of the `lox` crate: `#[lox::thread(n)]` and
//! `#[lox::process(n)]`. Use them through `lox`, not directly.
//!
//! Each keeps the function as it is and generates, beside it, a module of the
//! same name (functions and modules live in different namespaces) holding the
//! pool in a `static` and one free function per method of `lox::Pool`
//! (`scatter` with the function's own arguments, `gather`, ..., `pool`).
//! With `init = path` and a first parameter `&mut S`, the pool is a
//! `lox::thread_with` / `lox::process_with` pool whose workers own an `S`, and
//! the module's functions take the other arguments.
//!
//! - `attr`: the attribute's arguments (worker count, `init`, builders).
//! - `check`: what the macros refuse, and why (one error each).
//! - `expand`: the generated module.
//!
//! A refused function is emitted unchanged beside its error, so that its
//! callers compile and the error is the only one.

mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ItemFn};

/// Make a free function parallel on a pool of threads. See `lox::thread`.
#[proc_macro_attribute]
pub fn thread(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    output(Kind::Thread, attr, func)
}

/// Make a free function parallel on a pool of worker processes. See `lox::process`.
#[proc_macro_attribute]
pub fn process(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    output(Kind::Process, attr, func)
}

/// The expansion, or the function as it was plus the reason it was refused.
fn output(kind: Kind, attr: TokenStream, func: ItemFn) -> TokenStream {
    match expand::expand(kind, attr.into(), &func) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let error = e.into_compile_error();
            quote!(#func #error).into()
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Thread,
    Process,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Thread => "thread",
            Kind::Process => "process",
        }
    }
}
