"""Independent check of matchups.sql: pairs, bias, robust std and the 10 worst outliers.

Reads DIR/drifters.parquet (pyarrow) and DIR/l2p/*.nc (netCDF4) directly and finds
every (fix, pixel) pair by brute force: great-circle distance (haversine, sphere of
6371.0088 km) <= 5 km, |pixel time - fix time| <= 3600 s, quality_level >= 4,
solar_zenith_angle > 90, SST not missing. Pixel time = time + sst_dtime.

Usage: python matchups_check.py DIR   (DIR as written by `oceanql demo DIR`)
"""
import glob
import os
import sys

import netCDF4
import numpy as np
import pyarrow.parquet as pq

d = sys.argv[1] if len(sys.argv) > 1 else "oceanql-demo"
tab = pq.read_table(f"{d}/drifters.parquet")
ft = tab["time"].cast("int64").to_numpy() // 10**6  # microseconds -> seconds since 1970
dr = tab.drop(["time"]).to_pandas()
flat, flon = np.radians(dr["lat"].to_numpy()), np.radians(dr["lon"].to_numpy())
EPOCH_1981 = 347155200  # 1981-01-01 in seconds since 1970
R = 6371.0088

pairs = []  # (diff, granule, row, cell, platform_id)
for path in sorted(glob.glob(f"{d}/l2p/*.nc")):
    nc = netCDF4.Dataset(path)
    nc.set_auto_mask(False)
    nc.set_auto_scale(False)
    t0 = int(nc["time"][0]) + EPOCH_1981
    lat = nc["lat"][:].astype(np.float64)
    lon = nc["lon"][:].astype(np.float64)
    raw = nc["sea_surface_temperature"][0].astype(np.int64)
    sst = raw * 0.01 + 273.15
    ptime = t0 + nc["sst_dtime"][0].astype(np.int64)
    q = nc["quality_level"][0]
    sza = nc["solar_zenith_angle"][0].astype(np.float64) + 90.0
    ok = (raw != -32768) & (q >= 4) & (sza > 90)
    nc.close()
    near = np.nonzero((ft >= ptime.min() - 3600) & (ft <= ptime.max() + 3600))[0]
    plat, plon = np.radians(lat), np.radians(lon)
    for k in near:
        a = np.sin((plat - flat[k]) / 2) ** 2 + np.cos(flat[k]) * np.cos(plat) * np.sin((plon - flon[k]) / 2) ** 2
        dist = 2 * R * np.arcsin(np.sqrt(a))
        m = ok & (dist <= 5.0) & (np.abs(ptime - ft[k]) <= 3600)
        for j, i in zip(*np.nonzero(m)):
            diff = sst[j, i] - 273.15 - dr["sst"].iat[k]
            pairs.append((diff, os.path.basename(path), int(j), int(i), dr["platform_id"].iat[k]))

diffs = np.array([p[0] for p in pairs])
med = np.median(diffs)
print("pairs,bias,robust_std")
print(f"{len(diffs)},{round(diffs.mean(), 3)},{round(1.4826 * np.median(np.abs(diffs - med)), 3)}")
print("granule,row,cell,platform_id,diff")
for p in sorted(pairs, key=lambda p: (-abs(p[0]), p[1], p[2], p[3]))[:10]:
    print(f"{p[1]},{p[2]},{p[3]},{p[4]},{round(p[0], 2)}")
