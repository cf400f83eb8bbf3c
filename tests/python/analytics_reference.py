"""What climatology(), anomaly() and resample() must return on the fixtures, computed with
xarray and numpy only (tests/tests/analytics.rs compares OceanQL's answers with these).

Usage: python analytics_reference.py FIXTURES OUT.json

  clim_month            the monthly product (analytics/monthly/*.nc): xarray
                        groupby('time.month') .mean(), .std() (ddof 0), .count()
  clim_month_2002_2004  the same over 2002-2004 (sel(time=slice('2002', '2004')))
  clim_doy              the daily product (analytics/daily/sst_daily.nc): groupby('time.dayofyear')
  anomaly_month         every valid monthly value minus clim_month of its month and cell
  anomaly_file          every valid monthly value minus analytics/clim/monthly_clim.nc (read
                        with xarray; matched by month, lat and lon modulo 360)
  anomaly_doy           every valid daily value minus clim_doy of its day of year and cell
  resample/<case>       numpy bins: cell centres floor(x / r) r + r / 2 (lon first brought into
                        [-180, 180)), buckets floor(t / dt) dt from 1970-01-01 (months: whole
                        months since January 1970), mean, min, max, std (ddof 0), count of the
                        valid values; cases: a swath (sample/swath_big.nc), a CF trajectory
                        (sample/dsg/trajectory_big.nc), in situ points (analytics/points.parquet,
                        3 intervals) and the monthly grid

Rows are lists; climatologies [period, lat, lon, mean, std, count], anomalies [time (us since
1970), lat, lon, anomaly], resample [time (us), lat, lon, mean, min, max, std, count]; NaN is null.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xarray as xr

US = np.int64(1_000_000)


def norm_lon(lon):
    return (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0


def value(x):
    x = float(x)
    return None if np.isnan(x) else x


def micros(times):
    return np.asarray(times, dtype="datetime64[us]").astype(np.int64)


def monthly(fixtures):
    parts = [xr.open_dataset(f"{fixtures}/analytics/monthly/sst_{y}.nc") for y in range(2001, 2006)]
    return xr.concat(parts, dim="time").sst.astype("f8")


def climatology(da, group):
    g = da.groupby(f"time.{group}")
    mean, std, count = g.mean(), g.std(ddof=0), g.count()
    rows = []
    for p in mean[group].values:
        for lat in mean.lat.values:
            for lon in mean.lon.values:
                at = {group: p, "lat": lat, "lon": lon}
                rows.append([int(p), float(lat), float(norm_lon(lon)), value(mean.sel(at)), value(std.sel(at)),
                             int(count.sel(at))])
    return rows, mean


def anomalies(da, clim, group):
    period = getattr(da.time.dt, group)
    anomaly = da - clim.sel({group: period})
    t = micros(da.time.values)
    rows = []
    for k in range(da.sizes["time"]):
        a = anomaly.isel(time=k).values
        for i, lat in enumerate(da.lat.values):
            for j, lon in enumerate(da.lon.values):
                if not np.isnan(da.values[k, i, j]):
                    rows.append([int(t[k]), float(lat), float(norm_lon(lon)), value(a[i, j])])
    return rows


def anomaly_file(fixtures, da):
    clim = xr.open_dataset(f"{fixtures}/analytics/clim/monthly_clim.nc").sst_clim
    clim = clim.assign_coords(month=("time", clim.time.dt.month.values), lon=norm_lon(clim.lon.values))
    clim = clim.swap_dims(time="month").drop_vars("time")
    da = da.assign_coords(lon=norm_lon(da.lon.values))
    return anomalies(da, clim, "month")


def bucket_starts(t_us, interval):
    """Bucket start (us) of each time: fixed lengths from 1970-01-01, or whole months."""
    count, unit = interval.split()
    count = int(count)
    if unit.startswith("month"):
        dt = t_us.astype("datetime64[us]")
        months = (dt.astype("datetime64[M]").astype(np.int64) // count) * count
        return months.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)
    seconds = {"minutes": 60, "hours": 3600, "days": 86400}[unit if unit.endswith("s") else unit + "s"]
    step = count * seconds * US
    return (t_us // step) * step


def resample(t_us, lat, lon, v, resolution, interval):
    ok = ~(np.isnan(v) | np.isnan(lat) | np.isnan(lon))
    t_us, lat, lon, v = t_us[ok], lat[ok], norm_lon(lon[ok]), v[ok].astype(np.float64)
    cell = lambda x: np.floor(x / resolution) * resolution + resolution / 2
    keys = np.stack([bucket_starts(t_us, interval).astype(np.float64), cell(lat), cell(lon)], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = np.bincount(inverse)
    mean = np.bincount(inverse, weights=v) / n
    std = np.sqrt(np.bincount(inverse, weights=(v - mean[inverse]) ** 2) / n)
    lo = np.full(len(uniq), np.inf)
    hi = np.full(len(uniq), -np.inf)
    np.minimum.at(lo, inverse, v)
    np.maximum.at(hi, inverse, v)
    return [[int(k[0]), float(k[1]), float(k[2]), float(mean[i]), float(lo[i]), float(hi[i]), float(std[i]), int(n[i])]
            for i, k in enumerate(uniq)]


def resample_cases(fixtures, da):
    cases = {}
    swath = xr.open_dataset(f"{fixtures}/sample/swath_big.nc")
    t = np.broadcast_to(micros(swath.time.values)[:, None], swath.sst.shape)
    cases["swath"] = resample(t.ravel(), swath.lat.values.ravel(), swath.lon.values.ravel(), swath.sst.values.ravel(),
                              0.25, "10 minutes")
    traj = xr.open_dataset(f"{fixtures}/sample/dsg/trajectory_big.nc")
    cases["trajectory"] = resample(micros(traj.time.values), traj.lat.values, traj.lon.values, traj.temp.values,
                                   2.0, "6 hours")
    points = pq.read_table(f"{fixtures}/analytics/points.parquet").to_pandas()
    pt = points.time.values.astype("datetime64[us]").astype(np.int64)
    plat, plon, ptemp = (points[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in ("lat", "lon", "temp"))
    for name, interval in (("points_month", "1 month"), ("points_quarter", "3 months"), ("points_week", "7 days")):
        cases[name] = resample(pt, plat, plon, ptemp, 5.0, interval)
    t = np.broadcast_to(micros(da.time.values)[:, None, None], da.shape)
    lat = np.broadcast_to(da.lat.values[None, :, None], da.shape)
    lon = np.broadcast_to(da.lon.values[None, None, :], da.shape)
    cases["grid"] = resample(t.ravel(), lat.ravel(), lon.ravel(), da.values.ravel(), 2.0, "12 months")
    return cases


def main():
    # numpy warns about the std of cells without values (land): they are NaN, as wanted.
    warnings.simplefilter("ignore", RuntimeWarning)
    fixtures, out = sys.argv[1], sys.argv[2]
    da = monthly(fixtures)
    daily = xr.open_dataset(f"{fixtures}/analytics/daily/sst_daily.nc").sst.astype("f8")
    clim_month, month_mean = climatology(da, "month")
    clim_doy, doy_mean = climatology(daily, "dayofyear")
    result = {
        "clim_month": clim_month,
        "clim_month_2002_2004": climatology(da.sel(time=slice("2002", "2004")), "month")[0],
        "clim_doy": clim_doy,
        "anomaly_month": anomalies(da, month_mean, "month"),
        "anomaly_file": anomaly_file(fixtures, da),
        "anomaly_doy": anomalies(daily, doy_mean, "dayofyear"),
        "resample": resample_cases(fixtures, da),
    }
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
