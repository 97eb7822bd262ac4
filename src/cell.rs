//! `RefCell` with one shared panic path. The standard one passes a source location to every
//! `borrow` and `borrow_mut` call (`#[track_caller]`), and the download keeps one location record
//! per call site: about 1 KB of the gzipped wasm. A conflicting borrow is a bug in this crate
//! either way; debug builds (the tests) still name the line that made it.

use std::cell::{Ref, RefMut};

pub(crate) struct RefCell<T>(std::cell::RefCell<T>);

impl<T> RefCell<T> {
    pub const fn new(value: T) -> Self {
        Self(std::cell::RefCell::new(value))
    }

    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn borrow(&self) -> Ref<'_, T> {
        match self.0.try_borrow() {
            Ok(r) => r,
            Err(_) => conflict(),
        }
    }

    #[inline]
    #[cfg_attr(debug_assertions, track_caller)]
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        match self.0.try_borrow_mut() {
            Ok(r) => r,
            Err(_) => conflict(),
        }
    }
}

#[cold]
#[inline(never)]
#[cfg_attr(debug_assertions, track_caller)]
fn conflict() -> ! {
    panic!("livesource: a state cell was borrowed while it was being changed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_share_and_change_the_value() {
        let cell = RefCell::new(vec![1]);
        cell.borrow_mut().push(2);
        let (a, b) = (cell.borrow(), cell.borrow());
        assert_eq!((a.len(), b.len()), (2, 2));
    }

    #[test]
    #[should_panic(expected = "borrowed while it was being changed")]
    fn a_borrow_during_a_change_panics() {
        let cell = RefCell::new(1);
        let _change = cell.borrow_mut();
        let _ = cell.borrow();
    }

    #[test]
    #[should_panic(expected = "borrowed while it was being changed")]
    fn a_change_during_a_borrow_panics() {
        let cell = RefCell::new(1);
        let _read = cell.borrow();
        let _ = cell.borrow_mut();
    }
}
