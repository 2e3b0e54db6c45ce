//! Browser, Node and edge-worker bindings of `beryl-core` (the npm package `beryl-presence`).
