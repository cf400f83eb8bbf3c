"""Two small swath products and their crossovers, computed independently with shapely + pyproj,
for tests/tests/crossover.rs (which runs OceanQL's crossover() on the same files).

Usage: crossover_reference.py OUTDIR MAX_DT_SECONDS

Writes OUTDIR/a/*.nc and OUTDIR/b/*.nc: swath granules of NJ lines x NI cells on the sphere
(along a great circle through a centre point at an azimuth, ALONG degrees between lines, ACROSS
degrees between cells), 2-D lat/lon float64 chunked (CHUNKS) so that the index cuts each granule
into several tiles, time(nj) in seconds since 2024-01-01 (one line per second), sst float32.
The granules cover mid-latitudes, the antimeridian, both poles (tracks passing within a few
degrees of the pole, which lies inside the swath), pairs crossing within MAX_DT, pairs crossing
outside it (by 1.5 h, and by one second), a gap of exactly MAX_DT, parallel overlapping tracks,
near misses and granules that touch nothing.

Then, from the same pixel-centre coordinates, footprints as footprint_reference.py builds them
(unsimplified edge ring, unwrapped, closed through a pole, split at +-180) and, for every (a, b)
whose time ranges come within MAX_DT seconds (gap = seconds between the ranges, 0 when they
overlap), whether the footprints intersect, the WGS84 area of their intersection (pyproj, rings
segmentized to 0.1 degree), their planar lon/lat distance in degrees (also across the
antimeridian), and the bounding [min, max] row and cell of the pixels of each side
whose centre lies inside the intersection shrunk by 0.1 degree (shapely buffer in lon/lat).

OUTDIR/reference.json: {"max_dt", "granules": {"a": {file: {"area_km2", "time": [t0, t1]
(seconds since 1970-01-01), "parts"}}, "b": {...}}, "pairs": [{"a", "b", "dt_seconds", "intersects", "overlap_km2",
"distance_deg", "pixels_a": [row_min, row_max, cell_min, cell_max] or null, "pixels_b": ...}]}.
"""

import json
import os
import sys

import netCDF4
import numpy as np
import shapely

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from footprint_reference import area_km2, footprint, polygons_of  # noqa: E402
from shapely.affinity import translate  # noqa: E402

NJ, NI = 600, 100
ALONG, ACROSS = 0.05, 0.04
CHUNKS = (32, 64)
T0 = "seconds since 2024-01-01 00:00:00"
EPOCH_T0 = 1704067200  # 2024-01-01 in seconds since 1970-01-01
HOUR = 3600

