"""OceanQL against its peers on the demo SST product, one machine, one run (tests/bench/run.sh).

Engines (each one skipped, with a note, when it is not installed):
  oceanql nc / zarr  the release `oceanql` binary, in one process as the Python engines are timed
                     (start-up and imports not timed): registration of the tables the query names
                     (sst or sst_zarr, drifters), query, CSV out; also end to end, a process per run
  xarray nc / zarr   xarray + dask: open_mfdataset(sst_nc/*.nc) / open_zarr(sst.zarr) to the
                     computed answer; drifters with pandas (pyarrow) + numpy
  xarray-sql         xarray_sql.Context over open_zarr(sst.zarr) (its DataFusion), drifters Parquet
  duckdb             DuckDB on sst_long.parquet and drifters.parquet (+ the spatial extension)
  sedonadb           SedonaDB on the same Parquet files
Each engine runs each query warm (the page cache holds the files after the first run), best of
REPEAT, in a worker process (Python imports not timed; opening the data is), and its answer is
compared with xarray's (or the first engine's) before any time is reported.

The queries (--quick: the same on the default demo's 1° grid; the 0.25° grid: cell centres at ±0.125 + k/4, lon in [-180, 180); "the box" is
45 <= lat <= 60 and -150 <= lon <= -120 on cell centres; averages are over non-NULL values):
  Q1 for each of the 365 days, the mean sst of the box's cells (365 rows)
  Q2 for each 1° cell [floor(lat), floor(lat)+1) x [floor(lon), ...), the mean of all its
     non-NULL values over all days (pooled, not a mean of means): floor(lat), floor(lon), mean
  Q3 per-cell climatology = the mean of each box cell over the days of each calendar month of
     this one year; for each day, the box mean of sst minus its cell's climatology of that
     month (365 rows; a monthly mean of this series is 0 by construction, so the daily series
     is what is compared)
  Q4 drifter fixes inside the box, each matched with the 0.25° cell holding it (nearest cell
     centre: floor(x / 0.25) * 0.25 + 0.125, OceanQL's grid_snap(x, 0.25)) on the fix's UTC day, where that cell is in the box and
     has a value: count, mean(drifter - grid), mean((drifter - grid)^2)
  Q5 drifter fixes of August 2023 within 100 km (haversine, R = 6371.0088 km) of 52N 133W:
     count, mean sst
  Q6 the global mean and count of sst over all cells and days (raw decode throughput: MB/s of
     int16 decoded = all cells x 2 bytes / seconds), and the plain Rust decode loop
     (connectors/examples/raw_decode.rs: libnetcdf, one thread) as the limit
"""
import argparse, glob, json, os, platform, subprocess, sys, time

BOX = "lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120"
POINT = (52.0, -133.0)  # Q5: lat, lon (a busy place for drifters in August)
AUGUST = ("2023-08-01T00:00:00Z", "2023-09-01T00:00:00Z")
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
# A worker stops repeating once it has spent this long; the run is cut after TIMEOUT.
BUDGET = float(os.environ.get("BENCH_BUDGET", "120"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))

# SQL shared by the SQL engines: {sst} is the grid table, {snap_lat}/{snap_lon} the cell centre.
SQL = {
    "Q1": f"SELECT time, avg(sst) AS mean FROM {{sst}} WHERE {BOX} GROUP BY time ORDER BY time",
    "Q2": "SELECT floor(lat) AS lat1, floor(lon) AS lon1, avg(sst) AS mean FROM {sst} "
          "WHERE sst IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
    "Q3": f"WITH b AS (SELECT time, lat, lon, sst FROM {{sst}} WHERE {BOX} AND sst IS NOT NULL), "
          "c AS (SELECT date_part('month', time) AS m, lat, lon, avg(sst) AS clim FROM b GROUP BY 1, 2, 3) "
          "SELECT b.time, avg(b.sst - c.clim) AS anomaly FROM b JOIN c "
          "ON date_part('month', b.time) = c.m AND b.lat = c.lat AND b.lon = c.lon "
          "GROUP BY b.time ORDER BY b.time",
    "Q4": "SELECT count(*) AS n, avg(d.sst - s.sst) AS bias, avg((d.sst - s.sst) * (d.sst - s.sst)) AS msd "
          "FROM drifters d JOIN {sst} s ON s.time = date_trunc('day', d.time) "
          "AND s.lat = {snap_lat} AND s.lon = {snap_lon} "
          f"WHERE d.{BOX.replace('AND lon', 'AND d.lon')} AND s.{BOX.replace('AND lon', 'AND s.lon')} "
          "AND s.sst IS NOT NULL",
    "Q5": "SELECT count(*) AS n, avg(sst) AS mean FROM drifters "
          f"WHERE time >= '{AUGUST[0]}' AND time < '{AUGUST[1]}' AND {{within}}",
    "Q6": "SELECT avg(sst) AS mean, count(sst) AS n FROM {sst}",
}
TITLES = {
    "Q1": "Q1 box daily mean (45-60N, 150-120W), 365 days",
    "Q2": "Q2 time-mean map binned to 1°",
    "Q3": "Q3 box daily anomaly vs per-cell monthly climatology",
    "Q4": "Q4 drifter match-up with the 0.25° cell of the same day (box)",
    "Q5": "Q5 drifters within 100 km of 52N 133W, August: count, mean",
    "Q6": "Q6 full-scan global mean",
}
# Columns compared exactly (counts); the others to relative or absolute 1e-6.
EXACT = {"Q2": [0, 1], "Q4": [0], "Q5": [0], "Q6": [1]}
ENGINES = ["oceanql nc", "oceanql zarr", "oceanql nc+index", "oceanql zarr+index", "xarray nc", "xarray zarr", "xarray-sql", "duckdb", "sedonadb"]


