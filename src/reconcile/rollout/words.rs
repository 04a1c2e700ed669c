//! How each rollout kind names things in status, Events and messages, in one place.

use super::Words;

/// `CloudUserConversion`.
pub const USERS: Words = Words {
    kind: "CloudUserConversion",
    objects: "users",
    converged: "every selected user is cloud-managed",
    reverted: "users switched back to AD and their ImmutableIDs restored",
};

/// `CloudGroupConversion`.
pub const GROUPS: Words = Words {
    kind: "CloudGroupConversion",
    objects: "groups",
    converged: "every selected group is cloud-managed with its owners",
    reverted: "groups switched back to AD and the owners this resource added removed",
};
