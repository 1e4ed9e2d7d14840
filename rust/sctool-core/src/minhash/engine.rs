//! The near-duplicate steps between signatures and decisions, as functions any executor calls.
//!
//! The chain is signatures → band keys → shuffle → edges → components → decisions
//! (`docs/dedup.md`). Signatures are [`super::signature`]'s, band keys [`super::lsh::band_records`];
//! this module holds the rest:
//!
//! * [`BandShuffle`]: the in-process shuffle, out of core. `(band key, position)` records go to
//!   in-memory buffers that are flushed — whenever they pass half the memory budget — into
//!   `partitions` files chosen by the key's top bits (one file open at a time). [`BandShuffle::finish`]
//!   splits a file larger than the budget into 16 files on other key bits (recursively), so every
//!   partition it returns loads within the budget. On a cluster the shuffle is spill files instead;
//!   the records are the same.
//! * [`partition_edges`]: the edges step of one partition — records sorted by `(key, node)`, each
//!   group of equal keys (two or more members) gives star edges from its smallest node to every
//!   other member (StarCoder: every candidate is a duplicate).
//! * [`union_verified`]: the same step with `verify`: every pair of a group whose exact shingle
//!   Jaccard reaches the threshold is merged (pairs already in one component are skipped).
//! * [`super::unionfind::Components`]: the components, roots at the lowest rank (stable-id order).
//!
//! Components do not depend on which member a star starts from, on the order of unions, on batch
//! size, thread count, partition count or input order, so every executor finds the same clusters.
//! A budget ten times smaller than the band records only means more, smaller files: the result is
//! identical (tests check this).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::shingle::jaccard_sorted;
use super::unionfind::Components;
use crate::error::{CoreError, Result};

/// Bytes of one spilled band record: key (u64) + position (u32), little-endian.
pub const RECORD: usize = 12;
const SPLIT_FANOUT: usize = 16;
const MAX_SPLIT_DEPTH: u32 = 6;

/// Counters of the in-process shuffle (how it laid records out, not what it found).
#[derive(Clone, Debug, Default)]
pub struct ShuffleStats {
    pub band_records: u64,
    pub spill_flushes: u64,
    pub bytes_spilled: u64,
    pub partition_files: u64,
    pub partition_splits: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |e| CoreError::io(path, e)
}

