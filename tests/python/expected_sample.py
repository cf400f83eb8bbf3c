"""Computes, with xarray / netCDF4 / pandas, the answers OceanQL must give on the swath, along-track
and DSG fixtures (make_sample_fixtures.py) and on the real swath, along-track and Argo files.

Usage: python expected_sample.py FIXTURES_DIR REAL_DATA_DIR OUT.json

Output: the format of expected.py ({"products": [{"table", "ddl", "checks": [...]}]}), run by
tests/tests/sample.rs through the cross-check of tests/tests/crosscheck.rs.

Each product is flattened here into one pandas row per sample, independently of OceanQL: xarray
decodes the variables (expected.decode: CF masking and unpacking in float64, plus valid ranges),
xarray broadcasting spreads per-line / per-profile values over the samples, numpy.repeat expands
contiguous ragged arrays, length-1 dimensions are squeezed, character arrays are joined and
trimmed with netCDF4 (blank -> NULL). Times are decoded by xarray from the raw numbers, plus
GHRSST's per-pixel `sst_dtime` seconds (a missing offset makes the time NULL, as NaT in xarray);
longitudes are brought into [-180, 180); a latitude outside [-90, 90] is NULL.
Which variable is the latitude, the time, ... is written down per product below (not detected).
"""

import json
import os
import sys
import warnings

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

import expected as ex

warnings.filterwarnings("ignore")


def decode_time(raw_var, values):
    """CF time numbers -> int64 microseconds (NaN / fill -> None), by xarray's decoder."""
    units = raw_var.attrs["units"]
    cal = raw_var.attrs.get("calendar", "standard")
    vals = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(vals)
    out = np.full(vals.shape, np.nan)
    if ok.any():
        dec = xr.coding.times.decode_cf_datetime(vals[ok], units, cal)
        ns = np.asarray(dec, dtype="datetime64[ns]").astype(np.int64)
        out[ok] = (ns + 500) // 1000  # to the nearest microsecond
    return out


class Spec:
    """What a product is: its files, sample dimensions and which variables are the coordinates."""

    def __init__(self, table, location, files, sample_dims, index_names, lat, lon, time=None,
                 offset=None, z=None, z_column="depth", platform=None, variables=(), texts=(),
                 options=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]


class Flat:
    """One pandas row per sample over all files of a product."""

    def __init__(self, spec):
        self.spec = spec
        frames = [self.one_file(g, path) for g, path in enumerate(spec.files)]
        self.df = pd.concat(frames, ignore_index=True)

    def one_file(self, g, path):
        s = self.spec
        raw = ex.open_raw(path)
        ds = ex.decode(raw)
        nc = netCDF4.Dataset(path)
        nc.set_auto_maskandscale(False)
        self.ragged = ragged_of(raw)
        shape = [raw.sizes[d] for d in s.sample_dims]
        template = xr.DataArray(np.zeros(shape), dims=s.sample_dims)
        cols = {}
        cols["lat"] = self.spread(ds[s.lat], template).astype(np.float64)
        cols["lat"][np.abs(cols["lat"]) > 90] = np.nan
        cols["lon"] = ex.norm_lon(self.spread(ds[s.lon], template))
        if s.time:
            t = decode_time(raw[s.time], self.spread(raw_numbers(raw[s.time]), template))
            if s.offset:
                off = self.spread(ds_num(ds, s.offset, raw), template)
                t = t + np.round(off * 1e6)
            cols["time"] = t
        if s.z:
            cols[s.z_column] = self.spread(ds[s.z], template).astype(np.float64)
        if s.platform:
            cols["platform_id"] = self.spread_text(nc, s.platform, template)
        for v in s.variables:
            cols[v] = self.spread(ds[v], template)
        for v in s.texts:
            cols[v] = self.spread_text(nc, v, template)
        n = int(np.prod(shape))
        idx = np.unravel_index(np.arange(n), shape)
        for name, i in zip(s.index_names, idx):
            cols[name] = i
        cols["granule_no"] = np.full(n, g)
        nc.close()
        return pd.DataFrame(cols)

    def squeeze(self, da):
        s = self.spec
        inst = self.ragged[0] if self.ragged else None
        for d in da.dims:
            if d not in s.sample_dims and d != inst:
                assert da.sizes[d] == 1, f"{da.name}: dimension {d} is not a sample dimension"
                da = da.isel({d: 0})
        return da

    def spread(self, da, template):
        da = self.squeeze(da)
        if self.ragged and self.ragged[0] in da.dims:
            return np.asarray(da.values, dtype=np.float64)[self.ragged[1]]
        return np.asarray(da.broadcast_like(template).transpose(*self.spec.sample_dims).values).ravel()

    def spread_text(self, nc, name, template):
        v = nc[name]
        v.set_auto_chartostring(False)
        arr = np.asarray(v[...])
        dims = list(v.dimensions)
        if dims[-1] not in self.spec.sample_dims:
            arr = np.array([b"".join(row) for row in arr.reshape(-1, arr.shape[-1])]).reshape(arr.shape[:-1])
            dims = dims[:-1]
        text = np.vectorize(lambda b: b.split(b"\0")[0].decode("latin-1").strip() or None, otypes=[object])(arr)
        da = xr.DataArray(text, dims=dims) if dims else xr.DataArray(text[()] if text.shape == () else text)
        da = self.squeeze(da)
        if self.ragged and self.ragged[0] in da.dims:
            return da.values[self.ragged[1]]
        return np.asarray(da.broadcast_like(template).transpose(*self.spec.sample_dims).values).ravel()


