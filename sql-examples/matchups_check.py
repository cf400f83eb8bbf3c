"""Independent check of matchups.sql: pairs, bias, robust std, the 10 worst outliers and the
5 x 5 miniprod around the worst one.

Reads DIR/drifters.parquet (pyarrow) and DIR/l2p/*.nc (netCDF4, raw values, CF packing and
fill values applied here) directly and finds every (fix, pixel) pair by brute force:
great-circle distance (haversine, sphere of 6371.0088 km) <= 5 km, |pixel time - fix time|
<= 3600 s, quality_level >= 4, solar_zenith_angle > 90, SST not missing. Pixel time =
time + sst_dtime. The miniprod is the pixels of the worst outlier's granule within 2 lines
and 2 cells of it, read from the file.

Usage: python matchups_check.py DIR [--write]
"""
import glob
import os

import netCDF4
import numpy as np
import pyarrow.parquet as pq

from _common import EPOCH, demo_dir, finish, sql_round

EPOCH_1981 = 347155200  # 1981-01-01 in seconds since 1970
R = 6371.0088
FILL16, FILL8 = -32768, -128


def read_granule(path):
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        g = {name: nc[name][:] for name in ("lat", "lon")}
        for name in ("sea_surface_temperature", "sst_dtime", "quality_level", "solar_zenith_angle"):
            g[name] = nc[name][0]
        g["time"] = int(nc["time"][0]) + EPOCH_1981
    return g


def km(lat1, lon1, lat2, lon2):
    """Great-circle distance (haversine) between points in radians."""
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * R * np.arcsin(np.sqrt(a))


def sst_celsius(raw):
    """sea_surface_temperature (scale 0.01, offset 273.15 K, valid -1000..5000) - 273.15."""
    valid = (raw != FILL16) & (raw >= -1000) & (raw <= 5000)
    return np.where(valid, raw.astype(np.int64) * 0.01 + 273.15 - 273.15, np.nan)


d = demo_dir()
tab = pq.read_table(f"{d}/drifters.parquet")
fix_us = tab["time"].cast("int64").to_numpy()  # microseconds since 1970
ft = fix_us // 10**6
dr = tab.drop(["time"]).to_pandas()
flat, flon = np.radians(dr["lat"].to_numpy()), np.radians(dr["lon"].to_numpy())

pairs = []  # (diff, granule, row, cell, platform_id, fix time, distance km, dt seconds)
granules = {}
for path in sorted(glob.glob(f"{d}/l2p/*.nc")):
    g = granules[os.path.basename(path)] = read_granule(path)
    sst = sst_celsius(g["sea_surface_temperature"])
    ptime = g["time"] + g["sst_dtime"].astype(np.int64)
    sza = g["solar_zenith_angle"].astype(np.float64) + 90.0
    ok = ~np.isnan(sst) & (g["quality_level"] >= 4) & (g["solar_zenith_angle"] != FILL8) & (sza > 90)
    plat, plon = np.radians(g["lat"].astype(np.float64)), np.radians(g["lon"].astype(np.float64))
    # Only fixes that can be within 5 km of a pixel (triangle inequality through the centre pixel).
    c = (plat.shape[0] // 2, plat.shape[1] // 2)
    reach = km(plat[c], plon[c], plat, plon).max() + 5.0
    near = np.nonzero((ft >= ptime.min() - 3600) & (ft <= ptime.max() + 3600) & (km(plat[c], plon[c], flat, flon) <= reach))[0]
    for k in near:
        dist = km(flat[k], flon[k], plat, plon)
        m = ok & (dist <= 5.0) & (np.abs(ptime - ft[k]) <= 3600)
        for j, i in zip(*np.nonzero(m)):
            pairs.append(
                (sst[j, i] - dr["sst"].iat[k], os.path.basename(path), int(j), int(i), dr["platform_id"].iat[k],
                 EPOCH + np.timedelta64(int(fix_us[k]), "us"), dist[j, i], float(ptime[j, i] - ft[k]))
            )

diffs = np.array([p[0] for p in pairs])
med = np.median(diffs)
summary = [(len(diffs), sql_round(diffs.mean(), 3), sql_round(1.4826 * np.median(np.abs(diffs - med)), 3))]
worst = sorted(pairs, key=lambda p: (-abs(p[0]), p[1], p[2], p[3]))[:10]
outliers = [(p[1], p[2], p[3], p[4], p[5], sql_round(p[0], 2), sql_round(p[6], 2), p[7]) for p in worst]

_, name, row, col = worst[0][:4]
g = granules[name]
lines, cells = g["sea_surface_temperature"].shape
box = []
for j in range(max(row - 2, 0), min(row + 3, lines)):
    for i in range(max(col - 2, 0), min(col + 3, cells)):
        q, z = int(g["quality_level"][j, i]), int(g["solar_zenith_angle"][j, i])
        box.append((
            j - row, i - col,
            sql_round(sst_celsius(g["sea_surface_temperature"][j, i]), 2),
            q if q != FILL8 and 0 <= q <= 5 else None,
            z + 90.0 if z != FILL8 else None,
        ))

finish(__file__, [
    (["pairs", "bias", "robust_std"], summary),
    (["granule", "row", "cell", "platform_id", "drifter_time", "diff", "distance_km", "dt_seconds"], outliers),
    (["d_row", "d_cell", "sst", "quality_level", "solar_zenith_angle"], box),
])
