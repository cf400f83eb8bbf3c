//! What the `st_*` functions share (not a function itself): geometry arguments, WKB or WKT
//! text, read row by row; geometry results as WKB with GeoArrow metadata (`geoarrow.wkb`,
//! CRS OGC:CRS84, as the index's footprint column); argument coercion; the relations.
//!
//! Geometries are planar in their coordinates (x = lon, y = lat, degrees), as in PostGIS's
//! `geometry` type. NULL in gives NULL out; an invalid WKB or WKT value is an error naming the
//! function and the value. An empty geometry (`POINT EMPTY`, WKB points with NaN coordinates,
//! points with a non-finite coordinate) is read as an empty geometry collection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::utils::take_function_args;
use datafusion::common::{exec_datafusion_err, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{CoordsIter, Distance, Euclidean, Geometry, GeometryCollection, HasDimensions, Relate};
use geo_traits::to_geo::ToGeoGeometry;
use geo_traits::{
    CoordTrait, GeometryCollectionTrait, GeometryTrait, GeometryType, MultiPointTrait, MultiPolygonTrait, PointTrait,
    PolygonTrait,
};

/// What an argument of an `st_*` function is.
#[derive(Clone, Copy)]
pub(crate) enum Arg {
    /// WKB (any binary type) or WKT (any string type).
    Geometry,
    /// WKT text only.
    Text,
    /// Any number, as Float64.
    Number,
}

/// The types an `st_*` function's arguments are cast to: geometries to Binary (WKB) or Utf8
/// (WKT), numbers to Float64, NULL to either.
pub(crate) fn coerce_types(name: &str, arg_types: &[DataType], args: &[Arg]) -> Result<Vec<DataType>> {
    if arg_types.len() != args.len() {
        let plural = if args.len() == 1 { "" } else { "s" };
        return plan_err!("{name} expects {} argument{plural}, got {}", args.len(), arg_types.len());
    }
    let binary = |t: &DataType| matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView);
    let text = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let coerce = |(i, (t, arg)): (usize, (&DataType, &Arg))| match arg {
        Arg::Geometry if t.is_null() || binary(t) => Ok(DataType::Binary),
        Arg::Geometry | Arg::Text if text(t) || t.is_null() => Ok(DataType::Utf8),
        Arg::Number if t.is_null() || t.is_numeric() => Ok(DataType::Float64),
        Arg::Geometry => plan_err!("{name}: argument {} must be a geometry (WKB binary or WKT text), not {t}", i + 1),
        Arg::Text => plan_err!("{name}: argument {} must be WKT text, not {t}", i + 1),
        Arg::Number => plan_err!("{name}: argument {} must be a number, not {t}", i + 1),
    };
    arg_types.iter().zip(args).enumerate().map(coerce).collect()
}

/// The field of a geometry result: WKB with GeoArrow metadata.
pub(crate) fn geometry_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::Binary, true).with_metadata(HashMap::from([
        ("ARROW:extension:name".to_string(), "geoarrow.wkb".to_string()),
        ("ARROW:extension:metadata".to_string(), r#"{"crs":"OGC:CRS84"}"#.to_string()),
    ])))
}

/// The number of result rows: 1 when every argument is a scalar (DataFusion then reads the
/// result as a scalar), else the batch's.
pub(crate) fn output_rows(args: &ScalarFunctionArgs) -> usize {
    if args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) { 1 } else { args.number_rows }
}

/// An argument's array, or its scalar as a one-row array standing for every row.
fn array_of(value: &ColumnarValue) -> Result<(ArrayRef, bool)> {
    Ok(match value {
        ColumnarValue::Array(a) => (Arc::clone(a), false),
        ColumnarValue::Scalar(s) => (s.to_array()?, true),
    })
}

/// A geometry argument, row by row, as WKB; a scalar is decoded once.
pub(crate) struct Geometries<'a> {
    name: &'a str,
    wkb: BinaryArray,
    /// `Some` when the argument is a scalar: its geometry (`None` when NULL).
    scalar: Option<Option<Geometry>>,
}

