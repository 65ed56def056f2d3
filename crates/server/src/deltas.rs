//! Intraday deltas: signed additions and removals of entries over the active snapshot, visible to
//! the next `Screen`, persisted in the data dir and superseded by the next snapshot.
