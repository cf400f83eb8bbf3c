"""OceanQL vs xarray+dask on the demo SST product: same queries, same machine, one run.

Each query runs warm (the OS page cache holds the files after a first run),
best of 3, end to end: OceanQL as the `oceanql` binary (process start, catalog
registration, query); xarray from open_mfdataset/open_zarr to the computed result.
Answers are compared (relative 1e-6) before any time is reported.
"""
import argparse, glob, os, platform, subprocess, sys, time

import numpy as np
import xarray as xr

BOX = dict(lat=(45.0, 60.0), lon=(-150.0, -120.0))

QUERIES = {
    "full-scan global mean": {
        "sql": "SELECT avg(sst) AS mean, count(sst) AS n FROM {t}",
        "xr": lambda ds: (float(ds.sst.mean().compute()), int(ds.sst.count().compute())),
    },
    "box daily mean (45-60N, 150-120W)": {
        "sql": "SELECT time, avg(sst) AS mean FROM {t} WHERE lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120 GROUP BY time ORDER BY time",
        "xr": lambda ds: box(ds).mean(["lat", "lon"]).compute().values,
    },
}


def box(ds):
    lon = ds.lon
    lo, hi = BOX["lon"]
    if float(lon.max()) > 180:  # stored 0..360
        lo, hi = lo % 360, hi % 360
    return ds.sst.sel(lat=slice(*BOX["lat"]), lon=slice(lo, hi))


def oceanql(binary, data, sql):
    cmd = [binary, "-q", "--format", "csv", "-f", os.path.join(data, "catalog.sql"), "-c", sql]
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def parse(out):
    lines = out.strip().splitlines()[1:]
    rows = [l.split(",") for l in lines]
    vals = [float(r[-1]) if len(r) == 2 and ":" in r[0] else [float(x) for x in r] for r in rows]
    return vals


REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def best(f, n=REPEAT):
    times, res = [], None
    for _ in range(n):
        t = time.perf_counter()
        res = f()
        times.append(time.perf_counter() - t)
    return min(times), res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--oceanql", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    nc_files = sorted(glob.glob(os.path.join(a.data, "sst_nc", "*.nc")))
    opens = {
        "sst": lambda: xr.open_mfdataset(nc_files, combine="by_coords", parallel=False, chunks={}),
        "sst_zarr": lambda: xr.open_zarr(os.path.join(a.data, "sst.zarr"), consolidated=False),
    }
    probe = opens["sst"]()
    cells = probe.sst.size
    rows = [["query", "table", "oceanql s", "xarray+dask s", "speed-up", "oceanql Mcells/s", "oceanql MB/s decoded"]]
    for name, q in QUERIES.items():
        for table, open_ in opens.items():
            sql = q["sql"].format(t=table)
            oq = []
            for _ in range(REPEAT):
                oq.append(oceanql(a.oceanql, a.data, sql))
            t_oq = min(t for t, _ in oq)
            got = parse(oq[0][1])
            t_xr, want = best(lambda: q["xr"](open_()))
            check(name, table, got, want)
            n = cells if "full" in name else box(probe).size
            rows.append([name, table, f"{t_oq:.2f}", f"{t_xr:.2f}", f"{t_xr / t_oq:.1f}x", f"{n / t_oq / 1e6:.1f}", f"{n * 2 / t_oq / 1e6:.1f}"])
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, xarray {xr.__version__}")
    print(f"Data: {a.data} ({cells:,} cells of int16 sst)\n")
    for i, r in enumerate(rows):
        print("| " + " | ".join(r) + " |")
        if i == 0:
            print("|" + "---|" * len(r))


def check(name, table, got, want):
    if isinstance(want, tuple):
        got_mean, got_n = got[0][0], int(got[0][1])
        ok = abs(got_mean - want[0]) <= 1e-6 * abs(want[0]) and got_n == want[1]
    else:
        g = np.array([r for r in got], dtype=float)
        ok = g.shape == want.shape and np.allclose(g, want, rtol=1e-6, equal_nan=True)
    if not ok:
        sys.exit(f"answers differ for {name} on {table}: oceanql {got[:3]}... xarray {want if isinstance(want, tuple) else want[:3]}...")


if __name__ == "__main__":
    main()
