//! A yrs document as readable JSON, and JSON written into it. Sans-IO: plain functions of a
//! transaction or a `Doc`.
//!
//! A Plait document is whatever its browsers keep in it: most often a Tiptap/ProseMirror editor's
//! `Y.XmlFragment` (through y-prosemirror), sometimes a `Y.Text`, `Y.Map` or `Y.Array`. This
//! crate lets a server read such a document without a browser ([`render_all`],
//! [`render_field`], [`plain_text`] for search), write one field from JSON ([`replace_field`]),
//! and make the whole document equal an earlier version again ([`restore`]), each on a
//! [`scratch_doc`] whose returned update the server then applies to the live document.
//!
//! # Design
//!
//! - **The JavaScript output is the specification.** A client compares what it reads here with
//!   what its own libraries give, so ProseMirror JSON equals y-prosemirror 1.3.7's
//!   `yXmlFragmentToProsemirrorJSON` and the other kinds Yjs' `toJSON()`, quirks included
//!   (`prosemirror` lists them). Golden fixtures made by the real libraries check it
//!   (`content/tests/fixtures/`, written by `tests/js/content-fixtures.mjs`: `cd tests/js && npm
//!   ci && node content-fixtures.mjs`).
//! - **Kinds are read from content.** A document loaded from an update does not know the types of
//!   its roots; [`root_kind`] infers them, telling an XML fragment from an array (yrs' own
//!   inference does not).
//! - **Mark order is exact.** y-prosemirror lists a text node's marks in the order Yjs' `toDelta()`
//!   reports its formatting, which yrs' public API loses (a `HashMap`) and whose items it keeps
//!   private. When it matters (two attributes on one chunk) the order is read from a marked copy
//!   of the document (`transcode`, `shadow`); writing places the formatting items one by one
//!   (`xml_write`). Documents without such chunks never pay for the copy; a restore, which
//!   copies every formatting item, reads each text from it.
//! - **Edits are checked whole before anything is written**, so an error leaves the document
//!   untouched, and its message names the JSON path at fault ([`EditError`]).
//! - **A restore is a forward edit.** A version is a garbage-collected state, so Yjs'
//!   snapshots cannot bring its deleted content back; [`restore`] reads both documents into
//!   plain trees (`tree`: every value, nested type, XML attribute and text item a reader sees,
//!   formatting items in their order), compares them root by root and key by key, and writes new
//!   items only where they differ (kept: equal roots, map keys, and the first and last values
//!   of a list). Connected editors receive it like any edit; restoring the version cut before
//!   it undoes it. yrs' own deep copy (`AsPrelim`) is not used: it stringifies XML attributes
//!   and loses the order of formatting. Trees are walked with work lists, not recursion, so
//!   documents nested 1000 deep restore on a worker's 2 MiB stack.
//! - **No panics on input.** Positions handed to yrs come from the same transaction, JSON nesting
//!   is bounded ([`MAX_DEPTH`]) before the recursion that converts it.
//!
//! Choices where Yjs' JSON has no answer: bytes render as base64 strings, `undefined` as null,
//! an XML type inside a map or an array as Yjs' `toJSON()` gives it (its XML string: what a
//! browser's `map.toJSON()` shows; ProseMirror JSON is only for roots), a shared type embedded in
//! a text as its JSON. Numbers follow JavaScript: integral values render as integers.
//!
//! # Layout
//!
//! - [`kind`]: [`RootKind`] and [`root_kind`].
//! - [`format`]: [`Format`], the renderings, and which kinds each fits.
//! - [`render`]: [`render_all`], [`render_field`] and [`RenderError`].
//! - `prosemirror`: an XmlFragment as y-prosemirror's JSON.
//! - `values`: Yjs' `toJSON()` of maps, arrays and nested types; `xml_string`: of XML types.
//! - [`plain_text`]: [`plain_text`](fn@plain_text), a document's text for search.
//! - `delta`: a text's chunks in Yjs' order (`chunk`), through `context`'s lazily built
//!   `shadow` copy, made by `transcode`.
//! - [`edit`]: [`replace_field`]; `pm_input` validates ProseMirror JSON, `xml_write` writes it;
//!   [`error`]: [`EditError`] and [`MAX_DEPTH`].
//! - [`restore`]: [`restore`](fn@restore) and [`RestoreError`]; `restore_plan` decides what
//!   each root needs, `tree` reads and compares content as plain data (a text's items through
//!   `text_items`, from the `shadow` copy, checked against the original), `tree_write` writes it
//!   back as new items (a text's items placed one by one, as `xml_write` does).
//! - [`scratch`]: [`scratch_doc`], a fresh UTF-16 document loaded from a state.
//! - `sequence`: a list-like type's items, read without yrs' endless loop on characters.
//! - `any_json` and `js`: values to JSON and to JavaScript strings.

mod any_json;
mod chunk;
mod context;
mod delta;
pub mod edit;
pub mod error;
pub mod format;
mod js;
pub mod kind;
pub mod plain_text;
mod pm_input;
mod prosemirror;
pub mod render;
pub mod restore;
mod restore_plan;
mod same;
pub mod scratch;
mod sequence;
mod shadow;
mod text_items;
mod transcode;
mod tree;
mod tree_write;
mod values;
mod xml_string;
mod xml_write;

pub use edit::replace_field;
pub use error::{EditError, MAX_DEPTH};
pub use format::{Format, UnknownFormat};
pub use kind::{root_kind, RootKind};
pub use plain_text::plain_text;
pub use render::{render_all, render_field, RenderError};
pub use restore::{restore, RestoreError};
pub use scratch::{scratch_doc, scratch_doc_with_client, ScratchError};
