//! Presence servers on tokio: an actor owning a `beryl-core` state, plus PubSub.