/// Multiply-shift range reduction of the key (after a per-level rotation) into `n` buckets.
#[inline]
fn bucket(key: u64, level: u32, n: usize) -> usize {
    let k = key.rotate_left(level * 11);
    ((u128::from(k) * n as u128) >> 64) as usize
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// The in-process band shuffle: partitioned, budgeted, spilled to `dir`.
pub struct BandShuffle {
    dir: PathBuf,
    partitions: usize,
    memory_budget: usize,
    buffers: Vec<Vec<u8>>,
    buffered: usize,
    finished: bool,
    stats: ShuffleStats,
}

impl BandShuffle {
    /// A shuffle whose files live in `dir` (which must exist).
    pub fn new(dir: impl AsRef<Path>, partitions: usize, memory_budget: usize) -> Result<Self> {
        if partitions == 0 || partitions > 4096 {
            return Err(CoreError::InvalidConfig(format!(
                "partitions must be between 1 and 4096, got {partitions}"
            )));
        }
        if memory_budget < (1 << 16) {
            return Err(CoreError::InvalidConfig(format!(
                "memory budget must be at least 64 KiB, got {memory_budget} bytes"
            )));
        }
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(CoreError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "work directory does not exist"),
            ));
        }
        Ok(BandShuffle {
            dir,
            partitions,
            memory_budget,
            buffers: vec![Vec::new(); partitions],
            buffered: 0,
            finished: false,
            stats: ShuffleStats::default(),
        })
    }

    pub fn stats(&self) -> &ShuffleStats {
        &self.stats
    }

    fn partition_path(&self, p: usize) -> PathBuf {
        self.dir.join(format!("bands-{p:04}.bin"))
    }

    /// Route records `(keys[i], nodes[i])` to their partitions; spills past half the budget.
    pub fn add(&mut self, keys: &[u64], nodes: &[u64]) -> Result<()> {
        if self.finished {
            return Err(CoreError::InvalidInput("add after finish: start a new shuffle".into()));
        }
        if keys.len() != nodes.len() {
            return Err(CoreError::InvalidInput(format!(
                "{} keys but {} nodes",
                keys.len(),
                nodes.len()
            )));
        }
        if let Some(bad) = nodes.iter().find(|&&x| x > u64::from(u32::MAX)) {
            return Err(CoreError::InvalidInput(format!("node {bad} does not fit 32 bits")));
        }
        for (&key, &node) in keys.iter().zip(nodes) {
            let buf = &mut self.buffers[bucket(key, 0, self.partitions)];
            buf.extend_from_slice(&key.to_le_bytes());
            buf.extend_from_slice(&(node as u32).to_le_bytes());
        }
        self.stats.band_records += keys.len() as u64;
        self.buffered += keys.len() * RECORD;
        if self.buffered > self.memory_budget / 2 {
            self.flush()?;
        }
        Ok(())
    }

    /// Append every buffered partition to its file, opening one file at a time.
    fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        for p in 0..self.buffers.len() {
            if self.buffers[p].is_empty() {
                continue;
            }
            let path = self.partition_path(p);
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.write_all(&self.buffers[p]).map_err(io_err(&path))?;
            self.stats.bytes_spilled += self.buffers[p].len() as u64;
            self.buffers[p].clear();
        }
        self.buffered = 0;
        self.stats.spill_flushes += 1;
        Ok(())
    }

    /// Flush, then return the partition files in processing order, each one loadable within the
    /// budget (larger ones are split first, depth first).
    pub fn finish(&mut self) -> Result<Vec<PathBuf>> {
        self.flush()?;
        self.finished = true;
        self.buffers = Vec::new();
        let mut out = Vec::new();
        for p in 0..self.partitions {
            let path = self.partition_path(p);
            if path.exists() {
                self.stats.partition_files += 1;
                self.split_into(&path, 1, &mut out)?;
            }
        }
        Ok(out)
    }

    fn split_into(&mut self, path: &Path, level: u32, out: &mut Vec<PathBuf>) -> Result<()> {
        let size = std::fs::metadata(path).map_err(io_err(path))?.len() as usize;
        // In memory a record takes 16 bytes (u64 + u32, padded) against 12 on disk.
        if size / RECORD * 16 <= self.memory_budget || level > MAX_SPLIT_DEPTH {
            out.push(path.to_path_buf());
            return Ok(());
        }
        self.stats.partition_splits += 1;
        let subs: Vec<PathBuf> = (0..SPLIT_FANOUT)
            .map(|i| path.with_extension(format!("{i:02}.bin")))
            .collect();
        {
            let mut outs: Vec<Vec<u8>> = vec![Vec::new(); SPLIT_FANOUT];
            let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_err(path))?);
            let mut rec = [0u8; RECORD];
            let chunk = (self.memory_budget / 2).max(RECORD * SPLIT_FANOUT);
            let mut held = 0usize;
            let mut remaining = size / RECORD;
            while remaining > 0 {
                reader.read_exact(&mut rec).map_err(io_err(path))?;
                remaining -= 1;
                let key = u64::from_le_bytes(rec[..8].try_into().expect("8 bytes"));
                outs[bucket(key, level, SPLIT_FANOUT)].extend_from_slice(&rec);
                held += RECORD;
                if held >= chunk || remaining == 0 {
                    for (i, buf) in outs.iter_mut().enumerate() {
                        if buf.is_empty() {
                            continue;
                        }
                        let mut f = OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&subs[i])
                            .map_err(io_err(&subs[i]))?;
                        f.write_all(buf).map_err(io_err(&subs[i]))?;
                        buf.clear();
                    }
                    held = 0;
                }
            }
        }
        std::fs::remove_file(path).map_err(io_err(path))?;
        for sub in &subs {
            if sub.exists() {
                self.stats.partition_files += 1;
                self.split_into(sub, level + 1, out)?;
            }
        }
        Ok(())
    }

    /// The records of one partition file returned by [`BandShuffle::finish`].
    pub fn load(path: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
        let mut raw = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(io_err(path))?;
        if raw.len() % RECORD != 0 {
            return Err(CoreError::InvalidInput(format!(
                "{}: truncated spill file ({} bytes)",
                path.display(),
                raw.len()
            )));
        }
        Ok(raw
            .par_chunks_exact(RECORD)
            .map(|r| {
                (
                    u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
                    u64::from(u32::from_le_bytes(r[8..].try_into().expect("4 bytes"))),
                )
            })
            .unzip())
    }
}