impl<'a> Geometries<'a> {
    /// Reads WKB (checked when used) or WKT (parsed now, each value once).
    pub fn new(name: &'a str, value: &ColumnarValue) -> Result<Self> {
        let (array, is_scalar) = array_of(value)?;
        let wkb: BinaryArray = match array.data_type() {
            DataType::Null | DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                cast(&array, &DataType::Binary)?.as_binary::<i32>().clone()
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = cast(&array, &DataType::Utf8)?;
                text.as_string::<i32>().iter().map(|t| t.map(|t| wkt_to_wkb(name, t)).transpose()).collect::<Result<_>>()?
            }
            other => return exec_err!("{name}: expected a geometry (WKB or WKT), got {other}"),
        };
        let scalar = if is_scalar {
            Some(if wkb.is_valid(0) { Some(to_geometry(name, wkb.value(0))?) } else { None })
        } else {
            None
        };
        Ok(Geometries { name, wkb, scalar })
    }

    /// The WKB of row `i`, `None` when NULL.
    pub fn wkb(&self, i: usize) -> Option<&[u8]> {
        let i = if self.scalar.is_some() { 0 } else { i };
        self.wkb.is_valid(i).then(|| self.wkb.value(i))
    }

    /// The geometry of row `i`, `None` when NULL.
    pub fn geometry(&self, i: usize) -> Result<Option<Cow<'_, Geometry>>> {
        match &self.scalar {
            Some(g) => Ok(g.as_ref().map(Cow::Borrowed)),
            None => self.wkb(i).map(|b| to_geometry(self.name, b).map(Cow::Owned)).transpose(),
        }
    }

    /// Every row's WKB (a scalar as one row).
    pub fn into_wkb(self) -> BinaryArray {
        self.wkb
    }
}

/// A numeric argument, row by row.
pub(crate) struct Numbers {
    values: Float64Array,
    scalar: bool,
}

impl Numbers {
    pub fn new(value: &ColumnarValue) -> Result<Self> {
        let (array, scalar) = array_of(value)?;
        Ok(Numbers { values: cast(&array, &DataType::Float64)?.as_primitive::<Float64Type>().clone(), scalar })
    }

    /// The value of row `i`, `None` when NULL.
    pub fn get(&self, i: usize) -> Option<f64> {
        let i = if self.scalar { 0 } else { i };
        self.values.is_valid(i).then(|| self.values.value(i))
    }
}

/// Parses WKB (ISO or extended, either byte order).
pub(crate) fn read_wkb<'b>(name: &str, bytes: &'b [u8]) -> Result<wkb::reader::Wkb<'b>> {
    let g = wkb::reader::read_wkb(bytes).map_err(|e| e.to_string()).and_then(|g| check_structure(&g).map(|()| g));
    g.map_err(|e| exec_datafusion_err!("{name}: invalid WKB {}: {e}", hex(bytes)))
}

/// Refuses what would make a dependency panic: wkb 0.9.3 reads the points of a MULTIPOINT with
/// the MULTIPOINT's byte order and dimension and panics on a point whose own header announces
/// an SRID (EWKB); wkt 0.14 panics writing a MULTIPOLYGON part without rings.
fn check_structure(g: &wkb::reader::Wkb) -> std::result::Result<(), String> {
    match g.as_type() {
        GeometryType::MultiPoint(mp) => {
            let buf = mp.buf();
            for i in 0..mp.num_points() {
                let at = mp.point_offset(i as u64) as usize + 1;
                let code = buf.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
                let code = code.map(|b| if buf[0] == 0 { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) });
                if code.is_none_or(|c| c & 0x2000_0000 != 0) {
                    return Err(format!("point {} of a MULTIPOINT has an SRID or is truncated", i + 1));
                }
            }
        }
        GeometryType::MultiPolygon(mp) if mp.polygons().any(|p| p.exterior().is_none()) => {
            return Err("a MULTIPOLYGON part without rings is not supported".to_string());
        }
        GeometryType::GeometryCollection(gc) => gc.geometries().try_for_each(check_structure)?,
        _ => {}
    }
    Ok(())
}

/// The geometry WKB `bytes` encode, x and y only. An empty point, or a point with a NaN or
/// infinite coordinate, gives an empty collection; any other geometry with one is an error
/// (geo's algorithms need finite coordinates).
pub fn to_geometry(name: &str, bytes: &[u8]) -> Result<Geometry> {
    let wkb = read_wkb(name, bytes)?;
    let empty = || Geometry::GeometryCollection(GeometryCollection::empty());
    let g = wkb.try_to_geometry().unwrap_or_else(empty);
    if g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
        Ok(g)
    } else if let Geometry::Point(_) = g {
        Ok(empty())
    } else {
        exec_err!("{name}: a coordinate is not finite in {}", describe(&wkb))
    }
}

/// Parses WKT (`POINT(1 2)`, `POLYGON EMPTY`, ...) into little-endian ISO WKB.
pub fn wkt_to_wkb(name: &str, text: &str) -> Result<Vec<u8>> {
    let g = wkt::Wkt::<f64>::from_str(text)
        .map_err(|e| exec_datafusion_err!("{name}: invalid WKT '{}': {e}", truncated(text)))?;
    let mut out = Vec::new();
    wkb::writer::write_geometry(&mut out, &g, &write_options())
        .map_err(|e| exec_datafusion_err!("{name}: cannot write WKT '{}' as WKB: {e}", truncated(text)))?;
    Ok(out)
}

