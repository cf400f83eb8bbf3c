"""Independent check of blob.sql: monthly mean SST and SST anomaly (against the 1991-2020
monthly climatology) over 45-60N, 150-120W, for sst_monthly 2013-2016 and the daily sst of
2023 (per month over all cells and days).

Reads DIR/sst_monthly/*.nc and DIR/sst_nc/*.nc with netCDF4 (_common.monthly_sst,
_common.daily_sst), then xarray: climatology = groupby('time.month').mean() of 1991-2020,
anomalies by groupby('time.month') arithmetic; per month (resample(time='MS') of the daily
field) the count of ocean values, the mean of the values and of the anomalies, the
largest anomaly.

Usage: python blob_check.py DIR [--write]
"""
from _common import daily_sst, demo_dir, finish, monthly_sst, sql_round

box = dict(lat=(45, 60), lon=(-150, -120))
d = demo_dir()
monthly = monthly_sst(d, **box)
clim = monthly.sel(time=slice("1991-01-01", "2020-12-31")).groupby("time.month").mean()


def summary(sst):
    """Per month: (month, values, mean sst, mean anomaly, max anomaly)."""
    anomaly = sst.groupby("time.month") - clim
    months = sst.time.values.astype("datetime64[M]").astype("datetime64[ns]")
    sst, anomaly = sst.assign_coords(month_start=("time", months)), anomaly.assign_coords(month_start=("time", months))
    rows = []
    for m, values in sst.groupby("month_start"):
        a = anomaly.sel(time=values.time)
        rows.append((m, int(values.count()), sql_round(values.mean(), 3), sql_round(a.mean(), 3), sql_round(a.max(), 2)))
    return rows


blob14 = monthly.sel(time=slice("2013-01-01", "2016-12-31"))
assert blob14.sizes["time"] == 48
daily = daily_sst(d, **box)
assert daily.sizes["time"] == 365 and (daily.lat.values == clim.lat.values).all() and (daily.lon.values == clim.lon.values).all()
finish(__file__, [
    (["month", "cells", "mean_sst", "mean_anomaly", "max_anomaly"], summary(blob14)),
    (["month", "values", "mean_sst", "mean_anomaly", "max_anomaly"], summary(daily)),
])
