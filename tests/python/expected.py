"""Computes, with xarray, the answers OceanQL must give on the fixtures and on the real gridded files.

Usage: python expected.py FIXTURES_DIR REAL_DATA_DIR OUT.json

The reference is xarray's CF decoding (decode_cf defaults: _FillValue / missing_value masked,
scale_factor / add_offset applied, times decoded), then two documented differences of OceanQL:
  * valid_min / valid_max / valid_range are masked too (xarray leaves them alone), in stored units,
    unless min > max, which is ignored;
  * packed values are unpacked in float64 (xarray would use float32 when the attributes are float32),
    so that the comparison can be tight;
and longitudes are normalised to [-180, 180). Non-standard calendars (noleap) map a date to the same
year-month-day in UTC.

Output: {"products": [{"table", "ddl", "checks": [{"name", "sql", "expected", "tolerance"}]}]}
where `expected` is a list of rows (lists of numbers, strings or null) and `tolerance` is relative
(0 = exact; 1e-9 for float64 values, 1e-6 for float32 values).
"""

import datetime as dt
import json
import os
import sys
import warnings

import numpy as np
import xarray as xr

warnings.filterwarnings("ignore")

TOL_F64 = 1e-9
TOL_F32 = 1e-6
EPOCH = dt.datetime(1970, 1, 1)


# ---------------------------------------------------------------------------------------------
# Loading: xarray decoding, then OceanQL's documented extras.
# ---------------------------------------------------------------------------------------------
def open_raw(path):
    if path.endswith(".zarr"):
        return xr.open_zarr(path, decode_cf=False, consolidated=None).load()
    return xr.open_dataset(path, decode_cf=False).load()


def decode(raw):
    raw = raw.copy()
    for var in raw.variables.values():
        for key in ("scale_factor", "add_offset"):
            if key in var.attrs:
                var.attrs[key] = np.float64(var.attrs[key])
    ds = xr.decode_cf(raw)
    for name, var in raw.data_vars.items():
        lo, hi = var.attrs.get("valid_min"), var.attrs.get("valid_max")
        if "valid_range" in var.attrs:
            lo, hi = var.attrs["valid_range"][0], var.attrs["valid_range"][1]
        if lo is None and hi is None:
            continue
        if lo is not None and hi is not None and lo > hi:
            continue  # a nonsensical range (min > max) is ignored, as OceanQL documents
        bad = np.zeros(var.shape, dtype=bool)
        if lo is not None:
            bad |= var.values < lo
        if hi is not None:
            bad |= var.values > hi
        ds[name] = ds[name].where(~bad)
    return ds


def to_micros(value):
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    # cftime (noleap, ...): the same year-month-day-time in UTC
    d = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)
    return (d - EPOCH) // dt.timedelta(microseconds=1)


