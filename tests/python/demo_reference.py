"""Independent check of the demo products added for the analysis examples, from the
formulas in the module doc of repl/src/demo.rs (and repl/src/demo/l2p_b.rs), with numpy:

* sst_monthly/*.nc: every packed value recomputed (climatology, trend, ENSO, 2014 Blob, noise);
* wind.zarr: every packed wind_speed and msl value recomputed (background, hurricane, noise);
* the hurricane's cold wake in the daily SST: compared with a data set written without it
  (NOWAKE_DIR, e.g. by an `oceanql demo` from before the hurricane), when given;
* l2p_b/: crossings with l2p and the mean B - A over clear pixels within 1 km.

Usage: python demo_reference.py DIR [NOWAKE_DIR]
Prints one line per check and exits 1 if one fails.
"""
import glob
import os
import sys
from datetime import date

import netCDF4
import numpy as np
import zarr
from scipy.spatial import cKDTree

U64 = np.uint64
SEED = 0x0CEA4A1120230001
FILL = -32768


def splitmix64(z):
    with np.errstate(over="ignore"):
        z = z + U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


I, J = np.meshgrid(np.arange(180, dtype=U64), np.arange(360, dtype=U64), indexing="ij")
LAT = -89.5 + I.astype(float)
LON = -179.5 + J.astype(float)


def u(seed, step):
    """The documented noise hash on the whole grid, in [-0.5, 0.5)."""
    h = splitmix64(U64(seed) ^ (U64(step) << U64(42)) ^ (I << U64(21)) ^ J)
    return (h >> U64(11)).astype(np.float64) / 2.0**53 - 0.5


def wrap(x):
    return (x + 180.0) % 360.0 - 180.0


def pack(x, scale, offset=0.0):
    y = (x - offset) / scale
    return (np.sign(y) * np.floor(np.abs(y) + 0.5)).astype(np.int64)  # half away from zero


