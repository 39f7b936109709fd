//! The generated module: the pool in a `static`, and free functions that
//! scatter and gather with the decorated function's own argument list.

use proc_macro2::{Group, Ident, Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::attr::Attr;
use crate::check;
use crate::Kind;

/// The decorated function's arguments and result, as the module uses them.
struct Args {
    /// The per-worker state's type `S` of a first parameter `&mut S`.
    state: Option<Type>,
    /// The other arguments: what `scatter` takes.
    names: Vec<Ident>,
    types: Vec<Type>,
    ret: Type,
}

impl Args {
    fn of(func: &ItemFn, kind: Kind, init: Option<&Ident>) -> syn::Result<Args> {
        let state = check::state(&func.sig, init, kind)?.map(|(_, s)| s.clone());
        let (mut names, mut types) = (Vec::new(), Vec::new());
        let skip = usize::from(state.is_some());
        for (i, input) in func.sig.inputs.iter().enumerate().skip(skip) {
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
        Ok(Args {
            state,
            names,
            types,
            ret,
        })
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

    /// The function's parameter types: `&mut S` (if any), then the arguments.
    fn params(&self) -> Vec<TokenStream2> {
        let state = self.state.iter().map(|s| quote!(&mut #s));
        state.chain(self.types.iter().map(|t| quote!(#t))).collect()
    }

    /// `FUNCTION(...)`: the call a worker makes, the state as `__lox_state`.
    fn call(&self) -> TokenStream2 {
        let state = self.state.as_ref().map(|_| quote!(__lox_state,));
        let names = &self.names;
        quote!(FUNCTION(#state #(#names),*))
    }
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
    let (types, ret) = (args.params(), &args.ret);
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
    let attr = Attr::parse(kind, attr)?;
    check::signature(&func.sig, kind)?;
    let args = Args::of(func, kind, attr.init.as_ref().map(|(key, _)| key))?;
    let (pool_ty, make_pool, entry) = pool(kind, &attr, &args);
    let located = located(func, &args);
    let body = module_body(&pool_ty, &make_pool, &args);
    let jobs = job_forwards(&args);
    let fn_name = &func.sig.ident;
    let vis = &func.vis;
    let (but, state) = match args.state {
        Some(_) => (
            " but the state",
            " Each worker owns a state, built by the attribute's `init` with the worker's index.",
        ),
        None => ("", ""),
    };
    let doc = format!(
        "The `#[lox::{k}]` pool of [`{fn_name}`]({fn_name}()): `scatter` takes the same \
         arguments as the function{but}; `gather` returns the results in scatter order.{state}",
        k = kind.name(),
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

            #jobs
        }
    })
}

/// The pool's type, the expression that makes it (builders included), and
/// the plain functions it is made of: `__lox_init` (with a state) and, for
/// processes, the `entry` the workers call.
fn pool(kind: Kind, attr: &Attr, args: &Args) -> (TokenStream2, TokenStream2, TokenStream2) {
    let n = attr.workers(kind);
    let builders = attr.builder_calls();
    let (arg_ty, arg_pat) = args.travelling();
    let (ret, call) = (&args.ret, args.call());
    // With a state: `__lox_init`, a plain `fn(usize) -> S` that calls the
    // attribute's `init` (its errors at `init`'s value), and the state as the
    // worker function's first parameter.
    let (init, state_param, state_ty) = match (&args.state, &attr.init) {
        (Some(s), Some((_, init))) => (
            {
                // All at `init`'s value, so that a mismatch points there alone.
                let expected = respan(quote!(fn(usize) -> #s), init.span());
                let build = quote_spanned!(init.span()=> let init: #expected = #init;);
                quote! {
                    /// Builds worker `worker`'s state: the attribute's `init`.
                    fn __lox_init(worker: usize) -> #s {
                        #build
                        init(worker)
                    }
                }
            },
            quote!(__lox_state: &mut #s,),
            quote!(&mut #s,),
        ),
        _ => (quote!(), quote!(), quote!()),
    };
    let (make, entry) = match (kind, args.state.is_some()) {
        (Kind::Thread, false) => (
            quote!(::lox::thread(#n, |#arg_pat: #arg_ty| #call)),
            quote!(),
        ),
        (Kind::Thread, true) => (
            quote!(::lox::thread_with(#n, __lox_init, |#state_param #arg_pat: #arg_ty| #call)),
            quote!(),
        ),
        (Kind::Process, with_state) => {
            let function = if with_state {
                quote!(::lox::process_with(#n, __lox_init, entry as fn(#state_ty #arg_ty) -> #ret))
            } else {
                quote!(::lox::process(#n, entry as fn(#arg_ty) -> #ret))
            };
            let entry = quote! {
                /// The plain function pointer the worker processes call.
                #[doc(hidden)]
                pub fn entry(#state_param #arg_pat: #arg_ty) -> #ret {
                    #call
                }
            };
            (function, entry)
        }
    };
    let entry = quote!(#init #entry);
    let pool_ty = match kind {
        Kind::Thread => quote!(::lox::Thread<#arg_ty, #ret>),
        Kind::Process => quote!(::lox::Process<#arg_ty, #ret>),
    };
    (pool_ty, quote!(#make #builders), entry)
}

/// One `pub fn` per forward: (doc, attributes, signature, call on the pool).
fn forwards(table: Vec<(&str, TokenStream2, TokenStream2, TokenStream2)>) -> TokenStream2 {
    let forwards = table.into_iter().map(
        |(doc, attrs, sig, call)| quote!(#[doc = #doc] #attrs pub #sig { self::pool().#call }),
    );
    quote!(#(#forwards)*)
}

/// The pool and the functions that reach it: one per method of `lox::Pool`
/// of the scatter/gather family.
fn module_body(pool_ty: &TokenStream2, make_pool: &TokenStream2, args: &Args) -> TokenStream2 {
    let (names, types, ret) = (&args.names, &args.types, &args.ret);
    let (arg_ty, arg_pat) = args.travelling();
    let all = quote!(::std::vec::Vec<#ret>);
    let outcomes = quote!(::std::vec::Vec<::std::result::Result<#ret, ::lox::TaskError>>);
    let bar = quote!(progress: impl ::std::convert::Into<::lox::Progress>);
    let supervisor = quote!(::lox::__private::Addr<::lox::actors::Supervisor<#arg_ty, #ret>>);
    let track = quote!(#[track_caller]);
    #[rustfmt::skip]
    let forwards = forwards(vec![
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
        ("What the pool's Supervisor knows now: workers, jobs queued, done and failed, restarts.", quote!(),
            quote!(fn stats() -> ::lox::Stats), quote!(stats())),
    ]);
    quote! {
        /// The pool (created on first use).
        pub fn pool() -> &'static #pool_ty {
            static POOL: ::lox::__private::OnceLock<#pool_ty> = ::lox::__private::OnceLock::new();
            POOL.get_or_init(|| #make_pool)
        }

        #forwards
    }
}

/// The functions whose results belong to their caller (jobs of one's own):
/// `submit`, `batch`, the maps, `results`, and the async `scatter`.
///
/// Inputs of the maps are handed to the pool boxed (`Send + 'static` and
/// `Unpin`), so that these functions ask of them only that much whatever the
/// pool's methods ask.
fn job_forwards(args: &Args) -> TokenStream2 {
    let (names, types, ret) = (&args.names, &args.types, &args.ret);
    let (arg_ty, arg_pat) = args.travelling();
    let outcome = quote!(::std::result::Result<#ret, ::lox::TaskError>);
    let stream = quote!(::lox::__private::Stream);
    let iter_where = quote! {
        I: ::core::iter::IntoIterator<Item = #arg_ty>, I::IntoIter: ::core::marker::Send + 'static
    };
    let iter = quote! {
        ::std::boxed::Box::new(::core::iter::IntoIterator::into_iter(inputs))
            as ::std::boxed::Box<dyn ::core::iter::Iterator<Item = #arg_ty> + ::core::marker::Send>
    };
    let pinned = quote! {
        ::std::boxed::Box::pin(inputs)
            as ::core::pin::Pin<::std::boxed::Box<dyn #stream<Item = #arg_ty> + ::core::marker::Send>>
    };
    #[rustfmt::skip]
    let table = vec![
        ("One call whose result belongs to the returned `Job` (never to a gather).", quote!(),
            quote!(fn submit(#(#names: #types),*) -> ::lox::Job<#ret>), quote!(submit(#arg_pat))),
        ("A private scatter/gather list on this pool's workers.", quote!(),
            quote!(fn batch() -> ::lox::Batch<#arg_ty, #ret>), quote!(batch())),
        ("Lazy parallel map in input order (a failed call panics, as in `gather`).", quote!(),
            quote!(fn map<I>(inputs: I) -> ::lox::Map<#ret> where #iter_where), quote!(map(#iter))),
        ("`map` with one `Result` per call.", quote!(),
            quote!(fn try_map<I>(inputs: I) -> ::lox::TryMap<#ret> where #iter_where), quote!(try_map(#iter))),
        ("`map` in completion order, one `Result` per call.", quote!(),
            quote!(fn map_unordered<I>(inputs: I) -> ::lox::Unordered<#ret> where #iter_where), quote!(map_unordered(#iter))),
        ("`map` over a `Stream` of inputs: a `Stream` of outcomes in input order.", quote!(),
            quote!(fn map_stream<S>(inputs: S) -> impl #stream<Item = #outcome>
                where S: #stream<Item = #arg_ty> + ::core::marker::Send + 'static),
            quote!(map_stream(#pinned))),
        ("`scatter` for async callers: waits, without blocking the executor, while the mailbox is full.", quote!(),
            quote!(async fn scatter_async(#(#names: #types),*) -> ::lox::Ticket), quote!(scatter_async(#arg_pat).await)),
        ("Calls not yet started, in every lane, become `Err(TaskError::Cancelled)`; returns how many.", quote!(),
            quote!(fn cancel_pending() -> usize), quote!(cancel_pending())),
        ("`(seq, outcome)` of every call scattered from now on, in completion order; until it is dropped, `gather` waits for none of them.", quote!(),
            quote!(fn results() -> ::lox::Results<#ret>), quote!(results())),
        ("`results` as a `Stream`, for async callers.", quote!(),
            quote!(fn results_stream() -> impl #stream<Item = (usize, #outcome)>), quote!(results_stream())),
    ];
    forwards(table)
}

/// `tokens`, every one of them at `span`.
fn respan(tokens: TokenStream2, span: Span) -> TokenStream2 {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            }
            tt.set_span(span);
            tt
        })
        .collect()
}
