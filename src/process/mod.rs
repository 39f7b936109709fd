//! Process workers: frame codec, handshake, worker side, parent-side remote actor, launcher.
