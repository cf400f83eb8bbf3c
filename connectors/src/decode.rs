//! CF decoding of raw hyperslabs into Arrow arrays: unpacking, missing values
//! to NULL, and broadcasting of variables that lack some grid axes.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};

use crate::Result;
use crate::cf::Packing;
use crate::grid::{RawValues, Role, Slab, SourceType, VarInfo};

/// Arrow type of a decoded variable: Float64 when packed, else the stored type.
pub fn output_type(var: &VarInfo) -> DataType {
    numeric_type(var.dtype, &var.packing)
}

/// Arrow type of decoded values of `dtype` with `packing`: Float64 when packed, else the stored type.
pub fn numeric_type(dtype: SourceType, packing: &Packing) -> DataType {
    if packing.is_packed() {
        return DataType::Float64;
    }
    match dtype {
        SourceType::I8 => DataType::Int8,
        SourceType::U8 => DataType::UInt8,
        SourceType::I16 => DataType::Int16,
        SourceType::U16 => DataType::UInt16,
        SourceType::I32 => DataType::Int32,
        SourceType::U32 => DataType::UInt32,
        SourceType::I64 => DataType::Int64,
        SourceType::U64 => DataType::UInt64,
        SourceType::F32 => DataType::Float32,
        SourceType::F64 => DataType::Float64,
    }
}

/// The Arrow field of a decoded variable, with its CF attributes as metadata.
pub fn output_field(var: &VarInfo) -> Field {
    let metadata: HashMap<String, String> = var.attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Field::new(&var.name, output_type(var), true).with_metadata(metadata)
}

/// Decodes the raw values of `var` read over `slab` into an Arrow array with
/// one element per cell of the slab, in (time, depth, lat, lon) order.
pub fn to_arrow(var: &VarInfo, raw: &RawValues, slab: &Slab) -> Result<ArrayRef> {
    Ok(decode_values(raw, &var.packing, &broadcast_order(&var.dims, slab)))
}

