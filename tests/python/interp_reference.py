"""Gridded products, random points on them and what xarray's interp gives there, for
tests/tests/interp.rs (which runs OceanQL's interp() on the same files and points).

Usage: interp_reference.py FIXTURES OUTDIR

FIXTURES is the directory make_fixtures.py wrote (its daily/*.nc product is one of the cases).
Writes into OUTDIR:

  global/a.nc, global/b.nc  a global 0.5-degree product in two NetCDF files: time days 0, 1, 2 and
                            3, 5 since 2021-03-01 (uneven steps, bracketing across files), lat
                            descending 89.75 .. -89.75, lon 0 .. 359.5 (0..360 convention),
                            sst float32 (_FillValue) and sla int16 packed (scale_factor 0.001),
                            land patches and a few time-varying gaps, chunks (1, 60, 90) (so that
                            OceanQL reads it in several tiles of 300 x 270 cells)
  regional.zarr             a Zarr v3 grid across the antimeridian: lon 170 .. 190 (0..360) by 0.5,
                            lat -10 .. 10 by 0.5, four hourly steps, float64 `v` with a missing patch
  CASE.parquet              per case: id, time (UTC, us), lat, lon, linear, nearest (null = NaN)
  cases.json                [{"name", "format", "location", "variable", "points"}]

Points per case: uniform over the grid's box and a margin around it (so some fall outside the
time and latitude ranges and, for regional grids, the longitudes), points near the 0/360 seam or the
antimeridian, near missing cells, and points with one or more coordinates exactly on a grid
value. Longitudes of points are drawn over -200 .. 400 (any convention).

Reference: xarray 2025.6 `DataArray.interp(time=, lat=, lon=, method='linear' | 'nearest')`
(scipy interpn) on the decoded data, sorted ascending; a global grid is padded with wrapped
columns (last column at lon - 360, first at lon + 360) and points' longitudes taken to
[-180, 180); a regional grid is used in its stored frame, points' longitudes taken modulo 360
into it. Where a point coordinate is exactly a grid value, OceanQL uses that grid value alone
(its neighbour may be missing) while interpn multiplies the neighbour by a zero weight (NaN * 0 =
NaN): the reference selects those coordinates with .sel() and interpolates the others.
"""

import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

RNG = np.random.default_rng(20240611)
US = np.timedelta64(1, "us")


def smooth(lat, lon, t):
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return 15 + 12 * np.cos(la) + 3 * np.sin(2 * lo) * np.cos(la) + 0.4 * t


