"""Extra benchmark rows (tests/bench/run.sh --extra): OceanQL against the loop a notebook
runs over L2P-like swath files, a 3-year daily grid with tile statistics, and L2 match-ups.
Each row: warm, best of REPEAT, end to end; answers compared (relative 1e-6) first."""
import glob, os, subprocess, sys, time

import numpy as np
import xarray as xr

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def oceanql(binary, data, sql, ddl):
    cmd = [binary, "-q", "--format", "csv", "-c", ddl, "-c", sql]
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def parse(out):
    lines = out.strip().splitlines()[1:]
    rows = [l.split(",") for l in lines]
    return [float(r[-1]) if len(r) == 2 and ":" in r[0] else [float(x) for x in r] for r in rows]


def best(f, n=REPEAT):
    times, res = [], None
    for _ in range(n):
        t = time.perf_counter()
        res = f()
        times.append(time.perf_counter() - t)
    return min(times), res


def rows(binary, data):
    """The extra rows: [name, table, oceanql s, peer s, speed-up, Mcells/s, MB/s]."""
    return swath_rows(binary, data) + multiyear_rows(binary, data) + matchup_rows(binary, data)


# ---------------------------------------------------------------------------------------------
# Swaths: GHRSST L2P-like files (2-D lat/lon, packed int16 SST, quality_level, sst_dtime), each a
# band of an orbit; OceanQL's swath table against the loop a notebook runs over the files.
# ---------------------------------------------------------------------------------------------
SWATHS, LINES, CELLS = 24, 2000, 1000
SWATH_BOX = dict(lat=(20.0, 30.0), lon=(-40.0, -30.0))
SWATH_QUERIES = {
    "swath full-scan mean, quality 5": (
        "SELECT avg(sea_surface_temperature) AS mean, count(sea_surface_temperature) AS n FROM swaths WHERE quality_level = 5",
        None,
    ),
    "swath box mean, quality 5 (20-30N, 40-30W)": (
        "SELECT avg(sea_surface_temperature) AS mean, count(sea_surface_temperature) AS n FROM swaths "
        "WHERE quality_level = 5 AND lat BETWEEN 20 AND 30 AND lon BETWEEN -40 AND -30",
        SWATH_BOX,
    ),
}