/// Decodes raw values (unpacking, missing values to NULL) into an Arrow array;
/// output element `k` is raw value `order[k]` (or `k` when `order` is `None`).
pub fn decode_values(raw: &RawValues, p: &Packing, order: &Option<Vec<usize>>) -> ArrayRef {
    if p.is_packed() {
        let (scale, offset) = (p.scale_factor.unwrap_or(1.0), p.add_offset.unwrap_or(0.0));
        let unpack = move |x: f64| x * scale + offset;
        let values = match raw {
            RawValues::I8(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::U8(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::I16(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::U16(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::I32(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::U32(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::I64(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::U64(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::F32(v) => decode::<_, Float64Type>(v, order, p, move |x| unpack(x as f64)),
            RawValues::F64(v) => decode::<_, Float64Type>(v, order, p, unpack),
        };
        return Arc::new(values);
    }
    match raw {
        RawValues::I8(v) => Arc::new(decode::<_, Int8Type>(v, order, p, |x| x)),
        RawValues::U8(v) => Arc::new(decode::<_, UInt8Type>(v, order, p, |x| x)),
        RawValues::I16(v) => Arc::new(decode::<_, Int16Type>(v, order, p, |x| x)),
        RawValues::U16(v) => Arc::new(decode::<_, UInt16Type>(v, order, p, |x| x)),
        RawValues::I32(v) => Arc::new(decode::<_, Int32Type>(v, order, p, |x| x)),
        RawValues::U32(v) => Arc::new(decode::<_, UInt32Type>(v, order, p, |x| x)),
        RawValues::I64(v) => Arc::new(decode::<_, Int64Type>(v, order, p, |x| x)),
        RawValues::U64(v) => Arc::new(decode::<_, UInt64Type>(v, order, p, |x| x)),
        RawValues::F32(v) => Arc::new(decode::<_, Float32Type>(v, order, p, |x| x)),
        RawValues::F64(v) => Arc::new(decode::<_, Float64Type>(v, order, p, |x| x)),
    }
}

/// Whether the raw values of a variable with `dims` over `slab` are in output order: the
/// variable has all the slab's axes, in canonical order.
pub fn in_output_order(dims: &[Role], slab: &Slab) -> bool {
    let full = dims.len() == 4 || {
        // Axes missing from the variable but of length 1 in the slab do not change the order.
        (0..4).all(|a| dims.iter().any(|r| r.axis() == a) || slab.count[a] == 1)
    };
    full && dims.windows(2).all(|w| w[0].axis() < w[1].axis())
}

/// For each output cell, the index of its raw value; `None` when the variable
/// has all the slab's axes in canonical order (raw order is output order).
fn broadcast_order(dims: &[Role], slab: &Slab) -> Option<Vec<usize>> {
    if in_output_order(dims, slab) {
        return None;
    }
    // Stride of each canonical axis in the raw (storage-order) array; 0 when absent.
    let mut stride = [0usize; 4];
    let mut s = 1;
    for r in dims.iter().rev() {
        stride[r.axis()] = s;
        s *= slab.count[r.axis()];
    }
    let c = slab.count;
    let mut order = Vec::with_capacity(slab.len());
    for t in 0..c[0] {
        for d in 0..c[1] {
            for y in 0..c[2] {
                let base = t * stride[0] + d * stride[1] + y * stride[2];
                order.extend((0..c[3]).map(|x| base + x * stride[3]));
            }
        }
    }
    Some(order)
}

/// Whether [`add_valid`] takes these values: integers up to 32 bits, without a `missing_value` list.
pub fn adds_valid(raw: &RawValues, p: &Packing) -> bool {
    use RawValues::*;
    matches!(raw, I8(_) | U8(_) | I16(_) | U16(_) | I32(_) | U32(_)) && p.missing_values.is_empty()
}

/// Per-cell sums straight from raw values, without an Arrow array in between: for each `i`,
/// when raw value `at + i` is valid, adds 1 to `count[i]` (and to `also[i]`) and its value as
/// [`decode_values`] gives it (unpacked, as f64) to `sum[i]`. Returns false, adding nothing,
/// for stored types other than integers up to 32 bits or with a `missing_value` list, or
/// when `raw` has fewer than `at + count.len()` values.
pub fn add_valid(raw: &RawValues, p: &Packing, at: usize, count: &mut [u32], also: Option<&mut [u32]>, sum: &mut [f64]) -> bool {
    let (scale, offset) = if p.is_packed() { (p.scale_factor.unwrap_or(1.0), p.add_offset.unwrap_or(0.0)) } else { (1.0, 0.0) };
    let n = count.len().min(sum.len());
    match raw {
        RawValues::I8(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        RawValues::U8(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        RawValues::I16(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        RawValues::U16(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        RawValues::I32(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        RawValues::U32(v) => v.get(at..at + n).is_some_and(|v| add_small(v, p, scale, offset, count, also, sum)),
        _ => false,
    }
}

fn add_small<R: Stored>(raw: &[R], p: &Packing, scale: f64, offset: f64, count: &mut [u32], also: Option<&mut [u32]>, sum: &mut [f64]) -> bool {
    let Some(test) = IntMissing::<R>::new(p) else { return false };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { add_cells_avx2(raw, test, scale, offset, count, also, sum) };
        return true;
    }
    add_cells(raw, test, scale, offset, count, also, sum);
    true
}

/// [`add_cells`] compiled for AVX2: four cells an instruction instead of two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_cells_avx2<R: Stored>(raw: &[R], test: IntMissing<R>, scale: f64, offset: f64, count: &mut [u32], also: Option<&mut [u32]>, sum: &mut [f64]) {
    add_cells(raw, test, scale, offset, count, also, sum)
}

/// The loop of [`add_valid`], in one pass. Unpacked values use scale 1 and offset 0: for
/// integers `x * 1 + 0` is `x`, bit for bit.
#[inline(always)]
fn add_cells<R: Stored>(raw: &[R], test: IntMissing<R>, scale: f64, offset: f64, count: &mut [u32], also: Option<&mut [u32]>, sum: &mut [f64]) {
    let value = |r: R| r.to_f64() * scale + offset;
    match also {
        None => {
            for ((c, s), &r) in count.iter_mut().zip(sum.iter_mut()).zip(raw) {
                let ok = test.is_valid(r);
                *c += u32::from(ok);
                *s += if ok { value(r) } else { 0.0 };
            }
        }
        Some(also) => {
            for (((c, a), s), &r) in count.iter_mut().zip(also.iter_mut()).zip(sum.iter_mut()).zip(raw) {
                let ok = test.is_valid(r);
                *c += u32::from(ok);
                *a += u32::from(ok);
                *s += if ok { value(r) } else { 0.0 };
            }
        }
    }
}

/// A stored value type: its value as f64, and for the integer types up to 32 bits
/// (`SMALL_INT`) their range, to test missing values in the stored type ([`IntMissing`]).
trait Stored: Copy + PartialOrd {
    const SMALL_INT: bool;
    const MIN: i64;
    const MAX: i64;
    fn to_f64(self) -> f64;
    /// `x`, which lies in `MIN..=MAX` (small integers only).
    fn from_i64(x: i64) -> Self;
}

macro_rules! stored {
    (small: $($t:ty),*) => {$(
        impl Stored for $t {
            const SMALL_INT: bool = true;
            const MIN: i64 = <$t>::MIN as i64;
            const MAX: i64 = <$t>::MAX as i64;
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn from_i64(x: i64) -> Self { x as $t }
        }
    )*};
    (other: $($t:ty),*) => {$(
        impl Stored for $t {
            const SMALL_INT: bool = false;
            const MIN: i64 = 0;
            const MAX: i64 = 0;
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            fn from_i64(x: i64) -> Self { x as $t }
        }
    )*};
}
stored!(small: i8, u8, i16, u16, i32, u32);
stored!(other: i64, u64, f32, f64);

/// Maps raw values to Arrow values, turning missing ones into NULL.
///
/// Two tight passes (values, then the validity bits straight into a bitmap) that the
/// compiler vectorises; a missing value's slot holds 0. Small integers are tested in
/// their own type ([`IntMissing`]), which vectorises far better than the float test.
fn decode<R: Stored, T: ArrowPrimitiveType>(
    raw: &[R],
    order: &Option<Vec<usize>>,
    packing: &Packing,
    value: impl Fn(R) -> T::Native + Copy,
) -> PrimitiveArray<T> {
    if R::SMALL_INT
        && let Some(test) = IntMissing::<R>::new(packing)
    {
        return decode_with(raw, order, value, move |r: R| test.is_valid(r));
    }
    let test = MissingTest::new(packing);
    decode_with(raw, order, value, |r: R| !test.is_missing(r.to_f64()))
}

fn decode_with<R: Copy, T: ArrowPrimitiveType>(
    raw: &[R],
    order: &Option<Vec<usize>>,
    value: impl Fn(R) -> T::Native + Copy,
    valid: impl Fn(R) -> bool + Copy,
) -> PrimitiveArray<T> {
    let cell = move |r: R| if valid(r) { value(r) } else { T::Native::default() };
    let values: Vec<T::Native> = match order {
        None => raw.iter().map(|&r| cell(r)).collect(),
        Some(order) => order.iter().map(|&i| cell(raw[i])).collect(),
    };
    let valid = match order {
        None => validity_bits(raw, valid),
        Some(o) => BooleanBuffer::collect_bool(o.len(), |k| valid(raw[o[k]])),
    };
    let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);
    PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls)
}

/// The bitmap of `valid` over `raw`, 64 values at a time: the tests go to a byte each (a loop
/// the compiler vectorises), then eight bytes of 0/1 become eight bits by one multiplication.
fn validity_bits<R: Copy>(raw: &[R], valid: impl Fn(R) -> bool) -> BooleanBuffer {
    let mut words: Vec<u64> = Vec::with_capacity(raw.len().div_ceil(64));
    let mut bytes = [0u8; 64];
    for chunk in raw.chunks(64) {
        bytes.iter_mut().zip(chunk).for_each(|(b, &r)| *b = u8::from(valid(r)));
        bytes[chunk.len()..].fill(0);
        let mut word = 0u64;
        for (k, eight) in bytes.chunks_exact(8).enumerate() {
            let x = u64::from_le_bytes(eight.try_into().unwrap_or_default());
            // Byte i (0 or 1) lands on bit 56 + i: the top byte holds the eight bits in order.
            word |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        }
        words.push(word);
    }
    BooleanBuffer::new(ScalarBuffer::from(words).into_inner(), 0, raw.len())
}

/// The missing-value rules of a small-integer variable as comparisons in its own type:
/// the fill value (when it is one of the type's values) and the valid range rounded
/// inwards and clamped to the type (`lo > hi`: nothing is valid). `None` when there are
/// `missing_value`s (the float test handles them).
#[derive(Clone, Copy)]
struct IntMissing<R> {
    fill: R,
    has_fill: bool,
    lo: R,
    hi: R,
}

impl<R: Stored> IntMissing<R> {
    fn new(p: &Packing) -> Option<Self> {
        if !p.missing_values.is_empty() {
            return None;
        }
        let in_type = |x: f64| x.fract() == 0.0 && x >= R::MIN as f64 && x <= R::MAX as f64;
        let fill = p.fill_value.filter(|&f| in_type(f));
        let lo = p.valid_min.filter(|m| !m.is_nan()).map_or(f64::NEG_INFINITY, f64::ceil);
        let hi = p.valid_max.filter(|m| !m.is_nan()).map_or(f64::INFINITY, f64::floor);
        let (lo, hi) = if lo > R::MAX as f64 || hi < R::MIN as f64 || lo > hi {
            (R::MAX, R::MIN) // no value is valid
        } else {
            (lo.max(R::MIN as f64) as i64, hi.min(R::MAX as f64) as i64)
        };
        let from = R::from_i64;
        Some(IntMissing { fill: from(fill.map_or(0, |f| f as i64)), has_fill: fill.is_some(), lo: from(lo), hi: from(hi) })
    }

    #[inline(always)]
    fn is_valid(&self, x: R) -> bool {
        ((x != self.fill) | !self.has_fill) & (x >= self.lo) & (x <= self.hi)
    }
}

/// [`Packing::is_missing`] as plain comparisons: an absent fill value is NaN (equal to
/// nothing), absent bounds are infinite.
struct MissingTest<'a> {
    fill: f64,
    min: f64,
    max: f64,
    others: &'a [f64],
}

impl<'a> MissingTest<'a> {
    fn new(p: &'a Packing) -> Self {
        MissingTest {
            fill: p.fill_value.unwrap_or(f64::NAN),
            min: p.valid_min.unwrap_or(f64::NEG_INFINITY),
            max: p.valid_max.unwrap_or(f64::INFINITY),
            others: &p.missing_values,
        }
    }

    #[inline(always)]
    fn is_missing(&self, x: f64) -> bool {
        (x.is_nan() | (x == self.fill) | (x < self.min) | (x > self.max)) || (!self.others.is_empty() && self.others.contains(&x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Float64Array, Int16Array};
    use std::collections::BTreeMap;

    fn var(dims: Vec<Role>, packing: Packing, dtype: SourceType) -> VarInfo {
        VarInfo { name: "v".into(), dims, dtype, packing, attrs: BTreeMap::new(), chunks: vec![] }
    }

    #[test]
    fn unpacks_and_masks_fill_values() {
        let p = Packing { scale_factor: Some(0.01), add_offset: Some(20.0), fill_value: Some(-32768.0), ..Default::default() };
        let v = var(vec![Role::Time, Role::Lat, Role::Lon], p, SourceType::I16);
        let slab = Slab { start: [0; 4], count: [1, 1, 1, 3] };
        let a = to_arrow(&v, &RawValues::I16(vec![100, -32768, -200]), &slab).unwrap();
        let a = a.as_any().downcast_ref::<Float64Array>().unwrap();
        assert!((a.value(0) - 21.0).abs() < 1e-12);
        assert!(a.is_null(1));
        assert!((a.value(2) - 18.0).abs() < 1e-12);
    }

    #[test]
    fn masks_valid_range_and_keeps_integers() {
        let p = Packing { valid_min: Some(0.0), valid_max: Some(5.0), ..Default::default() };
        let v = var(vec![Role::Lat, Role::Lon], p, SourceType::I16);
        let slab = Slab { start: [0; 4], count: [1, 1, 1, 3] };
        let a = to_arrow(&v, &RawValues::I16(vec![3, 7, -1]), &slab).unwrap();
        let a = a.as_any().downcast_ref::<Int16Array>().unwrap();
        assert_eq!(a.value(0), 3);
        assert_eq!(a.null_count(), 2);
    }

    #[test]
    fn broadcasts_a_static_field_over_time() {
        let v = var(vec![Role::Lat, Role::Lon], Packing::default(), SourceType::F64);
        let slab = Slab { start: [0; 4], count: [2, 1, 1, 2] };
        let a = to_arrow(&v, &RawValues::F64(vec![1.0, f64::NAN]), &slab).unwrap();
        let a = a.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a.value(2), 1.0);
        assert!(a.is_null(3));
    }

    #[test]
    fn validity_bits_match_one_test_per_value() {
        for n in [0, 1, 7, 8, 63, 64, 65, 200] {
            let raw: Vec<i16> = (0..n).map(|k| ((k * 37 + k / 3) % 11) as i16).collect();
            let valid = |x: i16| x % 3 != 0;
            let bits = validity_bits(&raw, valid);
            assert_eq!(bits.len(), n);
            assert_eq!(bits.iter().collect::<Vec<_>>(), raw.iter().map(|&x| valid(x)).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn integer_missing_test_agrees_with_the_float_test() {
        let rules = [
            Packing { fill_value: Some(-32768.0), valid_min: Some(-300.5), valid_max: Some(4500.0), ..Default::default() },
            Packing { fill_value: Some(2.5), valid_min: Some(f64::NAN), ..Default::default() },
            Packing { valid_max: Some(-1e30), ..Default::default() },
            Packing { valid_min: Some(1e30), ..Default::default() },
            Packing::default(),
        ];
        let raw: Vec<i16> = vec![-32768, -301, -300, 0, 2, 3, 4500, 4501, 32767];
        for p in &rules {
            let test = IntMissing::<i16>::new(p).unwrap();
            for &r in &raw {
                assert_eq!(test.is_valid(r), !p.is_missing(r as f64), "{r} under {p:?}");
            }
        }
        // A fill value outside the type, and bounds past its ends.
        let p = Packing { fill_value: Some(300.0), valid_min: Some(-1e9), valid_max: Some(1e9), ..Default::default() };
        let test = IntMissing::<u8>::new(&p).unwrap();
        assert!((0..=255u8).all(|r| test.is_valid(r)));
        let with_list = Packing { missing_values: vec![3.0], ..Default::default() };
        assert!(IntMissing::<i16>::new(&with_list).is_none());
        let a = decode_values(&RawValues::I16(vec![3, 4]), &with_list, &None);
        assert_eq!(a.null_count(), 1);
    }
}
