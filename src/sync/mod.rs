//! Synchronization primitives as lock brokers: Lock, IndexSemaphore,
//! LightSwitch, QLock, RWLock.
