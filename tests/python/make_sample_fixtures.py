"""Writes the swath, along-track and CF discrete-sampling-geometry (DSG) fixtures into OUTDIR/sample/.

Usage: python make_sample_fixtures.py OUTDIR     (also called by make_fixtures.py)

Every value is chosen so that the SQL answers can be worked out by hand (tests/slt/swath.slt,
tests/slt/dsg.slt); expected_sample.py computes them again, independently, with xarray.
Written with netCDF4 directly (auto mask-and-scale off), so the stored values are exactly these:

  swath/curved.nc         GHRSST L2P-like, nj 6 x ni 5 (j = row, i = cell), time(1) dropped:
                          time = 1230681600 s since 1981-01-01 (2020-01-01T00:00:00Z),
                          lat = 10 + j + 0.25 i, lon = 20 + i + 0.5 j (float32, curved),
                          sea_surface_temperature int16 raw 10 j + i, value 273 + 0.25 raw,
                            _FillValue -32768 at (0, 0) and (3, 2),
                          sst_dtime int16 raw 30 j + i, scale 2 -> 60 j + 2 i seconds (pixel time),
                            _FillValue -32768 at (4, 1) (that pixel has no time),
                          quality_level int8 (j + i) % 6 (_FillValue -128, valid 0..5),
                          l2p_flags int16 (5 j + i) % 16 with flag_masks 1 2 4 8 (no fill)
  swath/antimeridian.nc   SWOT-like, num_lines 8 x num_pixels 4 (l, p):
                          time(num_lines) = 10 l s since 2023-04-01, latitude = l - 0.25 p,
                          longitude = 177 + 0.5 l + p in 0..360 (177..183.5, crosses 180),
                          ssh_karin float64 10 l + p, _FillValue -9999 at (2, 1) and (5, 3),
                          swath_side(num_lines, num_sides=2): not a column
  swath/pole.nc           10 lines x 8 pixels over the North Pole: x = 20 km (i - 3.5),
                          y = 20 km (j - 4.5), lat = 90 - r / 111 km, lon = atan2(y, x) in degrees,
                          sst float32 8 j + i; time(nj) = j minutes since 2021-03-01
  swath/nan_coords.nc     nj 4 x ni 3, lat/lon float32 = 50 + j, -20 + i with NaN lat at (1, 1),
                          NaN lon at (2, 0), NaN both at (3, 2), _FillValue -999 both at (0, 2);
                          val int16 10 j + i; no time variable
  swath_big.nc            2000 lines x 100 pixels (pruning): lat = -60 + 0.06 j + 0.001 i,
                          lon = -50 + 0.1 i + 0.01 j, time(nj) = j s since 2020-06-01,
                          sst float32 (j % 50) + 0.5 (i % 4); lat/lon chunked (100, 100)
  alongtrack/a.nc, b.nc   Jason-like 1 Hz files, 10 and 8 records (k):
                          time = 3600 + k (a), 7200 + k (b) s since 2002-01-15,
                          lat int32 scale 1e-6: -10 + 0.5 k (a), 20 + 0.5 k (b),
                          lon int32 scale 1e-6, 0..360: (350 + 2 k) % 360 (a), 10 + 2 k (b),
                          ssha int16 scale 0.001: 0.1 k, _FillValue 32767 at k = 3 (a), k = 0, 7 (b),
                          swh_ku int16 scale 0.001: 2 + 0.001 k, surface_type int8 k % 3,
                          meas_ind(meas_ind=20), lat_20hz/ssha_20hz(time, meas_ind): not columns
  dsg/trajectory_ragged.nc  featureType trajectory, contiguous ragged array: 3 trajectories with
                          rowSize [4, 2, 3] (sample_dimension obs), trajectory_id char (cf_role)
                          'DRF001', 'DRF002', 'DRF003', drogue(trajectory) int8 [1, 0, 1];
                          on obs (o = 0..8): time = o hours since 2020-01-01, lat = 10 + o,
                          lon = -30 + o, temp float32 20 + 0.5 o with _FillValue -999 at o = 5
  dsg/trajectory_big.nc   the same layout over 160001 observations (more than two blocks of 65536):
                          rowSize [40000, 0, 30000, 70000, 20001], ids 'T0'..'T4', drogue [1, 0, 1, 0, 1],
                          time = o s since 2020-01-01, lat = -60 + 0.0007 o, lon = -170 + 0.002 o,
                          temp float32 o % 100; obs chunked by 16384
  dsg/timeseries.nc       featureType timeSeries, orthogonal: station 3 (s) x time 4 (t):
                          station_name char (cf_role timeseries_id) 'ST_A', 'ST_B', 'ST_C',
                          lat = 40 + s, lon = 5 - s, time = t days since 2021-06-01,
                          temp(station, time) float64 10 s + t, _FillValue NaN at (1, 2)
  dsg/timeseries_indexed.nc  featureType timeSeries, indexed ragged array: station 3 ('SA', 'SB', 'SC';
                          lat 40, 41, 42; lon -5, -6, -7), stationIndex(obs) [2, 0, 1, 0, 2, 2, 1]
                          (instance_dimension station), time = o hours since 2022-01-01,
                          temp float64 10 stationIndex + o, _FillValue -999 at o = 3
  dsg/profile.nc          featureType profile, multidimensional: profile 4 (p) x obs 5 (k):
                          lat [-40, -39.5, -39, -38.5], lon [170, 175, -175, -170],
                          time = 10 p days since 2010-01-01, platform_number char (no cf_role)
                          '6901001' for p < 2 else '6901002', z(profile, obs) float32 10 k + p m,
                          temp float32 20 - 2 k + 0.5 p, _FillValue 99999 at (1, 4), (3, 3), (3, 4),
                          temp_qc char (profile, obs): '1', '4' at (0, 2), blank at the fills
  bad/dsg_inconsistent.nc featureType trajectory whose rowSize [3, 3] adds up to 6, obs has 5
  bad/dsg_bad_index.nc    an indexed ragged array whose index 2 is not one of the 2 stations
  bad/no_latitude.nc      a 2-D swath with x/y but nothing that can be taken for a latitude

Deterministic: nothing random.
"""

