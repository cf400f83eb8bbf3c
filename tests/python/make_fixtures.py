"""Writes OceanQL's test fixtures: small gridded products whose values are known by construction.

Usage: python make_fixtures.py OUTDIR

Every value is chosen so that the expected SQL answers can be worked out by hand
(tests/slt/grid.slt) and, independently, by xarray (expected.py). The layout:

  basic/basic_nc4.nc, basic/basic_nc3.nc       time 3 x lat 4 (descending) x lon 6 (0..360)
  basic/basic_v2c.zarr, basic_v2.zarr, basic_v3.zarr   the same data as Zarr v2 (consolidated or not) and v3
  times/*.nc                                   odd time units and calendars, one file each
  attrs_coords.nc, navlat.nc                   coordinates recognised only by their attributes or NEMO names
  depth.nc                                     a depth axis
  multistep/*.nc                               two files of two time steps each
  daily/*.nc, daily_zarr/*.zarr                30 daily files with chunked sst (pruning)
  analytics/...                                climatology, anomaly, resample (make_analytics_fixtures.py)
  bad/...                                      corrupt, truncated, mismatched grids, missing variable,
                                               360_day calendar, months since, an empty directory,
                                               a Zarr store with broken metadata, one with a garbage chunk

Deterministic: running it twice writes the same values (random bytes use a fixed seed).
"""

import os
import shutil
import sys

import numpy as np
import xarray as xr

import make_analytics_fixtures
import make_insitu_fixtures
import make_sample_fixtures

F32 = np.float32
F64 = np.float64

# ---------------------------------------------------------------------------------------------
# basic: every CF feature on a 3 x 4 x 6 grid.
#
#   time  float64 "days since 1981-01-01"      [0.5, 1.5, 2.5] -> 1981-01-01T12:00, 01-02T12:00, 01-03T12:00
#   lat   float64 descending                   [15, 5, -5, -15]                (i = lat_index)
#   lon   float64 0..360                       [0, 60, 120, 180, 240, 300]     (j = lon_index)
#                                              -> normalised [0, 60, 120, -180, -120, -60]
#   val      float64 (t,lat,lon)  t*100 + i*10 + j                              no missing values
#   packed   int16   (t,lat,lon)  raw = i*10 + j + t, value = 10 + 0.5*raw,
#                                 _FillValue -32768 at (t, 0, 0) for every t and at (2, 3, 5)
#   withmiss float32 (t,lat,lon)  i*10 + j + 0.25, missing_value -999 at (t, 1, 1) for every t,
#                                 NaN at (0, 2, 2)
#   ranged   int16   (t,lat,lon)  i*10 + j, valid_min 5, valid_max 30 (no _FillValue)
#   mask     int8    (lat,lon)    1 if j < 3 else 0; _FillValue -1 at (3, 5)   (static: no time)
# ---------------------------------------------------------------------------------------------
NT, NLAT, NLON = 3, 4, 6
BASIC_LAT = np.array([15.0, 5.0, -5.0, -15.0])
BASIC_LON = np.array([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])