def g(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def zonal(phi):
    x = np.where(phi >= 5, (phi - 5) / 46, (5 - phi) / 48)
    return -1.8 + 31 * np.exp(-np.abs(x) ** 2.7)


def seasonal_amplitude(phi):
    s = np.sin(2 * np.radians(phi))
    return np.where(phi >= 0, 4 * s * s, -2.5 * s * s)


def cold_tongue(phi, lam):
    return -2.5 * np.exp(-0.5 * ((phi + 1) / 4) ** 2 - 0.5 * (wrap(lam + 110) / 30) ** 2)


def blob_shape(phi, lam):
    return np.exp(-0.5 * ((phi - 52.5) / 6) ** 2 - 0.5 * (wrap(lam + 135) / 12) ** 2)


# (year, month of the peak, amplitude, width in months), as listed in the doc.
ENSO = [(1992, 1, 1.7, 4.0), (1994, 12, 1.0, 3.5), (1995, 12, -0.9, 3.0), (1997, 12, 2.4, 4.0),
        (1998, 12, -1.5, 4.0), (1999, 12, -1.5, 4.0), (2000, 12, -0.9, 3.0), (2002, 11, 1.3, 3.5),
        (2008, 1, -1.6, 3.5), (2009, 12, 1.6, 3.5), (2010, 12, -1.6, 4.0), (2011, 12, -1.0, 3.0),
        (2015, 12, 2.6, 5.0), (2019, 1, 0.9, 3.5), (2020, 11, -1.2, 3.5), (2021, 12, -1.0, 3.0),
        (2022, 11, -1.0, 3.5), (2023, 12, 1.8, 5.0)]


def enso(m):
    return sum(a * g(m, (y - 1991) * 12 + mo - 1, w) for y, mo, a, w in ENSO)


def enso_pattern(phi, lam):
    d = wrap(lam + 145)
    h = np.where(d < -25, g(d, -25, 20), np.where(d > 25, g(d, 25, 30), 1.0))
    return np.exp(-((phi / 12) ** 4)) * h


def smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def blob14(m):
    if m <= 273 or m >= 305:
        return 0.0
    if m < 281:
        return 2.5 * smoothstep((m - 273) / 8)
    if m <= 296:
        return 2.5
    return 2.5 * smoothstep((305 - m) / 9)


def seasonal_factor(y, mo):
    first = date(y, mo, 1)
    nxt = date(y + (mo == 12), mo % 12 + 1, 1)
    d0 = first.timetuple().tm_yday - 1
    d = np.arange(d0, d0 + (nxt - first).days)
    return np.cos(2 * np.pi * (d - 225) / 365).mean()


def monthly(y, mo):
    m = (y - 1991) * 12 + mo - 1
    v = (zonal(LAT) + seasonal_amplitude(LAT) * seasonal_factor(y, mo) + cold_tongue(LAT, LON)
         + 0.015 * (m - 389.5) / 12 + enso(m) * enso_pattern(LAT, LON)
         + blob14(m) * blob_shape(LAT, LON) + 0.2 * u(SEED ^ (0xA3 << 56), m))
    return pack(np.maximum(v, -1.8), 0.01)


# The hurricane's 6-hourly track from t = 238 (2023-08-27T00Z): lat, lon, V m/s, P hPa.
TRACK = np.array([
    (20.0, -86.0, 15, 1004), (20.2, -85.8, 16, 1003), (20.5, -85.6, 18, 1002), (20.9, -85.4, 20, 1000),
    (21.4, -85.3, 23, 996), (22.0, -85.2, 27, 992), (22.7, -85.1, 31, 987), (23.5, -85.0, 35, 982),
    (24.4, -84.9, 40, 976), (25.4, -84.8, 45, 968), (26.4, -84.6, 50, 960), (27.4, -84.3, 55, 950),
    (28.4, -84.0, 57, 942), (29.3, -83.6, 55, 946), (30.2, -83.1, 45, 960), (31.1, -82.3, 35, 975),
    (31.9, -81.2, 30, 983), (32.5, -79.8, 28, 987), (32.9, -78.2, 27, 989)], dtype=float)


def storm(t):
    x = (t - 238) / 0.25
    if x < 0 or x > len(TRACK) - 1:
        return None
    k = min(int(np.floor(x)), len(TRACK) - 2)
    return TRACK[k] + (x - k) * (TRACK[k + 1] - TRACK[k])


def wake_passage(phi, lam):
    """(amplitude, t_p) per point by the doc's closest approach; amplitude 0 where d >= 6."""
    cos = np.cos(np.radians(phi))
    best = np.full(phi.shape, np.inf)
    ks = np.zeros(phi.shape, int)
    ss = np.zeros(phi.shape)
    for k in range(len(TRACK) - 1):
        ax, ay = wrap(lam - TRACK[k, 1]) * cos, phi - TRACK[k, 0]
        bx, by = wrap(TRACK[k + 1, 1] - TRACK[k, 1]) * cos, TRACK[k + 1, 0] - TRACK[k, 0]
        s = np.clip((ax * bx + ay * by) / (bx * bx + by * by), 0, 1)
        d2 = (ax - s * bx) ** 2 + (ay - s * by) ** 2
        better = d2 < best
        best, ks, ss = np.where(better, d2, best), np.where(better, k, ks), np.where(better, s, ss)
    v = TRACK[ks, 2] + ss * (TRACK[ks + 1, 2] - TRACK[ks, 2])
    amp = np.where(best < 36, -3 * v / 57 * np.exp(-0.5 * best / 1.5**2), 0.0)
    return amp, 238 + (ks + ss) * 0.25


def wind(day):
    t = float(day)
    a = np.abs(LAT)
    north = LAT >= 0
    w = np.where(north, 1, -1) * np.cos(2 * np.pi * (t - 15) / 365)
    ws = 3.5 + 4 * g(a, 15, 7) + np.where(north, 6, 8) * (1 + 0.3 * w) * g(a, 50, 10)
    msl = 1012 - 4 * g(LAT, 5, 6) + 7 * g(a, 30, 8) - np.where(north, 10, 22) * (1 + 0.3 * w) * g(a, 60, 8)
    s = storm(t)
    if s is not None:
        r = np.hypot(LAT - s[0], wrap(LON - s[1]) * np.cos(np.radians(s[0])))
        ws = ws + np.where(r < 10, s[2] * (r / 0.75) * np.exp(1 - r / 0.75), 0)
        msl = msl + (s[3] - msl) * np.where(r < 6, g(r, 0, 1.5), 0)
    ws = ws + 1.0 * u(SEED ^ (0xA1 << 56), day)
    msl = msl + 0.6 * u(SEED ^ (0xA2 << 56), day)
    return pack(ws, 0.01), pack(msl, 0.1, 1000)


def report(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return ok


def nc_raw(path, var):
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        return nc[var][:].astype(np.int64), nc["time"][:]


def check_monthly(d, land):
    worst, nbad, files = 0, 0, sorted(glob.glob(f"{d}/sst_monthly/sst_monthly_*.nc"))
    for path in files:
        y = int(path[-7:-3])
        raw, time = nc_raw(path, "sst")
        raw = np.roll(raw, 180, axis=2)  # lon 0..360 -> -180..180
        starts = [(date(y, mo, 1) - date(1981, 1, 1)).days for mo in range(1, 13)]
        if list(time) != starts:
            return report("sst_monthly time", False, f"{path}: {list(time)}")
        for mo in range(1, 13):
            want = np.where(land, FILL, monthly(y, mo))
            diff = np.abs(raw[mo - 1] - want)
            worst, nbad = max(worst, diff.max()), nbad + (diff > 0).sum()
    return report("sst_monthly", len(files) == 33 and worst <= 1 and nbad < 100,
                  f"{len(files)} files, {nbad} of {len(files) * 12 * 64800} values differ, by <= {worst} (0.01 °C)")


def check_wind(d):
    grp = zarr.open_group(f"{d}/wind.zarr", mode="r")
    ws, msl = grp["wind_speed"], grp["msl"]
    worst, nbad, peak = 0, 0, (0, None)
    for day in range(ws.shape[0]):
        w, p = wind(day)
        gw, gp = ws[day].astype(np.int64), msl[day].astype(np.int64)
        for got, want in ((gw, w), (gp, p)):
            diff = np.abs(got - want)
            worst, nbad = max(worst, diff.max()), nbad + (diff > 0).sum()
        if gw.max() > peak[0]:
            k = np.unravel_index(gw.argmax(), gw.shape)
            peak = (gw.max(), (day, LAT[k], LON[k], gp.min() * 0.1 + 1000))
    return report("wind.zarr", worst <= 1 and nbad < 100,
                  f"{ws.shape[0]} days, {nbad} values differ by <= {worst}; peak {peak[0] * 0.01:.1f} m/s "
                  f"(day, lat, lon, min msl) = {peak[1]}")


def check_wake(d, base, land):
    amp, tp = wake_passage(LAT, LON)
    worst, changed, outside = 0.0, 0, 0
    for day in range(365):
        stamp = (date(2023, 1, 1).toordinal() + day)
        name = date.fromordinal(stamp).strftime("sst_%Y%m%d.nc")
        new = np.roll(nc_raw(f"{d}/sst_nc/{name}", "sst")[0][0], 180, axis=1)
        old = np.roll(nc_raw(f"{base}/sst_nc/{name}", "sst")[0][0], 180, axis=1)
        w = np.where((day >= tp) & (amp != 0), amp * np.exp(-(day - tp) / 15), 0.0)
        diff = np.where(land, 0, (new - old) * 0.01 - w)
        worst = max(worst, np.abs(diff).max())
        changed += (new != old).sum()
        outside += ((new != old) & (w == 0)).sum()
    return report("daily wake", worst <= 0.0101 and outside == 0,
                  f"{changed} cell-days changed, new - old = wake within {worst:.4f} °C, {outside} changed without wake")


def unit_vectors(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def read_swath(path):
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        sst = nc["sea_surface_temperature"][0].astype(np.int64).ravel()
        ok = (sst != FILL) & (nc["quality_level"][0].ravel() >= 4)
        return (nc["lat"][:].ravel().astype(float), nc["lon"][:].ravel().astype(float), sst * 0.01, ok,
                int(nc["time"][0]), nc.getncattr("platform") if "platform" in nc.ncattrs() else None)


def check_l2p_b(d):
    b_files = sorted(glob.glob(f"{d}/l2p_b/*.nc"))
    diffs, crossing = [], 0
    for b in b_files:
        k = int(os.path.basename(b).split("DEMO_B_")[1][:2])
        (a,) = glob.glob(f"{d}/l2p/*DEMO_{k:02d}-*.nc")
        alat, alon, asst, aok, ta, _ = read_swath(a)
        blat, blon, bsst, bok, tb, platform = read_swath(b)
        assert platform == "DEMO_B", b
        tree = cKDTree(unit_vectors(alat, alon))
        dist, idx = tree.query(unit_vectors(blat, blon), distance_upper_bound=1.0 / 6371.0088)
        hit = np.isfinite(dist)
        if hit.sum() > 1000 and abs(tb - ta) <= 3 * 3600 + 300:
            crossing += 1
        both = hit & bok
        both[both] &= aok[idx[both]]
        diffs.append(bsst[both] - asst[idx[both]])
    diffs = np.concatenate(diffs)
    return report("l2p_b", len(b_files) == 30 and crossing == 25 and abs(diffs.mean() - 0.15) < 0.01,
                  f"{len(b_files)} granules, {crossing} cross their l2p granule; B - A = {diffs.mean():.3f} "
                  f"± {diffs.std():.3f} K over {len(diffs)} nearest clear pixels within 1 km")


def main():
    d = sys.argv[1]
    with netCDF4.Dataset(f"{d}/sst_nc/sst_20230101.nc") as nc:
        nc.set_auto_maskandscale(False)
        land = np.roll(nc["sst"][0], 180, axis=1) == FILL
    ok = [check_monthly(d, land), check_wind(d), check_l2p_b(d)]
    if len(sys.argv) > 2:
        ok.append(check_wake(d, sys.argv[2], land))
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