def raw_numbers(v):
    """A raw (undecoded) variable as float64 with its _FillValue / missing_value as NaN."""
    vals = np.asarray(v.values, dtype=np.float64).copy()
    for k in ("_FillValue", "missing_value"):
        if k in v.attrs:
            vals[vals == np.float64(np.ravel(v.attrs[k])[0])] = np.nan
    return v.copy(data=vals)


def ds_num(ds, name, raw=None):
    """A decoded variable as float numbers (xarray may decode seconds as timedelta)."""
    v = ds[name]
    if np.issubdtype(v.dtype, np.timedelta64):
        return v.copy(data=v.values / np.timedelta64(1, "s"))
    if np.issubdtype(v.dtype, np.datetime64):
        return v.copy(data=np.where(np.isnat(v.values), np.nan, 0.0))
    return v


def ragged_of(raw):
    """(instance dimension, instance of each observation) of a contiguous or indexed ragged array."""
    for name, v in raw.variables.items():
        if "sample_dimension" in v.attrs:
            sizes = np.asarray(v.values, dtype=np.int64)
            return v.dims[0], np.repeat(np.arange(len(sizes)), sizes)
        if "instance_dimension" in v.attrs:
            return v.attrs["instance_dimension"], np.asarray(v.values, dtype=np.int64)
    return None


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
TOL64, TOL32 = 1e-9, 1e-6


def q(name):
    """A column name quoted for SQL (Argo names are upper case)."""
    return f'"{name}"'


