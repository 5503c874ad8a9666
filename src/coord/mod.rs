//! What the coordinators share: [`runtime`], the single-owner loop that the group coordinator,
//! the transaction coordinator and the share leader each run one instance of, and the
//! [`Deadlines`] of their timers.

pub mod deadlines;
pub mod runtime;

pub use deadlines::Deadlines;
pub use runtime::{Batch, Machine, Runtime};