def res():
    """The grid spacing in degrees: 0.25 (benchmark) or 1 (--quick)."""
    return float(os.environ["BENCH_RES"])


def oceanql_sql(q, table):
    snap = {"snap_lat": f"grid_snap(d.lat, {res()})", "snap_lon": f"grid_snap(d.lon, {res()})"}
    return SQL[q].format(sst=table, within=f"haversine_km(lat, lon, {POINT[0]}, {POINT[1]}) <= 100", **snap)


def snap_sql():
    r = res()
    return {f"snap_{c}": f"floor(d.{c} / {r}) * {r} + {r / 2}" for c in ("lat", "lon")}


def parquet_sql(q, within):
    return SQL[q].format(sst="sst_long", within=within, **snap_sql())


# --------------------------------------------------------------------------------------------
# Engines, run in worker processes: each returns a function (query -> 2-D list of floats).
# --------------------------------------------------------------------------------------------
def numeric_rows(rows):
    """Keeps the numeric columns (drops time), NULL -> NaN."""
    out = []
    for r in rows:
        vals = []
        for v in r:
            if v is None or v == "":
                vals.append(float("nan"))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                vals.append(float(v))
            elif isinstance(v, str):
                try:
                    vals.append(float(v))
                except ValueError:
                    pass
        out.append(vals)
    return out


def catalog_ddl(data, index):
    """The catalog's CREATE statements by table; `index` False: with OPTIONS ('index' 'none')."""
    catalog = open(os.path.join(data, "catalog.sql")).read().splitlines()
    ddl = {l.split()[3]: l for l in catalog if l.startswith("CREATE EXTERNAL TABLE")}
    if not index:
        ddl = {t: l.rstrip(";") + (" OPTIONS ('index' 'none');" if "PARQUET" not in l else ";") for t, l in ddl.items()}
    return ddl


def build_index(a):
    """`oceanql index` of sst and sst_zarr (their .oceanql-index/), from scratch; returns a note."""
    ddl = catalog_ddl(a.data, True)
    for d in [os.path.join(a.data, "sst_nc", ".oceanql-index"), os.path.join(a.data, ".oceanql-index")]:
        subprocess.run(["rm", "-rf", d], check=True)
    t = time.perf_counter()
    out = subprocess.run([a.oceanql, "index", "-c", ddl["sst"] + ddl["sst_zarr"]], check=True, capture_output=True,
                         text=True).stdout
    return f"- `oceanql index` of sst and sst_zarr, once before the run: {time.perf_counter() - t:.1f} s ({' '.join(out.split())})"


