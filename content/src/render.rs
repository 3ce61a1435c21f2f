//! Reading a document: [`render_all`] and [`render_field`].

use serde_json::{Map as JsonMap, Value};
use yrs::branch::{BranchID, BranchPtr};
use yrs::{GetString, ReadTxn, TextRef};

use crate::any_json::any_to_json;
use crate::chunk::{Chunk, Insert};
use crate::context::Ctx;
use crate::delta::text_chunks;
use crate::format::Format;
use crate::kind::{branch_kind, RootKind};
use crate::plain_text::fragment_text;
use crate::prosemirror::fragment_json;
use crate::values::{array_json, map_json, type_json};

/// Why a field cannot be rendered. The messages are meant for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The document has no field of that name, or nothing in it to tell its kind by.
    #[error("the document has no field \"{field}\" (or it holds nothing); ask for a format to get that format's empty value")]
    NoSuchField { field: String },
    /// The field exists but cannot be rendered in the format asked for.
    #[error("field \"{field}\" is {}, which cannot be rendered as {format}: {}", kind.described(), fits_hint(*kind))]
    FormatDoesNotFit {
        field: String,
        kind: RootKind,
        format: Format,
    },
}

fn fits_hint(kind: RootKind) -> &'static str {
    match kind {
        RootKind::Text => "a text renders as text, delta or json",
        RootKind::XmlFragment => "an xmlfragment renders as prosemirror, text or json",
        RootKind::Map | RootKind::Array => "a map or an array renders as json only",
    }
}

/// Every root whose kind is known, by name, each in its default format (Text: a string, Map: an
/// object, Array: an array, XmlFragment: ProseMirror JSON). Roots of unknown kind (nothing
/// visible in them) are left out.
pub fn render_all<T: ReadTxn>(txn: &T) -> JsonMap<String, Value> {
    let ctx = Ctx::new(txn);
    let mut names: Vec<String> = txn.root_refs().map(|(name, _)| name.to_owned()).collect();
    names.sort();
    let mut out = JsonMap::new();
    for name in names {
        let Some(branch) = BranchID::get_root(txn, name.as_str()) else {
            continue;
        };
        if let Some(kind) = branch_kind(txn, branch) {
            let value = render(&ctx, branch, kind, Format::default_for(kind));
            out.insert(name, value);
        }
    }
    out
}

/// One root, in `format` or (`None`) its kind's default. A field that is absent or holds
/// nothing renders as the asked format's empty value (`""`, `[]`,
/// `{"type": "doc", "content": []}`, or `null` for json, whose empty value depends on a kind
/// nobody knows), and is [`RenderError::NoSuchField`] when no format is asked for.
pub fn render_field<T: ReadTxn>(
    txn: &T,
    name: &str,
    format: Option<Format>,
) -> Result<Value, RenderError> {
    let branch = BranchID::get_root(txn, name);
    let kind = branch.and_then(|b| branch_kind(txn, b).map(|k| (b, k)));
    let Some((branch, kind)) = kind else {
        return match format {
            Some(format) => Ok(format.empty_value()),
            None => Err(RenderError::NoSuchField {
                field: name.to_owned(),
            }),
        };
    };
    let format = format.unwrap_or(Format::default_for(kind));
    if !format.fits(kind) {
        return Err(RenderError::FormatDoesNotFit {
            field: name.to_owned(),
            kind,
            format,
        });
    }
    Ok(render(&Ctx::new(txn), branch, kind, format))
}

/// A root of a known kind in a format that fits it.
fn render<T: ReadTxn>(
    ctx: &Ctx<'_, T>,
    branch: BranchPtr,
    kind: RootKind,
    format: Format,
) -> Value {
    match (kind, format) {
        (RootKind::Text, Format::Delta) => delta_json(ctx, branch),
        (RootKind::Text, _) => Value::String(TextRef::from(branch).get_string(ctx.txn)),
        (RootKind::XmlFragment, Format::Text) => Value::String(fragment_text(ctx.txn, branch)),
        (RootKind::XmlFragment, _) => fragment_json(ctx, branch),
        (RootKind::Map, _) => map_json(ctx.txn, branch),
        (RootKind::Array, _) => array_json(ctx.txn, branch),
    }
}

/// A Quill delta: `[{"insert": ..., "attributes": {...}}, ...]`, attributes left out when none.
fn delta_json<T: ReadTxn>(ctx: &Ctx<'_, T>, branch: BranchPtr) -> Value {
    let ops = text_chunks(ctx, branch, false)
        .into_iter()
        .map(|Chunk { insert, attrs }| {
            let mut op = JsonMap::new();
            let insert = match insert {
                Insert::Text(s) => Value::String(s),
                Insert::Embed(any) => any_to_json(&any),
                Insert::Type(nested) => type_json(ctx.txn, nested),
            };
            op.insert("insert".to_owned(), insert);
            if !attrs.is_empty() {
                let attrs = attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), any_to_json(v)))
                    .collect();
                op.insert("attributes".to_owned(), Value::Object(attrs));
            }
            Value::Object(op)
        });
    Value::Array(ops.collect())
}
