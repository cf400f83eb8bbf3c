"""Independent reference footprints for tests/tests/footprint.rs (shapely + pyproj).

Usage: footprint_reference.py INPUT.json OUTPUT.json

INPUT: {"swaths": [{"name", "lines", "cells", "lat": [...], "lon": [...]}]}, row-major
lines x cells pixel centres, null for a missing value.

For each swath, the footprint is built from the edge pixels as engine/src/footprint.rs defines
it, but with shapely: the first valid line left to right, the last valid pixel of each inner
line, the last valid line right to left, the first valid pixel of each inner line back up;
longitudes unwrapped (numpy.unwrap); a ring winding once around a pole closed through it (the
first point again 360 degrees on, then the pole above it and above the first point); cut into
the boxes [-540,-180], [-180,180], [180,540], each piece shifted into [-180,180], pieces merged
with unary_union (on a 1e-9 degree grid). Areas: pyproj Geod(ellps='WGS84').geometry_area_perimeter, on rings
segmentized to 0.1 degree (so that the area is that of the lon/lat region).

OUTPUT: {"swaths": {name: {"area_km2", "bounds": [lat_min, lat_max, lon_min, lon_max],
"parts"}}, "pairs": [{"a", "b", "intersects", "overlap_km2"}]} for every pair of swaths.
"""

import json
import sys

import numpy as np
import shapely
from pyproj import Geod
from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

GEOD = Geod(ellps="WGS84")


def edge_ring(lat, lon):
    """The outer edge of the valid pixels as an (n, 2) array of (lon, lat), or None."""
    valid = np.isfinite(lat) & np.isfinite(lon)
    if valid.sum() < 3:
        return None
    rows = [i for i in range(lat.shape[0]) if valid[i].any()]
    first, last, inner = rows[0], rows[-1], rows[1:-1]
    idx = []
    idx += [(first, j) for j in np.flatnonzero(valid[first])]
    idx += [(i, np.flatnonzero(valid[i])[-1]) for i in inner]
    if last != first:
        idx += [(last, j) for j in np.flatnonzero(valid[last])[::-1]]
    idx += [(i, np.flatnonzero(valid[i])[0]) for i in reversed(inner)]
    ring = np.array([(lon[i, j], lat[i, j]) for i, j in idx], dtype=float)
    keep = np.ones(len(ring), dtype=bool)
    keep[1:] = np.any(ring[1:] != ring[:-1], axis=1)
    return ring[keep]


def polygons_of(geom):
    """The polygons with an area in any shapely geometry."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    return [p for g in getattr(geom, "geoms", []) for p in polygons_of(g)]


def footprint(lat, lon):
    ring = edge_ring(lat, lon)
    if ring is None:
        return None
    x = np.unwrap(ring[:, 0], period=360.0)
    x -= 360.0 * np.floor((x[0] + 180.0) / 360.0)
    y = ring[:, 1]
    closing = (x[0] - x[-1] + 180.0) % 360.0 - 180.0
    turns = int(round((x[-1] - x[0] + closing) / 360.0))
    coords = list(zip(x, y))
    if turns != 0:
        assert abs(turns) == 1, f"the ring winds {turns} times around a pole"
        pole = 90.0 if y.mean() > 0 else -90.0
        end = x[0] + 360.0 * turns
        coords += [(end, y[0]), (end, pole), (x[0], pole)]
    wide = Polygon(coords)
    if not wide.is_valid:
        print(f"warning: invalid ring ({shapely.is_valid_reason(wide)}), made valid", file=sys.stderr)
        wide = shapely.make_valid(wide)
    pieces = []
    for shift in (-360.0, 0.0, 360.0):
        cut = wide.intersection(box(shift - 180.0, -90.0, shift + 180.0, 90.0))
        pieces += [translate(p, xoff=-shift) for p in polygons_of(cut)]
    # On a 1e-9 degree grid, so that pieces meeting at a shifted meridian (x + 360 - 360 is
    # not always x) merge.
    merged = shapely.unary_union(pieces, grid_size=1e-9)
    return MultiPolygon(polygons_of(merged))


def area_km2(geom):
    total = 0.0
    for p in polygons_of(geom):
        dense = orient(shapely.segmentize(p, 0.1), sign=1.0)
        area, _ = GEOD.geometry_area_perimeter(dense)
        total += abs(area)
    return total / 1e6


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        swaths = json.load(f)["swaths"]
    footprints = {}
    out = {"swaths": {}, "pairs": []}
    for s in swaths:
        shape = (s["lines"], s["cells"])
        lat = np.array([np.nan if v is None else v for v in s["lat"]], dtype=float).reshape(shape)
        lon = np.array([np.nan if v is None else v for v in s["lon"]], dtype=float).reshape(shape)
        fp = footprint(lat, lon)
        footprints[s["name"]] = fp
        minx, miny, maxx, maxy = fp.bounds
        out["swaths"][s["name"]] = {
            "area_km2": area_km2(fp),
            "bounds": [miny, maxy, minx, maxx],
            "parts": len(fp.geoms),
        }
    names = [s["name"] for s in swaths]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            fa, fb = footprints[a], footprints[b]
            out["pairs"].append({
                "a": a,
                "b": b,
                "intersects": bool(fa.intersects(fb)),
                "overlap_km2": area_km2(fa.intersection(fb)),
            })
    with open(dst, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