def engine_oceanql(a, kind):
    """OceanQL as the other engines are timed: in one running process (`oceanql -f` with
    \\timing), each run registering the query's tables afresh (CREATE EXTERNAL TABLE, timed)
    and running the query (timed, its CSV written), then dropping the tables (not timed).
    run.process(q) is the same end to end in a new process per run (start-up included)."""
    ddl = catalog_ddl(a.data, kind.endswith("+index"))
    table = "sst" if kind.startswith("nc") else "sst_zarr"

    def setup(q):
        return "".join(ddl[t] for t in {"Q4": [table, "drifters"], "Q5": ["drifters"]}.get(q, [table]))

    def warm(q, repeat):
        tables = [l.split()[3] for l in setup(q).split(";") if l.strip()]
        script = "\\timing\n" + "".join(
            setup(q) + "\n" + oceanql_sql(q, table) + ";\n" + "".join(f"DROP TABLE {t};\n" for t in tables)
            for _ in range(repeat))
        path = os.path.join(a.data, f".bench-{os.getpid()}.sql")
        with open(path, "w") as f:
            f.write(script)
        try:
            p = subprocess.run([a.oceanql, "-q", "--format", "csv", "-f", path], check=True, capture_output=True, text=True)
        finally:
            os.remove(path)
        spent = [float(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("Time: ")]
        per_run = 2 * len(tables) + 1  # CREATEs, the query, DROPs
        if len(spent) != per_run * repeat:
            raise RuntimeError(f"oceanql: {len(spent)} timings for {repeat} runs: {p.stderr[-300:]}")
        times = [sum(spent[r * per_run:r * per_run + len(tables) + 1]) for r in range(repeat)]
        lines = p.stdout.strip().splitlines()
        last = max(i for i, l in enumerate(lines) if l == lines[0])
        return times, numeric_rows([l.split(",") for l in lines[last + 1:]])

    def process(q):
        cmd = [a.oceanql, "-q", "--format", "csv", "-c", setup(q), "-c", oceanql_sql(q, table)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return numeric_rows([l.split(",") for l in out.strip().splitlines()[1:]])

    warm.process = process
    return warm


def open_grid(a, kind):
    import xarray as xr

    if kind == "nc":
        files = sorted(glob.glob(os.path.join(a.data, "sst_nc", "*.nc")))
        ds = xr.open_mfdataset(files, combine="by_coords", data_vars="minimal", coords="minimal",
                               compat="override", parallel=False, chunks={})
    else:
        ds = xr.open_zarr(os.path.join(a.data, "sst.zarr"), consolidated=False)
    if float(ds.lon.max()) > 180:  # stored 0..360: roll to [-180, 180) (whole chunks)
        n = ds.sizes["lon"] // 2
        ds = ds.roll(lon=n, roll_coords=True)
        ds = ds.assign_coords(lon=((ds.lon + 180) % 360) - 180)
    return ds


def read_drifters(a, filters=None):
    import pandas as pd

    d = pd.read_parquet(os.path.join(a.data, "drifters.parquet"), columns=["time", "lat", "lon", "sst"],
                        filters=filters)
    d["day"] = (d["time"] - pd.Timestamp("2023-01-01", tz="UTC")) // pd.Timedelta("1D")
    return d


def haversine_km(lat1, lon1, lat2, lon2):
    import numpy as np

    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(h, 1)))


def engine_xarray(a, kind):
    import dask
    import numpy as np
    import pandas as pd

    def box(ds):
        return ds.sst.sel(lat=slice(45, 60), lon=slice(-150, -120))

    def q1():
        return box(open_grid(a, kind)).mean(["lat", "lon"]).compute().values[:, None]

    def q2():
        sst = open_grid(a, kind).sst
        k = round(1 / res())
        s, n = sst.sum("time").coarsen(lat=k, lon=k).sum(), sst.count("time").coarsen(lat=k, lon=k).sum()
        s, n = dask.compute(s, n)
        la, lo = np.meshgrid(np.floor(s.lat.values), np.floor(s.lon.values), indexing="ij")
        keep = n.values > 0
        return np.column_stack([la[keep], lo[keep], s.values[keep] / n.values[keep]])

    def q3():
        b = box(open_grid(a, kind))
        clim = b.groupby("time.month").mean("time")
        return (b.groupby("time.month") - clim).mean(["lat", "lon"]).compute().values[:, None]

    def q4():
        b = box(open_grid(a, kind)).compute()
        d = read_drifters(a)
        d = d[(d.lat >= 45) & (d.lat <= 60) & (d.lon >= -150) & (d.lon <= -120)]
        r = res()
        clat, clon = np.floor(d.lat / r) * r + r / 2, np.floor(d.lon / r) * r + r / 2
        inbox = (clat >= 45) & (clat <= 60) & (clon >= -150) & (clon <= -120)
        d, clat, clon = d[inbox], clat[inbox], clon[inbox]
        i = np.rint((clat.values - b.lat.values[0]) / r).astype(int)
        j = np.rint((clon.values - b.lon.values[0]) / r).astype(int)
        diff = d.sst.values - b.values[d.day.values, i, j]
        diff = diff[~np.isnan(diff)]
        return [[len(diff), diff.mean(), (diff * diff).mean()]]

    def q5():
        t0, t1 = (pd.Timestamp(t) for t in AUGUST)
        d = read_drifters(a, filters=[("time", ">=", t0), ("time", "<", t1)])
        km = haversine_km(d.lat.values, d.lon.values, *POINT)
        sel = d.sst.values[km <= 100]
        return [[len(sel), sel.mean()]]

    def q6():
        sst = open_grid(a, kind).sst
        mean, n = dask.compute(sst.mean(), sst.count())
        return [[float(mean), int(n)]]

    return dict(Q1=q1, Q2=q2, Q3=q3, Q4=q4, Q5=q5, Q6=q6)


