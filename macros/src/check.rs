//! What the macros refuse, each with one error that says why and what to do.

use proc_macro2::{Ident, Span};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, PatType, Signature, Type};

use crate::Kind;

/// Finds what makes a type unfit to travel to a worker: a borrow, a
/// non-'static lifetime, or `impl Trait`.
/// A `&'static T` is fine on threads (it is `Send + 'static`), not on processes.
struct Borrowed(Option<(Span, &'static str)>, Kind);

impl<'ast> Visit<'ast> for Borrowed {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        let is_static = r.lifetime.as_ref().is_some_and(|l| l.ident == "static");
        if is_static && self.1 == Kind::Thread {
            syn::visit::visit_type_reference(self, r);
        } else if self.0.is_none() {
            self.0 = Some((r.span(), "a reference"));
        }
    }
    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        if self.0.is_none() && l.ident != "static" {
            self.0 = Some((l.span(), "a borrow (it has a lifetime)"));
        }
    }
    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        if self.0.is_none() {
            self.0 = Some((t.span(), "`impl Trait`"));
        }
    }
}

/// An argument or result type must be owned and concrete.
pub(crate) fn owned_type(ty: &Type, what: &str, kind: Kind) -> syn::Result<()> {
    let mut v = Borrowed(None, kind);
    v.visit_type(ty);
    match v.0 {
        None => Ok(()),
        Some((span, found)) => Err(syn::Error::new(
            span,
            format!(
                "#[lox::{k}]: {what} is {found}. Scattered jobs run on other {place} after `scatter` \
                 returns, so arguments and results must be owned, concrete types \
                 (String rather than &str, Vec<T> rather than &[T])",
                k = kind.name(),
                place = if kind == Kind::Thread { "threads" } else { "processes" },
            ),
        )),
    }
}

/// The function's kind: a plain, safe, non-generic, free fn.
pub(crate) fn signature(sig: &Signature, kind: Kind) -> syn::Result<()> {
    let k = kind.name();
    let refuse = |span: Span, msg: String| Err(syn::Error::new(span, msg));
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return refuse(
            sig.generics.span(),
            format!(
                "#[lox::{k}] cannot wrap a generic function: its pool is one static per function, \
                 so argument and result types must be concrete. Wrap a concrete instance instead, \
                 e.g. `#[lox::{k}] fn work_u64(x: u64) -> u64 {{ work(x) }}`"
            ),
        );
    }
    if let Some(a) = &sig.asyncness {
        return refuse(
            a.span(),
            format!("#[lox::{k}] cannot wrap an async fn: workers call the function to completion; make it a plain fn"),
        );
    }
    if let Some(u) = &sig.unsafety {
        return refuse(
            u.span(),
            format!(
                "#[lox::{k}] cannot wrap an unsafe fn: the generated `scatter` and the pool's plain \
                 call are safe functions, so safe code could call it with any arguments. Keep the \
                 unsafe fn undecorated and decorate a safe fn that checks the contract and calls it"
            ),
        );
    }
    if let Some(c) = &sig.constness {
        return refuse(c.span(), format!("#[lox::{k}] cannot wrap a const fn"));
    }
    if sig.variadic.is_some() {
        return refuse(sig.span(), format!("#[lox::{k}] cannot wrap a variadic fn"));
    }
    if let Some(syn::FnArg::Receiver(r)) = sig.inputs.first() {
        let example = match kind {
            Kind::Thread => "`let pool = lox::thread(4, move |x| value.method(x));` (an `Arc` of the value if it is shared)",
            Kind::Process => "`let pool = lox::process(4, |(value, x): (Value, u32)| value.method(x));` (the value travels with each job)",
        };
        return refuse(
            r.span(),
            format!(
                "#[lox::{k}] works on free functions only (no `self`): its pool is one static per \
                 function. For a method, use the closure form instead: {example}"
            ),
        );
    }
    Ok(())
}

/// The per-worker state: a first parameter `&mut S` goes with `init = path`,
/// and neither comes without the other. Returns the parameter and `S`.
pub(crate) fn state<'a>(
    sig: &'a Signature,
    init: Option<&Ident>,
    kind: Kind,
) -> syn::Result<Option<(&'a PatType, &'a Type)>> {
    let k = kind.name();
    let first = match sig.inputs.first() {
        Some(FnArg::Typed(pt)) => Some(pt),
        _ => None,
    };
    let state = first.and_then(|pt| match &*pt.ty {
        Type::Reference(r) if r.mutability.is_some() && !is_static(r) => Some((pt, &*r.elem)),
        _ => None,
    });
    match (state, init) {
        (Some((pt, ty)), None) => Err(syn::Error::new(
            pt.span(),
            format!(
                "#[lox::{k}]: the first parameter, `{param}`, is per-worker state, and the attribute \
                 has no `init` to build it. Add `init = path` naming a `fn(usize) -> {ty}` (called on \
                 each worker with its index), e.g. #[lox::{k}(4, init = new_state)]",
                param = tidy(quote::quote!(#pt)),
                ty = tidy(quote::quote!(#ty)),
            ),
        )),
        (None, Some(key)) => Err(syn::Error::new(
            key.span(),
            format!(
                "#[lox::{k}]: `init` builds a per-worker state, which the function takes as its \
                 first parameter, `&mut S`: e.g. `fn embed(model: &mut Model, text: String)` with \
                 `init = load_model` and `fn load_model(worker: usize) -> Model`"
            ),
        )),
        (Some((pt, ty)), Some(_)) => {
            let mut v = Borrowed(None, Kind::Thread);
            v.visit_type(ty);
            match v.0 {
                None => Ok(Some((pt, ty))),
                Some((span, found)) => Err(syn::Error::new(
                    span,
                    format!(
                        "#[lox::{k}]: the worker state is {found}. It lives on its worker for as \
                         long as the worker does, so it must be an owned, concrete type"
                    ),
                )),
            }
        }
        (None, None) => Ok(None),
    }
}

/// `&'static mut T`: an ordinary argument on threads, not a state.
fn is_static(r: &syn::TypeReference) -> bool {
    r.lifetime.as_ref().is_some_and(|l| l.ident == "static")
}

/// Tokens as a person writes them: `Vec<u8>`, not `Vec < u8 >`.
fn tidy(tokens: proc_macro2::TokenStream) -> String {
    let mut s = tokens.to_string();
    for (from, to) in [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (" :", ":"),
        ("& ", "&"),
    ] {
        s = s.replace(from, to);
    }
    s
}
