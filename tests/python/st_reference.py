"""Independent expected results of OceanQL's st_* functions for tests/tests/st.rs (shapely 2.2,
numpy).

Usage: st_reference.py > cases.json

Prints {"cases": [{"name", "sql", "kind", "expected"}]}: `sql` is one SQL expression, run as
`SELECT <sql>`; `kind` says how to compare: "bool" and "text" exactly (text after normalising
WKT spacing and number formatting), "number" to 1e-9 relative, "area" (the area of a buffer) to
1 %; `expected` is null where the result must be NULL.

Semantics checked (PostGIS on the geometry type): planar x = lon, y = lat; st_distance,
st_dwithin, st_area and st_buffer in degrees; st_buffer with 8 segments per quarter circle
(PostGIS's quad_segs default; shapely is told so); st_distancesphere in metres on a sphere of
radius 6371008.8 m, computed here with numpy's haversine.
"""

import json
import math

import numpy as np
import shapely
from shapely import wkt

R_M = 6371008.8

SQUARE = "POLYGON((0 0,2 0,2 2,0 2,0 0))"
TOUCHING = "POLYGON((2 0,3 0,3 2,2 2,2 0))"
HOLED = "POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,3 1,3 3,1 3,1 1))"
SMALL = "POLYGON((0.2 0.2,0.8 0.2,0.8 0.8,0.2 0.8,0.2 0.2))"
FAR = "POLYGON((10 10,11 10,11 11,10 11,10 10))"
MULTI = "MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)),((5 5,7 5,7 6,5 6,5 5)))"
TRIANGLE = "POLYGON((-5 -2,4 -2,0 3,-5 -2))"
LINE = "LINESTRING(-1 1,5 1)"
DIAGONAL = "LINESTRING(0.5 0.5,1.5 1.5)"
EDGE_LINE = "LINESTRING(0 0,2 0)"
INSIDE = "POINT(0.5 0.5)"
ON_EDGE = "POINT(2 1)"
IN_HOLE = "POINT(2 2)"
ON_HOLE_EDGE = "POINT(1 2)"
CORNER = "POINT(0 0)"
OUTSIDE = "POINT(3.5 -1.25)"
EMPTY_POLYGON = "POLYGON EMPTY"
EMPTY_POINT = "POINT EMPTY"


def g(text):
    return f"st_geomfromtext('{text}')"


def shp(text):
    return wkt.loads(text)


def null_if_nan(x):
    x = float(x)
    return None if math.isnan(x) else x


