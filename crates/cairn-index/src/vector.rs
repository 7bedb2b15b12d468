//! Vector indexes: an exact (brute-force) index, the reference that recall is measured
//! against, and an HNSW index (usearch) for speed. Both use cosine similarity, support
//! update and delete, and persist to a file.
//!
//! Stable paragraph IDs are strings; vector indexes key by `u64`. [`VectorKey`] is the only
//! place the mapping lives: the first 64 bits of XXH3 of the stable ID.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use cairn_core::StableId;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{IndexError, Result};

/// The key of a node's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VectorKey(pub u64);

impl VectorKey {
    /// The key of stable ID `id`.
    pub fn of(id: &StableId) -> VectorKey {
        VectorKey(xxh3_64(id.as_str().as_bytes()))
    }
}

/// A vector index. Vectors are normalised on insert; scores are cosine similarities.
pub trait VectorIndex {
    /// Inserts or replaces the vector of `key`.
    fn upsert(&mut self, key: VectorKey, vector: &[f32]) -> Result<()>;
    /// Removes `key`; returns whether it was present.
    fn remove(&mut self, key: VectorKey) -> Result<bool>;
    /// The `k` nearest keys to `query`, most similar first.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(VectorKey, f32)>>;
    /// Number of vectors.
    fn len(&self) -> usize;
    /// Whether the index is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Dimensions.
    fn dim(&self) -> usize;
}

/// Normalises `v` to unit length, checking its shape.
pub fn normalized(v: &[f32], dim: usize) -> Result<Vec<f32>> {
    if v.len() != dim {
        return Err(IndexError::Dimensions { expected: dim, got: v.len() });
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite);
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Ok(if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() })
}

/// Dot product with eight independent accumulators: a serial `sum()` is one dependency
/// chain that the compiler may not reorder, so it never vectorises; eight lanes do.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let (xs, ys) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0f32; LANES];
    for (x, y) in xs.zip(ys) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Brute force: every search scores every vector. Exact, and the reference for recall.
#[derive(Debug, Clone, Default)]
pub struct ExactIndex {
    dim: usize,
    keys: Vec<VectorKey>,
    data: Vec<f32>,
    pos: HashMap<VectorKey, usize>,
}

impl ExactIndex {
    /// An empty index of `dim` dimensions.
    pub fn new(dim: usize) -> ExactIndex {
        ExactIndex { dim, ..ExactIndex::default() }
    }