/// `g` as little-endian ISO WKB.
pub(crate) fn to_wkb(g: &Geometry) -> Vec<u8> {
    let mut out = Vec::new();
    wkb::writer::write_geometry(&mut out, g, &write_options()).expect("writing WKB to a Vec cannot fail");
    out
}

fn write_options() -> wkb::writer::WriteOptions {
    wkb::writer::WriteOptions { endianness: wkb::Endianness::LittleEndian }
}

/// WKB bytes for an error message: hex, at most 40 bytes.
fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(40).map(|b| format!("{b:02X}")).collect();
    format!("x'{shown}{}' ({} bytes)", if bytes.len() > 40 { "…" } else { "" }, bytes.len())
}

/// Text for an error message: at most 100 characters.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A geometry as WKT for an error message.
pub(crate) fn describe(g: &wkb::reader::Wkb) -> String {
    let mut s = String::new();
    match wkt::to_wkt::write_geometry(&mut s, g) {
        Ok(()) => truncated(&s),
        Err(_) => "a geometry".to_string(),
    }
}

/// `(x, y)` of a WKB point, `None` when it is empty; an error for any other geometry.
pub fn point_xy(name: &str, bytes: &[u8]) -> Result<Option<(f64, f64)>> {
    let g = read_wkb(name, bytes)?;
    match g.as_type() {
        GeometryType::Point(p) => Ok(p.coord().map(|c| (c.x(), c.y()))),
        _ => exec_err!("{name}: the geometry must be a POINT, got {}", describe(&g)),
    }
}

/// The planar distance between two geometries (0 when they intersect), `None` when either is empty.
pub(crate) fn planar_distance(a: &Geometry, b: &Geometry) -> Option<f64> {
    (!a.is_empty() && !b.is_empty()).then(|| Euclidean.distance(a, b))
}

/// `g` without its empty parts (geo's buffer panics on an empty polygon, even inside a
/// collection).
pub(crate) fn without_empty_parts(g: &Geometry) -> Geometry {
    match g {
        Geometry::MultiPolygon(m) => geo::MultiPolygon::new(m.iter().filter(|p| !p.is_empty()).cloned().collect()).into(),
        Geometry::MultiLineString(m) => geo::MultiLineString::new(m.iter().filter(|l| !l.is_empty()).cloned().collect()).into(),
        Geometry::GeometryCollection(c) => Geometry::GeometryCollection(GeometryCollection::new_from(
            c.iter().filter(|g| !g.is_empty()).map(without_empty_parts).collect(),
        )),
        other => other.clone(),
    }
}

/// The DE-9IM relations `st_intersects`, `st_contains` and `st_within` test.
#[derive(Clone, Copy)]
pub(crate) enum Relation {
    Intersects,
    Contains,
    Within,
}

impl Relation {
    /// Whether `a` relates to `b` (false when either is empty). A point against anything is
    /// decided by the point's position (interior, boundary, exterior), else by DE-9IM.
    pub fn holds(self, a: &Geometry, b: &Geometry) -> bool {
        use Relation::*;
        if a.is_empty() || b.is_empty() {
            return false;
        }
        match (self, a, b) {
            (Intersects, Geometry::Point(p), g) | (Intersects, g, Geometry::Point(p)) => {
                g.coordinate_position(&p.0) != CoordPos::Outside
            }
            (Contains, g, Geometry::Point(p)) | (Within, Geometry::Point(p), g) => {
                g.coordinate_position(&p.0) == CoordPos::Inside
            }
            _ => {
                let m = a.relate(b);
                match self {
                    Intersects => m.is_intersects(),
                    Contains => m.is_contains(),
                    Within => m.is_within(),
                }
            }
        }
    }
}