/// Sort records by `(key, node)` and return the runs of equal keys with at least two members.
fn candidate_groups<N: Ord + Copy + Send>(recs: &mut [(u64, N)]) -> Vec<(usize, usize)> {
    recs.par_sort_unstable();
    let mut groups = Vec::new();
    let mut s = 0;
    while s < recs.len() {
        let mut e = s + 1;
        while e < recs.len() && recs[e].0 == recs[s].0 {
            e += 1;
        }
        if e - s > 1 {
            groups.push((s, e));
        }
        s = e;
    }
    groups
}

/// Candidate edges of one partition of band records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionEdges {
    /// Groups of two or more records sharing a key.
    pub groups: u64,
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

/// The edges step: star edges of every key group (smallest node → each other member). Every
/// record of a key must be in the partition (any shuffle keyed by the band key guarantees it).
pub fn partition_edges(keys: &[u64], nodes: &[u64]) -> Result<PartitionEdges> {
    if keys.len() != nodes.len() {
        return Err(CoreError::InvalidInput(format!(
            "{} keys but {} nodes",
            keys.len(),
            nodes.len()
        )));
    }
    let mut recs: Vec<(u64, u64)> = keys.iter().copied().zip(nodes.iter().copied()).collect();
    let groups = candidate_groups(&mut recs);
    let edges: usize = groups.iter().map(|&(s, e)| e - s - 1).sum();
    let mut out = PartitionEdges {
        groups: groups.len() as u64,
        a: Vec::with_capacity(edges),
        b: Vec::with_capacity(edges),
    };
    for &(s, e) in &groups {
        let first = recs[s].1;
        for &(_, node) in &recs[s + 1..e] {
            out.a.push(first);
            out.b.push(node);
        }
    }
    Ok(out)
}

/// Shingle sets of the documents, stored one after another in a file (verification reads them).
pub struct ShingleFile {
    file: File,
    path: PathBuf,
    /// `offsets[pos]..offsets[pos + 1]` are the bytes of document `pos`'s sorted shingle hashes.
    offsets: Vec<u64>,
}

impl ShingleFile {
    pub fn open(path: impl AsRef<Path>, offsets: Vec<u64>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if offsets.first().copied().unwrap_or(0) != 0
            || offsets.windows(2).any(|w| w[0] > w[1] || (w[1] - w[0]) % 4 != 0)
            || offsets.last().copied().unwrap_or(0) > len
        {
            return Err(CoreError::InvalidInput(format!(
                "{}: shingle offsets do not describe the file",
                path.display()
            )));
        }
        Ok(ShingleFile { file, path, offsets })
    }