# name: (centre lat, centre lon, azimuth at the centre, start time in seconds).
# A's granules are 3 h apart, so that each B granule is within max_dt of at most its partner.
A = {
    "a00_atlantic": (30.0, -40.0, 20.0, 0 * 3 * HOUR),
    "a01_pacific": (-20.0, -150.0, 160.0, 1 * 3 * HOUR),
    "a02_antimeridian": (-10.0, 179.0, 60.0, 2 * 3 * HOUR),
    "a03_antimeridian": (40.0, -178.0, -30.0, 3 * 3 * HOUR),
    "a04_north_pole": (89.0, 30.0, 90.0, 4 * 3 * HOUR),
    "a05_south_pole": (-89.0, 100.0, 90.0, 5 * 3 * HOUR),
    "a06_europe": (45.0, 10.0, 45.0, 6 * 3 * HOUR),
    "a07_indian": (0.0, 80.0, 10.0, 7 * 3 * HOUR),
    "a08_north_pacific": (55.0, 150.0, -60.0, 8 * 3 * HOUR),
    "a09_south_indian": (-45.0, 60.0, 120.0, 9 * 3 * HOUR),
    "a10_east_pacific": (10.0, -100.0, 30.0, 10 * 3 * HOUR),
    "a11_southern": (-60.0, -172.0, 80.0, 11 * 3 * HOUR),
}
END = NJ - 1  # a granule's last line starts END seconds after its first
B = {
    # Crosses a00, starts 1800 s after a00 ends.
    "b00_atlantic_x": (31.0, -38.0, -40.0, A["a00_atlantic"][3] + END + 1800),
    # Crosses a01 but 1.5 h after it ends: no pair.
    "b01_pacific_late": (-21.0, -149.0, 100.0, A["a01_pacific"][3] + END + 3 * HOUR // 2),
    # Crosses a02 across the antimeridian, at the same time.
    "b02_antimeridian_x": (-9.0, -179.5, 130.0, A["a02_antimeridian"][3] + 100),
    # Crosses a03 across the antimeridian, ends exactly max_dt before a03 starts (main()).
    "b03_antimeridian_gap": (41.0, 179.0, 40.0, None),
    # Around the north pole, crossing a04.
    "b04_north_pole": (89.2, 150.0, 90.0, A["a04_north_pole"][3] + END + 600),
    # Around the south pole, starts max_dt + 1 s after a05 ends (main()).
    "b05_south_pole_late": (-88.8, -40.0, 80.0, None),
    # In time with a06, touches nothing.
    "b06_nothing": (-30.0, 10.0, 0.0, A["a06_europe"][3] + 300),
    # Crosses a07 at a shallow angle (a long overlap).
    "b07_indian_x": (1.0, 81.0, 170.0, A["a07_indian"][3] - END - 1200),
    # Parallel to a08, 2 degrees across: half of each swath overlaps.
    "b08_north_pacific_parallel": (None, None, None, A["a08_north_pacific"][3] + 60),
    # Parallel to a09, 4.5 degrees across: a near miss by 0.5 degree (swaths are 4 degrees wide).
    "b09_near_miss": (None, None, None, A["a09_south_indian"][3] - 60),
    # Crosses a10 near its end.
    "b10_east_pacific_end": (None, None, None, A["a10_east_pacific"][3] + 3000),
    # Crosses a11 on the antimeridian at 60S.
    "b11_southern_x": (-61.0, 178.0, 150.0, A["a11_southern"][3] + 200),
    # Parallel to a06, 3.95 degrees across: overlaps it along a strip 0.01 degree wide (a sliver).
    "b12_grazing": (None, None, None, A["a06_europe"][3] + 500),
}


def unit(lat, lon):
    p, l = np.radians(lat), np.radians(lon)
    return np.array([np.cos(p) * np.cos(l), np.cos(p) * np.sin(l), np.sin(p)])


def frame(lat, lon, az):
    """The centre u, the track direction v and w = u x v."""
    p, l, a = np.radians(lat), np.radians(lon), np.radians(az)
    u = unit(lat, lon)
    east = np.array([-np.sin(l), np.cos(l), 0.0])
    north = np.array([-np.sin(p) * np.cos(l), -np.sin(p) * np.sin(l), np.cos(p)])
    v = np.cos(a) * north + np.sin(a) * east
    return u, v, np.cross(u, v)


def swath(lat, lon, az, shift=0.0):
    """Pixel centres (lat, lon), NJ x NI, centred on (lat, lon); `shift` degrees to the right."""
    u, v, w = frame(lat, lon, az)
    s = np.radians((np.arange(NJ) - (NJ - 1) / 2) * ALONG)[:, None, None]
    c = np.radians((np.arange(NI) - (NI - 1) / 2) * ACROSS + shift)[None, :, None]
    x = np.cos(c) * (np.cos(s) * u + np.sin(s) * v) - np.sin(c) * w
    plat = np.degrees(np.arcsin(np.clip(x[..., 2], -1, 1)))
    plon = np.degrees(np.arctan2(x[..., 1], x[..., 0]))
    return plat, plon


def point_on(lat, lon, az, along, across):
    """The point `along` degrees along the track and `across` degrees to the right of it."""
    u, v, w = frame(lat, lon, az)
    s, c = np.radians(along), np.radians(across)
    x = np.cos(c) * (np.cos(s) * u + np.sin(s) * v) - np.sin(c) * w
    return float(np.degrees(np.arcsin(x[2]))), float(np.degrees(np.arctan2(x[1], x[0])))


def write(path, lat, lon, t0):
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.createDimension("nj", NJ)
    ds.createDimension("ni", NI)
    for name, values, std, units in [("lat", lat, "latitude", "degrees_north"), ("lon", lon, "longitude", "degrees_east")]:
        v = ds.createVariable(name, "f8", ("nj", "ni"), chunksizes=CHUNKS, zlib=True, complevel=1)
        v.standard_name, v.units = std, units
        v[:] = values
    v = ds.createVariable("time", "f8", ("nj",))
    v.standard_name, v.units = "time", T0
    v[:] = t0 + np.arange(NJ, dtype=float)
    v = ds.createVariable("sst", "f4", ("nj", "ni"), chunksizes=CHUNKS, zlib=True, complevel=1, fill_value=np.float32(np.nan))
    v.units = "degC"
    v[:] = (15 + 10 * np.cos(np.radians(lat))).astype("f4")
    ds.close()


def gap(ta, tb):
    return max(0, max(ta[0], tb[0]) - min(ta[1], tb[1]))


def pixel_box(lat, lon, region):
    """[row_min, row_max, cell_min, cell_max] of the pixels whose centre lies in `region`."""
    if region.is_empty:
        return None
    inside = shapely.contains_xy(region, lon, lat)
    if not inside.any():
        return None
    rows, cells = np.nonzero(inside)
    return [int(rows.min()), int(rows.max()), int(cells.min()), int(cells.max())]


def main(out, max_dt):
    # The B granules defined from their A partner.
    a08 = A["a08_north_pacific"]
    a09 = A["a09_south_indian"]
    a10 = A["a10_east_pacific"]
    specs_b = dict(B)
    specs_b["b03_antimeridian_gap"] = (41.0, 179.0, 40.0, A["a03_antimeridian"][3] - END - max_dt)
    specs_b["b05_south_pole_late"] = (-88.8, -40.0, 80.0, A["a05_south_pole"][3] + END + max_dt + 1)
    shifted = {
        "b08_north_pacific_parallel": (a08, 2.0),
        "b09_near_miss": (a09, -4.5),
        "b12_grazing": (A["a06_europe"], 3.95),
    }
    # b10 crosses a10 at right angles 12 degrees along a10's track (a10 is 30 degrees long).
    lat10, lon10 = point_on(a10[0], a10[1], a10[2], 12.0, 0.0)
    specs_b["b10_east_pacific_end"] = (lat10, lon10, a10[2] + 90.0, specs_b["b10_east_pacific_end"][3])

    products = {"a": {}, "b": {}}
    for side, specs in (("a", A), ("b", specs_b)):
        os.makedirs(f"{out}/{side}", exist_ok=True)
        for name, (lat0, lon0, az, t0) in specs.items():
            if name in shifted:
                (plat, plon, paz, _), across = shifted[name]
                lat, lon = swath(plat, plon, paz, across)
            else:
                lat, lon = swath(lat0, lon0, az)
            write(f"{out}/{side}/{name}.nc", lat, lon, t0)
            products[side][name] = (lat, lon, (t0, t0 + END), footprint(lat, lon))

    result = {"max_dt": max_dt, "granules": {}, "pairs": []}
    for side, granules in products.items():
        result["granules"][side] = {
            f"{n}.nc": {"area_km2": area_km2(fp), "time": [EPOCH_T0 + t[0], EPOCH_T0 + t[1]], "parts": len(polygons_of(fp))}
            for n, (_, _, t, fp) in granules.items()
        }
    for na, (lat_a, lon_a, ta, fa) in products["a"].items():
        for nb, (lat_b, lon_b, tb, fb) in products["b"].items():
            dt = gap(ta, tb)
            if dt > max_dt:
                continue
            overlap = fa.intersection(fb)
            inner = overlap.buffer(-0.1) if not overlap.is_empty else overlap
            result["pairs"].append({
                "a": f"{na}.nc",
                "b": f"{nb}.nc",
                "dt_seconds": dt,
                "intersects": bool(fa.intersects(fb)),
                "overlap_km2": area_km2(overlap),
                "distance_deg": min(fa.distance(translate(fb, xoff=s)) for s in (-360.0, 0.0, 360.0)),
                "pixels_a": pixel_box(lat_a, lon_a, inner),
                "pixels_b": pixel_box(lat_b, lon_b, inner),
            })
    with open(f"{out}/reference.json", "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
