//! Attribute macros of the `lox` crate: `#[lox::thread(n)]` and
//! `#[lox::process(n)]`. Use them through `lox`, not directly.
//!
//! Each keeps the function as it is and generates, beside it, a module of the
//! same name (functions and modules live in different namespaces) holding the
//! pool in a `static` and the free functions `scatter`, `gather`, `try_gather`,
//! `gather_with`, `gather_async`, `len`, `is_empty` and `pool`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{parse_macro_input, Expr, FnArg, ItemFn, Pat, ReturnType, Type};

/// Make a free function parallel on a pool of threads. See `lox::thread`.
#[proc_macro_attribute]
pub fn thread(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Thread, attr.into(), parse_macro_input!(item as ItemFn))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Make a free function parallel on a pool of worker processes. See `lox::process`.
#[proc_macro_attribute]
pub fn process(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Process, attr.into(), parse_macro_input!(item as ItemFn))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
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

/// Finds what makes a type unfit to travel to a worker: a borrow, a
/// non-'static lifetime, or `impl Trait`.
struct Borrowed(Option<(Span, &'static str)>);

impl<'ast> Visit<'ast> for Borrowed {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        if self.0.is_none() {
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

fn check_type(ty: &Type, what: &str, kind: Kind) -> syn::Result<()> {
    let mut v = Borrowed(None);
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

fn expand(kind: Kind, attr: TokenStream2, func: ItemFn) -> syn::Result<TokenStream2> {
    let k = kind.name();
    let sig = &func.sig;
    let n_workers: TokenStream2 = if attr.is_empty() {
        match kind {
            Kind::Thread => quote!(::lox::DEFAULT_THREADS),
            Kind::Process => quote!(::lox::__private::default_processes()),
        }
    } else {
        let e: Expr = syn::parse2(attr).map_err(|e| {
            syn::Error::new(e.span(), format!("#[lox::{k}(n)] takes one expression: the number of workers"))
        })?;
        quote!((#e) as usize)
    };
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!(
                "#[lox::{k}] cannot wrap a generic function: its pool is one static per function, \
                 so argument and result types must be concrete. Wrap a concrete instance instead, \
                 e.g. `#[lox::{k}] fn work_u64(x: u64) -> u64 {{ work(x) }}`"
            ),
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(
            a.span(),
            format!("#[lox::{k}] cannot wrap an async fn: workers call the function to completion; make it a plain fn"),
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(c.span(), format!("#[lox::{k}] cannot wrap a const fn")));
    }
    if sig.variadic.is_some() {
        return Err(syn::Error::new(sig.span(), format!("#[lox::{k}] cannot wrap a variadic fn")));
    }

    let mut names = Vec::new();
    let mut types = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(
                    r.span(),
                    format!("#[lox::{k}] works on free functions only (no `self`): put the function at module level"),
                ))
            }
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(pi) => pi.ident.clone(),
                    _ => format_ident!("__lox_arg{}", i),
                };
                check_type(&pt.ty, &format!("argument `{}`", quote!(#name)), kind)?;
                names.push(name);
                types.push((*pt.ty).clone());
            }
        }
    }
    let ret: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    check_type(&ret, "the return type", kind)?;

    let fn_name = &sig.ident;
    let vis = &func.vis;
    let unsafety = &sig.unsafety;
    let call_unsafe = if unsafety.is_some() {
        quote!(unsafe { super::#fn_name(#(#names),*) })
    } else {
        quote!(super::#fn_name(#(#names),*))
    };
    // One argument travels as itself, several as a tuple, none as ().
    let (arg_ty, arg_pat) = match types.len() {
        1 => {
            let (t, n) = (&types[0], &names[0]);
            (quote!(#t), quote!(#n))
        }
        _ => (quote!((#(#types,)*)), quote!((#(#names,)*))),
    };
    let params = quote!(#(#names: #types),*);
    let span = fn_name.span();

    let (pool_ty, make_pool, extra) = match kind {
        Kind::Thread => (
            quote!(::lox::Thread<#arg_ty, #ret>),
            quote!(::lox::thread(#n_workers, |#arg_pat: #arg_ty| #call_unsafe)),
            quote!(),
        ),
        Kind::Process => (
            quote!(::lox::Process<#arg_ty, #ret>),
            quote!(::lox::process(#n_workers, entry as fn(#arg_ty) -> #ret)),
            quote! {
                /// The plain function pointer the worker processes call.
                #[doc(hidden)]
                pub fn entry(#arg_pat: #arg_ty) -> #ret {
                    #call_unsafe
                }
            },
        ),
    };
    let doc = format!(
        "The `#[lox::{k}]` pool of [`{fn_name}`]({fn_name}()): `scatter` takes the same \
         arguments as the function; `gather` returns the results in scatter order."
    );

    Ok(quote_spanned! {span=>
        #func

        #[doc = #doc]
        #[allow(dead_code, unused_imports, clippy::unused_unit, non_snake_case)]
        #vis mod #fn_name {
            use super::*;

            #extra

            /// The pool (created on first use).
            pub fn pool() -> &'static #pool_ty {
                static POOL: ::lox::__private::OnceLock<#pool_ty> = ::lox::__private::OnceLock::new();
                POOL.get_or_init(|| #make_pool)
            }

            /// Enqueue one call; returns at once with its ticket.
            pub fn scatter(#params) -> ::lox::Ticket {
                pool().scatter(#arg_pat)
            }

            /// Wait for every scattered call; results in scatter order (panics if one failed).
            pub fn gather() -> ::std::vec::Vec<#ret> {
                pool().gather()
            }

            /// Wait for every scattered call; one `Result` per call, in scatter order.
            pub fn try_gather() -> ::std::vec::Vec<::std::result::Result<#ret, ::lox::TaskError>> {
                pool().try_gather()
            }

            /// `gather` with a progress bar.
            pub fn gather_with(progress: impl ::std::convert::Into<::lox::Progress>) -> ::std::vec::Vec<#ret> {
                pool().gather_with(progress)
            }

            /// `gather` for async callers.
            pub async fn gather_async() -> ::std::vec::Vec<#ret> {
                pool().gather_async().await
            }

            /// Calls scattered but not yet started.
            pub fn len() -> usize {
                pool().len()
            }

            /// No call is waiting to start.
            pub fn is_empty() -> bool {
                pool().is_empty()
            }
        }
    })
}
