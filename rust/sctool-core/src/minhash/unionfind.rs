//! A lock-free union-find whose roots are the smallest element of each set.
//!
//! Elements are document *ranks* (their position in stable-id order). `union` always links the
//! larger root under the smaller one with a compare-and-swap, and path halving only ever replaces
//! a parent by one of its ancestors, so `parent[x] <= x` holds at every moment. Hence each set's
//! root is its minimum — the lowest stable id — whatever order the unions run in, on any number of
//! threads. The partition of elements is the connected components of the union calls, which does
//! not depend on order either; together that makes clustering deterministic without a sequential
//! pass (cf. Anderson & Woll, "Wait-free parallel algorithms for the union-find problem", 1991).

use std::sync::atomic::{AtomicU32, Ordering};

pub struct ConcurrentUnionFind {
    parent: Vec<AtomicU32>,
}

impl ConcurrentUnionFind {
    pub fn new(n: usize) -> Self {
        ConcurrentUnionFind {
            parent: (0..n as u32).map(AtomicU32::new).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Root of `x` (the minimum of its set at this moment), halving the path on the way.
    pub fn find(&self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let gp = self.parent[p as usize].load(Ordering::Acquire);
            if gp != p {
                // Path halving; losing the race is harmless (someone else shortened it).
                let _ = self.parent[x as usize].compare_exchange_weak(p, gp, Ordering::AcqRel, Ordering::Relaxed);
            }
            x = gp;
        }
    }

    /// Merge the sets of `a` and `b`.
    pub fn union(&self, a: u32, b: u32) {
        loop {
            let ra = self.find(a);
            let rb = self.find(b);
            if ra == rb {
                return;
            }
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            if self.parent[hi as usize]
                .compare_exchange(hi, lo, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Root of every element, once all unions are done.
    pub fn roots(&self) -> Vec<u32> {
        (0..self.parent.len() as u32).map(|x| self.find(x)).collect()
    }
}

/// Per node of `0..n`, the smallest node of its connected component under the edges `(a[i], b[i])`.
///
/// The same union-find the engine clusters with, for edges found elsewhere (the distributed
/// near-dedup path finds candidate edges per band-key partition): one clustering rule everywhere.
/// Unions run in parallel; the result does not depend on their order.
pub fn components_min_root(n: usize, a: &[u32], b: &[u32]) -> Result<Vec<u32>, String> {
    use rayon::prelude::*;
    if a.len() != b.len() {
        return Err(format!("edge arrays differ in length: {} and {}", a.len(), b.len()));
    }
    if let Some(bad) = a.iter().chain(b).find(|&&x| x as usize >= n) {
        return Err(format!("edge endpoint {bad} is outside 0..{n}"));
    }
    let uf = ConcurrentUnionFind::new(n);
    a.par_iter().zip(b.par_iter()).for_each(|(&x, &y)| uf.union(x, y));
    Ok(uf.roots())
}

/// The components step: union-find over document *positions* whose roots are the member with the
/// lowest *rank* (stable-id order). Every dedup path clusters through this one type: the
/// in-process chain with edges from its own band shuffle, the executor path with edges read back
/// from the spilled shuffle.
pub struct Components {
    uf: ConcurrentUnionFind,
    ranks: Vec<u32>,
    rank_to_pos: Vec<u32>,
}

impl Components {
    /// `ranks[pos]` is each document's place in stable-id order (a permutation of `0..n`).
    pub fn new(ranks: Vec<u32>) -> crate::error::Result<Self> {
        let n = ranks.len();
        if n > u32::MAX as usize {
            return Err(crate::error::CoreError::InvalidInput("more than 4,294,967,295 documents".into()));
        }
        let mut rank_to_pos = vec![u32::MAX; n];
        for (pos, &r) in ranks.iter().enumerate() {
            if (r as usize) >= n || rank_to_pos[r as usize] != u32::MAX {
                return Err(crate::error::CoreError::InvalidInput(
                    "ranks must be a permutation of 0..n (one distinct rank per document)".into(),
                ));
            }
            rank_to_pos[r as usize] = pos as u32;
        }
        Ok(Components {
            uf: ConcurrentUnionFind::new(n),
            ranks,
            rank_to_pos,
        })
    }

    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// Rank of the document at `pos`.
    #[inline]
    pub fn rank(&self, pos: u32) -> u32 {
        self.ranks[pos as usize]
    }

    /// Position of the document of rank `rank`.
    #[inline]
    pub fn position(&self, rank: u32) -> u32 {
        self.rank_to_pos[rank as usize]
    }

    /// The union-find over ranks (for steps that decide unions pair by pair, e.g. verification).
    pub fn rank_union_find(&self) -> &ConcurrentUnionFind {
        &self.uf
    }

    /// Merge the components of each edge `(a[i], b[i])` of positions; unions run in parallel.
    pub fn union_positions(&self, a: &[u64], b: &[u64]) -> crate::error::Result<()> {
        use rayon::prelude::*;
        if a.len() != b.len() {
            return Err(crate::error::CoreError::InvalidInput(format!(
                "edge arrays differ in length: {} and {}",
                a.len(),
                b.len()
            )));
        }
        let n = self.len() as u64;
        if let Some(bad) = a.iter().chain(b).find(|&&x| x >= n) {
            return Err(crate::error::CoreError::InvalidInput(format!(
                "edge endpoint {bad} is outside 0..{n}"
            )));
        }
        a.par_iter()
            .zip(b.par_iter())
            .for_each(|(&x, &y)| self.uf.union(self.ranks[x as usize], self.ranks[y as usize]));
        Ok(())
    }

    /// Per position, the position of its component's root (the member with the lowest rank).
    pub fn roots(&self) -> Vec<u32> {
        let roots = self.uf.roots();
        self.ranks
            .iter()
            .map(|&r| self.rank_to_pos[roots[r as usize] as usize])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    fn reference(n: usize, edges: &[(u32, u32)]) -> Vec<u32> {
        // Label propagation to the component minimum.
        let mut label: Vec<u32> = (0..n as u32).collect();
        loop {
            let mut changed = false;
            for &(a, b) in edges {
                let m = label[a as usize].min(label[b as usize]);
                for x in [a, b] {
                    if label[x as usize] != m {
                        label[x as usize] = m;
                        changed = true;
                    }
                }
            }
            if !changed {
                return label;
            }
        }
    }

    #[test]
    fn parallel_unions_give_minimum_roots() {
        let n = 5000usize;
        let mut edges = Vec::new();
        let mut x = 12345u64;
        for _ in 0..4000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let a = ((x >> 33) % n as u64) as u32;
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let b = ((x >> 33) % n as u64) as u32;
            edges.push((a, b));
        }
        let expect = reference(n, &edges);
        for threads in [1, 2, 4] {
            let uf = ConcurrentUnionFind::new(n);
            crate::parallel::with_threads(threads, || edges.par_iter().for_each(|&(a, b)| uf.union(a, b)));
            assert_eq!(uf.roots(), expect);
        }
    }

    #[test]
    fn components_min_root_equals_label_propagation() {
        let edges = [(5u32, 3u32), (3, 9), (1, 2), (7, 7), (9, 4)];
        let (a, b): (Vec<u32>, Vec<u32>) = edges.iter().copied().unzip();
        assert_eq!(components_min_root(10, &a, &b).unwrap(), reference(10, &edges));
        assert!(components_min_root(3, &[0], &[3]).is_err());
        assert!(components_min_root(3, &[0, 1], &[2]).is_err());
    }

    #[test]
    fn components_root_is_the_lowest_rank() {
        // Positions 0..5 with ranks reversed: the root of {1, 3} is 3 (rank 1), of {0, 4} is 4.
        let c = Components::new(vec![4, 3, 2, 1, 0]).unwrap();
        c.union_positions(&[1, 0], &[3, 4]).unwrap();
        assert_eq!(c.roots(), vec![4, 3, 2, 3, 4]);
        assert!(c.union_positions(&[5], &[0]).is_err());
        assert!(Components::new(vec![0, 0]).is_err());
    }
}