def global_dataset(days, t0):
    ny, nx = 360, 720
    lat = 89.75 - 0.5 * np.arange(ny)
    lon = 0.5 * np.arange(nx)
    t = np.asarray(days, dtype=float)[:, None, None]
    sst = smooth(lat[None, :, None], lon[None, None, :], t) + RNG.normal(0, 0.5, (len(days), ny, nx))
    land = np.zeros((ny, nx), bool)
    for _ in range(40):  # land patches, the same at every time step
        i, j, h, w = RNG.integers(0, ny), RNG.integers(0, nx), RNG.integers(1, 40), RNG.integers(1, 60)
        land[i:i + h, j:j + w] = True
    land[:, 0] |= RNG.random(ny) < 0.3  # land on the seam too
    sst = np.where(land[None], -999.0, sst).astype(np.float32)
    gaps = RNG.random(sst.shape) < 0.01  # clouds: missing at one step only
    sst[gaps] = -999.0
    sla = np.round(RNG.normal(0, 0.3, sst.shape) * 1000)
    sla = np.where(land[None], -32768, sla).astype(np.int16)
    ds = xr.Dataset(
        {
            "sst": (("time", "lat", "lon"), sst, {"units": "degC"}),
            "sla": (("time", "lat", "lon"), sla, {"units": "m", "scale_factor": 0.001, "add_offset": 0.0}),
        },
        coords={
            "time": ("time", np.asarray(days, dtype=float), {"units": f"days since {t0}", "standard_name": "time"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    return ds


def write_global(out):
    os.makedirs(f"{out}/global", exist_ok=True)
    for name, days in (("a", [0, 1, 2]), ("b", [3, 5])):
        ds = global_dataset(days, "2021-03-01")
        enc = {"sst": {"_FillValue": np.float32(-999.0), "chunksizes": (1, 60, 90)},
               "sla": {"_FillValue": np.int16(-32768), "chunksizes": (1, 60, 90)},
               "time": {"_FillValue": None}, "lat": {"_FillValue": None}, "lon": {"_FillValue": None}}
        ds.to_netcdf(f"{out}/global/{name}.nc", engine="netcdf4", encoding=enc)


def write_regional(out):
    lat = np.arange(-10, 10.001, 0.5)
    lon = np.arange(170, 190.001, 0.5)
    hours = np.arange(4.0)
    v = smooth(lat[None, :, None], lon[None, None, :], hours[:, None, None]) + RNG.normal(0, 1, (4, len(lat), len(lon)))
    v[:, 15:20, 18:25] = np.nan  # an island across the antimeridian (lon 179 .. 182)
    ds = xr.Dataset(
        {"v": (("time", "lat", "lon"), v, {"units": "1"})},
        coords={
            "time": ("time", hours, {"units": "hours since 2022-07-01 00:00:00"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    enc = {"v": {"_FillValue": np.nan, "chunks": (1, 16, 16)}}
    ds.to_zarr(f"{out}/regional.zarr", mode="w", zarr_format=3, consolidated=False, encoding=enc)


def load(paths, variable):
    """The decoded variable over all files, lat ascending."""
    def open_one(p):
        if p.endswith(".zarr"):
            return xr.open_dataset(p, engine="zarr", consolidated=False)
        return xr.open_dataset(p, engine="netcdf4")
    parts = [open_one(p)[variable].load() for p in paths]
    da = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    return da.astype(np.float64).sortby("time").sortby("lat")


def pad_global(da):
    """Longitudes to [-180, 180), sorted, with the last column repeated 360 degrees west and
    the first 360 degrees east, so that interpolation crosses the seam."""
    da = da.assign_coords(lon=(da.lon + 180) % 360 - 180).sortby("lon")
    west = da.isel(lon=[-1]).assign_coords(lon=da.lon[[-1]] - 360)
    east = da.isel(lon=[0]).assign_coords(lon=da.lon[[0]] + 360)
    return xr.concat([west, da, east], dim="lon")


def points(da, n, global_lon, seam_lon, rng):
    """Random points over and around the grid; some with coordinates exactly on grid values."""
    times = da.time.values
    t0, t1 = times[0], times[-1]
    span = (t1 - t0) / US
    lat, lon = da.lat.values, da.lon.values
    if global_lon:
        lon = lon[1:-1]  # without the padding
    k = np.arange(n)
    t = t0 + (rng.uniform(-0.1, 1.1, n) * span).astype("int64") * US
    la = rng.uniform(lat[0] - 2, lat[-1] + 2, n)
    lo = rng.uniform(lon[0] - 3, lon[-1] + 3, n) if not global_lon else rng.uniform(-200, 400, n)
    near_seam = k % 5 == 1
    lo[near_seam] = seam_lon + rng.uniform(-4, 4, near_seam.sum()) + 360 * rng.integers(-1, 2, near_seam.sum())
    # exact coordinates: from a few grid values, so that the reference needs few .sel() calls
    exact_t, exact_lat, exact_lon = (rng.random(n) < p for p in (0.25, 0.2, 0.2))
    t[exact_t] = rng.choice(times, exact_t.sum())
    la[exact_lat] = rng.choice(rng.choice(lat, 6), exact_lat.sum())
    grid_lon = rng.choice(np.append(rng.choice(lon, 5), [lon[0], lon[-1]]), exact_lon.sum())
    lo[exact_lon] = grid_lon + 360 * rng.integers(-1, 2, exact_lon.sum())
    return t, la, lo


def in_frame(lon, da, global_lon):
    """Point longitudes in the frame of the grid's coordinates."""
    if global_lon:
        return (lon + 180) % 360 - 180
    first = da.lon.values[0]
    return first + (lon - first) % 360


def reference(da, t, la, lo, global_lon):
    """(linear, nearest) at the points, NaN where missing or outside."""
    lo = in_frame(lo, da, global_lon)
    p = lambda x: xr.DataArray(x, dims="p")  # noqa: E731
    nearest = da.interp(time=p(t), lat=p(la), lon=p(lo), method="nearest").values
    linear = np.full(len(t), np.nan)
    on = {
        "time": np.isin(t, da.time.values),
        "lat": np.isin(la, da.lat.values),
        "lon": np.isin(lo, da.lon.values),
    }
    coords = {"time": t, "lat": la, "lon": lo}
    keys = [tuple(coords[d][i] if on[d][i] else None for d in coords) for i in range(len(t))]
    for key in set(keys):
        idx = np.array([i for i, k in enumerate(keys) if k == key])
        sel = {d: v for d, v in zip(coords, key) if v is not None}
        rest = {d: p(coords[d][idx]) for d, v in zip(coords, key) if v is None}
        sub = da.sel(sel)
        linear[idx] = sub.interp(rest, method="linear").values if rest else np.full(len(idx), float(sub.values))
    return linear, nearest


def write_case(out, name, da, n, global_lon, seam_lon, rng):
    t, la, lo = points(da, n, global_lon, seam_lon, rng)
    linear, nearest = reference(da, t, la, lo, global_lon)
    nulls = lambda x: pa.array(np.where(np.isnan(x), None, x), pa.float64())  # noqa: E731
    table = pa.table({
        "id": pa.array(np.arange(n), pa.int64()),
        "time": pa.array(t.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        "lat": pa.array(la, pa.float64()),
        "lon": pa.array(lo, pa.float64()),
        "linear": nulls(linear),
        "nearest": nulls(nearest),
    })
    path = f"{out}/{name}.parquet"
    pq.write_table(table, path)
    return path


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: interp_reference.py FIXTURES OUTDIR")
    fixtures, out = (os.path.abspath(a) for a in sys.argv[1:])
    os.makedirs(out, exist_ok=True)
    write_global(out)
    write_regional(out)
    daily = sorted(f"{fixtures}/daily/{f}" for f in os.listdir(f"{fixtures}/daily") if f.endswith(".nc"))
    cases = [
        # name, format, location, files, variable, points, global, seam
        ("global_sst", "NETCDF", f"{out}/global/", [f"{out}/global/a.nc", f"{out}/global/b.nc"], "sst", 2500, True, 0.0),
        ("global_sla", "NETCDF", f"{out}/global/", [f"{out}/global/a.nc", f"{out}/global/b.nc"], "sla", 1000, True, 180.0),
        ("regional", "ZARR", f"{out}/regional.zarr", [f"{out}/regional.zarr"], "v", 1500, False, 180.0),
        ("daily", "NETCDF", f"{fixtures}/daily/", daily, "sst", 1000, False, 0.0),
    ]
    manifest = []
    for name, fmt, location, files, variable, n, global_lon, seam in cases:
        da = load(files, variable)
        if global_lon:
            da = pad_global(da)
        path = write_case(out, name, da, n, global_lon, seam, np.random.default_rng(len(manifest) + 7))
        manifest.append({"name": name, "format": fmt, "location": location, "variable": variable, "points": path})
    with open(f"{out}/cases.json", "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