class Product:
    def __init__(self, spec, kinds):
        self.spec, self.kinds = spec, kinds
        self.df = Flat(spec).df
        self.checks = []
        self.t = spec.table

    def ddl(self):
        s = self.spec
        opts = ""
        if s.options:
            opts = " OPTIONS (" + ", ".join(f"'{k}' '{v}'" for k, v in s.options.items()) + ")"
        return f"CREATE EXTERNAL TABLE {s.table} STORED AS NETCDF LOCATION '{s.location}'{opts}"

    def add(self, name, sql, rows, tol):
        self.checks.append({"name": f"{self.t}.{name}", "sql": sql, "expected": rows, "tolerance": tol})

    def tol(self, v):
        return {"f64": TOL64, "f32": TOL32, "int": 0}[self.kinds[v]]

    def num(self, v, x):
        if x is None or (isinstance(x, float) and np.isnan(x)):
            return None
        return int(round(x)) if self.kinds.get(v) == "int" else float(x)

    def stats(self, v, sel, where=""):
        col = sel[v].astype(np.float64)
        ok = col[~np.isnan(col)]
        mean = float(ok.mean()) if len(ok) else None
        self.add(f"{v}.stats{where and '.' + where}",
                 f"SELECT count({q(v)}), count(*), avg({q(v)}), min({q(v)}), max({q(v)}) "
                 f"FROM {self.t}{self.where_sql.get(where, '')}",
                 [[int(len(ok)), int(len(col)), mean,
                   self.num(v, ok.min() if len(ok) else None), self.num(v, ok.max() if len(ok) else None)]],
                 self.tol(v) or TOL64)

    def build(self, boxes=(), cells=(), flags=(), equals=(), per_platform=None):
        df, t = self.df, self.t
        self.where_sql = {}
        self.add("rows", f"SELECT count(*) FROM {t}", [[len(df)]], 0)
        for c in ("lat", "lon") + ((self.spec.z_column,) if self.spec.z else ()):
            col = df[c].astype(np.float64)
            self.add(f"{c}.range", f"SELECT count({c}), min({c}), max({c}) FROM {t}",
                     [[int(col.notna().sum()), float(col.min()), float(col.max())]], TOL64)
        if "time" in df:
            tt = df["time"].dropna()
            self.add("time.range", f"SELECT count(time), CAST(min(time) AS BIGINT), CAST(max(time) AS BIGINT) FROM {t}",
                     [[int(len(tt)), int(tt.min()), int(tt.max())]], 0)
        for v in self.spec.variables:
            self.stats(v, df)
        for v in self.spec.texts:
            col = df[v]
            top = col.dropna().value_counts().sort_index()
            self.add(f"{v}.counts", f"SELECT {q(v)}, count(*) FROM {t} WHERE {q(v)} IS NOT NULL GROUP BY 1 ORDER BY 1",
                     [[k, int(n)] for k, n in top.items()], 0)
            self.add(f"{v}.nulls", f"SELECT count(*) - count({q(v)}) FROM {t}", [[int(col.isna().sum())]], 0)
        for name, (lat, lons, v) in boxes:
            m = df["lat"].between(*lat) if lat else pd.Series(True, index=df.index)
            lm = pd.Series(False, index=df.index)
            for lo, hi in lons or [(-180, 180)]:
                lm |= df["lon"].between(lo, hi)
            m &= lm
            cond = []
            if lat:
                cond.append(f"lat BETWEEN {lat[0]!r} AND {lat[1]!r}")
            if lons:
                cond.append("(" + " OR ".join(f"lon BETWEEN {lo!r} AND {hi!r}" for lo, hi in lons) + ")")
            self.where_sql[name] = " WHERE " + " AND ".join(cond)
            self.stats(v, df[m], name)
        for key in cells:
            m = pd.Series(True, index=df.index)
            cond = []
            for k, val in key.items():
                m &= df[k] == val
                cond.append(f"{k} = {val}")
            if "granule_no" in key:
                cond = [c for c in cond if not c.startswith("granule_no")]
                cond.append(f"granule = '{self.spec.files[key['granule_no']]}'")
            row = df[m]
            assert len(row) == 1, (self.t, key, len(row))
            cols = [c for c in ["lat", "lon", "time"] + list(self.spec.variables) + list(self.spec.texts) if c in df]
            sel = [f"CAST({c} AS BIGINT)" if c == "time" else q(c) for c in cols]
            vals = []
            for c in cols:
                x = row[c].iloc[0]
                if isinstance(x, str) or x is None:
                    vals.append(x)
                elif np.isnan(x):
                    vals.append(None)
                elif c == "time" or self.kinds.get(c) == "int":
                    vals.append(int(x))
                else:
                    vals.append(float(x))
            tol = TOL32 if any(self.kinds.get(c) == "f32" for c in cols) else TOL64
            self.add(f"cell{key}", f"SELECT {', '.join(sel)} FROM {t} WHERE {' AND '.join(cond)}", [vals], tol)
        for v, mask in flags:
            col = df[v]
            n = int(((col.fillna(0).astype(np.int64) & mask) > 0)[col.notna()].sum())
            self.add(f"{v}.bit{mask}", f"SELECT count(*) FROM {t} WHERE {q(v)} & {mask} > 0", [[n]], 0)
        for v, value in equals:
            n = int((df[v] == value).sum())
            lit = f"'{value}'" if isinstance(value, str) else value
            self.add(f"{v}.eq{value}", f"SELECT count(*) FROM {t} WHERE {q(v)} = {lit}", [[n]], 0)
        if per_platform:
            g = df.groupby("platform_id", dropna=False)
            rows = []
            for pid, part in sorted(g, key=lambda kv: (kv[0] is None, kv[0])):
                rows.append([pid, len(part), int(part[per_platform].notna().sum())])
            self.add("per_platform", f"SELECT platform_id, count(*), count({q(per_platform)}) FROM {t} GROUP BY platform_id "
                     "ORDER BY platform_id NULLS LAST", rows, 0)


