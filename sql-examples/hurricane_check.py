"""Independent check of hurricane.sql: SST, SST anomaly, wind speed and pressure in the box
28-29N, 85-84W, daily, then the week before and the week after the storm's passage.

Reads DIR/sst_nc/*.nc (_common.daily_sst, netCDF4) and DIR/wind.zarr (xarray with zarr, CF
scale and offset applied by xarray); the 1991-2020 monthly climatology of the box from
DIR/sst_monthly/*.nc (_common.monthly_sst) with xarray groupby('time.month').mean(); the
anomaly is the daily SST minus the climatology of its month. Box means per day with numpy
(SST over the ocean cells, wind and pressure over every cell of the box: the wind product
has no land mask). The passage is the day of the lowest box-mean pressure between 08-15 and
09-15 (the earliest if tied); the weeks are the 7 days before it and the 7 days after it.

Usage: python hurricane_check.py DIR [--write]
"""
import os

import numpy as np
import xarray as xr

from _common import daily_sst, demo_dir, finish, monthly_sst, sql_round

LAT, LON = (28, 29), (-85, -84)
d = demo_dir()
period = slice("2023-08-15", "2023-09-15")

sst = daily_sst(d, LAT, LON).sel(time=period)
monthly = monthly_sst(d, LAT, LON).sel(time=slice("1991-01-01", "2020-12-31"))
assert monthly.sizes["time"] == 360
clim = monthly.groupby("time.month").mean()
ssta = sst - clim.sel(month=sst.time.dt.month).drop_vars("month")

wind = xr.open_zarr(os.path.join(d, "wind.zarr"), consolidated=False)
wind = wind.sel(time=period, lat=slice(*LAT), lon=slice(*LON)).load()
assert wind.sizes["time"] == sst.sizes["time"] == 32
assert np.array_equal(wind.lat, sst.lat) and np.array_equal(wind.lon, sst.lon)

days = sst.time.values
series = {
    "sst": np.nanmean(sst.values, axis=(1, 2)),
    "ssta": np.nanmean(ssta.transpose("time", "lat", "lon").values, axis=(1, 2)),
    "wind_speed": wind.wind_speed.values.mean(axis=(1, 2)),
    "msl": wind.msl.values.mean(axis=(1, 2)),
}
names = list(series)
decimals = {"sst": 2, "ssta": 2, "wind_speed": 2, "msl": 1}


def rounded(values):
    return [sql_round(values[n], decimals[n]) for n in names]


in_window = (days >= np.datetime64("2023-08-20")) & (days <= np.datetime64("2023-09-10"))
daily = [(day, *rounded({n: series[n][i] for n in names})) for i, day in enumerate(days) if in_window[i]]

passage = int(np.argmin(series["msl"]))  # argmin: the first of equal minima
one_day = np.timedelta64(1, "D")
before = (days >= days[passage] - 7 * one_day) & (days <= days[passage] - one_day)
after = (days >= days[passage] + one_day) & (days <= days[passage] + 7 * one_day)
means = {}
rows = []
for label, mask in (("before", before), ("after", after)):
    means[label] = {n: series[n][mask].mean() for n in names}
    rows.append((label, days[mask][0], days[mask][-1], int(mask.sum()), *rounded(means[label])))
rows.append(("after - before", None, None, None, *rounded({n: means["after"][n] - means["before"][n] for n in names})))

finish(__file__, [
    (["time", *names], daily),
    (["period", "first_day", "last_day", "days", *names], rows),
])