/// `relation(a, b)` row by row, NULL when either is NULL.
pub(crate) fn relate(name: &str, args: ScalarFunctionArgs, relation: Relation) -> Result<ColumnarValue> {
    let rows = output_rows(&args);
    let [a, b] = take_function_args(name, args.args)?;
    let (a, b) = (Geometries::new(name, &a)?, Geometries::new(name, &b)?);
    let out = (0..rows)
        .map(|i| Ok(match (a.geometry(i)?, b.geometry(i)?) {
            (Some(x), Some(y)) => Some(relation.holds(&x, &y)),
            _ => None,
        }))
        .collect::<Result<BooleanArray>>()?;
    Ok(ColumnarValue::Array(Arc::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkt_round_trip_and_errors() {
        let wkb = wkt_to_wkb("f", "POLYGON((0 0,1 0,1 1,0 1,0 0))").unwrap();
        assert!(matches!(to_geometry("f", &wkb).unwrap(), Geometry::Polygon(_)));
        let empty = wkt_to_wkb("f", "POINT EMPTY").unwrap();
        assert!(to_geometry("f", &empty).unwrap().is_empty());
        let e = wkt_to_wkb("st_geomfromtext", "POLYGON((0 0,1 0").unwrap_err().to_string();
        assert!(e.contains("st_geomfromtext: invalid WKT 'POLYGON((0 0,1 0'"), "{e}");
        let e = to_geometry("st_area", &[1, 1, 0]).unwrap_err().to_string();
        assert!(e.contains("st_area: invalid WKB x'010100' (3 bytes)"), "{e}");
    }

    /// Odd but readable geometries (non-finite coordinates, degenerate and self-crossing rings,
    /// empty parts) go through every relation, the distance and the buffer without a panic.
    #[test]
    fn odd_geometries_never_panic() {
        let texts = [
            "POINT EMPTY", "LINESTRING(0 0,0 0)", "POLYGON((0 0,1 1,1 0,0 1,0 0))", "POLYGON((0 0,1 0,2 0,0 0))",
            "POLYGON((0 0,1 0,1 1))", "POLYGON((0 0,1e300 0,1e300 1e300,0 0))", "MULTIPOINT(0 0,0 0)",
            "GEOMETRYCOLLECTION(POINT(0 0),POLYGON((0 0,1 0,1 1,0 0)))", "GEOMETRYCOLLECTION EMPTY", "POLYGON EMPTY",
            "GEOMETRYCOLLECTION(POINT(0 0),POLYGON EMPTY)", "MULTILINESTRING((0 0,1 1),EMPTY)", "LINESTRING EMPTY",
        ];
        let geometries: Vec<Geometry> =
            texts.iter().map(|t| to_geometry("f", &wkt_to_wkb("f", t).unwrap()).unwrap()).collect();
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let odd: [Geometry; 5] = [
            geo::Point::new(nan, 1.0).into(),
            geo::Point::new(inf, 0.0).into(),
            geo::LineString::from(vec![(0.0, 0.0), (nan, 1.0), (2.0, 2.0)]).into(),
            geo::Polygon::new(vec![(0.0, 0.0), (1.0, 0.0), (nan, 1.0)].into(), vec![]).into(),
            geo::Polygon::new(vec![(0.0, 0.0), (inf, 0.0), (1.0, inf)].into(), vec![]).into(),
        ];
        for (k, g) in odd.iter().enumerate() {
            match to_geometry("st_area", &to_wkb(g)) {
                Ok(g) => assert!(k < 2 && g.is_empty(), "{g:?}"),
                Err(e) => assert!(k >= 2 && e.to_string().contains("st_area: a coordinate is not finite in"), "{e}"),
            }
        }
        for a in &geometries {
            for b in &geometries {
                for r in [Relation::Intersects, Relation::Contains, Relation::Within] {
                    let _ = r.holds(a, b);
                }
                let _ = planar_distance(a, b);
            }
            // geo (i_overlay) panics buffering an empty polygon: st_buffer drops empty parts.
            let a = without_empty_parts(a);
            if !a.is_empty() {
                let _ = geo::Buffer::buffer(&a, 0.5);
                let _ = geo::Buffer::buffer(&a, -0.5);
            }
        }
    }

    /// Truncated, corrupted and random WKB is an error, never a panic.
    #[test]
    fn bad_wkb_never_panics() {
        let good = [
            "GEOMETRYCOLLECTION(POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1)),MULTIPOINT(1 2,3 4),LINESTRING(0 0,1 1))",
            "MULTIPOLYGON Z(((0 0 1,1 0 1,1 1 1,0 0 1)),((5 5 0,6 5 0,6 6 0,5 5 0)))",
            "MULTILINESTRING((0 0,1 1),(2 2,3 3,4 4))",
            "MULTIPOINT(1 2,3 4,5 6)",
        ];
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for text in good {
            let good = wkt_to_wkb("f", text).unwrap();
            for n in 0..good.len() {
                assert!(to_geometry("f", &good[..n]).is_err(), "{text}: {n} bytes");
            }
            for _ in 0..50_000 {
                let mut bad = good.clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % bad.len() as u64) as usize;
                    bad[at] = (next() >> 32) as u8;
                }
                if let Ok(g) = read_wkb("f", &bad) {
                    let _ = describe(&g);
                    let _ = to_geometry("f", &bad);
                }
            }
        }
    }
}