    /// The stored (normalised) vector of `key`.
    pub fn get(&self, key: VectorKey) -> Option<&[f32]> {
        self.pos.get(&key).map(|&i| &self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// All keys.
    pub fn keys(&self) -> &[VectorKey] {
        &self.keys
    }

    /// Exact search restricted to keys for which `keep` is true.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        keep: impl Fn(VectorKey) -> bool,
    ) -> Result<Vec<(VectorKey, f32)>> {
        let q = normalized(query, self.dim)?;
        let mut scored: Vec<(VectorKey, f32)> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| keep(**key))
            .map(|(i, key)| (*key, dot(&q, &self.data[i * self.dim..(i + 1) * self.dim])))
            .collect();
        let order = |a: &(VectorKey, f32), b: &(VectorKey, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k < scored.len() {
            scored.select_nth_unstable_by(k, order);
            scored.truncate(k);
        }
        scored.sort_by(order);
        Ok(scored)
    }

    const MAGIC: &'static [u8; 8] = b"CAIRNVX1";

    /// Writes the index to `path` (atomically: a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| IndexError::Io { path: path.to_owned(), source };
        let tmp = path.with_extension("tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        out.write_all(Self::MAGIC).map_err(io)?;
        out.write_all(&(self.dim as u64).to_le_bytes()).map_err(io)?;
        out.write_all(&(self.keys.len() as u64).to_le_bytes()).map_err(io)?;
        for key in &self.keys {
            out.write_all(&key.0.to_le_bytes()).map_err(io)?;
        }
        for x in &self.data {
            out.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads an index written by [`ExactIndex::save`].
    pub fn load(path: &Path) -> Result<ExactIndex> {
        let io = |source| IndexError::Io { path: path.to_owned(), source };
        let corrupt = |detail: &str| IndexError::Corrupt { path: path.to_owned(), detail: detail.to_owned() };
        let mut bytes = Vec::new();
        std::fs::File::open(path).map_err(io)?.read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() < 24 || &bytes[..8] != Self::MAGIC {
            return Err(corrupt("bad header"));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let (dim, n) = (word(8) as usize, word(16) as usize);
        let need = 24usize
            .checked_add(n.checked_mul(8).ok_or_else(|| corrupt("size overflow"))?)
            .and_then(|s| s.checked_add(n.checked_mul(dim)?.checked_mul(4)?))
            .ok_or_else(|| corrupt("size overflow"))?;
        if bytes.len() != need {
            return Err(corrupt("length does not match the header"));
        }
        let keys: Vec<VectorKey> = (0..n).map(|i| VectorKey(word(24 + 8 * i))).collect();
        let base = 24 + 8 * n;
        let data: Vec<f32> =
            bytes[base..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let pos = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        Ok(ExactIndex { dim, keys, data, pos })
    }
}

impl VectorIndex for ExactIndex {
    fn upsert(&mut self, key: VectorKey, vector: &[f32]) -> Result<()> {
        let v = normalized(vector, self.dim)?;
        match self.pos.get(&key) {
            Some(&i) => self.data[i * self.dim..(i + 1) * self.dim].copy_from_slice(&v),
            None => {
                self.pos.insert(key, self.keys.len());
                self.keys.push(key);
                self.data.extend_from_slice(&v);
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: VectorKey) -> Result<bool> {
        let Some(i) = self.pos.remove(&key) else { return Ok(false) };
        let last = self.keys.len() - 1;
        if i != last {
            let moved = self.keys[last];
            self.keys[i] = moved;
            let (head, tail) = self.data.split_at_mut(last * self.dim);
            head[i * self.dim..(i + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
            self.pos.insert(moved, i);
        }
        self.keys.pop();
        self.data.truncate(last * self.dim);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(VectorKey, f32)>> {
        self.search_filtered(query, k, |_| true)
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

/// HNSW (usearch) over unit vectors (inner product = cosine). Update is remove-then-add.
pub struct HnswIndex {
    index: usearch::Index,
    dim: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex").field("dim", &self.dim).field("len", &self.index.size()).finish()
    }
}

fn hnsw_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Hnsw(e.to_string())
}

impl HnswIndex {
    /// An empty index (M = 16, ef_construction = 128, ef_search = 64).
    pub fn new(dim: usize) -> Result<HnswIndex> {
        let options = usearch::IndexOptions {
            dimensions: dim,
            // Vectors are normalised on insert, so inner product is cosine without the
            // per-distance norms (measured ~1.5x faster than usearch's Cos metric here).
            metric: usearch::MetricKind::IP,
            quantization: usearch::ScalarKind::F32,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            multi: false,
        };
        let index = usearch::Index::new(&options).map_err(hnsw_err)?;
        index.reserve(1024).map_err(hnsw_err)?;
        Ok(HnswIndex { index, dim })
    }

    /// Writes the index to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        self.index.save(&tmp.to_string_lossy()).map_err(hnsw_err)?;
        std::fs::rename(&tmp, path).map_err(|source| IndexError::Io { path: path.to_owned(), source })
    }

    /// Reads an index written by [`HnswIndex::save`].
    pub fn load(path: &Path, dim: usize) -> Result<HnswIndex> {
        let hnsw = HnswIndex::new(dim)?;
        hnsw.index.load(&path.to_string_lossy()).map_err(hnsw_err)?;
        if hnsw.index.dimensions() != dim {
            return Err(IndexError::Dimensions { expected: dim, got: hnsw.index.dimensions() });
        }
        Ok(hnsw)
    }
}

impl VectorIndex for HnswIndex {
    fn upsert(&mut self, key: VectorKey, vector: &[f32]) -> Result<()> {
        let v = normalized(vector, self.dim)?;
        if self.index.contains(key.0) {
            self.index.remove(key.0).map_err(hnsw_err)?;
        }
        if self.index.size() + 1 > self.index.capacity() {
            self.index.reserve((self.index.capacity() * 2).max(1024)).map_err(hnsw_err)?;
        }
        self.index.add(key.0, &v).map_err(hnsw_err)
    }

    fn remove(&mut self, key: VectorKey) -> Result<bool> {
        Ok(self.index.remove(key.0).map_err(hnsw_err)? > 0)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(VectorKey, f32)>> {
        let q = normalized(query, self.dim)?;
        if self.index.size() == 0 || k == 0 {
            return Ok(Vec::new());
        }
        let matches = self.index.search(&q, k).map_err(hnsw_err)?;
        // usearch reports inner-product *distance* 1 - dot; on unit vectors dot = cosine.
        Ok(matches.keys.iter().zip(&matches.distances).map(|(k, d)| (VectorKey(*k), 1.0 - d)).collect())
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fusion::Ranked;

    #[test]
    fn lane_dot_equals_the_serial_sum() {
        let v = random_vectors(2, 389, 7);
        for len in [0, 1, 7, 8, 9, 16, 383, 389] {
            let (a, b) = (&v[0][..len], &v[1][..len]);
            let serial: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot(a, b)) - serial).abs() < 1e-4, "length {len}");
        }
    }

    fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 2000) as f32 / 1000.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn exact_update_delete_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = ExactIndex::new(3);
        index.upsert(VectorKey(1), &[1.0, 0.0, 0.0]).unwrap();
        index.upsert(VectorKey(2), &[0.0, 1.0, 0.0]).unwrap();
        index.upsert(VectorKey(3), &[0.7, 0.7, 0.0]).unwrap();
        assert_eq!(index.search(&[1.0, 0.1, 0.0], 1).unwrap()[0].0, VectorKey(1));
        index.upsert(VectorKey(1), &[0.0, 0.0, 1.0]).unwrap();
        assert_eq!(index.search(&[1.0, 0.1, 0.0], 1).unwrap()[0].0, VectorKey(3));
        assert!(index.remove(VectorKey(3)).unwrap());
        assert!(!index.remove(VectorKey(3)).unwrap());
        assert_eq!(index.len(), 2);
        let path = dir.path().join("v.bin");
        index.save(&path).unwrap();
        let back = ExactIndex::load(&path).unwrap();
        assert_eq!(back.search(&[0.0, 0.9, 0.1], 2).unwrap(), index.search(&[0.0, 0.9, 0.1], 2).unwrap());
        std::fs::write(&path, b"CAIRNVX1garbage").unwrap();
        assert!(matches!(ExactIndex::load(&path), Err(IndexError::Corrupt { .. })));
        assert!(matches!(index.upsert(VectorKey(9), &[1.0]), Err(IndexError::Dimensions { .. })));
        assert!(matches!(index.upsert(VectorKey(9), &[f32::NAN, 0.0, 0.0]), Err(IndexError::NonFinite)));
    }

    #[test]
    fn hnsw_recall_against_exact() {
        let (n, dim) = (2000, 32);
        let vectors = random_vectors(n, dim, 42);
        let mut exact = ExactIndex::new(dim);
        let mut hnsw = HnswIndex::new(dim).unwrap();
        for (i, v) in vectors.iter().enumerate() {
            exact.upsert(VectorKey(i as u64), v).unwrap();
            hnsw.upsert(VectorKey(i as u64), v).unwrap();
        }
        // Delete a tenth and update another tenth.
        for i in (0..n).step_by(10) {
            exact.remove(VectorKey(i as u64)).unwrap();
            hnsw.remove(VectorKey(i as u64)).unwrap();
        }
        let fresh = random_vectors(n / 10, dim, 7);
        for (j, i) in (5..n).step_by(10).enumerate() {
            exact.upsert(VectorKey(i as u64), &fresh[j]).unwrap();
            hnsw.upsert(VectorKey(i as u64), &fresh[j]).unwrap();
        }
        assert_eq!(exact.len(), hnsw.len());
        let queries = random_vectors(50, dim, 99);
        let mut found = 0;
        for q in &queries {
            let truth: Vec<VectorKey> = exact.search(q, 10).unwrap().into_iter().map(|h| h.0).collect();
            let approx = hnsw.search(q, 10).unwrap();
            assert!(approx.iter().all(|(k, _)| k.0 % 10 != 0), "deleted keys never come back");
            found += approx.iter().filter(|(k, _)| truth.contains(k)).count();
        }
        let recall = found as f64 / (queries.len() * 10) as f64;
        assert!(recall >= 0.9, "recall@10 {recall}");
        // Similarities agree with the exact ones.
        let q = &queries[0];
        let e: Vec<Ranked<u64>> =
            exact.search(q, 3).unwrap().into_iter().map(|(k, s)| Ranked { key: k.0, score: s }).collect();
        let h = hnsw.search(q, 3).unwrap();
        assert!((e[0].score - h[0].1).abs() < 1e-3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.usearch");
        hnsw.save(&path).unwrap();
        let back = HnswIndex::load(&path, dim).unwrap();
        assert_eq!(back.len(), hnsw.len());
        assert_eq!(back.search(q, 5).unwrap(), hnsw.search(q, 5).unwrap());
    }
}
