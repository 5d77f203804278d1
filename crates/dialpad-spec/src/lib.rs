//! Dialpad's official OpenAPI 3.0 description of API v2, embedded, as the one source of truth for
//! what Dialpad accepts and answers: operations, path matching, scopes, rate limits, validation.
//!
//! The spec (`openapi.json`, MIT, Copyright 2020 Dialpad, Inc.; see `NOTICE.md`) is parsed once on
//! first use of [`spec()`]. Its schemas are normalised into strict JSON Schema, draft 7, and each
//! operation compiles its validators on first use. The normalisation:
//! - `$ref`s are inlined (the spec has no recursive schemas), honouring a sibling `nullable: true`;
//! - `nullable: true` becomes a `"null"` type (and `null` in `enum`);
//! - `type: integer, format: int64` accepts an integer or a string of decimal digits;
//! - objects with `properties` get `additionalProperties: false`: unknown fields are errors;
//! - `oneOf` becomes `anyOf`, because the spec's alternatives overlap;
//! - formats (`date-time`, `byte`, `double`, `int64`) are descriptive, not asserted.

mod components;
mod description;
mod error;
mod matching;
mod normalise;
mod operation;
mod problem;
mod spec;
mod validate;

use std::sync::LazyLock;

pub use description::RateLimit;
pub use error::SpecError;
pub use operation::{Operation, ParamLocation, Parameter};
pub use problem::Problem;
pub use spec::{Match, Spec};

/// The embedded OpenAPI document, as published by Dialpad.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The embedded spec, parsed on first use.
///
/// # Panics
/// Only if the embedded `openapi.json` is broken, which this crate's tests rule out.
pub fn spec() -> &'static Spec {
    static SPEC: LazyLock<Spec> = LazyLock::new(|| {
        Spec::parse(OPENAPI_JSON)
            .unwrap_or_else(|error| panic!("the embedded openapi.json is broken: {error}"))
    });
    &SPEC
}
