//! Per-cell statistics over time, for binning inside a grid scan (`bin_aggregate`).
//!
//! The keys of an in-scan binning are floor() of depth, lat and lon, never time, so the units
//! a scan decodes for the same slab of space (one chunk of each day) fall into the same bins
//! cell by cell. They are added element-wise into one [`Stack`] of per-cell counts and sums,
//! and each stack is binned once, at the end: a unit costs one pass of adds in cell order
//! instead of a bin lookup per value.

use std::collections::HashMap;
use std::ops::Range;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};

use oceanql_connectors::RawValues;
use oceanql_connectors::cf::Packing;
use oceanql_connectors::decode;

use crate::grid_scan::DecodedUnit;

/// The statistics of one variable per cell of a slab; `min` and `max` only when asked.
pub struct CellStats {
    pub count: Vec<u32>,
    pub sum: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

/// One slab of space (its depth, lat and lon values) and the statistics of its cells over the
/// time steps added so far. Cell `k` is at (d, y, x) in row-major order.
pub struct Stack {
    pub axes: [Vec<f64>; 3],
    /// Per cell, the rows kept (those the `keep` column has as valid).
    pub rows: Vec<u32>,
    pub vars: Vec<CellStats>,
    /// Time steps added: a stack is full before its u32 counts could overflow.
    steps: u64,
}

impl Stack {
    fn new(axes: [Vec<f64>; 3], nvars: usize, minmax: bool) -> Self {
        let cells = axes.iter().map(Vec::len).product();
        let floats = |kept: bool| if kept { vec![f64::NAN; cells] } else { Vec::new() };
        let var = || CellStats { count: vec![0; cells], sum: vec![0.0; cells], min: floats(minmax), max: floats(minmax) };
        Stack { axes, rows: vec![0; cells], vars: (0..nvars).map(|_| var()).collect(), steps: 0 }
    }

    pub fn cells(&self) -> usize {
        self.rows.len()
    }

    fn memory(&self) -> usize {
        let floats: usize = self.vars.iter().map(|v| v.sum.len() + v.min.len() + v.max.len()).sum();
        let counts: usize = self.rows.len() + self.vars.iter().map(|v| v.count.len()).sum::<usize>();
        floats * 8 + counts * 4
    }

    /// Adds time step `t` of a unit: `keep` (the rows to add) and `vars` cover the whole unit.
    fn add_step(&mut self, t: usize, keep: Option<&NullBuffer>, vars: &[Float64Array]) {
        let m = self.cells();
        let at = t * m;
        let slice = |n: Option<&NullBuffer>| n.filter(|n| n.null_count() > 0).map(|n| n.inner().slice(at, m));
        let keep_bits = slice(keep);
        for_valid(keep_bits.as_ref(), m, |r| self.rows[r].iter_mut().for_each(|c| *c += 1));
        for (s, values) in self.vars.iter_mut().zip(vars) {
            // The keep column is usually the variable itself (`WHERE v IS NOT NULL`).
            let same = match (keep, values.nulls()) {
                (Some(k), Some(v)) => k.inner().values().as_ptr() == v.inner().values().as_ptr() && k.offset() == v.offset(),
                _ => false,
            };
            let nulls = if same { keep.cloned() } else { NullBuffer::union(keep, values.nulls()) };
            let bits = slice(nulls.as_ref());
            let xs = &values.values()[at..at + m];
            for_valid(bits.as_ref(), m, |r| {
                s.count[r.clone()].iter_mut().for_each(|c| *c += 1);
                s.sum[r.clone()].iter_mut().zip(&xs[r]).for_each(|(s, &x)| *s += x);
            });
            if !s.min.is_empty() {
                for_valid(bits.as_ref(), m, |r| {
                    for i in r {
                        crate::bin_aggregate::min_max(&mut s.min[i], &mut s.max[i], xs[i], s.count[i] == 1);
                    }
                });
            }
        }
        self.steps += 1;
    }