def make_swaths(folder):
    """Writes the swath files once (deterministic)."""
    if os.path.exists(os.path.join(folder, ".complete")):
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)
    j, i = np.meshgrid(np.arange(LINES), np.arange(CELLS), indexing="ij")
    t = j / (LINES - 1)
    for k in range(SWATHS):
        lat = (-75 + 150 * t + 0.01 * (i - CELLS / 2) * np.cos(np.pi * t)).astype(np.float32)
        lon = -180 + 15 * k + 25 * (i / CELLS - 0.5) + 40 * t
        lon = (((lon + 180) % 360) - 180).astype(np.float32)
        sst = 273.15 + 28 * np.cos(np.radians(lat)) + rng.normal(0, 0.3, lat.shape)
        raw = np.round((sst - 273.15) / 0.01).astype(np.int16)
        raw[rng.random(lat.shape) < 0.3] = -32768  # clouds
        ql = rng.integers(0, 6, lat.shape).astype(np.int8)
        dtime = np.round(j * 0.15 / 0.25).astype(np.int16)
        enc3 = dict(zlib=True, complevel=4, shuffle=True, chunksizes=(1, 256, 256))
        ds = xr.Dataset(
            {
                "lat": (("nj", "ni"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
                "lon": (("nj", "ni"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
                "sea_surface_temperature": (("time", "nj", "ni"), raw[None], {"units": "kelvin"}),
                "quality_level": (("time", "nj", "ni"), ql[None]),
                "sst_dtime": (("time", "nj", "ni"), dtime[None], {"units": "second"}),
            },
            coords={"time": ("time", np.array([1230768000 + 6000 * k], dtype=np.int32), {"standard_name": "time", "units": "seconds since 1981-01-01"})},
        )
        encoding = {
            "lat": dict(zlib=True, complevel=4, chunksizes=(256, 256)),
            "lon": dict(zlib=True, complevel=4, chunksizes=(256, 256)),
            "sea_surface_temperature": dict(enc3, _FillValue=np.int16(-32768), scale_factor=0.01, add_offset=273.15, dtype="int16"),
            "quality_level": dict(enc3, dtype="int8"),
            "sst_dtime": dict(enc3, scale_factor=0.25, dtype="int16"),
        }
        for v in ("sea_surface_temperature", "quality_level", "sst_dtime"):
            ds[v].encoding = {}
        ds["sea_surface_temperature"].values = np.where(raw == -32768, np.nan, raw * 0.01 + 273.15)[None]
        ds["sst_dtime"].values = (dtime * 0.25)[None]
        ds.to_netcdf(os.path.join(folder, f"swath_{k:02d}.nc"), encoding=encoding)
    open(os.path.join(folder, ".complete"), "w").close()


def xr_swaths(files, box):
    """What a notebook does: open each file, mask, accumulate."""
    n, total = 0, 0.0
    for f in files:
        with xr.open_dataset(f) as ds:
            sst = ds.sea_surface_temperature.isel(time=0).values
            m = (ds.quality_level.isel(time=0).values == 5) & ~np.isnan(sst)
            if box:
                lat, lon = ds.lat.values, ds.lon.values
                m &= (lat >= box["lat"][0]) & (lat <= box["lat"][1]) & (lon >= box["lon"][0]) & (lon <= box["lon"][1])
            n += int(m.sum())
            total += float(sst[m].astype(np.float64).sum())
    return total / n, n


NOTES = []


def build_index(binary, ddl, what):
    """Runs `oceanql index` once (from scratch) and notes how long it took."""
    t = time.perf_counter()
    out = subprocess.run([binary, "index", "-c", ddl], check=True, capture_output=True, text=True).stdout
    NOTES.append(f"- `oceanql index` {what}: {time.perf_counter() - t:.1f} s ({out.strip()})")


def swath_rows(binary, data):
    folder = os.path.join(data, "swaths")
    make_swaths(folder)
    files = sorted(glob.glob(os.path.join(folder, "*.nc")))
    ddl = f"CREATE EXTERNAL TABLE swaths STORED AS NETCDF LOCATION '{folder}/*.nc' OPTIONS ('index' 'none')"
    indexed = f"CREATE EXTERNAL TABLE swaths STORED AS NETCDF LOCATION '{folder}/*.nc' OPTIONS ('index' '{folder}/.bench-index')"
    subprocess.run(["rm", "-rf", f"{folder}/.bench-index"], check=True)
    build_index(binary, indexed, f"of the {SWATHS} swaths")
    rows = []
    for name, (sql, box) in SWATH_QUERIES.items():
        t_xr, want = best(lambda: xr_swaths(files, box))
        for label, setup in [("no index", ddl), ("indexed", indexed)]:
            oq = [oceanql(binary, data, sql, setup) for _ in range(REPEAT)]
            t_oq = min(t for t, _ in oq)
            check(name, "swaths", parse(oq[0][1]), want)
            n = SWATHS * LINES * CELLS
            rows.append([name, f"swaths (NetCDF-4 L2P, {label})", f"{t_oq:.2f}", f"{t_xr:.2f}", f"{t_xr / t_oq:.1f}x",
                         f"{n / t_oq / 1e6:.1f}", f"{n * 2 / t_oq / 1e6:.1f}"])
    return rows


# ---------------------------------------------------------------------------------------------
# A multi-year gridded product (3 years of daily 1-degree global SST, int16 packed, chunks of
# 30 x 30 cells): area-averaged monthly time series, the NEXUS use case, answered from the
# index's tile statistics (tiles wholly inside the box) plus the data of the edge tiles.
# ---------------------------------------------------------------------------------------------
MY_DAYS = 1095
MY_QUERIES = {
    # lat/lon ranges; the first box is made of whole 30-degree tiles, the second cuts tiles.
    "monthly box mean, 3 years (0-60N, 180-120W: whole tiles)": ((0.0, 60.0), (-180.0, -120.0)),
    "monthly box mean, 3 years (10S-60N, 170-100W: edge tiles read)": ((-10.0, 60.0), (-170.0, -100.0)),
}


def make_multiyear(folder):
    if os.path.exists(os.path.join(folder, ".complete")):
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(11)
    lat = np.arange(-89.5, 90, 1.0)
    lon = np.arange(-179.5, 180, 1.0)
    base = 15 + 13 * np.cos(np.radians(lat))[:, None] + 0 * lon[None, :]
    land = (np.abs(lat[:, None] - 40) < 8) & (np.abs(lon[None, :] + 100) < 15)
    for d in range(MY_DAYS):
        sst = base + 3 * np.sin(2 * np.pi * d / 365.25) + rng.normal(0, 0.4, base.shape)
        raw = np.round(sst / 0.01).astype(np.int16)
        raw[land] = -32768
        ds = xr.Dataset(
            {"sst": (("time", "lat", "lon"), raw[None], {"units": "degC", "scale_factor": 0.01, "_FillValue": np.int16(-32768)})},
            coords={
                "time": ("time", np.array([float(d)]), {"units": "days since 2021-01-01", "standard_name": "time"}),
                "lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east"}),
            },
        )
        enc = {"sst": dict(zlib=True, complevel=1, chunksizes=(1, 30, 30))}
        ds.to_netcdf(os.path.join(folder, f"sst_{d:04d}.nc"), encoding=enc)
    open(os.path.join(folder, ".complete"), "w").close()


def xr_monthly(files, lat, lon):
    ds = xr.open_mfdataset(files, combine="by_coords", parallel=False, chunks={})
    sub = ds.sst.sel(lat=slice(*lat), lon=slice(*lon))
    total = sub.sum(["lat", "lon"]).resample(time="MS").sum()
    count = sub.count(["lat", "lon"]).resample(time="MS").sum()
    return (total / count).compute().values


def multiyear_rows(binary, data):
    folder = os.path.join(data, "multiyear")
    make_multiyear(folder)
    files = sorted(glob.glob(os.path.join(folder, "*.nc")))
    plain = f"CREATE EXTERNAL TABLE my STORED AS NETCDF LOCATION '{folder}/*.nc' OPTIONS ('index' 'none')"
    indexed = f"CREATE EXTERNAL TABLE my STORED AS NETCDF LOCATION '{folder}/*.nc' OPTIONS ('index' '{folder}/.bench-index')"
    subprocess.run(["rm", "-rf", f"{folder}/.bench-index"], check=True)
    build_index(binary, indexed, f"of the {MY_DAYS} daily grids")
    rows = []
    for name, (lat, lon) in MY_QUERIES.items():
        sql = (f"SELECT date_trunc('month', time) AS m, avg(sst) AS mean FROM my WHERE lat BETWEEN {lat[0]} AND {lat[1]} "
               f"AND lon BETWEEN {lon[0]} AND {lon[1]} GROUP BY 1 ORDER BY 1")
        t_xr, want = best(lambda: xr_monthly(files, lat, lon))
        for label, setup in [("no index", plain), ("tile statistics", indexed)]:
            oq = [oceanql(binary, data, sql, setup) for _ in range(REPEAT)]
            t_oq = min(t for t, _ in oq)
            check(name, "my", parse(oq[0][1]), want)
            n = MY_DAYS * 180 * 360
            rows.append([name, f"3-year daily grid (NetCDF-4, {label})", f"{t_oq:.2f}", f"{t_xr:.2f}", f"{t_xr / t_oq:.1f}x",
                         f"{n / t_oq / 1e6:.1f}", f"{n * 2 / t_oq / 1e6:.1f}"])
    return rows


def check(name, table, got, want):
    if isinstance(want, tuple):
        got_mean, got_n = got[0][0], int(got[0][1])
        ok = abs(got_mean - want[0]) <= 1e-6 * abs(want[0]) and got_n == want[1]
    else:
        g = np.array([r for r in got], dtype=float)
        ok = g.shape == want.shape and np.allclose(g, want, rtol=1e-6, equal_nan=True)
    if not ok:
        sys.exit(f"answers differ for {name} on {table}: oceanql {got[:3]}... xarray {want if isinstance(want, tuple) else want[:3]}...")


# ---------------------------------------------------------------------------------------------
# Match-ups: the 1,000,000 demo drifter fixes against 1,000 small L2 granules spread over 2023
# (200 lines x 100 pixels in 50 x 50 chunks and tiles, 2 minutes each), within 10 km and 1 h: OceanQL's colocate join
# against the loop a notebook runs (per granule: drifters in its time window, numpy distances).
# ---------------------------------------------------------------------------------------------
L2_GRANULES, L2_LINES, L2_CELLS = 1000, 200, 100


def make_l2(folder):
    if os.path.exists(os.path.join(folder, ".complete")):
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(5)
    j, i = np.meshgrid(np.arange(L2_LINES), np.arange(L2_CELLS), indexing="ij")
    for k in range(L2_GRANULES):
        lat0, lon0, h = rng.uniform(-60, 60), rng.uniform(-180, 180), rng.uniform(0, 2 * np.pi)
        along, across = 0.1 * (j - L2_LINES / 2), 0.1 * (i - L2_CELLS / 2)
        lat = lat0 + along * np.cos(h) - across * np.sin(h)
        lon = lon0 + (along * np.sin(h) + across * np.cos(h)) / np.cos(np.radians(lat0))
        lon = (lon + 180) % 360 - 180
        t0 = np.floor(rng.uniform(0, 365 * 86400 - 200))
        sst = (15 + 13 * np.cos(np.radians(lat)) + rng.normal(0, 0.3, lat.shape)).astype(np.float32)
        sst[rng.random(lat.shape) < 0.2] = np.nan
        ds = xr.Dataset(
            {
                "lat": (("nj", "ni"), lat.astype(np.float32), {"standard_name": "latitude", "units": "degrees_north"}),
                "lon": (("nj", "ni"), lon.astype(np.float32), {"standard_name": "longitude", "units": "degrees_east"}),
                "sst": (("nj", "ni"), sst, {"units": "degC"}),
            },
            coords={"time": ("nj", t0 + 0.6 * np.arange(L2_LINES), {"standard_name": "time", "units": "seconds since 2023-01-01"})},
        )
        enc = {v: dict(zlib=True, complevel=1, chunksizes=(50, 50)) for v in ("lat", "lon", "sst")}
        ds.to_netcdf(os.path.join(folder, f"l2_{k:04d}.nc"), encoding=enc)
    open(os.path.join(folder, ".complete"), "w").close()


def xr_matchups(files, drifters, radius_km=10.0, dt=3600.0):
    """Per granule: the drifter fixes in its time window, distances to every pixel with numpy."""
    t_d = drifters["t"].values
    n, total = 0, 0.0
    for f in files:
        with xr.open_dataset(f, decode_times=False) as ds:
            t = ds.time.values
            sel = (t_d >= t.min() - dt) & (t_d <= t.max() + dt)
            if not sel.any():
                continue
            lat, lon, sst = ds.lat.values.astype(float), ds.lon.values.astype(float), ds.sst.values.astype(float)
            tt = np.broadcast_to(t[:, None], lat.shape)
            d = drifters[sel]
            for la, lo, td, sd in zip(d["lat"].values, d["lon"].values, d["t"].values, d["sst"].values):
                p1, p2 = np.radians(la), np.radians(lat)
                a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon - lo) / 2) ** 2
                km = 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(a, 1)))
                m = (km <= radius_km) & (np.abs(tt - td) <= dt) & ~np.isnan(sst)
                n += int(m.sum())
                total += float((sst[m] - sd).sum())
    return total / n, n