def basic_dataset():
    t, i, j = np.meshgrid(np.arange(NT), np.arange(NLAT), np.arange(NLON), indexing="ij")
    val = (t * 100 + i * 10 + j).astype(F64)

    packed = (i * 10 + j + t).astype(np.int16)
    packed[:, 0, 0] = -32768
    packed[2, 3, 5] = -32768

    withmiss = (i * 10 + j + 0.25).astype(F32)
    withmiss[:, 1, 1] = -999.0
    withmiss[0, 2, 2] = np.nan

    ranged = (i * 10 + j).astype(np.int16)

    mi, mj = np.meshgrid(np.arange(NLAT), np.arange(NLON), indexing="ij")
    mask = (mj < 3).astype(np.int8)
    mask[3, 5] = -1

    dims = ("time", "lat", "lon")
    ds = xr.Dataset(
        {
            "val": (dims, val, {"units": "K", "long_name": "value by construction", "standard_name": "sea_surface_temperature"}),
            "packed": (dims, packed, {
                "units": "degC", "long_name": "packed int16",
                "scale_factor": F32(0.5), "add_offset": F32(10.0), "_FillValue": np.int16(-32768)}),
            "withmiss": (dims, withmiss, {"units": "1", "long_name": "float32 with missing_value",
                                          "missing_value": F32(-999.0)}),
            "ranged": (dims, ranged, {"units": "1", "long_name": "int16 with a valid range",
                                      "valid_min": np.int16(5), "valid_max": np.int16(30)}),
            "mask": (("lat", "lon"), mask, {"long_name": "static mask", "_FillValue": np.int8(-1)}),
        },
        coords={
            "time": ("time", np.array([0.5, 1.5, 2.5]), {"units": "days since 1981-01-01", "calendar": "standard",
                                                          "standard_name": "time"}),
            "lat": ("lat", BASIC_LAT, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", BASIC_LON, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"title": "OceanQL basic fixture", "Conventions": "CF-1.8"},
    )
    return ds


# ---------------------------------------------------------------------------------------------
# Writers: the Dataset holds stored (raw) values with their CF attributes; nothing is decoded.
# ---------------------------------------------------------------------------------------------
def _split_fill(ds):
    """Moves _FillValue from attrs to encoding (where xarray's writers look for it) and turns
    off the default fill value elsewhere, so that the file holds exactly the attributes we set."""
    ds = ds.copy()
    encoding = {}
    for name, var in ds.variables.items():
        attrs = dict(var.attrs)
        fill = attrs.pop("_FillValue", None)
        var.attrs = attrs
        encoding[name] = {"_FillValue": fill}
    return ds, encoding


def write_nc(ds, path, fmt="NETCDF4", chunks=None):
    """Writes raw values; `chunks` maps variable name to a chunk shape (NetCDF-4 only)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds, encoding = _split_fill(ds)
    for name, shape in (chunks or {}).items():
        encoding[name]["chunksizes"] = shape
    ds.to_netcdf(path, format=fmt, engine="netcdf4", encoding=encoding)


def write_zarr(ds, path, zarr_format, consolidated, chunks=None):
    if os.path.exists(path):
        shutil.rmtree(path)
    ds, encoding = _split_fill(ds)
    for name, shape in (chunks or {}).items():
        encoding[name]["chunks"] = shape
    ds.to_zarr(path, mode="w", zarr_format=zarr_format, consolidated=consolidated, encoding=encoding)


def small_grid(times, time_attrs, values=None, lat=(10.0, 20.0), lon=(30.0, 40.0)):
    """A 1-variable product `v` (float32) = time_index on a tiny grid, with the given time axis."""
    nt = len(times)
    v = np.broadcast_to(np.arange(nt, dtype=F32)[:, None, None], (nt, len(lat), len(lon))).copy()
    if values is not None:
        v = values
    return xr.Dataset(
        {"v": (("time", "lat", "lon"), v, {"units": "1"})},
        coords={
            "time": ("time", np.asarray(times), time_attrs),
            "lat": ("lat", np.asarray(lat, dtype=F64), {"units": "degrees_north"}),
            "lon": ("lon", np.asarray(lon, dtype=F64), {"units": "degrees_east"}),
        },
    )


def make_basic(out):
    ds = basic_dataset()
    chunks = {"val": (1, 2, 3), "packed": (1, 2, 3), "withmiss": (1, 4, 6), "ranged": (3, 4, 6), "mask": (2, 3)}
    write_nc(ds, f"{out}/basic/basic_nc4.nc", "NETCDF4", chunks)
    write_nc(ds, f"{out}/basic/basic_nc3.nc", "NETCDF3_CLASSIC")
    write_zarr(ds, f"{out}/basic/basic_v2c.zarr", 2, True, chunks)
    write_zarr(ds, f"{out}/basic/basic_v2.zarr", 2, False, chunks)
    write_zarr(ds, f"{out}/basic/basic_v3.zarr", 3, False, chunks)


def make_times(out):
    d = f"{out}/times"
    # 1e9 s = 2001-09-09T01:46:40Z; +5400 s = 03:16:40Z
    write_nc(small_grid(np.array([1e9, 1e9 + 5400]), {"units": "seconds since 1970-01-01T00:00:00Z"}),
             f"{d}/seconds1970.nc")
    # 0 h = 1950-01-01T00:00; 36 h = 1950-01-02T12:00; 8784 h = 366 d = 1951-01-02T00:00
    write_nc(small_grid(np.array([0, 36, 8784], dtype=np.int32), {"units": "hours since 1950-1-1 0:0:0"}),
             f"{d}/hours1950.nc")
    # noleap: day 58 = 2000-02-28, day 59 = 2000-03-01 (no Feb 29), day 365 = 2001-01-01
    write_nc(small_grid(np.array([58.0, 59.0, 365.0]), {"units": "days since 2000-01-01", "calendar": "noleap"}),
             f"{d}/noleap.nc")
    # proleptic_gregorian: day 59 = 2000-02-29, day 60.25 = 2000-03-01T06:00
    write_nc(small_grid(np.array([59.0, 60.25]),
                        {"units": "days since 2000-01-01 00:00:00", "calendar": "proleptic_gregorian"}),
             f"{d}/proleptic.nc")
    # no time axis at all: time is NULL
    nt = xr.Dataset(
        {"v": (("lat", "lon"), np.array([[1.0, 2.0], [3.0, 4.0]], dtype=F32), {"units": "1"})},
        coords={"lat": ("lat", np.array([10.0, 20.0]), {"units": "degrees_north"}),
                "lon": ("lon", np.array([30.0, 40.0]), {"units": "degrees_east"})},
    )
    write_nc(nt, f"{d}/notime.nc")


def make_attr_coords(out):
    # Dimension/coordinate names say nothing; the attributes do.
    #   tm: standard_name time (days since 2010-01-01): [0, 1]
    #   y:  only units degrees_north: [-10, 0, 10]
    #   x:  only axis X: [100, 200, 300, 350] -> normalised [100, -160, -60, -10]
    #   sst float64 = t*100 + i*10 + j
    t, i, j = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    ds = xr.Dataset(
        {"sst": (("tm", "y", "x"), (t * 100 + i * 10 + j).astype(F64), {"units": "K"})},
        coords={
            "tm": ("tm", np.array([0.0, 1.0]), {"standard_name": "time", "units": "days since 2010-01-01"}),
            "y": ("y", np.array([-10.0, 0.0, 10.0], dtype=F32), {"units": "degrees_north"}),
            "x": ("x", np.array([100.0, 200.0, 300.0, 350.0], dtype=F32), {"axis": "X"}),
        },
    )
    write_nc(ds, f"{out}/attrs_coords.nc")
    # NEMO-like names: time_counter (axis T), nav_lat, nav_lon (standard_name), value = i*10 + j
    i, j = np.meshgrid(np.arange(2), np.arange(3), indexing="ij")
    ds = xr.Dataset(
        {"votemper": (("time_counter", "nav_lat", "nav_lon"), (i * 10 + j).astype(F32)[None], {"units": "degC"})},
        coords={
            "time_counter": ("time_counter", np.array([3600.0]),
                             {"axis": "T", "units": "seconds since 1900-01-01 00:00:00", "calendar": "gregorian"}),
            "nav_lat": ("nav_lat", np.array([45.0, 46.0]), {"standard_name": "latitude"}),
            "nav_lon": ("nav_lon", np.array([-5.0, -4.0, -3.0]), {"standard_name": "longitude"}),
        },
    )
    write_nc(ds, f"{out}/navlat.nc")


def make_depth(out):
    # time [0, 1] days since 2000-01-01; z (axis Z, m) [0, 10, 50]; lat [0, 1]; lon [-1, 0, 1]
    # temp float64 = t*1000 + k*100 + i*10 + j
    t, k, i, j = np.meshgrid(np.arange(2), np.arange(3), np.arange(2), np.arange(3), indexing="ij")
    ds = xr.Dataset(
        {"temp": (("time", "z", "lat", "lon"), (t * 1000 + k * 100 + i * 10 + j).astype(F64),
                  {"units": "degC", "standard_name": "sea_water_temperature", "long_name": "temperature"})},
        coords={
            "time": ("time", np.array([0.0, 1.0]), {"units": "days since 2000-01-01"}),
            "z": ("z", np.array([0.0, 10.0, 50.0]), {"axis": "Z", "units": "m", "positive": "down"}),
            "lat": ("lat", np.array([0.0, 1.0]), {"units": "degrees_north"}),
            "lon": ("lon", np.array([-1.0, 0.0, 1.0]), {"units": "degrees_east"}),
        },
    )
    write_nc(ds, f"{out}/depth.nc")


def make_multistep(out):
    # two files, two steps each: days since 2015-06-01 [0, 1] and [2, 3]; v = 10*global_step + i*2 + j
    for name, steps in (("a", [0, 1]), ("b", [2, 3])):
        t, i, j = np.meshgrid(np.array(steps), np.arange(2), np.arange(2), indexing="ij")
        v = (t * 10 + i * 2 + j).astype(F64)
        ds = small_grid(np.array(steps, dtype=F64), {"units": "days since 2015-06-01"}, values=v)
        write_nc(ds, f"{out}/multistep/{name}.nc")


# ---------------------------------------------------------------------------------------------
# daily: 30 files, 2020-01-01 .. 2020-01-30, one time step each (days since 2020-01-01 = d).
#   lat 20 ascending: -9.5 + i (i = 0..19); lon 40: -19.5 + j (j = 0..39)
#   sst float32 = 10 + d + 0.25*i + 0.5*j, _FillValue -999 at (i=0, j=0); chunks (1, 5, 10)
#   -> chunk grid 1 x 4 x 4 = 16 chunks per file, 480 in all.
# ---------------------------------------------------------------------------------------------
DAILY_DAYS, DAILY_NLAT, DAILY_NLON, DAILY_CHUNKS = 30, 20, 40, (1, 5, 10)


def daily_dataset(d):
    i, j = np.meshgrid(np.arange(DAILY_NLAT), np.arange(DAILY_NLON), indexing="ij")
    sst = (10 + d + 0.25 * i + 0.5 * j).astype(F32)[None]
    sst[0, 0, 0] = -999.0
    return xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "_FillValue": F32(-999.0)})},
        coords={
            "time": ("time", np.array([float(d)]), {"units": "days since 2020-01-01", "standard_name": "time"}),
            "lat": ("lat", -9.5 + np.arange(DAILY_NLAT, dtype=F64), {"units": "degrees_north"}),
            "lon": ("lon", -19.5 + np.arange(DAILY_NLON, dtype=F64), {"units": "degrees_east"}),
        },
    )


def make_daily(out):
    for d in range(DAILY_DAYS):
        ds = daily_dataset(d)
        stamp = f"202001{d + 1:02d}"
        write_nc(ds, f"{out}/daily/sst_{stamp}.nc", "NETCDF4", {"sst": DAILY_CHUNKS})
        write_zarr(ds, f"{out}/daily_zarr/sst_{stamp}.zarr", 3, False, {"sst": DAILY_CHUNKS})


def make_bad(out):
    d = f"{out}/bad"
    os.makedirs(d, exist_ok=True)
    # random bytes named .nc
    rng = np.random.default_rng(42)
    with open(f"{d}/corrupt.nc", "wb") as f:
        f.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    # a NetCDF-4 (HDF5) file cut to 60% of its size
    write_nc(basic_dataset(), f"{d}/full.tmp.nc", "NETCDF4")
    with open(f"{d}/full.tmp.nc", "rb") as f:
        data = f.read()
    os.remove(f"{d}/full.tmp.nc")
    with open(f"{d}/truncated.nc", "wb") as f:
        f.write(data[: int(len(data) * 0.6)])
    # two files of one product on different grids (2 x 2 and 3 x 2)
    write_nc(small_grid([0.0], {"units": "days since 2000-01-01"}), f"{d}/mixed_grids/a.nc")
    write_nc(small_grid([1.0], {"units": "days since 2000-01-01"}, lat=(10.0, 20.0, 30.0)),
             f"{d}/mixed_grids/b.nc")
    # the second file lacks the variable `v` (it has `w` instead)
    write_nc(small_grid([0.0], {"units": "days since 2000-01-01"}), f"{d}/missing_var/a.nc")
    write_nc(small_grid([1.0], {"units": "days since 2000-01-01"}).rename({"v": "w"}), f"{d}/missing_var/b.nc")
    # a calendar whose dates are not all real dates
    write_nc(small_grid([0.0, 30.0], {"units": "days since 2000-01-01", "calendar": "360_day"}), f"{d}/cal360.nc")
    # a unit without a fixed length
    write_nc(small_grid([0.0, 1.0], {"units": "months since 2000-01-01"}), f"{d}/months.nc")
    os.makedirs(f"{d}/empty", exist_ok=True)
    # a Zarr store whose metadata is not JSON, and one with a garbage chunk
    os.makedirs(f"{d}/broken.zarr", exist_ok=True)
    with open(f"{d}/broken.zarr/zarr.json", "w") as f:
        f.write("{ this is not json")
    write_zarr(basic_dataset(), f"{d}/badchunk.zarr", 3, False, {"val": (1, 2, 3)})
    with open(f"{d}/badchunk.zarr/val/c/1/0/1", "wb") as f:
        f.write(rng.integers(0, 256, 37, dtype=np.uint8).tobytes())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTDIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    make_basic(out)
    make_times(out)
    make_attr_coords(out)
    make_depth(out)
    make_multistep(out)
    make_daily(out)
    make_bad(out)
    make_insitu_fixtures.make(out)
    make_sample_fixtures.make(out)
    make_analytics_fixtures.make(out)


if __name__ == "__main__":
    main()
