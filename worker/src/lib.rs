//! Seatflow's licensing worker. It will consume outbox events and reconcile licensing
//! (entitlement, seat assignment, blocking, promotion); the event pipeline adds its consumer and
//! binary. Until then the crate only fixes its place in the workspace.