    /// Adds time step `t` of a unit's one variable, raw (see [`decode::add_valid`]); rows
    /// kept are its valid ones (`keep_valid`) or all.
    fn add_step_raw(&mut self, t: usize, raw: &RawValues, packing: &Packing, keep_valid: bool) -> bool {
        let m = self.cells();
        let s = &mut self.vars[0];
        let rows = keep_valid.then_some(&mut self.rows[..]);
        if !decode::add_valid(raw, packing, t * m, &mut s.count, rows, &mut s.sum) {
            return false;
        }
        if !keep_valid {
            self.rows.iter_mut().for_each(|c| *c += 1);
        }
        self.steps += 1;
        true
    }
}

/// Calls `add` with runs of valid cells of `0..n` (`bits`: validity, `None` when all are
/// valid): 64 cells at a time where a word of the bitmap is all set, else one by one.
fn for_valid(bits: Option<&BooleanBuffer>, n: usize, mut add: impl FnMut(Range<usize>)) {
    let Some(bits) = bits else {
        (0..n / 64).for_each(|w| add(w * 64..w * 64 + 64));
        add(n / 64 * 64..n);
        return;
    };
    let chunks = bits.bit_chunks();
    let words = chunks.iter().chain(std::iter::once(chunks.remainder_bits()));
    for (w, mut word) in words.enumerate() {
        if word == u64::MAX {
            add(w * 64..w * 64 + 64);
            continue;
        }
        while word != 0 {
            let i = w * 64 + word.trailing_zeros() as usize;
            add(i..i + 1);
            word &= word - 1;
        }
    }
}

/// The stacks of one partition, found by their slab's axes.
pub struct Stacks {
    nvars: usize,
    minmax: bool,
    list: Vec<Stack>,
    /// Stacks by the first value and length of each axis (then checked value by value).
    by_key: HashMap<[(u64, usize); 3], Vec<usize>>,
}

/// A partition keeps stacks up to this many bytes, then bins them and starts afresh.
pub const STACK_BYTES: usize = 64 << 20;

impl Stacks {
    pub fn new(nvars: usize, minmax: bool) -> Self {
        Stacks { nvars, minmax, list: Vec::new(), by_key: HashMap::new() }
    }

    /// Adds every time step of a unit (its arrays `keep` and `vars`) to its slab's stack.
    /// Returns whether the stacks should be binned now (too large, or a count may overflow).
    pub fn add(&mut self, unit: &DecodedUnit, keep: Option<&NullBuffer>, vars: &[Float64Array]) -> bool {
        let i = self.stack_of(unit);
        let stack = &mut self.list[i];
        for t in 0..unit.axes[0].len() {
            stack.add_step(t, keep, vars);
        }
        self.is_full(i)
    }

    /// [`Stacks::add`] for one variable given raw (a stack without min/max), the rows kept
    /// being its valid ones (`keep_valid`) or all. `None` when the raw values cannot be added
    /// ([`decode::adds_valid`]): nothing was added.
    pub fn add_raw(&mut self, unit: &DecodedUnit, raw: &RawValues, packing: &Packing, keep_valid: bool) -> Option<bool> {
        if self.nvars != 1 || self.minmax || !decode::adds_valid(raw, packing) || raw.len() != unit.len() {
            return None;
        }
        let i = self.stack_of(unit);
        let stack = &mut self.list[i];
        // Every step is added: the types and the length were checked above.
        let added = (0..unit.axes[0].len()).all(|t| stack.add_step_raw(t, raw, packing, keep_valid));
        debug_assert!(added);
        Some(self.is_full(i))
    }

    /// Whether the stacks should be binned now (too large, or a count of stack `i` may overflow).
    fn is_full(&self, i: usize) -> bool {
        self.list[i].steps >= u64::from(u32::MAX / 2) || self.memory() > STACK_BYTES
    }

    /// The stack of the unit's slab of space, made when there is none.
    fn stack_of(&mut self, unit: &DecodedUnit) -> usize {
        let [_, depth, lat, lon] = &unit.axes;
        let key = [depth, lat, lon].map(|a| (a.first().map_or(0, |x| x.to_bits()), a.len()));
        // Bit by bit: a grid without depth has a NaN depth.
        let equal = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        let same = |s: &Stack| equal(&s.axes[0], depth) && equal(&s.axes[1], lat) && equal(&s.axes[2], lon);
        let found = self.by_key.get(&key).and_then(|ids| ids.iter().copied().find(|&i| same(&self.list[i])));
        found.unwrap_or_else(|| {
            self.list.push(Stack::new([depth.clone(), lat.clone(), lon.clone()], self.nvars, self.minmax));
            self.by_key.entry(key).or_default().push(self.list.len() - 1);
            self.list.len() - 1
        })
    }

