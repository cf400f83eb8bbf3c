"""Writes the fixtures of climatology(), anomaly() and resample() into OUTDIR/analytics/.

Usage: python make_analytics_fixtures.py OUTDIR     (also called by make_fixtures.py)

  monthly/sst_YYYY.nc     2001..2005, one file a year, 12 monthly steps on the 15th at 00:00 UTC
                          (days since 2001-01-01); lat 8 descending 3.5 .. -3.5; lon 8 stored
                          0..360: 176.5 .. 183.5 (-> 176.5 .. 179.5, -179.5 .. -176.5, across the
                          antimeridian); sst float32 degC = 27 + 1.5 cos(2 pi (month - 1) / 12)
                          + 0.05 (year - 2001) + N(0, 0.4), _FillValue -999 at (lat 3.5, lon 176.5)
                          and (lat 3.5, lon 177.5) always (land) and at 5 % of the other values
  daily/sst_daily.nc      2003-01-01 .. 2005-12-31 (1096 days, 2004 is a leap year) at 12:00 UTC;
                          lat [0.5, 1.5], lon [10.5, 11.5, 12.5]; sst float32 = 20 + 3 sin(2 pi doy
                          / 365) + N(0, 0.5), _FillValue -999 at 5 % of the values
  clim/monthly_clim.nc    a monthly climatology "file" of the monthly product: 12 steps (the 1st of
                          each month of 2001), lat ascending -3.5 .. 3.5, lon in -180..180 order
                          (-179.5 .. -176.5, 176.5 .. 179.5); sst_clim float64 = xarray's
                          groupby('time.month').mean() of monthly/ (NaN -> _FillValue -999 on land)
  clim/coarse.nc          12 monthly steps on a 2 degree grid (lat -3 .. 3, lon 177 .. 183): not
                          the monthly product's grid
  clim/two_vars.nc        12 monthly steps on the product's grid with two variables, a and b
  clim/two_januaries.nc   12 steps, two of them in January (2001-01-01 and 2001-01-11), then
                          March .. December: neither monthly nor daily
  tiny_clim.nc            hand-checkable (tests/slt/analytics.slt): 12 steps on the 1st of each
                          month of 2000, lat [10, 20] (i), lon [30, 40] (j), v float64 =
                          10 month + 2 i + j, _FillValue -999 at (February, i 1, j 1)
  points.parquet          4000 in situ records: time timestamp[us, UTC] uniform over 2003-2005,
                          lat uniform -30 .. 30, lon uniform -180 .. 180, temp float64 =
                          20 + 0.1 lat + N(0, 1), NULL at 5 %; 10 records with a NULL lat

Deterministic: a fixed seed.
"""

import os
import sys

import netCDF4
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

F32 = np.float32
FILL = -999.0
LAT_ATTRS = {"standard_name": "latitude", "units": "degrees_north"}
LON_ATTRS = {"standard_name": "longitude", "units": "degrees_east"}
MONTHLY_LAT = np.arange(3.5, -4.0, -1.0)
MONTHLY_LON = np.arange(176.5, 184.0, 1.0)
YEARS = range(2001, 2006)