def haversine_m(lon1, lat1, lon2, lat2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * R_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def main():
    cases = []

    def add(name, sql, kind, expected):
        cases.append({"name": name, "sql": sql, "kind": kind, "expected": expected})

    # Relations: interior, boundary (touching counts for intersects, not for contains/within),
    # holes, lines, empty geometries.
    relation_pairs = [
        ("point inside", INSIDE, SQUARE),
        ("point on edge", ON_EDGE, SQUARE),
        ("point on corner", CORNER, SQUARE),
        ("point in hole", IN_HOLE, HOLED),
        ("point on hole edge", ON_HOLE_EDGE, HOLED),
        ("point outside", OUTSIDE, SQUARE),
        ("touching squares", TOUCHING, SQUARE),
        ("square in itself", SQUARE, SQUARE),
        ("small in holed", SMALL, HOLED),
        ("square over hole", SQUARE, HOLED),
        ("line across holed", LINE, HOLED),
        ("diagonal in square", DIAGONAL, SQUARE),
        ("line along edge", EDGE_LINE, SQUARE),
        ("point in multipolygon", "POINT(6 5.5)", MULTI),
        ("far polygon", FAR, SQUARE),
        ("empty polygon", EMPTY_POLYGON, SQUARE),
    ]
    for name, a, b in relation_pairs:
        A, B = shp(a), shp(b)
        add(f"intersects: {name}", f"st_intersects({g(a)}, {g(b)})", "bool", bool(A.intersects(B)))
        add(f"within: {name}", f"st_within({g(a)}, {g(b)})", "bool", bool(A.within(B)))
        add(f"contains: {name}", f"st_contains({g(b)}, {g(a)})", "bool", bool(B.contains(A)))
    # Points built by st_point, against text polygons (the argument as WKT, unparsed).
    for x, y in [(0.5, 0.5), (2.0, 1.0), (-4.5, -2.0), (0.0, 3.0), (3.9, -1.9), (-1.0, 2.5)]:
        P, T = shapely.Point(x, y), shp(TRIANGLE)
        add(f"st_point({x}, {y}) intersects triangle", f"st_intersects(st_point({x}, {y}), '{TRIANGLE}')", "bool", bool(P.intersects(T)))
        add(f"st_point({x}, {y}) within triangle", f"st_within(st_point({x}, {y}), '{TRIANGLE}')", "bool", bool(P.within(T)))

    # Planar measures, in degrees.
    for name, a, b in [
        ("two points", "POINT(0 0)", "POINT(3 4)"),
        ("point to square", OUTSIDE, SQUARE),
        ("point inside square", INSIDE, SQUARE),
        ("point in hole", IN_HOLE, HOLED),
        ("line to far polygon", LINE, FAR),
        ("polygons", FAR, HOLED),
        ("touching squares", TOUCHING, SQUARE),
        ("multipolygon", "POINT(4 4)", MULTI),
        ("empty", EMPTY_POINT, SQUARE),
    ]:
        A, B = shp(a), shp(b)
        add(f"distance: {name}", f"st_distance({g(a)}, {g(b)})", "number", null_if_nan(A.distance(B)))
        if not (A.is_empty or B.is_empty):
            d = float(A.distance(B))
            for tol in (d, d * 0.99 - 1e-9, d + 0.5):
                tol = max(tol, 0.0)
                add(f"dwithin {tol:.6g}: {name}", f"st_dwithin({g(a)}, {g(b)}, {tol!r})", "bool", bool(shapely.dwithin(A, B, tol)))
    for text in [SQUARE, HOLED, MULTI, TRIANGLE, LINE, INSIDE, EMPTY_POLYGON]:
        add(f"area: {text}", f"st_area({g(text)})", "number", float(shp(text).area))
    add("area: envelope", "st_area(st_makeenvelope(-10, -5, 10, 5))", "number", float(shapely.box(-10, -5, 10, 5).area))

    # Buffers (areas to 1 %: segments differ in position).
    for text, r in [(INSIDE, 1.0), (INSIDE, 0.25), (LINE, 0.5), (SQUARE, 1.0), (HOLED, 0.25), (HOLED, -0.25), (MULTI, 0.5), (TRIANGLE, -0.5)]:
        area = float(shp(text).buffer(r, quad_segs=8).area)
        add(f"buffer area {r}: {text}", f"st_area(st_buffer({g(text)}, {r!r}))", "area", area)
    add("buffer: nothing left", f"st_astext(st_buffer({g(SMALL)}, -1.0))", "text", shp(SMALL).buffer(-1.0).wkt)

    # Coordinates and text.
    for x, y in [(-20.5, 10.0), (179.999999, -89.5), (0.1, 1e-7)]:
        P = shapely.Point(x, y)
        add(f"st_x {x}", f"st_x(st_point({x!r}, {y!r}))", "number", float(shapely.get_x(P)))
        add(f"st_y {y}", f"st_y(st_point({x!r}, {y!r}))", "number", float(shapely.get_y(P)))
        add(f"astext st_point({x}, {y})", f"st_astext(st_point({x!r}, {y!r}))", "text", shapely.to_wkt(P, rounding_precision=-1))
    # PostGIS gives NULL for the x of an empty point (GEOS raises).
    assert shp(EMPTY_POINT).is_empty
    add("st_x empty", f"st_x({g(EMPTY_POINT)})", "number", None)
    for text in [SQUARE, HOLED, MULTI, LINE, INSIDE, EMPTY_POLYGON, EMPTY_POINT, "MULTIPOINT((1 2),(3 4))",
                 "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))", "POLYGON((0.1 0.2,0.3 0.2,0.3 0.4,0.1 0.2))"]:
        add(f"astext: {text}", f"st_astext({g(text)})", "text", shapely.to_wkt(shp(text), rounding_precision=-1))
    # PostGIS's ring order for envelopes: (xmin ymin, xmin ymax, xmax ymax, xmax ymin).
    env = shapely.Polygon([(-10, -5), (-10, 5), (10, 5), (10, -5)])
    assert env.equals(shapely.box(-10, -5, 10, 5))
    add("astext envelope", "st_astext(st_makeenvelope(-10, -5, 10, 5))", "text", shapely.to_wkt(env, rounding_precision=-1))

    # Great-circle distances in metres (numpy haversine).
    for (lon1, lat1), (lon2, lat2) in [
        ((0, 0), (1, 0)),
        ((179.5, 0), (-179.5, 0)),
        ((0, 90), (0, -90)),
        ((-70.0, 40.0), (2.35, 48.85)),
        ((-20.5, 10.0), (-20.5, 10.0)),
        ((12.5, -33.25), (12.5001, -33.2501)),
    ]:
        add(f"distancesphere ({lon1} {lat1}) ({lon2} {lat2})",
            f"st_distancesphere(st_point({lon1!r}, {lat1!r}), {g(f'POINT({lon2} {lat2})')})", "number",
            haversine_m(lon1, lat1, lon2, lat2))

    print(json.dumps({"cases": cases}, indent=1))


if __name__ == "__main__":
    main()