def mid_bounds(values, f0, f1):
    """Bounds half-way between sorted distinct values, taking fractions f0..f1 of them."""
    c = np.unique(np.asarray(values, dtype=np.float64)[~np.isnan(np.asarray(values, dtype=np.float64))])
    n = len(c)
    a, b = int(f0 * (n - 1)), int(f1 * (n - 1))
    lo = (c[a - 1] + c[a]) / 2 if a > 0 else c[0] - 0.5
    hi = (c[b] + c[b + 1]) / 2 if b + 1 < n else c[-1] + 0.5
    return float(lo), float(hi)


def kinds_of(path, names):
    raw = ex.open_raw(path)
    out = {}
    for n in names:
        v = raw[n]
        if v.dtype.kind == "S":
            out[n] = "text"
        elif "scale_factor" in v.attrs or "add_offset" in v.attrs or v.dtype == np.float64:
            out[n] = "f64"
        elif v.dtype == np.float32:
            out[n] = "f32"
        else:
            out[n] = "int"
    return out


def product(spec, **checks):
    p = Product(spec, kinds_of(spec.files[0], list(spec.variables)))
    df = p.df
    boxes = []
    for v in spec.variables[:2]:
        # a box in the middle of the valid values of v
        m = df[v].notna() & df["lat"].notna() & df["lon"].notna()
        valid = df[m] if m.any() else df
        boxes.append((f"box_{v}", (mid_bounds(valid["lat"], 0.3, 0.6), [mid_bounds(valid["lon"], 0.2, 0.7)], v)))
        if df["lon"].min() < -170 and df["lon"].max() > 170:
            for w in (1.0, 5.0):
                boxes.append((f"antimeridian{w:g}_{v}", (None, [(180.0 - w, 180.0), (-180.0, -180.0 + w)], v)))
        if df["lat"].max() > 80:
            boxes.append((f"pole_{v}", ((float(df["lat"].max()) - 0.5, 90.0), None, v)))
    p.build(boxes=boxes, **checks)
    return p


