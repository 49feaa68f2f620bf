//! Bounds on what one SCIM request may ask of the filter parser and the PATCH engine. The API
//! builds them once from its configuration (`SEATFLOW_MAX_FILTER_LENGTH`, …) and hands them to
//! every parse; [`Limits::DEFAULT`] holds the documented defaults.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest filter, and longest PATCH path, in bytes.
    pub filter_bytes: usize,
    /// Deepest nesting of parentheses, `not (…)` and value paths (`emails[…]`). A flat chain
    /// `a or b or c …` is one level; its length is bounded by `filter_bytes`.
    pub filter_depth: usize,
    /// Most operations in one PATCH request.
    pub patch_operations: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        filter_bytes: 4096,
        filter_depth: 16,
        patch_operations: 1000,
    };
}
