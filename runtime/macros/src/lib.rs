//! `#[runtime::main]`: marks a program's main function for the runtime.
//!
//! ```ignore
//! #[runtime::main]
//! fn main() { println!("hello world!"); }
//!
//! #[runtime::main(init = setup)]
//! fn main() { /* ... */ }
//! fn setup() { /* runs first, as main.init */ }
//! ```
//!
//! The attribute keeps the user's function (and its spans, so its DWARF
//! file:line is the program's own file) and prepends
//! `#[unsafe(export_name = "main.main")] #[inline(never)] extern "C-unwind"`: the
//! function *is* `main.main`, the symbol `runtime.main` calls. It also emits
//! `main.init` (step 12 of the bootstrap sequence): an empty function, or one that calls
//! the `init = path` function. No `syn`/`quote`: the item's tokens are
//! passed through untouched except for the inserted ABI.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

fn punct(c: char) -> TokenTree {
    TokenTree::Punct(Punct::new(c, Spacing::Alone))
}

fn ident(s: &str, span: Span) -> TokenTree {
    TokenTree::Ident(Ident::new(s, span))
}

/// `#[unsafe(export_name = "<name>")] #[inline(never)]`
fn export_attrs(name: &str, span: Span) -> Vec<TokenTree> {
    let mut inner = TokenStream::new();
    inner.extend([
        ident("export_name", span),
        punct('='),
        TokenTree::Literal(Literal::string(name)),
    ]);
    let mut unsafe_attr = TokenStream::new();
    unsafe_attr.extend([
        ident("unsafe", span),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, inner)),
    ]);
    let mut never = TokenStream::new();
    never.extend([
        ident("inline", span),
        TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            TokenStream::from(ident("never", span)),
        )),
    ]);
    vec![
        punct('#'),
        TokenTree::Group(Group::new(Delimiter::Bracket, unsafe_attr)),
        punct('#'),
        TokenTree::Group(Group::new(Delimiter::Bracket, never)),
    ]
}

/// Insert `extern "C-unwind"` (a panic may leave main.main: the runtime
/// catches it and reports it as Go does) before the `fn` keyword of `item` (unless it already
/// has an ABI) and prepend the export attributes.
fn export_fn(name: &str, item: TokenStream) -> Result<TokenStream, String> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let fn_pos = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .ok_or_else(|| format!("#[runtime::main]: expected a function (for {name})"))?;
    let has_abi = tokens[..fn_pos]
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "extern"));
    let span = tokens[fn_pos].span();
    let mut out: Vec<TokenTree> = export_attrs(name, span);
    out.extend(tokens[..fn_pos].iter().cloned());
    if !has_abi {
        out.push(ident("extern", span));
        out.push(TokenTree::Literal(Literal::string("C-unwind")));
    }
    out.extend(tokens[fn_pos..].iter().cloned());
    Ok(out.into_iter().collect())
}

fn compile_error(msg: &str) -> TokenStream {
    format!("compile_error!({msg:?});")
        .parse()
        .expect("compile_error tokens")
}

/// Export the function as `main.main` and emit `main.init` (empty, or
/// calling the function given as `init = path`).
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr: Vec<TokenTree> = attr.into_iter().collect();
    let init_path: Option<TokenStream> = match attr.as_slice() {
        [] => None,
        [TokenTree::Ident(k), TokenTree::Punct(eq), rest @ ..]
            if k.to_string() == "init" && eq.as_char() == '=' && !rest.is_empty() =>
        {
            Some(rest.iter().cloned().collect())
        }
        _ => return compile_error("usage: #[runtime::main] or #[runtime::main(init = path)]"),
    };
    let mut out = match export_fn("main.main", item) {
        Ok(t) => t,
        Err(e) => return compile_error(&e),
    };
    let span = Span::call_site();
    let body: TokenStream = match init_path {
        Some(p) => {
            let mut b = p;
            b.extend([
                TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new())),
                punct(';'),
            ]);
            b
        }
        None => TokenStream::new(),
    };
    let mut init_fn: Vec<TokenTree> = export_attrs("main.init", span);
    init_fn.extend([
        ident("extern", span),
        TokenTree::Literal(Literal::string("C-unwind")),
        ident("fn", span),
        ident("__runtime_main_init", span),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, TokenStream::new())),
        TokenTree::Group(Group::new(Delimiter::Brace, body)),
    ]);
    out.extend(init_fn);
    out
}