def matchup_rows(binary, data):
    import pyarrow.parquet as pq

    folder = os.path.join(data, "l2")
    make_l2(folder)
    files = sorted(glob.glob(os.path.join(folder, "*.nc")))
    import pandas as pd

    d = pq.read_table(os.path.join(data, "drifters.parquet")).to_pandas()
    d["t"] = (d["time"].dt.tz_convert(None) - pd.Timestamp("2023-01-01")).dt.total_seconds()
    drifters = f"CREATE EXTERNAL TABLE drifters STORED AS PARQUET LOCATION '{data}/drifters.parquet'"
    l2 = (f"CREATE EXTERNAL TABLE l2 STORED AS NETCDF LOCATION '{folder}/*.nc' "
          f"OPTIONS ('index' '{folder}/.bench-index', 'tile_size' '50x50')")
    subprocess.run(["rm", "-rf", f"{folder}/.bench-index"], check=True)
    build_index(binary, l2, f"of the {L2_GRANULES} L2 granules")
    sql = ("SELECT avg(s.sst - d.sst) AS mean, count(*) AS n FROM drifters d JOIN l2 s "
           "ON colocate(d.lat, d.lon, d.time, s.lat, s.lon, s.time, 10, 3600) WHERE s.sst IS NOT NULL")
    t_xr, want = best(lambda: xr_matchups(files, d))
    oq = [oceanql(binary, data, sql, drifters + ";" + l2) for _ in range(REPEAT)]
    t_oq = min(t for t, _ in oq)
    check("match-ups", "l2", parse(oq[0][1]), want)
    explain = subprocess.run([binary, "-q", "--format", "csv", "-c", drifters + ";" + l2, "-c", "EXPLAIN ANALYZE " + sql],
                             check=True, capture_output=True, text=True).stdout
    read = sum(float(x[:-1]) * {"K": 1e3, "M": 1e6, "G": 1e9}.get(x[-1], 1) if x[-1] in "KMG" else float(x)
               for x in __import__("re").findall(r"bytes_read=([0-9.]+ ?[KMG]?)", explain.replace(" ", "")))
    granules = __import__("re").findall(r"granules_read=([0-9.]+ ?K?)", explain.replace(" ", ""))
    size = sum(os.path.getsize(f) for f in files)
    NOTES.append(f"- match-ups: {want[1]} pairs; the L2 scan read {read / 1e6:.1f} MB of {size / 1e6:.0f} MB "
                 f"({100 * read / size:.1f} %), granules_read={granules}")
    n = L2_GRANULES * L2_LINES * L2_CELLS
    return [["match-ups, 1 M drifter fixes x 1,000 L2 granules (10 km, 1 h)", "drifters (Parquet) JOIN l2 (NetCDF-4, indexed)",
             f"{t_oq:.2f}", f"{t_xr:.2f}", f"{t_xr / t_oq:.1f}x", f"{n / t_oq / 1e6:.1f}", ""]]