def engine_xarray_sql(a):
    import xarray_sql as xql

    def run(q):
        if q == "Q5":
            return None  # no grid in Q5: that would be plain DataFusion on Parquet
        ctx = xql.Context()
        ctx.from_dataset("sst", open_grid(a, "zarr"), chunks={"time": 1})
        if q == "Q4":
            ctx.register_parquet("drifters", os.path.join(a.data, "drifters.parquet"))
        sql = SQL[q].format(sst="sst", **snap_sql())
        return numeric_rows(rows_of(ctx.sql(sql).to_arrow_table()))

    return run


def spatial_extension():
    import duckdb_extension_spatial

    found = glob.glob(os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions", "*",
                                   "spatial.duckdb_extension"))
    return found[0]


def engine_duckdb(a):
    import duckdb

    try:
        ext = spatial_extension()
    except ImportError:
        ext = None

    def run(q):
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW sst_long AS SELECT * FROM read_parquet('{a.data}/sst_long.parquet')")
        con.execute(f"CREATE VIEW drifters AS SELECT * FROM read_parquet('{a.data}/drifters.parquet')")
        if ext:
            con.execute(f"LOAD '{ext}'")
            # DuckDB's ST_Distance_Sphere takes points as (lat, lon).
            within = f"ST_Distance_Sphere(ST_Point(lat, lon), ST_Point({POINT[0]}, {POINT[1]})) <= 100000"
        else:
            within = (f"2 * 6371.0088 * asin(sqrt(power(sin(radians(lat - {POINT[0]}) / 2), 2) + cos(radians(lat)) "
                      f"* cos(radians({POINT[0]})) * power(sin(radians(lon - {POINT[1]}) / 2), 2))) <= 100")
        return numeric_rows(con.execute(parquet_sql(q, within)).fetchall())

    return run


def engine_sedonadb(a):
    import warnings

    warnings.filterwarnings("ignore")
    import sedonadb

    def run(q):
        sd = sedonadb.connect()
        sd.read_parquet(f"{a.data}/sst_long.parquet").to_view("sst_long")
        sd.read_parquet(f"{a.data}/drifters.parquet").to_view("drifters")
        # Geography (spherical) distance, metres.
        within = f"ST_DWithin(ST_GeogPoint(lon, lat), ST_GeogPoint({POINT[1]}, {POINT[0]}), 100000)"
        return numeric_rows(rows_of(sd.sql(parquet_sql(q, within)).to_arrow_table()))

    return run


def make_engine(a, engine):
    if engine.startswith("oceanql"):
        return engine_oceanql(a, engine.split()[1])
    if engine.startswith("xarray "):
        fns = engine_xarray(a, engine.split()[1])
        return lambda q: fns[q]()
    return {"xarray-sql": engine_xarray_sql, "duckdb": engine_duckdb, "sedonadb": engine_sedonadb}[engine](a)


def worker(a):
    """Runs one engine on one query, prints {"times": [...], "result": [[...]]} or {"skip": why};
    OceanQL also {"process": [...]}, its times end to end in a new process per run."""
    try:
        run = make_engine(a, a.engine)
    except ImportError as e:
        print(json.dumps({"skip": f"not installed ({e.name})"}))
        return
    if hasattr(run, "process"):
        times, result = run(a.query, REPEAT)
        process = timed(lambda: run.process(a.query))[0]
        print(json.dumps({"times": times, "result": result, "process": process}))
        return
    times, result = timed(lambda: run(a.query))
    if result is None:
        print(json.dumps({"skip": "cannot express it"}))
        return
    rows = [[float(x) for x in r] for r in (result.tolist() if hasattr(result, "tolist") else result)]
    print(json.dumps({"times": times, "result": rows}))