import math
import os
import sys

import netCDF4
import numpy as np

F32 = np.float32
F64 = np.float64


def new(path, attrs=None, fmt="NETCDF4"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds = netCDF4.Dataset(path, "w", format=fmt)
    ds.set_auto_maskandscale(False)
    for k, v in (attrs or {}).items():
        ds.setncattr(k, v)
    return ds


def var(ds, name, dtype, dims, values, attrs=None, fill=None, chunks=None):
    kw = {}
    if fill is not None:
        kw["fill_value"] = fill
    if chunks is not None:
        kw["chunksizes"] = chunks
        kw["zlib"] = True
    v = ds.createVariable(name, dtype, dims, **kw)
    v.set_auto_maskandscale(False)
    for k, a in (attrs or {}).items():
        v.setncattr(k, a)
    v[...] = values
    return v


def chars(ds, name, dims, strings, width, attrs=None):
    """A char variable (dims..., strlen) holding `strings` (blank-padded)."""
    arr = np.array([s.ljust(width)[:width] for s in np.ravel(strings)], dtype=f"S{width}")
    arr = netCDF4.stringtochar(arr).reshape(np.shape(strings) + (width,))
    v = ds.createVariable(name, "S1", dims)
    for k, a in (attrs or {}).items():
        v.setncattr(k, a)
    v[...] = arr
    return v


def dims(ds, **sizes):
    for k, n in sizes.items():
        ds.createDimension(k, n)


LAT = {"standard_name": "latitude", "units": "degrees_north"}
LON = {"standard_name": "longitude", "units": "degrees_east"}


# ---------------------------------------------------------------------------------------------
# swaths
# ---------------------------------------------------------------------------------------------
def make_curved(d):
    nj, ni = 6, 5
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    ds = new(f"{d}/curved.nc", {"Conventions": "CF-1.7, ACDD-1.3", "title": "GHRSST L2P-like swath"})
    dims(ds, time=1, nj=nj, ni=ni)
    var(ds, "lat", "f4", ("nj", "ni"), (10 + j + 0.25 * i).astype(F32), {**LAT, "valid_min": F32(-90), "valid_max": F32(90)})
    var(ds, "lon", "f4", ("nj", "ni"), (20 + i + 0.5 * j).astype(F32), {**LON, "valid_min": F32(-180), "valid_max": F32(180)})
    var(ds, "time", "i4", ("time",), np.array([1230681600], dtype=np.int32),
        {"standard_name": "time", "units": "seconds since 1981-01-01 00:00:00", "axis": "T"})
    sst = (10 * j + i).astype(np.int16)
    sst[0, 0] = -32768
    sst[3, 2] = -32768
    var(ds, "sea_surface_temperature", "i2", ("time", "nj", "ni"), sst[None],
        {"units": "kelvin", "standard_name": "sea_surface_skin_temperature",
         "scale_factor": F32(0.25), "add_offset": F32(273.0), "valid_min": np.int16(-5000), "valid_max": np.int16(5000)},
        fill=np.int16(-32768))
    dtime = (30 * j + i).astype(np.int16)
    dtime[4, 1] = -32768
    var(ds, "sst_dtime", "i2", ("time", "nj", "ni"), dtime[None],
        {"units": "seconds", "long_name": "time difference from reference time",
         "scale_factor": F32(2.0), "add_offset": F32(0.0)}, fill=np.int16(-32768))
    var(ds, "quality_level", "i1", ("time", "nj", "ni"), ((j + i) % 6).astype(np.int8)[None],
        {"valid_min": np.int8(0), "valid_max": np.int8(5), "flag_values": np.arange(6, dtype=np.int8),
         "flag_meanings": "no_data bad_data worst_quality low_quality acceptable_quality best_quality"},
        fill=np.int8(-128))
    var(ds, "l2p_flags", "i2", ("time", "nj", "ni"), ((5 * j + i) % 16).astype(np.int16)[None],
        {"flag_masks": np.array([1, 2, 4, 8], dtype=np.int16), "flag_meanings": "microwave land ice lake"})
    ds.close()


def make_antimeridian(d):
    nl, npx = 8, 4
    l, p = np.meshgrid(np.arange(nl), np.arange(npx), indexing="ij")
    ds = new(f"{d}/antimeridian.nc", {"Conventions": "CF-1.7", "title": "SWOT-like swath across 180"})
    dims(ds, num_lines=nl, num_pixels=npx, num_sides=2)
    var(ds, "time", "f8", ("num_lines",), 10.0 * np.arange(nl),
        {"standard_name": "time", "units": "seconds since 2023-04-01 00:00:00"})
    var(ds, "latitude", "f8", ("num_lines", "num_pixels"), (l - 0.25 * p).astype(F64), LAT)
    var(ds, "longitude", "f8", ("num_lines", "num_pixels"), (177 + 0.5 * l + p).astype(F64), LON)
    ssh = (10 * l + p).astype(F64)
    ssh[2, 1] = -9999.0
    ssh[5, 3] = -9999.0
    var(ds, "ssh_karin", "f8", ("num_lines", "num_pixels"), ssh, {"units": "m"}, fill=F64(-9999.0))
    var(ds, "swath_side", "i1", ("num_lines", "num_sides"), np.zeros((nl, 2), dtype=np.int8))
    ds.close()


def make_pole(d):
    nj, ni = 10, 8
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    x, y = 20.0 * (i - 3.5), 20.0 * (j - 4.5)
    lat = 90.0 - np.hypot(x, y) / 111.0
    lon = np.degrees(np.arctan2(y, x))
    ds = new(f"{d}/pole.nc", {"title": "swath over the North Pole"})
    dims(ds, nj=nj, ni=ni)
    var(ds, "time", "f8", ("nj",), np.arange(nj, dtype=F64), {"standard_name": "time", "units": "minutes since 2021-03-01"})
    var(ds, "lat", "f8", ("nj", "ni"), lat, LAT)
    var(ds, "lon", "f8", ("nj", "ni"), lon, LON)
    var(ds, "sst", "f4", ("nj", "ni"), (8 * j + i).astype(F32), {"units": "degC"})
    ds.close()


def make_nan_coords(d):
    nj, ni = 4, 3
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    lat = (50 + j).astype(F32)
    lon = (-20 + i).astype(F32)
    lat[1, 1] = np.nan
    lon[2, 0] = np.nan
    lat[3, 2] = lon[3, 2] = np.nan
    lat[0, 2] = lon[0, 2] = -999.0
    ds = new(f"{d}/nan_coords.nc")
    dims(ds, nj=nj, ni=ni)
    var(ds, "lat", "f4", ("nj", "ni"), lat, LAT, fill=F32(-999.0))
    var(ds, "lon", "f4", ("nj", "ni"), lon, LON, fill=F32(-999.0))
    var(ds, "val", "i2", ("nj", "ni"), (10 * j + i).astype(np.int16))
    ds.close()


def make_big(out):
    nj, ni = 2000, 100
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    ds = new(f"{out}/swath_big.nc", {"title": "a long swath for block pruning"})
    dims(ds, nj=nj, ni=ni)
    var(ds, "time", "f8", ("nj",), np.arange(nj, dtype=F64), {"standard_name": "time", "units": "seconds since 2020-06-01"})
    var(ds, "lat", "f8", ("nj", "ni"), -60 + 0.06 * j + 0.001 * i, LAT, chunks=(100, 100))
    var(ds, "lon", "f8", ("nj", "ni"), -50 + 0.1 * i + 0.01 * j, LON, chunks=(100, 100))
    var(ds, "sst", "f4", ("nj", "ni"), ((j % 50) + 0.5 * (i % 4)).astype(F32), {"units": "degC"}, chunks=(100, 100))
    ds.close()


# ---------------------------------------------------------------------------------------------
# along-track
# ---------------------------------------------------------------------------------------------
def make_alongtrack_file(path, t0, lat0, lon0, n, fills):
    k = np.arange(n)
    ds = new(path, {"Conventions": "CF-1.1", "title": "Jason-like 1 Hz along-track"}, fmt="NETCDF3_CLASSIC")
    dims(ds, time=n, meas_ind=20)
    var(ds, "time", "f8", ("time",), (t0 + k).astype(F64), {"standard_name": "time", "units": "seconds since 2002-01-15 00:00:00.0"})
    var(ds, "meas_ind", "i1", ("meas_ind",), np.arange(20, dtype=np.int8), {"units": "count"})
    var(ds, "lat", "i4", ("time",), np.round((lat0 + 0.5 * k) * 1e6).astype(np.int32), {**LAT, "scale_factor": 1e-6})
    lon = np.mod(lon0 + 2 * k, 360)
    var(ds, "lon", "i4", ("time",), np.round(lon * 1e6).astype(np.int32), {**LON, "scale_factor": 1e-6})
    lat20 = np.round((lat0 + 0.5 * k[:, None] + 0.025 * np.arange(20)[None]) * 1e6).astype(np.int32)
    var(ds, "lat_20hz", "i4", ("time", "meas_ind"), lat20, {**LAT, "scale_factor": 1e-6}, fill=np.int32(2147483647))
    ssha = (100 * k).astype(np.int16)
    ssha[fills] = 32767
    var(ds, "ssha", "i2", ("time",), ssha, {"units": "m", "scale_factor": 0.001}, fill=np.int16(32767))
    var(ds, "ssha_20hz", "i2", ("time", "meas_ind"), np.zeros((n, 20), dtype=np.int16), {"units": "m", "scale_factor": 0.001},
        fill=np.int16(32767))
    var(ds, "swh_ku", "i2", ("time",), (2000 + k).astype(np.int16), {"units": "m", "scale_factor": 0.001}, fill=np.int16(32767))
    var(ds, "surface_type", "i1", ("time",), (k % 3).astype(np.int8), {}, fill=np.int8(127))
    ds.close()


def make_alongtrack(d):
    make_alongtrack_file(f"{d}/a.nc", 3600, -10.0, 350.0, 10, [3])
    make_alongtrack_file(f"{d}/b.nc", 7200, 20.0, 10.0, 8, [0, 7])


# ---------------------------------------------------------------------------------------------
# CF discrete sampling geometries
# ---------------------------------------------------------------------------------------------
def make_trajectory(d):
    sizes = [4, 2, 3]
    n = sum(sizes)
    o = np.arange(n)
    ds = new(f"{d}/trajectory_ragged.nc", {"Conventions": "CF-1.8", "featureType": "trajectory"})
    dims(ds, trajectory=3, obs=n, name_strlen=8)
    chars(ds, "trajectory_id", ("trajectory", "name_strlen"), ["DRF001", "DRF002", "DRF003"], 8, {"cf_role": "trajectory_id"})
    var(ds, "rowSize", "i4", ("trajectory",), np.array(sizes, dtype=np.int32),
        {"sample_dimension": "obs", "long_name": "number of observations per trajectory"})
    var(ds, "drogue", "i1", ("trajectory",), np.array([1, 0, 1], dtype=np.int8), {"long_name": "drogue attached"})
    var(ds, "time", "f8", ("obs",), o.astype(F64), {"standard_name": "time", "units": "hours since 2020-01-01 00:00:00"})
    var(ds, "lat", "f8", ("obs",), (10.0 + o).astype(F64), LAT)
    var(ds, "lon", "f8", ("obs",), (-30.0 + o).astype(F64), LON)
    temp = (20 + 0.5 * o).astype(F32)
    temp[5] = -999.0
    var(ds, "temp", "f4", ("obs",), temp, {"units": "degC", "standard_name": "sea_water_temperature"}, fill=F32(-999.0))
    ds.close()


def make_trajectory_big(d):
    """Ragged trajectories longer than a block (65536 observations), one of them empty."""
    sizes = [40000, 0, 30000, 70000, 20001]
    n = sum(sizes)
    o = np.arange(n)
    ds = new(f"{d}/trajectory_big.nc", {"Conventions": "CF-1.8", "featureType": "trajectory"})
    dims(ds, trajectory=len(sizes), obs=n, name_strlen=4)
    chars(ds, "trajectory_id", ("trajectory", "name_strlen"), [f"T{k}" for k in range(len(sizes))], 4,
          {"cf_role": "trajectory_id"})
    var(ds, "rowSize", "i4", ("trajectory",), np.array(sizes, dtype=np.int32), {"sample_dimension": "obs"})
    var(ds, "drogue", "i1", ("trajectory",), np.array([1, 0, 1, 0, 1], dtype=np.int8))
    big = {"chunks": (16384,)}
    var(ds, "time", "f8", ("obs",), o.astype(F64), {"standard_name": "time", "units": "seconds since 2020-01-01"}, **big)
    var(ds, "lat", "f8", ("obs",), -60.0 + 0.0007 * o, LAT, **big)
    var(ds, "lon", "f8", ("obs",), -170.0 + 0.002 * o, LON, **big)
    var(ds, "temp", "f4", ("obs",), (o % 100).astype(F32), {"units": "degC"}, **big)
    ds.close()


def make_timeseries(d):
    ns, nt = 3, 4
    s, t = np.meshgrid(np.arange(ns), np.arange(nt), indexing="ij")
    ds = new(f"{d}/timeseries.nc", {"Conventions": "CF-1.8", "featureType": "timeSeries"})
    dims(ds, station=ns, time=nt, name_strlen=6)
    chars(ds, "station_name", ("station", "name_strlen"), ["ST_A", "ST_B", "ST_C"], 6, {"cf_role": "timeseries_id"})
    var(ds, "lat", "f8", ("station",), 40.0 + np.arange(ns), LAT)
    var(ds, "lon", "f8", ("station",), 5.0 - np.arange(ns), LON)
    var(ds, "time", "f8", ("time",), np.arange(nt, dtype=F64), {"standard_name": "time", "units": "days since 2021-06-01"})
    temp = (10 * s + t).astype(F64)
    temp[1, 2] = np.nan
    var(ds, "temp", "f8", ("station", "time"), temp, {"units": "degC"}, fill=F64(np.nan))
    ds.close()


def make_timeseries_indexed(d):
    idx = np.array([2, 0, 1, 0, 2, 2, 1], dtype=np.int32)
    o = np.arange(len(idx))
    ds = new(f"{d}/timeseries_indexed.nc", {"Conventions": "CF-1.8", "featureType": "timeSeries"})
    dims(ds, station=3, obs=len(idx), name_strlen=2)
    chars(ds, "station_name", ("station", "name_strlen"), ["SA", "SB", "SC"], 2, {"cf_role": "timeseries_id"})
    var(ds, "lat", "f8", ("station",), np.array([40.0, 41.0, 42.0]), LAT)
    var(ds, "lon", "f8", ("station",), np.array([-5.0, -6.0, -7.0]), LON)
    var(ds, "stationIndex", "i4", ("obs",), idx, {"instance_dimension": "station"})
    var(ds, "time", "f8", ("obs",), o.astype(F64), {"standard_name": "time", "units": "hours since 2022-01-01"})
    temp = (10.0 * idx + o).astype(F64)
    temp[3] = -999.0
    var(ds, "temp", "f8", ("obs",), temp, {"units": "degC"}, fill=F64(-999.0))
    ds.close()


def make_profile(d):
    npf, nk = 4, 5
    p, k = np.meshgrid(np.arange(npf), np.arange(nk), indexing="ij")
    ds = new(f"{d}/profile.nc", {"Conventions": "CF-1.8", "featureType": "profile"})
    dims(ds, profile=npf, obs=nk, strlen=8)
    chars(ds, "platform_number", ("profile", "strlen"), ["6901001", "6901001", "6901002", "6901002"], 8)
    var(ds, "lat", "f8", ("profile",), np.array([-40.0, -39.5, -39.0, -38.5]), LAT)
    var(ds, "lon", "f8", ("profile",), np.array([170.0, 175.0, -175.0, -170.0]), LON)
    var(ds, "time", "f8", ("profile",), 10.0 * np.arange(npf), {"standard_name": "time", "units": "days since 2010-01-01"})
    var(ds, "z", "f4", ("profile", "obs"), (10 * k + p).astype(F32),
        {"standard_name": "depth", "units": "m", "positive": "down", "axis": "Z"})
    temp = (20 - 2 * k + 0.5 * p).astype(F32)
    qc = np.full((npf, nk), "1")
    qc[0, 2] = "4"
    for a, b in ((1, 4), (3, 3), (3, 4)):
        temp[a, b] = 99999.0
        qc[a, b] = " "
    var(ds, "temp", "f4", ("profile", "obs"), temp, {"units": "degC"}, fill=F32(99999.0))
    v = ds.createVariable("temp_qc", "S1", ("profile", "obs"))
    v[...] = qc.astype("S1")
    ds.close()


def make_bad(d):
    ds = new(f"{d}/dsg_inconsistent.nc", {"featureType": "trajectory"})
    dims(ds, trajectory=2, obs=5)
    var(ds, "rowSize", "i4", ("trajectory",), np.array([3, 3], dtype=np.int32), {"sample_dimension": "obs"})
    var(ds, "time", "f8", ("obs",), np.arange(5, dtype=F64), {"standard_name": "time", "units": "hours since 2020-01-01"})
    var(ds, "lat", "f8", ("obs",), np.arange(5, dtype=F64), LAT)
    var(ds, "lon", "f8", ("obs",), np.arange(5, dtype=F64), LON)
    var(ds, "temp", "f4", ("obs",), np.arange(5, dtype=F32))
    ds.close()

    ds = new(f"{d}/dsg_bad_index.nc", {"featureType": "timeSeries"})
    dims(ds, station=2, obs=3)
    var(ds, "lat", "f8", ("station",), np.array([1.0, 2.0]), LAT)
    var(ds, "lon", "f8", ("station",), np.array([1.0, 2.0]), LON)
    var(ds, "stationIndex", "i4", ("obs",), np.array([0, 2, 1], dtype=np.int32), {"instance_dimension": "station"})
    var(ds, "temp", "f4", ("obs",), np.arange(3, dtype=F32))
    ds.close()

    # Two swaths of one product whose 'sst' differs in type (Float32, then Int16): refused.
    for name, dtype in [("a", "f4"), ("b", "i2")]:
        ds = new(f"{d}/conflict/{name}.nc")
        dims(ds, nj=2, ni=2)
        var(ds, "lat", "f8", ("nj", "ni"), np.array([[0.0, 0.5], [1.0, 1.5]]), LAT)
        var(ds, "lon", "f8", ("nj", "ni"), np.array([[0.0, 1.0], [0.5, 1.5]]), LON)
        var(ds, "sst", dtype, ("nj", "ni"), np.ones((2, 2), dtype=dtype))
        ds.close()

    ds = new(f"{d}/no_latitude.nc")
    dims(ds, nj=3, ni=2)
    var(ds, "x", "f8", ("nj", "ni"), np.zeros((3, 2)))
    var(ds, "y", "f8", ("nj", "ni"), np.zeros((3, 2)))
    var(ds, "sst", "f4", ("nj", "ni"), np.zeros((3, 2), dtype=F32))
    ds.close()


def make(outdir):
    out = os.path.join(os.path.abspath(outdir), "sample")
    make_curved(f"{out}/swath")
    make_antimeridian(f"{out}/swath")
    make_pole(f"{out}/swath")
    make_nan_coords(f"{out}/swath")
    make_big(out)
    make_alongtrack(f"{out}/alongtrack")
    make_trajectory(f"{out}/dsg")
    make_trajectory_big(f"{out}/dsg")
    make_timeseries(f"{out}/dsg")
    make_timeseries_indexed(f"{out}/dsg")
    make_profile(f"{out}/dsg")
    make_bad(f"{out}/bad")
    make_zarr_copies(out)


def make_zarr_copies(out):
    """The same swath as Zarr v3 and the same profiles (char flags) as Zarr v2, stored values untouched."""
    import xarray as xr

    for nc, store, fmt in [("swath/curved.nc", "swath/curved.zarr", 3), ("dsg/profile.nc", "dsg/profile.zarr", 2)]:
        with xr.open_dataset(f"{out}/{nc}", mask_and_scale=False, decode_times=False) as ds:
            ds.to_zarr(f"{out}/{store}", mode="w", zarr_format=fmt, consolidated=False)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_sample_fixtures.py OUTDIR")
    make(sys.argv[1])
