//! Thread-pool selection for kernels.
//!
//! Every public batch API takes a `threads` knob (0 = all cores). Pools are built once per distinct
//! size and cached: building a rayon pool per call costs more than hashing a small batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::ThreadPool;

fn pools() -> &'static Mutex<HashMap<usize, Arc<ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Number of threads `threads` resolves to (0 means every available core).
pub fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        threads
    }
}

/// Run `f` inside a rayon pool of `threads` workers (0 = all cores).
///
/// Results of kernels never depend on the thread count: callers use indexed parallel iterators and
/// write results by position.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let n = resolve_threads(threads);
    let pool = {
        let mut map = pools().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(n)
            .or_insert_with(|| {
                Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(|i| format!("sctool-{i}"))
                        .build()
                        .expect("building a rayon pool only fails when threads cannot be spawned"),
                )
            })
            .clone()
    };
    pool.install(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn pool_size_is_respected() {
        assert_eq!(with_threads(3, rayon::current_num_threads), 3);
        assert_eq!(with_threads(1, rayon::current_num_threads), 1);
        assert!(with_threads(0, rayon::current_num_threads) >= 1);
    }

    #[test]
    fn results_do_not_depend_on_threads() {
        let a: Vec<u64> = with_threads(1, || (0..1000u64).into_par_iter().map(|x| x * x).collect());
        let b: Vec<u64> = with_threads(4, || (0..1000u64).into_par_iter().map(|x| x * x).collect());
        assert_eq!(a, b);
    }
}