def timed(run):
    """Times `run()` REPEAT times (fewer once BUDGET is spent); (times, the last result)."""
    times, result = [], None
    while len(times) < REPEAT and sum(times) < BUDGET:
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
        if result is None:
            break
    return times, result


def rows_of(table):
    return zip(*[c.to_pylist() for c in table.columns])


# --------------------------------------------------------------------------------------------
# The driver: runs every (query, engine) in a worker, compares answers, prints the table.
# --------------------------------------------------------------------------------------------
def run_worker(a, engine, q):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--engine", engine, "--query", q, "--data", a.data,
           "--oceanql", a.oceanql]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"skip": f"> {TIMEOUT:.0f} s (stopped)"}
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"skip": f"failed: {last[:200]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def same(q, got, want):
    import numpy as np

    g, w = np.array(got, dtype=float), np.array(want, dtype=float)
    if g.shape != w.shape:
        return f"shape {g.shape} vs {w.shape}"
    exact = EXACT.get(q, [])
    for c in range(w.shape[1]):
        if c in exact:
            ok = np.array_equal(g[:, c], w[:, c], equal_nan=True)
        else:
            ok = np.allclose(g[:, c], w[:, c], rtol=1e-6, atol=1e-6, equal_nan=True)
        if not ok:
            k = int(np.argmax(~np.isclose(g[:, c], w[:, c], rtol=1e-6, atol=1e-6, equal_nan=True)))
            return f"column {c} row {k}: {g[k, c]!r} vs {w[k, c]!r}"
    return None


def raw_decode(a):
    out = subprocess.run([a.raw_decode, os.path.join(a.data, "sst_nc")], check=True, capture_output=True,
                         text=True).stdout
    runs = [json.loads(out)]
    for _ in range(REPEAT - 1):
        runs.append(json.loads(subprocess.run([a.raw_decode, os.path.join(a.data, "sst_nc")], check=True,
                                              capture_output=True, text=True).stdout))
    return min(runs, key=lambda r: r["seconds"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--oceanql", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--raw-decode")
    ap.add_argument("--load", default="", help="the machine's load average before the run (uptime)")
    ap.add_argument("--queries", default="Q1,Q2,Q3,Q4,Q5,Q6")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--extra", action="store_true", help="also the swath, multi-year and L2 match-up rows")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--engine")
    ap.add_argument("--query")
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    engines = a.engines.split(",")
    os.environ["BENCH_RES"] = str(grid_res(a.data))
    make_long(a.data)
    results, notes, failed = {}, [], False
    if any(e.endswith("+index") for e in engines):
        notes.append(build_index(a))
    for q in a.queries.split(","):
        want, ref = None, None
        for e in ["xarray nc"] + [e for e in engines if e != "xarray nc"]:
            if e not in engines:
                continue
            r = run_worker(a, e, q)
            print(f"{q} {e}: {r.get('skip') or ' '.join(f'{t:.2f}' for t in r['times'])}", file=sys.stderr)
            if "result" in r:
                if want is None:
                    want, ref = r["result"], e
                elif (why := same(q, r["result"], want)):
                    notes.append(f"- {q} {e} differs from {ref}: {why}")
                    r = {"skip": "WRONG ANSWER"}
                    failed = True
            results[q, e] = r
        if want is not None:
            notes.append(f"- {q}: {len(want)} row(s), first {fmt_row(want[0])}, all engines that ran agree with {ref}")
    raw = raw_decode(a) if a.raw_decode and "Q6" in a.queries else None
    print_table(a, engines, results, raw, notes)
    if a.extra:
        print_extra(a)
    sys.exit(1 if failed else 0)


def grid_cells(data):
    import netCDF4

    files = sorted(glob.glob(os.path.join(data, "sst_nc", "*.nc")))
    with netCDF4.Dataset(files[0]) as f:
        return f["sst"].size * len(files)


def grid_res(data):
    import netCDF4

    with netCDF4.Dataset(sorted(glob.glob(os.path.join(data, "sst_nc", "*.nc")))[0]) as f:
        lat = f["lat"][:2]
        return float(abs(lat[1] - lat[0]))


