#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aworset;
pub mod context;
pub mod diff;
pub mod dot;
pub mod error;
pub mod json;
pub mod limits;
pub mod liveness;
pub mod message;
pub mod meta;
pub mod presence;
pub mod replica;
mod sort;
pub mod sync;
pub mod wire;

pub use aworset::{AWORSet, DotMap, DotStore, JoinEvent};
pub use context::{CausalContext, DotRanges};
pub use diff::{Diff, TopicDiff};
pub use dot::{Dot, Ref};
pub use error::{InputError, LivenessError, MetaError, TrackError, UpdateError};
pub use limits::Limits;
pub use liveness::ReplicaStatus;
pub use message::Message;
pub use meta::Meta;
pub use presence::{Change, Delta, Entry, KeyPresences, Presence, PresenceState, Tracked};
pub use replica::{ReplicaId, incarnation_from_parts};