def write_grid(path, days, units, lat, lon, variables):
    """One NetCDF-4 grid file: `variables` maps name -> (dtype, values with NaN for missing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with netCDF4.Dataset(path, "w") as ds:
        ds.set_auto_maskandscale(False)
        ds.createDimension("time", len(days))
        ds.createDimension("lat", len(lat))
        ds.createDimension("lon", len(lon))
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"standard_name": "time", "units": units, "calendar": "standard"})
        t[:] = days
        for name, values, attrs in (("lat", lat, LAT_ATTRS), ("lon", lon, LON_ATTRS)):
            v = ds.createVariable(name, "f8", (name,))
            v.setncatts(attrs)
            v[:] = values
        for name, (dtype, values) in variables.items():
            v = ds.createVariable(name, dtype, ("time", "lat", "lon"), fill_value=np.dtype(dtype).type(FILL))
            v.set_auto_maskandscale(False)
            v.setncattr("units", "degC")
            v[...] = np.where(np.isnan(values), FILL, values).astype(dtype)


def days_since(dates, origin):
    return (pd.DatetimeIndex(dates) - pd.Timestamp(origin)) / pd.Timedelta(days=1)


def make_monthly(out, rng):
    for year in YEARS:
        dates = [f"{year}-{m:02d}-15" for m in range(1, 13)]
        month = np.arange(1, 13)[:, None, None]
        sst = 27 + 1.5 * np.cos(2 * np.pi * (month - 1) / 12) + 0.05 * (year - 2001) + rng.normal(0, 0.4, (12, 8, 8))
        sst[rng.random(sst.shape) < 0.05] = np.nan
        sst[:, 0, 0:2] = np.nan
        write_grid(f"{out}/monthly/sst_{year}.nc", days_since(dates, "2001-01-01"), "days since 2001-01-01",
                   MONTHLY_LAT, MONTHLY_LON, {"sst": ("f4", sst)})


def make_daily(out, rng):
    dates = pd.date_range("2003-01-01", "2005-12-31", freq="D")
    doy = dates.dayofyear.values[:, None, None]
    sst = 20 + 3 * np.sin(2 * np.pi * doy / 365) + rng.normal(0, 0.5, (len(dates), 2, 3))
    sst[rng.random(sst.shape) < 0.05] = np.nan
    write_grid(f"{out}/daily/sst_daily.nc", days_since(dates, "2003-01-01") + 0.5, "days since 2003-01-01",
               np.array([0.5, 1.5]), np.array([10.5, 11.5, 12.5]), {"sst": ("f4", sst)})


def monthly_product(out):
    """The monthly product as xarray decodes it (float32 -> float64 for the means)."""
    parts = [xr.open_dataset(f"{out}/monthly/sst_{y}.nc") for y in YEARS]
    return xr.concat(parts, dim="time")


def make_climatologies(out, rng):
    clim = monthly_product(out).sst.astype("f8").groupby("time.month").mean()
    order = np.argsort(np.where(MONTHLY_LON >= 180, MONTHLY_LON - 360, MONTHLY_LON))
    lon = np.where(MONTHLY_LON >= 180, MONTHLY_LON - 360, MONTHLY_LON)[order]
    values = clim.values[:, ::-1, :][:, :, order]
    first_days = days_since([f"2001-{m:02d}-01" for m in range(1, 13)], "2001-01-01")
    units = "days since 2001-01-01"
    write_grid(f"{out}/clim/monthly_clim.nc", first_days, units, MONTHLY_LAT[::-1], lon, {"sst_clim": ("f8", values)})
    write_grid(f"{out}/clim/coarse.nc", first_days, units, np.arange(-3.0, 4.0, 2.0), np.arange(177.0, 184.0, 2.0),
               {"sst_clim": ("f8", rng.normal(27, 1, (12, 4, 4)))})
    both = rng.normal(27, 1, (12, 8, 8))
    write_grid(f"{out}/clim/two_vars.nc", first_days, units, MONTHLY_LAT, MONTHLY_LON, {"a": ("f8", both), "b": ("f8", both + 1)})
    januaries = np.concatenate([[0.0, 10.0], first_days[2:]])
    write_grid(f"{out}/clim/two_januaries.nc", januaries, units, MONTHLY_LAT, MONTHLY_LON, {"sst_clim": ("f8", both)})


def make_tiny(out):
    month, i, j = np.meshgrid(np.arange(1, 13), np.arange(2), np.arange(2), indexing="ij")
    v = (10 * month + 2 * i + j).astype(float)
    v[1, 1, 1] = np.nan
    first_days = days_since([f"2000-{m:02d}-01" for m in range(1, 13)], "2000-01-01")
    write_grid(f"{out}/tiny_clim.nc", first_days, "days since 2000-01-01", np.array([10.0, 20.0]), np.array([30.0, 40.0]),
               {"v": ("f8", v)})


def make_points(out, rng):
    n = 4000
    start, end = pd.Timestamp("2003-01-01", tz="UTC"), pd.Timestamp("2006-01-01", tz="UTC")
    micros = rng.integers(start.value // 1000, end.value // 1000, n)
    lat = rng.uniform(-30, 30, n)
    lon = rng.uniform(-180, 180, n)
    temp = 20 + 0.1 * lat + rng.normal(0, 1, n)
    temp_mask = rng.random(n) < 0.05
    lat_mask = np.zeros(n, dtype=bool)
    lat_mask[rng.choice(n, 10, replace=False)] = True
    table = pa.table({
        "time": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
        "lat": pa.array(lat, mask=lat_mask),
        "lon": pa.array(lon),
        "temp": pa.array(temp, mask=temp_mask),
    })
    pq.write_table(table, f"{out}/points.parquet", row_group_size=1000)


def make(outdir):
    out = os.path.join(os.path.abspath(outdir), "analytics")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240601)
    make_monthly(out, rng)
    make_daily(out, rng)
    make_climatologies(out, rng)
    make_tiny(out)
    make_points(out, rng)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_analytics_fixtures.py OUTDIR")
    make(sys.argv[1])