    pub fn memory(&self) -> usize {
        self.list.iter().map(Stack::memory).sum()
    }

    /// The stacks, leaving none.
    pub fn take(&mut self) -> Vec<Stack> {
        self.by_key.clear();
        std::mem::take(&mut self.list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_sums_equal_the_sums_of_decoded_values() {
        // int16 packed, with a fill value and a valid range, over 4 steps of 1 x 5 x 40 cells.
        let (nt, m) = (4, 200);
        let raw: Vec<i16> = (0..nt * m).map(|k| if k % 11 == 0 { -32768 } else { ((k * 7919) % 4001) as i16 - 2000 }).collect();
        let packing = Packing { scale_factor: Some(0.01), add_offset: Some(20.0), fill_value: Some(-32768.0), valid_min: Some(-1500.0), ..Default::default() };
        let raw = RawValues::I16(raw);
        let axes = [vec![f64::NAN; nt], vec![f64::NAN], (0..5).map(f64::from).collect(), (0..40).map(f64::from).collect()];
        let unit = DecodedUnit { axes, vars: vec![], times: None };
        let array = decode::decode_values(&raw, &packing, &None);
        let values = array.as_any().downcast_ref::<Float64Array>().unwrap().clone();
        for keep_valid in [false, true] {
            let keep = if keep_valid { values.nulls().cloned() } else { None };
            let mut decoded = Stacks::new(1, false);
            decoded.add(&unit, keep.as_ref(), std::slice::from_ref(&values));
            let mut stacked = Stacks::new(1, false);
            assert_eq!(stacked.add_raw(&unit, &raw, &packing, keep_valid), Some(false));
            let (a, b) = (&decoded.take()[0], &stacked.take()[0]);
            assert_eq!(a.rows, b.rows);
            assert_eq!(a.vars[0].count, b.vars[0].count);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.vars[0].sum), bits(&b.vars[0].sum));
            assert!(b.vars[0].count.iter().any(|&c| c < nt as u32) && b.vars[0].count.contains(&(nt as u32)));
        }
        // Floats are not taken raw; nor are stacks that keep min/max.
        assert_eq!(Stacks::new(1, false).add_raw(&unit, &RawValues::F32(vec![0.0; nt * m]), &packing, false), None);
        assert_eq!(Stacks::new(1, true).add_raw(&unit, &raw, &packing, false), None);
    }

    #[test]
    fn stacked_cells_match_a_plain_loop_over_every_value() {
        // 3 time steps of 1 x 10 x 30 cells: whole words valid, whole words NULL and mixed ones.
        let (nt, m) = (3, 300);
        let valid = |k: usize| !(70..140).contains(&(k % m)) && k % 7 != 3 || (k % m) < 64;
        let x = |k: usize| ((k * 31) % 17) as f64 - 8.0;
        let values = Float64Array::from((0..nt * m).map(|k| valid(k).then(|| x(k))).collect::<Vec<_>>());
        let keep = values.nulls().cloned();
        let axes = [vec![f64::NAN; nt], vec![f64::NAN], (0..10).map(f64::from).collect(), (0..30).map(f64::from).collect()];
        let unit = DecodedUnit { axes, vars: vec![], times: None };
        for kept in [None, keep.as_ref()] {
            let mut stacks = Stacks::new(1, true);
            stacks.add(&unit, kept, std::slice::from_ref(&values));
            let s = &stacks.take()[0];
            for i in 0..m {
                let ks: Vec<usize> = (0..nt).map(|t| t * m + i).filter(|&k| valid(k)).collect();
                let xs: Vec<f64> = ks.iter().map(|&k| x(k)).collect();
                let rows = if kept.is_some() { ks.len() } else { nt };
                assert_eq!((s.rows[i] as usize, s.vars[0].count[i] as usize), (rows, xs.len()), "cell {i}");
                assert_eq!(s.vars[0].sum[i], xs.iter().sum::<f64>(), "cell {i}");
                if !xs.is_empty() {
                    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                    assert_eq!((s.vars[0].min[i], s.vars[0].max[i]), (lo, hi), "cell {i}");
                }
            }
        }
    }
}
