//! Footprints of granules and tiles for the granule/tile index: the region of the Earth a
//! swath or a box covers, as a `MultiPolygon` in lon/lat degrees (x = lon in [-180, 180],
//! y = lat), split at the antimeridian and closed through a pole when it covers one.
//!
//! Semantics: the polygons are planar in lon/lat (edges are straight in lon/lat), which is
//! what [`intersection`], [`intersects`] and [`bounds`] use. [`geodesic_area_km2`] gives the
//! WGS84 area of that same lon/lat region (edges are densified before Karney's geodesic
//! polygon area, so a long edge along a parallel stays on the parallel).
//!
//! Swath footprints trace the centres of the edge pixels, so they are about half a pixel
//! smaller than the area the pixels cover; the simplification tolerance may move the edge by
//! up to that tolerance, inwards or outwards.

use geo::bool_ops::{FillRule, OpType};
use geo::orient::Direction;
use geo::{
    BooleanOps, BoundingRect, Coord, GeodesicArea, Intersects, LineString, MapCoords, MultiPolygon, Orient, Polygon,
    Rect, Simplify, Translate, Validation,
};
use geo_traits::to_geo::ToGeoGeometry;

/// Edges longer than this (in degrees, in lon/lat) are split before the geodesic area, so that
/// the area is that of the lon/lat region rather than of geodesic edges.
const AREA_DENSIFY_DEG: f64 = 0.25;

/// The footprint of a swath granule from its pixel-centre coordinates.
///
/// `lat` and `lon` are row-major `lines x cells` arrays (degrees; NaN marks a missing pixel;
/// longitudes in any 360° range). The outer edge is traced through the valid pixels: the
/// first valid line left to right, the last valid pixel of each following line, the last
/// valid line right to left, and the first valid pixel of each line back up; lines with no
/// valid pixel are skipped. Longitudes are unwrapped along the ring; a ring that winds once
/// around a pole is closed through it (the north pole when its mean latitude is positive).
/// The ring is simplified with Ramer–Douglas–Peucker at `tolerance_deg` (0 = not at all; the
/// unsimplified ring is kept if simplifying would make it invalid), then split at the
/// antimeridian into parts within [-180, 180].
///
/// Returns `None` when the arrays do not have `lines * cells` values, when fewer than 3 pixels
/// are valid, when the ring winds around the Earth more than once, and when the traced ring
/// encloses no area: degenerate swaths (a single line, a single valid pixel per line as in
/// along-track data, or collinear pixels) give `None`; use [`bbox_footprint`] for those.
pub fn swath_footprint(
    lat: &[f64],
    lon: &[f64],
    lines: usize,
    cells: usize,
    tolerance_deg: f64,
) -> Option<MultiPolygon<f64>> {
    let n = lines.checked_mul(cells)?;
    if lat.len() != n || lon.len() != n {
        return None;
    }
    let ring = edge_ring(lat, lon, lines, cells)?;
    let (ring, turns) = unwrap_ring(&ring);
    let polygon = match turns {
        0 => {
            let polygon = Polygon::new(LineString::new(ring), vec![]);
            simplified(&polygon, |p| p.simplify(tolerance_deg))
        }
        1 | -1 => close_through_pole(ring, turns, tolerance_deg),
        _ => return None,
    };
    split_antimeridian(&polygon)
}

/// The footprint of a lat/lon box: the union of `lat x span` for each longitude span (each
/// within [-180, 180], west < east; a box crossing the antimeridian has two). Spans that
/// overlap are merged; empty spans and an empty latitude range are skipped. `None` when no
/// span is left.
pub fn bbox_footprint(lat: (f64, f64), lon_spans: &[(f64, f64)]) -> Option<MultiPolygon<f64>> {
    let (south, north) = lat;
    if south.partial_cmp(&north) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    let mut spans: Vec<(f64, f64)> = lon_spans.iter().copied().filter(|(w, e)| w < e).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = vec![];
    for (w, e) in spans {
        match merged.last_mut() {
            Some(last) if w <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((w, e)),
        }
    }
    let polygons: Vec<Polygon<f64>> = merged
        .into_iter()
        .map(|(w, e)| Rect::new(Coord { x: w, y: south }, Coord { x: e, y: north }).to_polygon())
        .collect();
    (!polygons.is_empty()).then(|| MultiPolygon::new(polygons).orient(Direction::Default))
}