def iso(us):
    return (EPOCH + dt.timedelta(microseconds=int(us))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def norm_lon(lon):
    return ((np.asarray(lon, dtype=np.float64) + 180.0) % 360.0) - 180.0


class Product:
    """One table: decoded variables broadcast to (time, [depth], lat, lon), plus flat coordinates."""

    def __init__(self, table, location, fmt, paths, dims, variables=None):
        self.table, self.location, self.fmt = table, location, fmt
        tdim, zdim, ydim, xdim = dims
        parts = []
        for path in paths:
            raw = open_raw(path)
            ds = decode(raw)
            parts.append((raw, ds))
        ds0 = parts[0][1]
        names = variables or [
            n for n, v in ds0.data_vars.items()
            if ydim in v.dims and xdim in v.dims and set(v.dims) <= {tdim, zdim, ydim, xdim}
        ]
        self.vars = {}
        self.kinds = {}
        times, tidx, gran = [], [], []
        for k, (raw, ds) in enumerate(parts):
            if tdim is not None and tdim in ds.dims:
                t = [to_micros(v) for v in ds[tdim].values]
            else:
                t = [None]
            times += t
            tidx += list(range(len(t)))
            gran += [k] * len(t)
        self.times = times  # per time step across granules
        self.n_granules = len(paths)
        self.time_index = tidx
        self.lat = np.asarray(ds0[ydim].values, dtype=np.float64)
        self.lon = norm_lon(ds0[xdim].values)
        self.depth = np.asarray(ds0[zdim].values, dtype=np.float64) if zdim else None
        for name in names:
            blocks = []
            for raw, ds in parts:
                v = ds[name]
                order = [d for d in (tdim, zdim, ydim, xdim) if d is not None and d in ds.dims]
                full = v.transpose(*[d for d in order if d in v.dims])
                arr = np.asarray(full.values, dtype=np.float64)
                # broadcast missing axes (a static variable repeats over time)
                shape = [ds.sizes[d] for d in order]
                for ax, d in enumerate(order):
                    if d not in v.dims:
                        arr = np.expand_dims(arr, ax)
                arr = np.broadcast_to(arr, shape)
                if tdim is None or tdim not in ds.dims:
                    arr = arr[None]
                if zdim is None:
                    arr = arr[:, None]
                blocks.append(arr)
            self.vars[name] = np.concatenate(blocks, axis=0)  # (T, Z, Y, X)
            rv = parts[0][0][name]
            packed = "scale_factor" in rv.attrs or "add_offset" in rv.attrs
            if packed or rv.dtype == np.float64:
                self.kinds[name] = "f64"
            elif rv.dtype == np.float32:
                self.kinds[name] = "f32"
            else:
                self.kinds[name] = "int"
        self.checks = []

    # -- helpers --------------------------------------------------------------------------------
    def add(self, name, sql, rows, tol):
        self.checks.append({"name": f"{self.table}.{name}", "sql": sql, "expected": rows, "tolerance": tol})

    def tol(self, var):
        return {"f64": TOL_F64, "f32": TOL_F32, "int": 0}[self.kinds[var]]

    @staticmethod
    def num(x):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            return None
        return float(x)

    def agg_exact(self, var, x):
        """An aggregate of stored values: ints stay ints (exact), floats compare with tolerance."""
        x = self.num(x)
        if x is not None and self.kinds[var] == "int":
            return int(round(x))
        return x

    def select(self, var, t=None, lat=None, lon=None):
        """Masks (T, Z, Y, X) by time window / lat range / lon ranges (list of (lo, hi))."""
        a = self.vars[var]
        m = np.ones(a.shape, dtype=bool)
        if t is not None:
            tt = np.array([x is not None and t[0] <= x <= t[1] for x in self.times])
            m &= tt[:, None, None, None]
        if lat is not None:
            m &= ((self.lat >= lat[0]) & (self.lat <= lat[1]))[None, None, :, None]
        if lon is not None:
            lm = np.zeros(self.lon.shape, dtype=bool)
            for lo, hi in lon:
                lm |= (self.lon >= lo) & (self.lon <= hi)
            m &= lm[None, None, None, :]
        return a[m]

    def bounds(self, coord, f0, f1):
        """Bounds half-way between grid points that take the points from fraction f0 to f1 of the
        sorted axis (at least one point), so that no boundary sits on a coordinate."""
        c = np.sort(np.unique(coord))
        n = len(c)
        a = min(int(f0 * n), n - 1)
        b = max(a, min(int(np.ceil(f1 * n)) - 1, n - 1))
        half = self.spacing(coord) / 2
        lo = (c[a - 1] + c[a]) / 2 if a > 0 else c[a] - half
        hi = (c[b] + c[b + 1]) / 2 if b + 1 < n else c[b] + half
        return float(lo), float(hi)

    def spacing(self, coord):
        c = np.sort(np.unique(coord))
        return float(np.min(np.diff(c))) if len(c) > 1 else 1.0

    # -- the checks -----------------------------------------------------------------------------
    def build(self):
        t = self.table
        n_rows = int(np.prod(self.vars[next(iter(self.vars))].shape))
        self.add("rows", f"SELECT count(*) FROM {t}", [[n_rows]], 0)
        self.add("lat_range", f"SELECT min(lat), max(lat) FROM {t}",
                 [[float(self.lat.min()), float(self.lat.max())]], TOL_F64)
        self.add("lon_range", f"SELECT min(lon), max(lon) FROM {t}",
                 [[float(self.lon.min()), float(self.lon.max())]], TOL_F64)
        self.add("granules", f"SELECT count(DISTINCT granule), max(time_index) FROM {t}",
                 [[self.n_granules, max(self.time_index)]], 0)
        self.add("distinct_lat_lon", f"SELECT count(DISTINCT lat), count(DISTINCT lon) FROM {t}",
                 [[len(np.unique(self.lat)), len(np.unique(self.lon))]], 0)
        real_times = sorted({x for x in self.times if x is not None})
        if real_times:
            self.add("times", f"SELECT DISTINCT CAST(time AS BIGINT) AS t FROM {t} ORDER BY t",
                     [[x] for x in real_times] if len(real_times) <= 100 else None, 0)
            if len(real_times) > 100:
                self.checks.pop()
            self.add("time_range", f"SELECT CAST(min(time) AS BIGINT), CAST(max(time) AS BIGINT) FROM {t}",
                     [[real_times[0], real_times[-1]]], 0)
        else:
            self.add("time_null", f"SELECT count(*) FILTER (WHERE time IS NULL) FROM {t}", [[n_rows]], 0)
        if self.depth is not None:
            self.add("depth_range", f"SELECT min(depth), max(depth), count(DISTINCT depth) FROM {t}",
                     [[float(self.depth.min()), float(self.depth.max()), len(self.depth)]], TOL_F64)

        for var, a in self.vars.items():
            self.var_checks(var, a, real_times)

    def var_checks(self, var, a, real_times):
        t = self.table
        valid = a[~np.isnan(a)]
        tol = self.tol(var)
        cnt = int(valid.size)
        self.add(f"{var}.count_nulls", f"SELECT count({var}), count(*) - count({var}) FROM {t}",
                 [[cnt, int(a.size - cnt)]], 0)
        if cnt:
            s, mn, mx, mean = valid.sum(dtype=np.float64), valid.min(), valid.max(), valid.mean(dtype=np.float64)
        else:
            s = mn = mx = mean = None
        self.add(f"{var}.sum_min_max", f"SELECT sum({var}), min({var}), max({var}) FROM {t}",
                 [[self.agg_exact(var, s), self.agg_exact(var, mn), self.agg_exact(var, mx)]], tol)
        self.add(f"{var}.avg", f"SELECT avg({var}) FROM {t}", [[self.num(mean)]], tol or TOL_F64)

        # a box (boundaries half-way between grid points) over a time window
        lat0, lat1 = self.bounds(self.lat, 0.2, 0.7)
        lon0, lon1 = self.bounds(self.lon, 0.3, 0.8)
        where = f"lat BETWEEN {lat0!r} AND {lat1!r} AND lon BETWEEN {lon0!r} AND {lon1!r}"
        window = None
        if len(real_times) > 2:
            k0, k1 = len(real_times) // 3, (2 * len(real_times)) // 3
            window = (real_times[k0], real_times[k1])
            where += f" AND time >= TIMESTAMP '{iso(window[0])}' AND time <= TIMESTAMP '{iso(window[1])}'"
        sel = self.select(var, window, (lat0, lat1), [(lon0, lon1)])
        sv = sel[~np.isnan(sel)]
        self.add(f"{var}.box", f"SELECT count({var}), count(*), avg({var}), sum({var}) FROM {t} WHERE {where}",
                 [[int(sv.size), int(sel.size),
                   self.num(sv.mean(dtype=np.float64)) if sv.size else None,
                   self.agg_exact(var, sv.sum(dtype=np.float64)) if sv.size else None]], tol or TOL_F64)

        # a box across the antimeridian when the product spans it
        if self.lon.min() < -170 and self.lon.max() > 170:
            w = 10.0 + self.spacing(self.lon) / 2
            sel = self.select(var, None, None, [(180 - w, 180), (-180, -180 + w)])
            sv = sel[~np.isnan(sel)]
            self.add(f"{var}.antimeridian",
                     f"SELECT count({var}), count(*), avg({var}) FROM {t} WHERE lon >= {180 - w!r} OR lon <= {-180 + w!r}",
                     [[int(sv.size), int(sel.size), self.num(sv.mean(dtype=np.float64)) if sv.size else None]],
                     tol or TOL_F64)

        # per time step: count and sum (products with several steps)
        if 1 < len(real_times) <= 100:
            rows = []
            T = a.shape[0]
            for ts in real_times:
                idx = [k for k in range(T) if self.times[k] == ts]
                block = a[idx]
                bv = block[~np.isnan(block)]
                rows.append([ts, int(bv.size), self.agg_exact(var, bv.sum(dtype=np.float64)) if bv.size else None])
            self.add(f"{var}.per_time",
                     f"SELECT CAST(time AS BIGINT) AS t, count({var}), sum({var}) FROM {t} GROUP BY time ORDER BY t",
                     rows, tol)

        # exact values at a few cells, found by coordinates (and one NULL cell if there is one)
        T, Z, Y, X = a.shape
        cells = [(0, 0, 0, 0), (T - 1, Z - 1, Y - 1, X - 1), (T // 2, Z // 2, Y // 3, (2 * X) // 3),
                 ((2 * T) // 3, Z // 3, (2 * Y) // 3, X // 5)]
        nan_cells = np.argwhere(np.isnan(a))
        if len(nan_cells):
            cells.append(tuple(int(x) for x in nan_cells[len(nan_cells) // 2]))
        ok_cells = np.argwhere(~np.isnan(a))
        if len(ok_cells):
            cells.append(tuple(int(x) for x in ok_cells[len(ok_cells) // 2]))
        dy, dx = self.spacing(self.lat) / 4, self.spacing(self.lon) / 4
        for c in dict.fromkeys(cells):
            k, z, i, j = c
            cond = [f"lat BETWEEN {float(self.lat[i] - dy)!r} AND {float(self.lat[i] + dy)!r}",
                    f"lon BETWEEN {float(self.lon[j] - dx)!r} AND {float(self.lon[j] + dx)!r}"]
            if self.times[k] is not None:
                cond.append(f"time = TIMESTAMP '{iso(self.times[k])}'")
            if self.depth is not None:
                dz = self.spacing(self.depth) / 4
                cond.append(f"depth BETWEEN {float(self.depth[z] - dz)!r} AND {float(self.depth[z] + dz)!r}")
            self.add(f"{var}.cell[{k},{z},{i},{j}]",
                     f"SELECT count(*), min({var}) FROM {self.table} WHERE {' AND '.join(cond)}",
                     [[1, self.agg_exact(var, a[c])]], tol)


def products(fx, real):
    out = []

    def p(table, location, fmt, paths, dims, variables=None):
        out.append(Product(table, location, fmt, paths, dims, variables))

    basic_dims = ("time", None, "lat", "lon")
    p("basic_nc4", f"{fx}/basic/basic_nc4.nc", "NETCDF", [f"{fx}/basic/basic_nc4.nc"], basic_dims)
    p("basic_nc3", f"{fx}/basic/basic_nc3.nc", "NETCDF", [f"{fx}/basic/basic_nc3.nc"], basic_dims)
    for z in ("v2c", "v2", "v3"):
        p(f"basic_{z}", f"{fx}/basic/basic_{z}.zarr", "ZARR", [f"{fx}/basic/basic_{z}.zarr"], basic_dims)
    for name in ("seconds1970", "hours1950", "noleap", "proleptic"):
        p(f"times_{name}", f"{fx}/times/{name}.nc", "NETCDF", [f"{fx}/times/{name}.nc"], basic_dims)
    p("times_notime", f"{fx}/times/notime.nc", "NETCDF", [f"{fx}/times/notime.nc"], (None, None, "lat", "lon"))
    p("attrs_coords", f"{fx}/attrs_coords.nc", "NETCDF", [f"{fx}/attrs_coords.nc"], ("tm", None, "y", "x"))
    p("navlat", f"{fx}/navlat.nc", "NETCDF", [f"{fx}/navlat.nc"], ("time_counter", None, "nav_lat", "nav_lon"))
    p("depth", f"{fx}/depth.nc", "NETCDF", [f"{fx}/depth.nc"], ("time", "z", "lat", "lon"))
    ms = sorted(os.listdir(f"{fx}/multistep"))
    p("multistep", f"{fx}/multistep/", "NETCDF", [f"{fx}/multistep/{f}" for f in ms], basic_dims)
    daily = sorted(f for f in os.listdir(f"{fx}/daily") if f.endswith(".nc"))
    p("daily", f"{fx}/daily/*.nc", "NETCDF", [f"{fx}/daily/{f}" for f in daily], basic_dims)
    dz = sorted(f for f in os.listdir(f"{fx}/daily_zarr") if f.endswith(".zarr"))
    p("daily_zarr", f"{fx}/daily_zarr", "ZARR", [f"{fx}/daily_zarr/{f}" for f in dz], basic_dims)

    sst = f"{real}/grid_sst/20160707000000-GOS-L4_GHRSST-SSTfnd-OISST_HR_REP-BLK-v02.0-fv01.0.nc"
    p("real_sst_blk", sst, "NETCDF", [sst], ("time", None, "lat", "lon"))
    ll = ("time", None, "latitude", "longitude")
    for table, name in (("real_ssh_blacksea", "dt_blacksea_allsat_phy_l4_20160707_20200801.nc"),
                        ("real_ssh_med", "dt_med_allsat_phy_l4_2005T2.nc"),
                        ("real_ssh_global", "nrt_global_allsat_phy_l4_20190223_20190226.nc")):
        path = f"{real}/grid_ssh/{name}"
        p(table, path, "NETCDF", [path], ll)
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: expected.py FIXTURES_DIR REAL_DATA_DIR OUT.json")
    fx, real, out = (os.path.abspath(a) for a in sys.argv[1:])
    result = []
    for prod in products(fx, real):
        prod.build()
        result.append({
            "table": prod.table,
            "ddl": f"CREATE EXTERNAL TABLE {prod.table} STORED AS {prod.fmt} LOCATION '{prod.location}'",
            "checks": prod.checks,
        })
    with open(out, "w") as f:
        json.dump({"products": result}, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