    fn set(&self, pos: u32) -> Result<Vec<u32>> {
        let pos = pos as usize;
        if pos + 1 >= self.offsets.len() {
            return Err(CoreError::InvalidInput(format!("no shingle set for document {pos}")));
        }
        let (s, e) = (self.offsets[pos], self.offsets[pos + 1]);
        let mut buf = vec![0u8; (e - s) as usize];
        read_at(&self.file, &mut buf, s).map_err(io_err(&self.path))?;
        Ok(buf
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

/// Counters of a verified partition: `(groups, pairs checked, merged, rejected)`.
pub type VerifiedCounts = (u64, u64, u64, u64);

/// The edges step with verification, merging straight into `comps`: within each key group (in
/// rank order), every pair not yet in one component is merged if its exact shingle Jaccard
/// reaches `threshold`.
pub fn union_verified(
    keys: &[u64],
    nodes: &[u64],
    comps: &Components,
    shingles: &ShingleFile,
    threshold: f64,
) -> Result<VerifiedCounts> {
    if keys.len() != nodes.len() {
        return Err(CoreError::InvalidInput(format!(
            "{} keys but {} nodes",
            keys.len(),
            nodes.len()
        )));
    }
    let n = comps.len() as u64;
    if let Some(bad) = nodes.iter().find(|&&x| x >= n) {
        return Err(CoreError::InvalidInput(format!("node {bad} is outside 0..{n}")));
    }
    let mut recs: Vec<(u64, u32)> = keys
        .iter()
        .zip(nodes)
        .map(|(&k, &pos)| (k, comps.rank(pos as u32)))
        .collect();
    let groups = candidate_groups(&mut recs);
    let uf = comps.rank_union_find();
    let counts: Vec<(u64, u64, u64)> = groups
        .par_iter()
        .map(|&(s, e)| {
            let group = &recs[s..e];
            let sets: Vec<Vec<u32>> = group
                .iter()
                .map(|&(_, r)| shingles.set(comps.position(r)))
                .collect::<Result<_>>()?;
            let (mut pairs, mut ok, mut rejected) = (0u64, 0u64, 0u64);
            for i in 0..group.len() {
                for j in i + 1..group.len() {
                    let (ri, rj) = (group[i].1, group[j].1);
                    if uf.find(ri) == uf.find(rj) {
                        continue;
                    }
                    pairs += 1;
                    if jaccard_sorted(&sets[i], &sets[j]) >= threshold {
                        uf.union(ri, rj);
                        ok += 1;
                    } else {
                        rejected += 1;
                    }
                }
            }
            Ok((pairs, ok, rejected))
        })
        .collect::<Result<_>>()?;
    let mut total = (groups.len() as u64, 0, 0, 0);
    for (pairs, ok, rejected) in counts {
        total.1 += pairs;
        total.2 += ok;
        total.3 += rejected;
    }
    Ok(total)
}

/// Compare two ids in "natural" order: digit runs compare as numbers, so `f:9 < f:10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = &a[si..i];
            let db = &b[sj..j];
            let ta = da.iter().position(|&c| c != b'0').map_or(&da[da.len()..], |p| &da[p..]);
            let tb = db.iter().position(|&c| c != b'0').map_or(&db[db.len()..], |p| &db[p..]);
            let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| da.len().cmp(&db.len()));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Rank of every id in natural order; ties (repeated ids) and nulls (after every id) fall back to
/// the input position, so the ranks are always a permutation of `0..n`.
pub fn rank_ids(ids: &[Option<&str>]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.par_sort_by(|&x, &y| {
        let (a, b) = (ids[x as usize], ids[y as usize]);
        match (a, b) {
            (Some(a), Some(b)) => natural_cmp(a, b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(x.cmp(&y))
    });
    let mut ranks = vec![0u32; ids.len()];
    for (r, &pos) in order.iter().enumerate() {
        ranks[pos as usize] = r as u32;
    }
    ranks
}

#[cfg(test)]
#[allow(clippy::format_collect, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::minhash::lsh::optimal_param;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sctool-engine-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn corpus() -> Vec<String> {
        let mut docs = Vec::new();
        for i in 0..60 {
            let base: String = (0..80).map(|j| format!("let v{j} = f{}(x{j}, {});\n", j % 7, (i / 3) * 1000 + j)).collect();
            // Triples: i%3 == 0 the base, 1 a light edit, 2 unrelated-ish tail change.
            let doc = match i % 3 {
                0 => base,
                1 => base.replacen("let v3 ", "let w3 ", 1),
                _ => format!("{base}// trailing comment {i}\n"),
            };
            docs.push(doc);
        }
        docs.push("tiny".into());
        docs
    }

    fn run(docs: &[String], budget: usize, partitions: usize, batch: usize, threads: usize, verify: bool) -> Vec<u32> {
        run_stats(docs, budget, partitions, batch, threads, verify).0
    }

    /// The whole in-process chain, as `sctool.dedup.near.NearDupPlanner` runs it.
    fn run_stats(
        docs: &[String],
        budget: usize,
        partitions: usize,
        batch: usize,
        threads: usize,
        verify: bool,
    ) -> (Vec<u32>, ShuffleStats) {
        use crate::minhash::lsh::band_records;
        use crate::minhash::{signatures, MinHashParams, Permutations};
        let (bands, rows) = optimal_param(0.7, 256).unwrap();
        let params = MinHashParams::default();
        let perms = Permutations::new(params.num_perm, params.seed);
        let dir = tmpdir(&format!("{budget}-{partitions}-{batch}-{threads}-{verify}"));
        let mut shuffle = BandShuffle::new(&dir, partitions, budget).unwrap();
        let refs: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
        let shingle_path = dir.join("shingles.bin");
        let mut shingle_out = File::create(&shingle_path).unwrap();
        let mut offsets = vec![0u64];
        crate::parallel::with_threads(threads, || {
            for (i, chunk) in refs.chunks(batch).enumerate() {
                let sig = signatures(chunk, &params, &perms, verify).unwrap();
                for set in sig.shingles.iter().flatten() {
                    let bytes: Vec<u8> = set.iter().flat_map(|v| v.to_le_bytes()).collect();
                    shingle_out.write_all(&bytes).unwrap();
                    offsets.push(offsets.last().unwrap() + bytes.len() as u64);
                }
                let (keys, nodes) =
                    band_records(&sig.sigs, &sig.shingle_counts, params.num_perm, bands, rows, (i * batch) as u64)
                        .unwrap();
                shuffle.add(&keys, &nodes).unwrap();
            }
        });
        drop(shingle_out);
        let comps = Components::new((0..docs.len() as u32).collect()).unwrap();
        let shingles = verify.then(|| ShingleFile::open(&shingle_path, offsets).unwrap());
        crate::parallel::with_threads(threads, || {
            for path in shuffle.finish().unwrap() {
                let (keys, nodes) = BandShuffle::load(&path).unwrap();
                if let Some(sh) = &shingles {
                    union_verified(&keys, &nodes, &comps, sh, 0.7).unwrap();
                } else {
                    let e = partition_edges(&keys, &nodes).unwrap();
                    comps.union_positions(&e.a, &e.b).unwrap();
                }
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        (comps.roots(), shuffle.stats().clone())
    }

    #[test]
    fn star_edges_from_the_smallest_node_of_each_key_group() {
        let e = partition_edges(&[7, 3, 7, 7, 5, 3], &[9, 4, 2, 6, 1, 8]).unwrap();
        assert_eq!(e.groups, 2);
        assert_eq!((e.a, e.b), (vec![4, 2, 2], vec![8, 6, 9]));
        assert!(partition_edges(&[1], &[]).is_err());
    }

    #[test]
    fn spills_and_recursive_splits_keep_the_result() {
        // 8 copies of the corpus: ~150 KB of band records against a 64 KiB budget in 1 partition.
        let docs: Vec<String> = (0..8).flat_map(|_| corpus()).collect();
        let (base, st0) = run_stats(&docs, 1 << 26, 4, 10_000, 2, false);
        assert_eq!((st0.partition_splits, st0.spill_flushes), (0, 1));
        let (small, st) = run_stats(&docs, 1 << 16, 1, 50, 2, false);
        assert!(st.partition_splits >= 1 && st.spill_flushes > 1, "{st:?}");
        assert_eq!(small, base);
        // Copies of a document all point to the first copy (lowest rank).
        assert_eq!(base[61] as usize, 0);
    }

    #[test]
    fn clusters_triples_and_is_layout_independent() {
        let docs = corpus();
        let base = run(&docs, 1 << 26, 8, 1000, 1, false);
        for i in 0..60usize {
            assert_eq!(base[i] as usize, i - i % 3, "doc {i}");
        }
        assert_eq!(base[60], 60);
        // A tiny budget forces spills and recursive splits; the result must not change.
        assert_eq!(run(&docs, 1 << 16, 3, 7, 2, false), base);
        assert_eq!(run(&docs, 1 << 20, 1, 13, 4, true), base);
    }

    #[test]
    fn natural_order() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("f:9", "f:10"), Less);
        assert_eq!(natural_cmp("a", "a"), Equal);
        assert_eq!(natural_cmp("a", "ab"), Less);
        assert_eq!(natural_cmp("x01", "x1"), Greater);
        assert_eq!(rank_ids(&[Some("b:10"), Some("b:9"), None, Some("a")]), vec![2, 1, 3, 0]);
    }
}
