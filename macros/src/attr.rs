//! The attribute's arguments: `(n)`, `(n, init = path, lifespan = 100)`,
//! `(init = path)`, ...: an optional worker count first, then `key = value`
//! pairs that set the pool's builders.

use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Token};

use crate::Kind;

/// The keys, the kinds that take them, and what each sets.
const KEYS: &[(&str, &[Kind], &str)] = &[
    (
        "init",
        &[Kind::Thread, Kind::Process],
        "the function `fn(usize) -> S` that builds each worker's state",
    ),
    (
        "lifespan",
        &[Kind::Thread, Kind::Process],
        "jobs per worker before it is retired and rebuilt",
    ),
    (
        "max_pending",
        &[Kind::Thread, Kind::Process],
        "how many scattered jobs may wait to start before `scatter` blocks",
    ),
    (
        "retries",
        &[Kind::Process],
        "re-runs of a job whose worker process died",
    ),
    (
        "job_timeout",
        &[Kind::Process],
        "a `Duration` after which a running job's worker process is killed",
    ),
];

/// What the attribute said.
pub(crate) struct Attr {
    /// The worker count, as an expression; `None`: the kind's default.
    pub count: Option<Expr>,
    /// `init = path`, with the key (for spans).
    pub init: Option<(Ident, Expr)>,
    /// The other `key = value` pairs, in order: one builder call each.
    pub builders: Vec<(Ident, Expr)>,
}

impl Attr {
    pub(crate) fn parse(kind: Kind, attr: TokenStream2) -> syn::Result<Attr> {
        let parser = |input: ParseStream| parse_args(kind, input);
        parser.parse2(attr)
    }

    /// The worker count of the pool: `(n)`, or the kind's default.
    pub(crate) fn workers(&self, kind: Kind) -> TokenStream2 {
        match (&self.count, kind) {
            (Some(e), _) => quote!((#e) as usize),
            (None, Kind::Thread) => quote!(::lox::DEFAULT_THREADS),
            (None, Kind::Process) => quote!(::lox::__private::default_processes()),
        }
    }

    /// `.lifespan(100).retries(1)...`: the builder calls, each spanned at its key.
    pub(crate) fn builder_calls(&self) -> TokenStream2 {
        let calls = self
            .builders
            .iter()
            .map(|(key, value)| quote_spanned!(key.span()=> .#key(#value)));
        quote!(#(#calls)*)
    }
}

fn parse_args(kind: Kind, input: ParseStream) -> syn::Result<Attr> {
    let mut attr = Attr {
        count: None,
        init: None,
        builders: Vec::new(),
    };
    let mut first = true;
    while !input.is_empty() {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            add_key(kind, &mut attr, key, value)?;
        } else if first {
            attr.count = Some(input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!(
                        "{}: `n`, the number of workers, is an expression",
                        usage(kind)
                    ),
                )
            })?);
        } else {
            return Err(input.error(format!(
                "{}: the worker count comes first, once; the other arguments are `key = value`",
                usage(kind)
            )));
        }
        first = false;
        if !input.is_empty() {
            input.parse::<Token![,]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("{}: arguments are separated by commas", usage(kind)),
                )
            })?;
        }
    }
    Ok(attr)
}

/// One `key = value`: known, for this kind, and given once.
fn add_key(kind: Kind, attr: &mut Attr, key: Ident, value: Expr) -> syn::Result<()> {
    let k = kind.name();
    let name = key.to_string();
    let Some((_, kinds, _)) = KEYS.iter().find(|(n, _, _)| *n == name) else {
        return Err(syn::Error::new(
            key.span(),
            format!("#[lox::{k}]: unknown argument `{name}`; {}", known(kind)),
        ));
    };
    if !kinds.contains(&kind) {
        return Err(syn::Error::new(
            key.span(),
            format!(
                "#[lox::{k}]: `{name}` is for #[lox::process] only (a thread cannot die alone or \
                 be killed); {}",
                known(kind)
            ),
        ));
    }
    let seen = attr
        .init
        .iter()
        .chain(&attr.builders)
        .any(|(k, _)| *k == key);
    if seen {
        return Err(syn::Error::new(
            key.span(),
            format!("#[lox::{k}]: `{name}` is given twice"),
        ));
    }
    if name == "init" {
        attr.init = Some((key, value));
    } else {
        attr.builders.push((key, value));
    }
    Ok(())
}

/// The attribute's shape, for errors.
fn usage(kind: Kind) -> String {
    format!("#[lox::{k}(n, key = value, ...)]", k = kind.name())
}

/// The keys this kind takes, for errors.
fn known(kind: Kind) -> String {
    let list: Vec<String> = KEYS
        .iter()
        .filter(|(_, kinds, _)| kinds.contains(&kind))
        .map(|(name, _, what)| format!("`{name}` ({what})"))
        .collect();
    format!(
        "#[lox::{}] takes the worker count, then {}",
        kind.name(),
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: Kind, tokens: &str) -> syn::Result<Attr> {
        Attr::parse(kind, tokens.parse().unwrap())
    }

    fn keys(a: &Attr) -> Vec<String> {
        a.builders.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn counts_keys_and_their_order() {
        let a = parse(Kind::Thread, "").unwrap();
        assert!(a.count.is_none() && a.init.is_none() && a.builders.is_empty());
        let a = parse(Kind::Thread, "WORKERS * 2,").unwrap();
        assert!(a.count.is_some());
        let a = parse(
            Kind::Thread,
            "4, init = load, lifespan = 100, max_pending = 8",
        )
        .unwrap();
        assert!(a.count.is_some() && a.init.is_some());
        assert_eq!(keys(&a), ["lifespan", "max_pending"]);
        let a = parse(
            Kind::Process,
            "init = load, job_timeout = Duration::from_secs(1), retries = 1",
        )
        .unwrap();
        assert!(a.count.is_none());
        assert_eq!(keys(&a), ["job_timeout", "retries"]);
        assert_eq!(
            a.builder_calls().to_string(),
            ". job_timeout (Duration :: from_secs (1)) . retries (1)"
        );
        let a = parse(Kind::Thread, "a == b").unwrap();
        assert!(a.count.is_some(), "`==` is an expression, not a key");
    }

    #[test]
    fn refusals() {
        let err = |kind, tokens| parse(kind, tokens).err().expect(tokens).to_string();
        assert!(err(Kind::Thread, "4, retries = 1").contains("for #[lox::process] only"));
        assert!(err(Kind::Thread, "job_timeout = x").contains("for #[lox::process] only"));
        assert!(err(Kind::Process, "4, lifetime = 1").contains("unknown argument `lifetime`"));
        assert!(err(Kind::Process, "4, init = a, init = b").contains("`init` is given twice"));
        assert!(err(Kind::Thread, "lifespan = 1, 4").contains("comes first, once"));
        assert!(err(Kind::Thread, "4, 5").contains("comes first, once"));
        assert!(err(Kind::Thread, "4 5").contains("separated by commas"));
        assert!(
            parse(Kind::Thread, "lifespan = ").is_err(),
            "a key without a value"
        );
    }
}
