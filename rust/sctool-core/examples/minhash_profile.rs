//! Stage timing of the StarCoder-exact MinHash signature on one thread, for profiling:
//! `cargo run --release -p sctool-core --example minhash_profile -- CORPUS.bin [stage]`, where
//! `CORPUS.bin` is a sequence of little-endian u32 lengths each followed by that many UTF-8 bytes
//! and `stage` is `all` (default), `shingle` or `perm`.

use std::time::Instant;

use sctool_core::minhash::shingle::{shingle_hashes_unsorted, ShingleScratch};
use sctool_core::minhash::signature::{kernel_name, signature_prepared, PreparedPerms};
use sctool_core::minhash::{Permutations, ShingleHash, ShingleKind};

fn cpu_seconds() -> f64 {
    // Thread CPU time is what "MB per CPU-second" divides by; wall time is used as a fallback.
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or_else(|| 0.0, |ns| ns / 1e9)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("corpus path");
    let stage = args.next().unwrap_or_else(|| "all".to_string());
    let reps: usize = args.next().map_or(3, |r| r.parse().expect("reps"));
    let data = std::fs::read(&path).expect("read corpus");
    let mut docs = Vec::new();
    let mut i = 0;
    while i + 4 <= data.len() {
        let n = u32::from_le_bytes(data[i..i + 4].try_into().unwrap()) as usize;
        docs.push(std::str::from_utf8(&data[i + 4..i + 4 + n]).expect("utf-8"));
        i += 4 + n;
    }
    let mb = docs.iter().map(|d| d.len()).sum::<usize>() as f64 / 1e6;
    let perms = PreparedPerms::new(&Permutations::new(256, 42));
    let mut sc = ShingleScratch::default();
    let mut hashes = Vec::new();
    let mut sig = vec![0u32; 256];
    let pre: Vec<Vec<u32>> = if stage == "perm" {
        docs.iter()
            .map(|d| {
                shingle_hashes_unsorted(d, ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut sc, &mut hashes);
                hashes.clone()
            })
            .collect()
    } else {
        Vec::new()
    };
    let _ = kernel_name();
    let mut best = f64::MAX;
    let mut check = 0u64;
    let mut nh = 0usize;
    for _ in 0..reps {
        let (c0, w0) = (cpu_seconds(), Instant::now());
        nh = 0;
        for (k, d) in docs.iter().enumerate() {
            match stage.as_str() {
                "perm" => {
                    nh += pre[k].len();
                    if !pre[k].is_empty() {
                        signature_prepared(&pre[k], &perms, &mut sig);
                    }
                }
                "shingle" => {
                    shingle_hashes_unsorted(d, ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut sc, &mut hashes);
                    nh += hashes.len();
                    check = check.wrapping_add(hashes.iter().map(|&h| u64::from(h)).sum::<u64>());
                }
                _ => {
                    shingle_hashes_unsorted(d, ShingleKind::BigCode, 5, ShingleHash::Sha1, &mut sc, &mut hashes);
                    nh += hashes.len();
                    if !hashes.is_empty() {
                        signature_prepared(&hashes, &perms, &mut sig);
                    }
                }
            }
            check = check.wrapping_add(u64::from(sig[0]));
        }
        let (c, w) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
        best = best.min(if c > 0.0 { c } else { w });
    }
    println!(
        "stage={stage} kernel={} MB={mb:.1} cpu_s={best:.3} MB/cpu-s={:.1} distinct_shingles={nh} check={check}",
        kernel_name(),
        mb / best
    );
}
