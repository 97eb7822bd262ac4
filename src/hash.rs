//! Maps for the library. A small, fast, deterministic hasher for its hash sets, all keyed by short strings it
//! controls (event names, event ids): the per-event path hashes an id or two, and SipHash with
//! random keys costs more than the rest of that path and more code. The same multiply-rotate
//! scheme as rustc's FxHash.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A map from names to values for the few names a source or a page uses: a vector searched in
/// order, which is as fast as hashing for a handful of keys and much less code than another
/// `HashMap` instantiation.
pub struct VecMap<V> {
    items: Vec<(String, V)>,
}

impl<V> Default for VecMap<V> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<V> VecMap<V> {
    fn position(&self, key: &str) -> Option<usize> {
        self.items.iter().position(|(k, _)| k == key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.items
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn insert(&mut self, key: String, value: V) {
        match self.position(&key) {
            Some(i) => self.items[i].1 = value,
            None => self.items.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).map(|i| self.items.remove(i).1)
    }

    /// The value for `key`, inserted as `V::default()` if missing.
    pub fn or_default(&mut self, key: &str) -> &mut V
    where
        V: Default,
    {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.items.push((key.to_owned(), V::default()));
                self.items.len() - 1
            }
        };
        &mut self.items[i].1
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.items.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.iter().map(|(_, v)| v)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) {
        self.items.retain(|(k, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type HashSet<T> = std::collections::HashSet<T, FxBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn equal_strings_hash_equal_and_maps_work() {
        let mut set: HashSet<String> = HashSet::default();
        for i in 0..1000 {
            assert!(set.insert(format!("id-{i}")));
        }
        assert!(set.contains("id-999") && !set.contains("id-1000"));
        let h = |s: &str| {
            let mut h = FxHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(h("abcdefghij"), h("abcdefghij"));
        assert_ne!(h("abcdefghij"), h("abcdefghik"));
    }

    #[test]
    fn vec_map_keeps_one_value_per_key() {
        let mut m: VecMap<u32> = VecMap::default();
        m.insert("a".into(), 1);
        *m.or_default("b") += 2;
        *m.or_default("b") += 3;
        m.insert("a".into(), 4);
        assert_eq!((m.get("a"), m.get("b"), m.len()), (Some(&4), Some(&5), 2));
        assert_eq!(m.remove("a"), Some(4));
        assert!(!m.contains_key("a") && m.remove("a").is_none());
        m.retain(|_, v| *v != 5);
        assert!(m.is_empty());
    }
}