# ---------------------------------------------------------------------------------------------
# The products
# ---------------------------------------------------------------------------------------------
def products(fx, real):
    s = f"{fx}/sample"
    out = []
    sw = ("nj", "ni")
    out.append(product(Spec("sample_curved", f"{s}/swath/curved.nc", [f"{s}/swath/curved.nc"], sw, ("row", "cell"),
                            "lat", "lon", "time", "sst_dtime", variables=("sea_surface_temperature", "quality_level", "l2p_flags")),
                       cells=[{"row": 2, "cell": 3}, {"row": 0, "cell": 0}, {"row": 5, "cell": 4}],
                       flags=[("l2p_flags", 2), ("l2p_flags", 8)], equals=[("quality_level", 5)]))
    out.append(product(Spec("sample_antimeridian", f"{s}/swath/antimeridian.nc", [f"{s}/swath/antimeridian.nc"],
                            ("num_lines", "num_pixels"), ("row", "cell"), "latitude", "longitude", "time",
                            variables=("ssh_karin",)),
                       cells=[{"row": 2, "cell": 1}, {"row": 7, "cell": 3}]))
    out.append(product(Spec("sample_pole", f"{s}/swath/pole.nc", [f"{s}/swath/pole.nc"], sw, ("row", "cell"),
                            "lat", "lon", "time", variables=("sst",)),
                       cells=[{"row": 4, "cell": 4}, {"row": 9, "cell": 0}]))
    out.append(product(Spec("sample_nan_coords", f"{s}/swath/nan_coords.nc", [f"{s}/swath/nan_coords.nc"], sw,
                            ("row", "cell"), "lat", "lon", variables=("val",)),
                       cells=[{"row": 3, "cell": 2}, {"row": 1, "cell": 0}]))
    out.append(product(Spec("sample_big", f"{s}/swath_big.nc", [f"{s}/swath_big.nc"], sw, ("row", "cell"),
                            "lat", "lon", "time", variables=("sst",)),
                       cells=[{"row": 1234, "cell": 56}]))
    at = [f"{s}/alongtrack/a.nc", f"{s}/alongtrack/b.nc"]
    out.append(product(Spec("sample_alongtrack", f"{s}/alongtrack/", at, ("time",), ("row",), "lat", "lon", "time",
                            variables=("ssha", "swh_ku", "surface_type")),
                       cells=[{"row": 3, "granule_no": 0}, {"row": 7, "granule_no": 1}]))
    d = f"{s}/dsg"
    out.append(product(Spec("sample_trajectory", f"{d}/trajectory_ragged.nc", [f"{d}/trajectory_ragged.nc"], ("obs",),
                            ("obs",), "lat", "lon", "time", platform="trajectory_id", variables=("drogue", "temp")),
                       cells=[{"obs": 5}, {"obs": 6}], per_platform="temp"))
    out.append(product(Spec("sample_trajectory_big", f"{d}/trajectory_big.nc", [f"{d}/trajectory_big.nc"], ("obs",),
                            ("obs",), "lat", "lon", "time", platform="trajectory_id", variables=("drogue", "temp")),
                       cells=[{"obs": 39999}, {"obs": 40000}, {"obs": 65535}, {"obs": 65536}, {"obs": 131072},
                              {"obs": 160000}], per_platform="temp"))
    out.append(product(Spec("sample_timeseries", f"{d}/timeseries.nc", [f"{d}/timeseries.nc"], ("station", "time"),
                            ("station", "obs"), "lat", "lon", "time", platform="station_name", variables=("temp",)),
                       cells=[{"station": 1, "obs": 2}, {"station": 2, "obs": 3}], per_platform="temp"))
    out.append(product(Spec("sample_timeseries_indexed", f"{d}/timeseries_indexed.nc", [f"{d}/timeseries_indexed.nc"],
                            ("obs",), ("obs",), "lat", "lon", "time", platform="station_name", variables=("temp",)),
                       cells=[{"obs": 0}, {"obs": 3}, {"obs": 6}], per_platform="temp"))
    out.append(product(Spec("sample_profile", f"{d}/profile.nc", [f"{d}/profile.nc"], ("profile", "obs"),
                            ("profile", "level"), "lat", "lon", "time", z="z", platform="platform_number",
                            variables=("temp",), texts=("temp_qc",)),
                       cells=[{"profile": 3, "level": 3}, {"profile": 2, "level": 1}], per_platform="temp"))

    # --- real files -----------------------------------------------------------------------------
    viirs = f"{real}/swath/VIIRS_NPP-NAVO-L2P-v3.0_subset.nc"
    out.append(product(Spec("real_viirs", viirs, [viirs], sw, ("row", "cell"), "lat", "lon", "time", "sst_dtime",
                            variables=("sea_surface_temperature", "quality_level", "l2p_flags", "wind_speed", "sses_bias")),
                       cells=[{"row": 100, "cell": 200}, {"row": 400, "cell": 1000}, {"row": 767, "cell": 1319}],
                       flags=[("l2p_flags", 2), ("l2p_flags", 512)], equals=[("quality_level", 5)]))
    amsr = f"{real}/swath/AMSR2-L2B_v08_r38622-v02.0-fv01.0_subset.nc"
    out.append(product(Spec("real_amsr2", amsr, [amsr], sw, ("row", "cell"), "lat", "lon", "time", "sst_dtime",
                            variables=("sea_surface_temperature", "wind_speed", "quality_level", "l2p_flags")),
                       cells=[{"row": 500, "cell": 100}, {"row": 1000, "cell": 200}],
                       flags=[("l2p_flags", 1)], equals=[("quality_level", 5)]))
    ascat = f"{real}/swath/ascat_20150702_084200_metopa_45145_eps_o_250_2300_ovw.l2.nc"
    out.append(product(Spec("real_ascat", ascat, [ascat], ("NUMROWS", "NUMCELLS"), ("row", "cell"), "lat", "lon", "time",
                            variables=("wind_speed", "wind_dir", "wvc_quality_flag")),
                       cells=[{"row": 800, "cell": 20}, {"row": 10, "cell": 5}],
                       flags=[("wvc_quality_flag", 4194304)]))
    ja1 = f"{real}/alongtrack/JA1_GPN_2PeP001_002_20020115_060706_20020115_070316.nc"
    out.append(product(Spec("real_ja1", ja1, [ja1], ("time",), ("row",), "lat", "lon", "time",
                            variables=("ssha", "swh_ku", "range_ku", "surface_type")),
                       cells=[{"row": 1000}, {"row": 0}], equals=[("surface_type", 0)]))
    out.append(product(Spec("real_ja1_20hz", ja1, [ja1], ("time", "meas_ind"), ("row", "cell"), "lat_20hz", "lon_20hz",
                            "time_20hz", variables=("range_20hz_ku", "ssha"),
                            options={"lat": "lat_20hz", "lon": "lon_20hz", "time": "time_20hz"}),
                       cells=[{"row": 1000, "cell": 7}, {"row": 2239, "cell": 19}]))
    argo = f"{real}/argo"
    prof_dims = ("N_PROF", "N_LEVELS")
    for table, name, variables in (("real_argo_5900446", "5900446_prof.nc", ("TEMP", "PSAL")),
                                   ("real_argo_3902131", "3902131_Sprof.nc", ("TEMP", "DOXY")),
                                   ("real_argo_13857", "13857_prof.nc", ("TEMP",))):
        path = f"{argo}/{name}"
        out.append(product(Spec(table, path, [path], prof_dims, ("profile", "level"), "LATITUDE", "LONGITUDE", "JULD",
                                z="PRES", z_column="pressure", platform="PLATFORM_NUMBER", variables=variables,
                                texts=("TEMP_QC",)),
                           cells=[{"profile": 10, "level": 5}, {"profile": 100, "level": 0}], per_platform="TEMP"))
    traj = f"{argo}/5900446_Dtraj.nc"
    out.append(product(Spec("real_argo_traj", traj, [traj], ("N_MEASUREMENT",), ("obs",), "LATITUDE", "LONGITUDE", "JULD",
                            z="PRES", z_column="pressure", platform="PLATFORM_NUMBER", variables=("TEMP", "CYCLE_NUMBER"),
                            texts=("POSITION_QC",)),
                       cells=[{"obs": 100}, {"obs": 5000}], per_platform="TEMP"))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: expected_sample.py FIXTURES_DIR REAL_DATA_DIR OUT.json")
    fx, real, out = (os.path.abspath(a) for a in sys.argv[1:])
    result = [{"table": p.t, "ddl": p.ddl(), "checks": p.checks} for p in products(fx, real)]
    with open(out, "w") as f:
        json.dump({"products": result}, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
