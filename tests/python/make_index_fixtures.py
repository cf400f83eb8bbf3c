"""Writes 2000 small swath granules for the granule-index tests, and what a few
space-time windows over them should return, computed here with numpy and shapely.

Usage: python make_index_fixtures.py OUTDIR
  OUTDIR/swaths/swath_NNNN.nc   nj 60 lines x ni 20 cells (0.4 deg apart), tilted, between
                                60S and 60N (some across the antimeridian), over 4 days of 2024-01;
                                lat/lon float32 (2-D), time(nj) seconds since 2024-01-01,
                                sst float32 (_FillValue NaN at a few pixels)
  OUTDIR/expected.json          per window: rows, sum of sst, granules with rows, and
                                the granules whose footprint (shapely polygon through the
                                edge pixel centres, unwrapped, shifted by -360/0/+360)
                                intersects the window box widened and narrowed by 0.1 deg
"""

import json
import math
import os
import sys

import netCDF4
import numpy as np
import shapely
from shapely.geometry import Polygon, box

N, NJ, NI, DAYS = 2000, 60, 20, 4
T0 = "seconds since 2024-01-01 00:00:00"
WINDOWS = [
    # day, lat_min, lat_max, lon_min, lon_max
    (3, 10.0, 20.0, -40.0, -30.0),
    (2, -55.0, -45.0, 100.0, 110.0),
    (1, 50.0, 60.0, -5.0, 5.0),
    (0, -10.0, 0.0, 170.0, 180.0),
    (1, -20.0, -10.0, -180.0, -170.0),
]


def swath(rng):
    lat0, lon0, h = rng.uniform(-60, 60), rng.uniform(-180, 180), rng.uniform(0, 2 * math.pi)
    j, i = np.meshgrid(np.arange(NJ) - NJ / 2, np.arange(NI) - NI / 2, indexing="ij")
    along, across = 0.4 * j, 0.4 * i
    lat = lat0 + along * math.cos(h) - across * math.sin(h)
    lon = lon0 + (along * math.sin(h) + across * math.cos(h)) / math.cos(math.radians(lat0))
    lon = (lon + 180.0) % 360.0 - 180.0
    t0 = rng.uniform(0, DAYS * 86400 - NJ * 10)
    time = np.floor(t0) + 10.0 * np.arange(NJ)
    sst = (15 + 10 * np.cos(np.radians(lat)) + rng.normal(0, 0.5, lat.shape)).astype("f4")
    sst[rng.random(lat.shape) < 0.02] = np.nan
    return lat.astype("f4"), lon.astype("f4"), time, sst


def write(path, lat, lon, time, sst):
    ds = netCDF4.Dataset(path, "w", format="NETCDF4_CLASSIC")
    ds.createDimension("nj", NJ)
    ds.createDimension("ni", NI)
    v = ds.createVariable("lat", "f4", ("nj", "ni"))
    v.standard_name, v.units = "latitude", "degrees_north"
    v[:] = lat
    v = ds.createVariable("lon", "f4", ("nj", "ni"))
    v.standard_name, v.units = "longitude", "degrees_east"
    v[:] = lon
    v = ds.createVariable("time", "f8", ("nj",))
    v.standard_name, v.units = "time", T0
    v[:] = time
    v = ds.createVariable("sst", "f4", ("nj", "ni"), fill_value=np.float32(np.nan))
    v.units = "degC"
    v[:] = sst
    ds.close()


def footprint(lat, lon):
    """Shapely polygon through the edge pixel centres, longitudes unwrapped along the ring."""
    ring_lat = np.concatenate([lat[0, :], lat[1:, -1], lat[-1, -2::-1], lat[-2:0:-1, 0]]).astype(float)
    ring_lon = np.concatenate([lon[0, :], lon[1:, -1], lon[-1, -2::-1], lon[-2:0:-1, 0]]).astype(float)
    ring_lon = np.degrees(np.unwrap(np.radians(ring_lon)))
    return Polygon(zip(ring_lon, ring_lat)).buffer(0)


def fp_hits(fp, w, pad):
    day, la0, la1, lo0, lo1 = w
    b = box(lo0 - pad, la0 - pad, lo1 + pad, la1 + pad)
    return any(shapely.affinity.translate(fp, xoff=s).intersects(b) for s in (-360.0, 0.0, 360.0))


def main(out):
    rng = np.random.default_rng(20241126)
    os.makedirs(f"{out}/swaths", exist_ok=True)
    results = [dict(day=w[0], lat=[w[1], w[2]], lon=[w[3], w[4]], rows=0, sst_count=0, sst_sum=0.0,
                    granules_with_rows=[], footprint_wide=[], footprint_narrow=[]) for w in WINDOWS]
    for n in range(N):
        lat, lon, time, sst = swath(rng)
        name = f"swath_{n:04d}.nc"
        write(f"{out}/swaths/{name}", lat, lon, time, sst)
        fp = footprint(lat, lon)
        t = np.broadcast_to(time[:, None], lat.shape)
        lat64, lon64 = lat.astype(float), lon.astype(float)
        for w, r in zip(WINDOWS, results):
            day, la0, la1, lo0, lo1 = w
            in_time = (t >= day * 86400) & (t < (day + 1) * 86400)
            inside = in_time & (lat64 >= la0) & (lat64 <= la1) & (lon64 >= lo0) & (lon64 <= lo1)
            if inside.any():
                r["rows"] += int(inside.sum())
                valid = inside & ~np.isnan(sst)
                r["sst_count"] += int(valid.sum())
                r["sst_sum"] += float(sst[valid].astype(float).sum())
                r["granules_with_rows"].append(name)
            overlaps_day = time[-1] >= day * 86400 and time[0] < (day + 1) * 86400
            if overlaps_day and fp_hits(fp, w, 0.1):
                r["footprint_wide"].append(name)
            if overlaps_day and fp_hits(fp, w, -0.1):
                r["footprint_narrow"].append(name)
    with open(f"{out}/expected.json", "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
