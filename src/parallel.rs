//! The one way netpol uses its second core: split independent work in two halves, run the
//! second half on a scoped thread, and join the results in order, so the output is the same as
//! a single thread would give.

use std::ops::Range;

/// Below this many items a second thread costs more than it saves.
pub(crate) const PARALLEL_FROM: usize = 512;

/// `work` over `0..len`, as two halves (the second on its own thread) once `len` reaches
/// `threshold`, or as one range below it. Results come back in range order.
pub(crate) fn in_halves<T: Send>(
    len: usize,
    threshold: usize,
    work: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    if len < threshold.max(2) {
        return vec![work(0..len)];
    }
    let half = len / 2;
    std::thread::scope(|scope| {
        let second = scope.spawn(|| work(half..len));
        let first = work(0..half);
        // A panic in the second half is a bug; re-raise it on this thread.
        let second = second.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        vec![first, second]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_cover_the_range_in_order() {
        let ranges = in_halves(10, 4, |r| r.collect::<Vec<_>>());
        assert_eq!(ranges, vec![(0..5).collect::<Vec<_>>(), (5..10).collect()]);
        assert_eq!(in_halves(3, 4, |r| r.len()), vec![3]);
        assert_eq!(in_halves(0, 0, |r| r.len()), vec![0]);
    }
}