/// `g` as ISO WKB (little-endian, 2-D MultiPolygon).
pub fn to_wkb(g: &MultiPolygon<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(wkb::writer::multi_polygon_wkb_size(g));
    let options = wkb::writer::WriteOptions { endianness: wkb::Endianness::LittleEndian };
    wkb::writer::write_multi_polygon(&mut out, g, &options).expect("writing WKB to a Vec cannot fail");
    out
}

/// Reads a WKB (ISO or extended, either byte order) MultiPolygon, or a Polygon as a one-part
/// MultiPolygon; coordinates beyond x and y are dropped.
pub fn from_wkb(bytes: &[u8]) -> Result<MultiPolygon<f64>, String> {
    let geometry = wkb::reader::read_wkb(bytes).map_err(|e| format!("invalid WKB: {e}"))?;
    match geometry.try_to_geometry() {
        Some(geo::Geometry::MultiPolygon(m)) => Ok(m),
        Some(geo::Geometry::Polygon(p)) => Ok(MultiPolygon::new(vec![p])),
        Some(other) => Err(format!("expected a WKB MultiPolygon, found {}", geometry_name(&other))),
        None => Err("expected a WKB MultiPolygon, found an empty geometry".to_string()),
    }
}

/// The WGS84 area of `g` in km² (Karney's geodesic polygon area, after orienting the rings,
/// clamping latitudes to [-90, 90] and splitting edges longer than 0.25° so that they follow
/// the lon/lat straight lines).
pub fn geodesic_area_km2(g: &MultiPolygon<f64>) -> f64 {
    let oriented = g.map_coords(|c| Coord { x: c.x, y: c.y.clamp(-90.0, 90.0) }).orient(Direction::Default);
    let area_m2 = oriented.iter().fold(0.0, |sum, p| sum + densified(p, AREA_DENSIFY_DEG).geodesic_area_unsigned());
    area_m2 / 1e6
}

/// The region both footprints cover (empty when they do not overlap). The overlay rounds
/// coordinates to about 5e-10 of the inputs' extent.
pub fn intersection(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    if !rects_intersect(a, b) {
        return MultiPolygon::new(vec![]);
    }
    a.intersection(b).map_coords(snap_to_edges)
}

/// Whether the footprints share any point (touching counts); the bounding rectangles are
/// compared first.
pub fn intersects(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
    rects_intersect(a, b) && a.intersects(b)
}

/// `(lat_min, lat_max, lon_min, lon_max)` of `g`, or `None` when it is empty.
pub fn bounds(g: &MultiPolygon<f64>) -> Option<(f64, f64, f64, f64)> {
    let r = g.bounding_rect()?;
    Some((r.min().y, r.max().y, r.min().x, r.max().x))
}

fn rects_intersect(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) => ra.intersects(&rb),
        _ => false,
    }
}