def make_long(data):
    """The long table for the Parquet engines, when the demo did not write it (the default-size
    demo of --quick): the same rows and layout as `oceanql demo --benchmark` writes."""
    path = os.path.join(data, "sst_long.parquet")
    if os.path.exists(path):
        return
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xarray as xr

    ds = xr.open_zarr(os.path.join(data, "sst.zarr"), consolidated=False)
    la, lo = np.meshgrid(ds.lat.values, ds.lon.values, indexing="ij")
    schema = pa.schema([("time", pa.timestamp("us", tz="UTC")), ("lat", pa.float64()), ("lon", pa.float64()),
                        ("sst", pa.float64())])
    with pq.ParquetWriter(path + ".tmp", schema, compression="snappy") as w:
        for k in range(ds.sizes["time"]):
            v = ds.sst.isel(time=k).values
            m = ~np.isnan(v)
            t = np.full(m.sum(), ds.time.values[k].astype("datetime64[us]"))
            w.write_table(pa.table([pa.array(t).cast(schema.field("time").type), la[m], lo[m], v[m]], schema=schema),
                          row_group_size=131072)
    os.rename(path + ".tmp", path)


def fmt_row(r):
    return "(" + ", ".join(f"{x:.6g}" for x in r) + ")"


def cell(r):
    return f"{min(r['times']):.2f}" if "times" in r else r["skip"]


def print_table(a, engines, results, raw, notes):
    import numpy as np

    cells = grid_cells(a.data)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before the run: {a.load}")
    print(f"Data: {a.data}; versions: {versions()}\n")
    head = ["query"] + engines + ["fastest peer", "OceanQL speed-up"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for q in TITLES:
        if not any((q, e) in results for e in engines):
            continue
        row = [TITLES[q]] + [cell(results[q, e]) if (q, e) in results else "" for e in engines]
        oq = [min(results[q, e]["times"]) for e in engines if e.startswith("oceanql") and "times" in results[q, e]]
        peers = [(min(results[q, e]["times"]), e) for e in engines
                 if not e.startswith("oceanql") and (q, e) in results and "times" in results[q, e]]
        if oq and peers:
            t, who = min(peers)
            row += [f"{who} {t:.2f}", f"**{t / min(oq):.1f}x**"]
        else:
            row += ["", ""]
        print("| " + " | ".join(row) + " |")
    if ("Q6", "oceanql nc") in results and "times" in results["Q6", "oceanql nc"]:
        mbs = {e: 2 * cells / min(results["Q6", e]["times"]) / 1e6 for e in engines
               if e.startswith(("oceanql", "xarray ")) and not e.endswith("+index") and "times" in results["Q6", e]}
        line = "Q6 decoded int16 MB/s: " + ", ".join(f"{e} {v:.0f}" for e, v in mbs.items())
        if raw:
            line += (f"; the limit, the plain Rust decode loop (libnetcdf, 1 thread, raw_decode.rs): "
                     f"{raw['mb_per_s']:.0f} MB/s ({raw['seconds']:.2f} s, mean {raw['sum'] * 0.01 / raw['valid']:.6f} "
                     f"over {raw['valid']} values)")
        print("\n" + line)
    oq = [e for e in engines if e.startswith("oceanql")]
    if any("process" in results.get((q, e), {}) for q in TITLES for e in oq):
        print("\nOceanQL end to end, a new `oceanql -c` process per run (start-up + registration + query, "
              "best of 3), for comparison with the in-process times above:\n")
        print("| query | " + " | ".join(oq) + " |")
        print("|" + "---|" * (len(oq) + 1))
        for q in TITLES:
            got = [results.get((q, e), {}).get("process") for e in oq]
            if any(got):
                print(f"| {q} | " + " | ".join(f"{min(t):.2f}" if t else "" for t in got) + " |")
    print()
    for n in notes:
        print(n)


def versions():
    from importlib.metadata import version, PackageNotFoundError

    out = []
    for p in ["xarray", "dask", "zarr", "netCDF4", "pyarrow", "xarray-sql", "datafusion", "duckdb",
              "duckdb-extension-spatial", "sedonadb"]:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} not installed")
    return ", ".join(out)


def print_extra(a):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import extra

    rows = [["query", "table", "oceanql s", "peer s", "speed-up", "oceanql Mcells/s", "oceanql MB/s decoded"]]
    rows += extra.rows(a.oceanql, a.data)
    print()
    for n in extra.NOTES:
        print(n)
    for i, r in enumerate(rows):
        print("| " + " | ".join(r) + " |")
        if i == 0:
            print("|" + "---|" * len(r))


if __name__ == "__main__":
    main()
