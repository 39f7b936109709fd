//! The generated module: the pool in a `static`, and free functions that
//! scatter and gather with the decorated function's own argument list.

use proc_macro2::{Ident, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::{Expr, FnArg, ItemFn, Pat, ReturnType, Type};

use crate::check;
use crate::Kind;

/// The decorated function's arguments and result, as the module uses them.
struct Args {
    names: Vec<Ident>,
    types: Vec<Type>,
    ret: Type,
}

impl Args {
    fn of(func: &ItemFn, kind: Kind) -> syn::Result<Args> {
        let (mut names, mut types) = (Vec::new(), Vec::new());
        for (i, input) in func.sig.inputs.iter().enumerate() {
            // `check::signature` refused receivers.
            let FnArg::Typed(pt) = input else { continue };
            let name = match &*pt.pat {
                Pat::Ident(pi) => pi.ident.clone(),
                _ => format_ident!("__lox_arg{}", i),
            };
            check::owned_type(&pt.ty, &format!("argument `{name}`"), kind)?;
            names.push(name);
            types.push((*pt.ty).clone());
        }
        let ret: Type = match &func.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, t) => (**t).clone(),
        };
        check::owned_type(&ret, "the return type", kind)?;
        Ok(Args { names, types, ret })
    }

    /// One argument travels as itself, several as a tuple, none as ().
    fn travelling(&self) -> (TokenStream2, TokenStream2) {
        let (names, types) = (&self.names, &self.types);
        match types.len() {
            1 => {
                let (t, n) = (&types[0], &names[0]);
                (quote!(#t), quote!(#n))
            }
            _ => (quote!((#(#types,)*)), quote!((#(#names,)*))),
        }
    }
}

/// The worker count of the attribute: `(n)`, or the kind's default.
fn workers(kind: Kind, attr: TokenStream2) -> syn::Result<TokenStream2> {
    if attr.is_empty() {
        return Ok(match kind {
            Kind::Thread => quote!(::lox::DEFAULT_THREADS),
            Kind::Process => quote!(::lox::__private::default_processes()),
        });
    }
    let e: Expr = syn::parse2(attr).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "#[lox::{}(n)] takes one expression: the number of workers",
                kind.name()
            ),
        )
    })?;
    Ok(quote!((#e) as usize))
}

/// `const FUNCTION`, the decorated function as seen from inside its module.
///
/// A module cannot see the items of a function body, so a decorated
/// function inside `main` would only get "cannot find function in module
/// `super`". Instead the name is looked up in a block: an inner block
/// glob-imports the enclosing module (which holds the function and this
/// module when they are at module level), an outer block holds stand-ins
/// of the same name that are found only when the glob has nothing: a
/// function that is never called, and a module whose `located` fails with
/// lox's "must be at module level" error, at the function's name.
fn located(func: &ItemFn, args: &Args) -> TokenStream2 {
    let name = &func.sig.ident;
    let (types, ret) = (&args.types, &args.ret);
    let probe = quote_spanned!(name.span()=> #name::located::<()>());
    quote! {
        /// Stands in for the enclosing module's `located` (see `FUNCTION`).
        const fn located<T>() {}

        /// The decorated function.
        const FUNCTION: fn(#(#types),*) -> #ret = {
            use ::lox::__private::not_at_module_level as #name;
            fn #name(#(_: #types),*) -> #ret {
                ::core::unreachable!()
            }
            {
                use super::*;
                #probe;
                #name
            }
        };
    }
}

pub(crate) fn expand(kind: Kind, attr: TokenStream2, func: &ItemFn) -> syn::Result<TokenStream2> {
    let n_workers = workers(kind, attr)?;
    check::signature(&func.sig, kind)?;
    let args = Args::of(func, kind)?;
    let (arg_ty, arg_pat) = args.travelling();
    let (names, ret) = (&args.names, &args.ret);
    let call = quote!(FUNCTION(#(#names),*));
    let (pool_ty, make_pool, entry) = match kind {
        Kind::Thread => (
            quote!(::lox::Thread<#arg_ty, #ret>),
            quote!(::lox::thread(#n_workers, |#arg_pat: #arg_ty| #call)),
            quote!(),
        ),
        Kind::Process => (
            quote!(::lox::Process<#arg_ty, #ret>),
            quote!(::lox::process(#n_workers, entry as fn(#arg_ty) -> #ret)),
            quote! {
                /// The plain function pointer the worker processes call.
                #[doc(hidden)]
                pub fn entry(#arg_pat: #arg_ty) -> #ret {
                    #call
                }
            },
        ),
    };
    let located = located(func, &args);
    let body = module_body(&pool_ty, &make_pool, &args);
    let fn_name = &func.sig.ident;
    let vis = &func.vis;
    let doc = format!(
        "The `#[lox::{k}]` pool of [`{fn_name}`]({fn_name}()): `scatter` takes the same \
         arguments as the function; `gather` returns the results in scatter order.",
        k = kind.name()
    );
    Ok(quote_spanned! {fn_name.span()=>
        #func

        #[doc = #doc]
        #[allow(dead_code, unused_imports, non_snake_case, clippy::unused_unit, clippy::type_complexity, clippy::too_many_arguments)]
        #vis mod #fn_name {
            use super::*;

            #located

            #entry

            #body
        }
    })
}

/// The pool and the functions that reach it: one per method of `lox::Pool`.
fn module_body(pool_ty: &TokenStream2, make_pool: &TokenStream2, args: &Args) -> TokenStream2 {
    let (names, types, ret) = (&args.names, &args.types, &args.ret);
    let (arg_ty, arg_pat) = args.travelling();
    let all = quote!(::std::vec::Vec<#ret>);
    let outcomes = quote!(::std::vec::Vec<::std::result::Result<#ret, ::lox::TaskError>>);
    let bar = quote!(progress: impl ::std::convert::Into<::lox::Progress>);
    let supervisor = quote!(::lox::__private::Addr<::lox::actors::Supervisor<#arg_ty, #ret>>);
    let track = quote!(#[track_caller]);
    #[rustfmt::skip]
    let forwards = [
        ("Enqueue one call; returns at once with its ticket.", quote!(),
            quote!(fn scatter(#(#names: #types),*) -> ::lox::Ticket), quote!(scatter(#arg_pat))),
        ("Wait for every scattered call; results in scatter order (panics if one failed).", track.clone(),
            quote!(fn gather() -> #all), quote!(gather())),
        ("Wait for every scattered call; one `Result` per call, in scatter order.", quote!(),
            quote!(fn try_gather() -> #outcomes), quote!(try_gather())),
        ("`gather` with a progress bar.", track,
            quote!(fn gather_with(#bar) -> #all), quote!(gather_with(progress))),
        ("`try_gather` with a progress bar.", quote!(),
            quote!(fn try_gather_with(#bar) -> #outcomes), quote!(try_gather_with(progress))),
        ("`gather` for async callers.", quote!(),
            quote!(async fn gather_async() -> #all), quote!(gather_async().await)),
        ("`try_gather` for async callers.", quote!(),
            quote!(async fn try_gather_async() -> #outcomes), quote!(try_gather_async().await)),
        ("`(seq, outcome)` of every scattered call, in completion order.", quote!(),
            quote!(fn gather_iter() -> ::lox::actors::Completed<#ret>), quote!(gather_iter())),
        ("`gather_iter` as a `Stream`, for async callers.", quote!(),
            quote!(fn gather_stream() -> ::lox::actors::CompletedStream<#ret>), quote!(gather_stream())),
        ("Calls scattered and not yet started by a worker.", quote!(),
            quote!(fn len() -> usize), quote!(len())),
        ("Calls scattered and not yet gathered (waiting, running or finished).", quote!(),
            quote!(fn pending() -> usize), quote!(pending())),
        ("No call is waiting to start.", quote!(),
            quote!(fn is_empty() -> bool), quote!(is_empty())),
        ("The pool's size; 0 when calls run inline (debug mode).", quote!(),
            quote!(fn n_workers() -> usize), quote!(n_workers())),
        ("The pool's Supervisor actor, for actix applications.", quote!(),
            quote!(fn supervisor() -> #supervisor), quote!(supervisor())),
    ];
    let forwards = forwards
        .into_iter()
        .map(|(doc, attrs, sig, call)| quote!(#[doc = #doc] #attrs pub #sig { pool().#call }));
    quote! {
        /// The pool (created on first use).
        pub fn pool() -> &'static #pool_ty {
            static POOL: ::lox::__private::OnceLock<#pool_ty> = ::lox::__private::OnceLock::new();
            POOL.get_or_init(|| #make_pool)
        }

        #(#forwards)*
    }
}