/// The outer edge of the valid pixels as an open ring of (lon, lat), or `None` when fewer than
/// 3 pixels are valid.
fn edge_ring(lat: &[f64], lon: &[f64], lines: usize, cells: usize) -> Option<Vec<Coord<f64>>> {
    let valid = |i: usize| lat[i].is_finite() && lon[i].is_finite();
    let coord = |i: usize| Coord { x: lon[i], y: lat[i] };
    if (0..lines * cells).filter(|&i| valid(i)).take(3).count() < 3 {
        return None;
    }
    // For each line with a valid pixel: (line, first valid index, last valid index).
    let rows: Vec<(usize, usize, usize)> = (0..lines)
        .filter_map(|l| {
            let row = l * cells..(l + 1) * cells;
            let first = row.clone().find(|&i| valid(i))?;
            let last = row.rev().find(|&i| valid(i))?;
            Some((l, first, last))
        })
        .collect();
    let (&(first_line, ..), &(last_line, ..)) = (rows.first()?, rows.last()?);
    let inner = if rows.len() > 2 { &rows[1..rows.len() - 1] } else { &[][..] };
    let mut ring: Vec<Coord<f64>> = vec![];
    let line_pixels = |l: usize| (l * cells..(l + 1) * cells).filter(|&i| valid(i));
    ring.extend(line_pixels(first_line).map(coord));
    ring.extend(inner.iter().map(|&(_, _, last)| coord(last)));
    if last_line != first_line {
        ring.extend(line_pixels(last_line).rev().map(coord));
    }
    ring.extend(inner.iter().rev().map(|&(_, first, _)| coord(first)));
    ring.dedup();
    Some(ring)
}

/// `d` wrapped into [-180, 180).
fn wrap180(d: f64) -> f64 {
    (d + 180.0).rem_euclid(360.0) - 180.0
}

/// Unwraps the longitudes of an open ring so that consecutive points differ by less than 180°
/// (the first point is put in [-180, 180)); also returns how many times the closed ring winds
/// around the pole (the net longitude change over 360°).
fn unwrap_ring(ring: &[Coord<f64>]) -> (Vec<Coord<f64>>, i64) {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(ring.len());
    for c in ring {
        let x = match out.last() {
            Some(prev) => prev.x + wrap180(c.x - prev.x),
            None => wrap180(c.x),
        };
        out.push(Coord { x, y: c.y });
    }
    let (first, last) = (out[0], out[out.len() - 1]);
    let net = last.x - first.x + wrap180(first.x - last.x);
    (out, (net / 360.0).round() as i64)
}

/// A ring that winds once around a pole (`turns` = ±1), closed through that pole: the open
/// ring is simplified, then the first point repeated 360° further, the pole above it and the
/// pole above the first point are appended.
fn close_through_pole(ring: Vec<Coord<f64>>, turns: i64, tolerance_deg: f64) -> Polygon<f64> {
    let mean_lat = ring.iter().map(|c| c.y).sum::<f64>() / ring.len() as f64;
    let pole = if mean_lat > 0.0 { 90.0 } else { -90.0 };
    let start = ring[0];
    let end_x = start.x + 360.0 * turns as f64;
    let build = |mut coords: Vec<Coord<f64>>| {
        coords.push(Coord { x: end_x, y: start.y });
        coords.push(Coord { x: end_x, y: pole });
        coords.push(Coord { x: start.x, y: pole });
        Polygon::new(LineString::new(coords), vec![])
    };
    let line = LineString::new(ring);
    let full = build(line.0.clone());
    simplified(&full, |_| build(line.simplify(tolerance_deg).0))
}

/// `simplify(polygon)`, unless that is invalid (self-intersecting) while `polygon` is valid.
fn simplified(polygon: &Polygon<f64>, simplify: impl FnOnce(&Polygon<f64>) -> Polygon<f64>) -> Polygon<f64> {
    let simple = simplify(polygon);
    if simple.exterior().0.len() < polygon.exterior().0.len() && !simple.is_valid() && polygon.is_valid() {
        return polygon.clone();
    }
    simple
}

