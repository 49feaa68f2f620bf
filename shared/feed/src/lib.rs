//! The change feed: every change a license goes through, as an event recorded in the same
//! transaction as the change (`event::record`), put in commit order by the sequencer
//! (`sequence`), listed after a cursor by the Events API (`log`) and delivered to webhooks.

pub mod event;
pub mod log;
pub mod sequence;
pub mod webhooks;

pub use event::{EventType, NewEvent};
