//! Footprints (`oceanql_engine::footprint`) cross-checked against an independent reference,
//! tests/python/footprint_reference.py (shapely + pyproj): synthetic swaths (mid-latitude, with
//! NaN gaps, across the antimeridian, over either pole) are written to JSON, the script builds
//! each footprint with its own code, and area (1%), bounds (0.01°), number of parts, and for
//! every pair the overlap area (1%, or 1 km² for overlaps near zero) and `intersects` must agree.

use std::process::Command;

use oceanql_engine::footprint::{bounds, geodesic_area_km2, intersection, intersects, swath_footprint};
use serde_json::{Value, json};

use crate::common;

/// A synthetic swath on the sphere: `lines x cells` pixel centres along the great circle leaving
/// (lat0, lon0) at azimuth `az` (degrees), `step` degrees apart along and across the track.
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
            let x: Vec<f64> = (0..3).map(|k| c.cos() * (s.cos() * u[k] + s.sin() * v[k]) - c.sin() * w[k]).collect();
            lat.push(x[2].asin().to_degrees());
            lon.push(x[1].atan2(x[0]).to_degrees());
        }
    }
    (lat, lon)
}

struct Swath {
    name: &'static str,
    lines: usize,
    cells: usize,
    lat: Vec<f64>,
    lon: Vec<f64>,
}

fn swaths() -> Vec<Swath> {
    let make = |name, lat0, lon0, az, lines, cells| {
        let (lat, lon) = swath(lat0, lon0, az, lines, cells, 0.1);
        Swath { name, lines, cells, lat, lon }
    };
    let mut gaps = make("mid_latitude_gaps", 31.0, -41.0, 50.0, 80, 40);
    let cells = gaps.cells;
    // The first line and line 40 missing, NaN edge pixels on lines 10..20 (left) and 50..60
    // (right, two deep), an interior hole.
    for i in (0..cells).chain(40 * cells..41 * cells) {
        gaps.lat[i] = f64::NAN;
    }
    for l in 10..20 {
        gaps.lon[l * cells] = f64::NAN;
    }
    for l in 50..60 {
        gaps.lat[l * cells + cells - 1] = f64::NAN;
        gaps.lat[l * cells + cells - 2] = f64::NAN;
    }
    gaps.lat[30 * cells + 20] = f64::NAN;
    vec![
        make("mid_latitude", 30.0, -40.0, 20.0, 80, 40),
        gaps,
        make("antimeridian", -10.0, 176.0, 60.0, 100, 40),
        make("antimeridian_2", -12.0, 178.0, 10.0, 100, 30),
        // Tracks passing about 0.5° from the pole, 2-4° wide: the pole is inside each.
        make("north_pole", 75.0, 10.0, 2.0, 300, 40),
        make("north_pole_2", 76.0, 120.0, -3.0, 280, 30),
        make("south_pole", -72.0, -60.0, 178.0, 360, 50),
    ]
}

fn to_json(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|&x| if x.is_finite() { json!(x) } else { Value::Null }).collect())
}

/// Runs footprint_reference.py on the swaths and returns its JSON answer.
fn reference(swaths: &[Swath]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("swaths.json"), dir.path().join("reference.json"));
    let doc = json!({"swaths": swaths.iter().map(|s| json!({
        "name": s.name, "lines": s.lines, "cells": s.cells, "lat": to_json(&s.lat), "lon": to_json(&s.lon),
    })).collect::<Vec<_>>()});
    std::fs::write(&input, doc.to_string()).expect("write swaths.json");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/footprint_reference.py");
    let out = Command::new(common::python())
        .arg(&script)
        .arg(&input)
        .arg(&output)
        .output()
        .expect("run footprint_reference.py");
    assert!(
        out.status.success(),
        "footprint_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&output).expect("read reference.json")).expect("reference.json")
}

fn close(ours: f64, theirs: f64, rel: f64, abs: f64) -> bool {
    (ours - theirs).abs() <= (rel * theirs.abs()).max(abs)
}

#[test]
fn footprint_crosscheck_shapely_pyproj() {
    let swaths = swaths();
    let reference = reference(&swaths);
    let mut failures = vec![];
    let mut footprints = vec![];
    for s in &swaths {
        let fp = swath_footprint(&s.lat, &s.lon, s.lines, s.cells, 0.0)
            .unwrap_or_else(|| panic!("{}: no footprint", s.name));
        let r = &reference["swaths"][s.name];
        let area = geodesic_area_km2(&fp);
        let r_area = r["area_km2"].as_f64().expect("area_km2");
        if !close(area, r_area, 0.01, 0.0) {
            failures.push(format!("{}: area {area} km², reference {r_area}", s.name));
        }
        let (b, rb) = (bounds(&fp).expect("bounds"), &r["bounds"]);
        let ours = [b.0, b.1, b.2, b.3];
        for (k, (o, t)) in ours.iter().zip((0..4).map(|k| rb[k].as_f64().expect("bound"))).enumerate() {
            if (o - t).abs() > 0.01 {
                failures.push(format!("{}: bound {k} (lat_min, lat_max, lon_min, lon_max) {o}, reference {t}", s.name));
            }
        }
        let parts = r["parts"].as_u64().expect("parts") as usize;
        if fp.0.len() != parts {
            failures.push(format!("{}: {} parts, reference {parts}", s.name, fp.0.len()));
        }
        // Simplified at 0.02°, the area hardly moves.
        let simple = swath_footprint(&s.lat, &s.lon, s.lines, s.cells, 0.02).expect("simplified footprint");
        if !close(geodesic_area_km2(&simple), r_area, 0.01, 0.0) {
            failures.push(format!(
                "{}: simplified area {} km², reference {r_area}",
                s.name,
                geodesic_area_km2(&simple)
            ));
        }
        footprints.push(fp);
    }
    let pairs = reference["pairs"].as_array().expect("pairs");
    let mut overlapping = 0;
    for p in pairs {
        let name = |k: &str| p[k].as_str().expect("pair name").to_string();
        let (a, b) = (name("a"), name("b"));
        let index = |n: &str| swaths.iter().position(|s| s.name == n).expect("swath name");
        let (fa, fb) = (&footprints[index(&a)], &footprints[index(&b)]);
        let r_intersects = p["intersects"].as_bool().expect("intersects");
        if intersects(fa, fb) != r_intersects {
            failures.push(format!("{a} x {b}: intersects {}, reference {r_intersects}", intersects(fa, fb)));
        }
        let overlap = geodesic_area_km2(&intersection(fa, fb));
        let r_overlap = p["overlap_km2"].as_f64().expect("overlap_km2");
        if !close(overlap, r_overlap, 0.01, 1.0) {
            failures.push(format!("{a} x {b}: overlap {overlap} km², reference {r_overlap}"));
        }
        overlapping += usize::from(r_overlap > 1000.0);
    }
    assert!(failures.is_empty(), "{} disagreements with shapely/pyproj:\n{}", failures.len(), failures.join("\n"));
    // The swaths were chosen so that the check covers real overlaps: mid-latitude, across the
    // antimeridian, and at the north pole.
    assert!(overlapping >= 3, "only {overlapping} pairs overlap");
}