/// Splits a polygon whose longitudes may lie in [-540, 540] into parts within [-180, 180]:
/// its copies shifted by -360°, 0 and 360° are cut to [-180, 180] in one overlay (non-zero
/// fill, so where copies overlap or touch, as a polar cap's do, they merge). The overlay also
/// drops zero-area parts and collinear vertices and rounds coordinates to about 5e-10 of the
/// extent (points near ±180° and ±90° are put back on them). `None` when no area is left.
fn split_antimeridian(polygon: &Polygon<f64>) -> Option<MultiPolygon<f64>> {
    let polygon = polygon.orient(Direction::Default);
    let rect = polygon.bounding_rect()?;
    let copies: Vec<Polygon<f64>> = [-360.0, 0.0, 360.0]
        .into_iter()
        .filter(|shift| rect.min().x + shift < 180.0 && rect.max().x + shift > -180.0)
        .map(|shift| polygon.translate(shift, 0.0))
        .collect();
    let copies = MultiPolygon::new(copies);
    let extent = copies.bounding_rect()?;
    let (west, east) = (extent.min().x.max(-180.0), extent.max().x.min(180.0));
    let window = Rect::new(Coord { x: west, y: rect.min().y }, Coord { x: east, y: rect.max().y }).to_polygon();
    let parts = copies.boolean_op_with_fill_rule(&window, OpType::Intersection, FillRule::NonZero);
    let parts = parts.map_coords(snap_to_edges).orient(Direction::Default);
    (!parts.0.is_empty()).then_some(parts)
}

/// `c` moved onto the antimeridian or a pole when it is within 1e-6° of it (undoes the
/// overlay's rounding, about 2e-7° for a polygon 360° wide).
fn snap_to_edges(c: Coord<f64>) -> Coord<f64> {
    let snap = |v: f64, edge: f64| {
        if (v.abs() - edge).abs() < 1e-6 { edge.copysign(v) } else { v }
    };
    Coord { x: snap(c.x, 180.0), y: snap(c.y, 90.0) }
}

/// `polygon` with every edge longer than `step` degrees split into equal pieces.
fn densified(polygon: &Polygon<f64>, step: f64) -> Polygon<f64> {
    let ring = |r: &LineString<f64>| {
        let mut out: Vec<Coord<f64>> = Vec::with_capacity(r.0.len());
        for seg in r.lines() {
            let (dx, dy) = (seg.end.x - seg.start.x, seg.end.y - seg.start.y);
            let pieces = (dx.hypot(dy) / step).ceil().max(1.0) as usize;
            out.extend((0..pieces).map(|k| {
                let t = k as f64 / pieces as f64;
                Coord { x: seg.start.x + t * dx, y: seg.start.y + t * dy }
            }));
        }
        out.extend(r.0.last());
        LineString::new(out)
    };
    Polygon::new(ring(polygon.exterior()), polygon.interiors().iter().map(ring).collect())
}

