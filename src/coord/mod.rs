//! What the coordinators share: [`runtime`], the single-owner loop that the group coordinator
//! and the transaction coordinator each run one instance of.

pub mod runtime;

pub use runtime::{Batch, Machine, Runtime};
