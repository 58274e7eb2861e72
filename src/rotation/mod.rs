//! Key rotation and provider migration as a state machine.
//!
//! This module owns deriving the rotation stage of each resource entry from
//! the config files (and scan evidence), planning the next step, and applying
//! it atomically. The stage is always derived, never stored.
