//! `AtomicU64` everywhere: the real one where the target has 64-bit atomics, a mutex-backed one
//! with the same methods where it has not (mips32: the mipsel routers promlet runs on). Counters
//! are touched a few times per request, so the lock costs nothing measurable there.

#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
pub use portable::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
mod portable {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    pub struct AtomicU64(Mutex<u64>);

    // The methods std has that some part uses; which ones are used depends on the features.
    #[allow(dead_code)]
    impl AtomicU64 {
        pub const fn new(v: u64) -> AtomicU64 {
            AtomicU64(Mutex::new(v))
        }
        fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
            f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
        }
        pub fn load(&self, _: Ordering) -> u64 {
            self.with(|v| *v)
        }
        pub fn store(&self, n: u64, _: Ordering) {
            self.with(|v| *v = n)
        }
        pub fn swap(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, n))
        }
        pub fn fetch_add(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, v.wrapping_add(n)))
        }
        pub fn fetch_sub(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, v.wrapping_sub(n)))
        }
        pub fn fetch_max(&self, n: u64, _: Ordering) -> u64 {
            self.with(|v| std::mem::replace(v, (*v).max(n)))
        }
    }
}