fn geometry_name(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "a Point",
        geo::Geometry::Line(_) => "a Line",
        geo::Geometry::LineString(_) => "a LineString",
        geo::Geometry::Polygon(_) => "a Polygon",
        geo::Geometry::MultiPoint(_) => "a MultiPoint",
        geo::Geometry::MultiLineString(_) => "a MultiLineString",
        geo::Geometry::MultiPolygon(_) => "a MultiPolygon",
        geo::Geometry::GeometryCollection(_) => "a GeometryCollection",
        geo::Geometry::Rect(_) => "a Rect",
        geo::Geometry::Triangle(_) => "a Triangle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Point};

    /// A synthetic swath on the sphere: `lines x cells` pixel centres along the great circle
    /// leaving (lat0, lon0) at azimuth `az` (degrees), `step` degrees apart both ways.
    fn swath(lat0: f64, lon0: f64, az: f64, lines: usize, cells: usize, step: f64) -> (Vec<f64>, Vec<f64>) {
        let (p, l, a) = (lat0.to_radians(), lon0.to_radians(), az.to_radians());
        let u = [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()];
        let east = [-l.sin(), l.cos(), 0.0];
        let north = [-p.sin() * l.cos(), -p.sin() * l.sin(), p.cos()];
        let v: Vec<f64> = (0..3).map(|k| a.cos() * north[k] + a.sin() * east[k]).collect();
        let w = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
        let (mut lat, mut lon) = (vec![], vec![]);
        for i in 0..lines {
            let s = (i as f64 * step).to_radians();
            for j in 0..cells {
                let c = ((j as f64 - (cells as f64 - 1.0) / 2.0) * step).to_radians();
                let x: Vec<f64> =
                    (0..3).map(|k| c.cos() * (s.cos() * u[k] + s.sin() * v[k]) - c.sin() * w[k]).collect();
                lat.push(x[2].asin().to_degrees());
                lon.push(x[1].atan2(x[0]).to_degrees());
            }
        }
        (lat, lon)
    }

    #[test]
    fn footprint_box_area_at_equator() {
        let g = bbox_footprint((0.0, 1.0), &[(0.0, 1.0)]).unwrap();
        // The WGS84 area of the lon/lat cell [0,1]x[0,1], bounded by the parallels:
        // a²/2 (q(1°) - q(0)) Δλ with the authalic q(φ) (Snyder, Map Projections: A Working
        // Manual, eq. 3-12), computed in Python: 12308.4639 km². With geodesic edges instead of
        // parallels it is 12308.7784 km² (pyproj 3.7.2 Geod(ellps='WGS84').geometry_area_perimeter).
        let area = geodesic_area_km2(&g);
        assert!((area - 12308.4639).abs() < 0.05, "{area}");
        assert_eq!(bounds(&g), Some((0.0, 1.0, 0.0, 1.0)));
    }

    #[test]
    fn footprint_box_across_antimeridian() {
        let g = bbox_footprint((-10.0, 10.0), &[(170.0, 180.0), (-180.0, -170.0)]).unwrap();
        assert_eq!(g.0.len(), 2);
        let single = bbox_footprint((-10.0, 10.0), &[(-10.0, 10.0)]).unwrap();
        assert!((geodesic_area_km2(&g) / geodesic_area_km2(&single) - 1.0).abs() < 1e-9);
        // Overlapping spans are merged; no span or an empty lat range gives None.
        assert_eq!(bbox_footprint((0.0, 1.0), &[(0.0, 2.0), (1.0, 3.0)]).unwrap().0.len(), 1);
        assert!(bbox_footprint((0.0, 1.0), &[]).is_none());
        assert!(bbox_footprint((1.0, 1.0), &[(0.0, 1.0)]).is_none());
    }

    #[test]
    fn footprint_swath_mid_latitude() {
        let (lat, lon) = swath(30.0, -40.0, 20.0, 50, 30, 0.1);
        let g = swath_footprint(&lat, &lon, 50, 30, 0.0).unwrap();
        assert_eq!(g.0.len(), 1);
        // About 4.9° x 2.9° of arc on the sphere.
        let expected = (4.9f64 * 2.9).to_radians().to_radians() * 6371.0f64.powi(2);
        let area = geodesic_area_km2(&g);
        assert!((area / expected - 1.0).abs() < 0.01, "{area} vs {expected}");
        // Simplifying a smooth swath hardly changes it.
        let simple = swath_footprint(&lat, &lon, 50, 30, 0.01).unwrap();
        assert!(simple.0[0].exterior().0.len() < 20, "{}", simple.0[0].exterior().0.len());
        assert!((geodesic_area_km2(&simple) / area - 1.0).abs() < 0.001);
        let (la0, la1, lo0, lo1) = bounds(&g).unwrap();
        let finite_min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let finite_max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!((la0 - finite_min(&lat)).abs() < 1e-6 && (la1 - finite_max(&lat)).abs() < 1e-6);
        assert!((lo0 - finite_min(&lon)).abs() < 1e-6 && (lo1 - finite_max(&lon)).abs() < 1e-6);
    }

    #[test]
    fn footprint_swath_across_antimeridian() {
        let (lat, lon) = swath(-10.0, 177.0, 60.0, 60, 20, 0.1);
        let g = swath_footprint(&lat, &lon, 60, 20, 0.0).unwrap();
        assert_eq!(g.0.len(), 2);
        let east = g.0.iter().find(|p| (p.bounding_rect().unwrap().max().x - 180.0).abs() < 1e-9);
        let west = g.0.iter().find(|p| (p.bounding_rect().unwrap().min().x + 180.0).abs() < 1e-9);
        assert!(east.is_some() && west.is_some(), "{g:?}");
        // The same swath shifted away from the antimeridian has the same area.
        let shifted: Vec<f64> = lon.iter().map(|x| x - 90.0).collect();
        let h = swath_footprint(&lat, &shifted, 60, 20, 0.0).unwrap();
        assert_eq!(h.0.len(), 1);
        assert!((geodesic_area_km2(&g) / geodesic_area_km2(&h) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn footprint_swath_over_north_pole() {
        // A track passing ~1° from the pole, 4° wide: the pole is inside the swath.
        let (lat, lon) = swath(75.0, 10.0, 2.0, 300, 40, 0.1);
        let g = swath_footprint(&lat, &lon, 300, 40, 0.0).unwrap();
        assert_eq!(g.0.len(), 1, "the parts on either side of the first pixel's meridian merge");
        assert_eq!(bounds(&g), Some((bounds(&g).unwrap().0, 90.0, -180.0, 180.0)));
        assert!(g.contains(&Point::new(0.0, 89.99)), "{g:?}");
        assert!(g.contains(&Point::new(100.0, 89.99)));
        assert_eq!(bounds(&g).unwrap().1, 90.0);
        // Area ≈ 29.9° x 3.9° of arc (on a sphere of the WGS84 Gaussian radius near the pole).
        let expected = (29.9f64 * 3.9).to_radians().to_radians() * 6399.6f64.powi(2);
        let area = geodesic_area_km2(&g);
        assert!((area / expected - 1.0).abs() < 0.01, "{area} vs {expected}");
        // Simplified, it still covers the pole and about the same area.
        let s = swath_footprint(&lat, &lon, 300, 40, 0.05).unwrap();
        assert!(s.contains(&Point::new(0.0, 89.99)));
        assert!((geodesic_area_km2(&s) / area - 1.0).abs() < 0.01);
        // The same over the south pole.
        let south: Vec<f64> = lat.iter().map(|y| -y).collect();
        let s = swath_footprint(&south, &lon, 300, 40, 0.0).unwrap();
        assert!(s.contains(&Point::new(0.0, -89.99)));
        assert!((geodesic_area_km2(&s) / area - 1.0).abs() < 1e-5);
    }

    #[test]
    fn footprint_polar_cap_area() {
        // A ring along the parallel 80°N winds once around the pole; closed through it and
        // split, it is the cap north of 80°N. Exact WGS84 cap: 2π a²/2 (q(90°) - q(80°)) with
        // the authalic q(φ) as in footprint_box_area_at_equator, computed in Python:
        // 3908572.76 km² (pyproj's geodesic area of the same ring, 0.25° apart: 3908560.64).
        let ring: Vec<Coord<f64>> = (0..720).map(|j| Coord { x: -180.0 + j as f64 * 0.5, y: 80.0 }).collect();
        let (ring, turns) = unwrap_ring(&ring);
        assert_eq!(turns, 1);
        let g = split_antimeridian(&close_through_pole(ring, turns, 0.0)).unwrap();
        let area = geodesic_area_km2(&g);
        assert!((area / 3908572.76 - 1.0).abs() < 1e-5, "{area}");
        assert!(g.contains(&Point::new(-179.9, 89.0)) && g.contains(&Point::new(179.9, 89.0)));
    }

    #[test]
    fn footprint_swath_with_gaps() {
        let (lines, cells) = (40, 20);
        let (mut lat, mut lon) = swath(40.0, 10.0, 0.0, lines, cells, 0.1);
        let full = swath_footprint(&lat, &lon, lines, cells, 0.0).unwrap();
        // A missing first line and a missing middle line, NaN edge pixels, an interior hole.
        for i in (0..cells).chain(20 * cells..21 * cells) {
            lat[i] = f64::NAN;
        }
        for l in 5..10 {
            lon[l * cells] = f64::NAN;
            lat[l * cells + cells - 1] = f64::NAN;
        }
        lat[30 * cells + 7] = f64::NAN;
        let g = swath_footprint(&lat, &lon, lines, cells, 0.0).unwrap();
        assert_eq!(g.0.len(), 1);
        let (a, b) = (geodesic_area_km2(&g), geodesic_area_km2(&full));
        // One step of 39 shorter (2.6%) and a pixel column cut on each side for 5 lines (~1.3%).
        assert!(a / b > 0.95 && a / b < 0.97, "{a} vs {b}");
        assert!(bounds(&g).unwrap().0 > bounds(&full).unwrap().0);
        assert!(intersects(&g, &full));
        assert!((geodesic_area_km2(&intersection(&g, &full)) / a - 1.0).abs() < 1e-5);
    }

    #[test]
    fn footprint_degenerate_swaths() {
        let (lat, lon) = swath(0.0, 0.0, 0.0, 10, 1, 0.1);
        assert!(swath_footprint(&lat, &lon, 10, 1, 0.0).is_none(), "along-track data");
        let (lat, lon) = swath(0.0, 0.0, 0.0, 1, 10, 0.1);
        assert!(swath_footprint(&lat, &lon, 1, 10, 0.0).is_none(), "a single line");
        assert!(swath_footprint(&[0.0, 1.0], &[0.0, 1.0], 1, 2, 0.0).is_none(), "two pixels");
        assert!(swath_footprint(&[0.0; 4], &[0.0; 4], 2, 3, 0.0).is_none(), "wrong length");
        let nan = [f64::NAN; 6];
        assert!(swath_footprint(&nan, &nan, 2, 3, 0.0).is_none());
    }

    #[test]
    fn footprint_wkb_round_trip() {
        let (lat, lon) = swath(-10.0, 177.0, 60.0, 30, 10, 0.1);
        let g = swath_footprint(&lat, &lon, 30, 10, 0.0).unwrap();
        let bytes = to_wkb(&g);
        assert_eq!(&bytes[..5], &[1, 6, 0, 0, 0], "little-endian ISO MultiPolygon");
        assert_eq!(from_wkb(&bytes).unwrap(), g);
        let empty = MultiPolygon::<f64>::new(vec![]);
        assert_eq!(from_wkb(&to_wkb(&empty)).unwrap(), empty);
        assert!(from_wkb(&bytes[..bytes.len() - 3]).is_err());
        // A point: 1, type 1, x, y.
        let point: Vec<u8> = [&[1u8, 1, 0, 0, 0][..], &1.0f64.to_le_bytes(), &2.0f64.to_le_bytes()].concat();
        assert!(from_wkb(&point).unwrap_err().contains("Point"));
    }

    #[test]
    fn footprint_intersection_and_intersects() {
        let a = bbox_footprint((0.0, 2.0), &[(0.0, 2.0)]).unwrap();
        let b = bbox_footprint((1.0, 3.0), &[(1.0, 3.0)]).unwrap();
        let c = bbox_footprint((5.0, 6.0), &[(0.0, 2.0)]).unwrap();
        let (s, n, w, e) = bounds(&intersection(&a, &b)).unwrap();
        assert!([s - 1.0, n - 2.0, w - 1.0, e - 2.0].iter().all(|d| d.abs() < 1e-9), "{s} {n} {w} {e}");
        assert!(intersects(&a, &b) && !intersects(&a, &c));
        assert!(intersection(&a, &c).0.is_empty());
        assert_eq!(bounds(&MultiPolygon::new(vec![])), None);
    }
}
