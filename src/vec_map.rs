//! A small map for the library's few keys (event names, source URLs).

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

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn vec_map_keeps_one_value_per_key() {
        let mut m: VecMap<u32> = VecMap::default();
        m.insert("a".into(), 1);
        *m.or_default("b") += 2;
        *m.or_default("b") += 3;
        m.insert("a".into(), 4);
        assert_eq!((m.get("a"), m.get("b"), m.len()), (Some(&4), Some(&5), 2));
        assert_eq!(m.remove("a"), Some(4));
        assert!(m.get("a").is_none() && m.remove("a").is_none());
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b"]);
    }
}
