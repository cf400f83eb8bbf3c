"""Independent check of daily_difference_average.sql: per day of 2023, count, mean and
population std over 24-29N, 87-83W of the daily SST minus the 1991-2020 climatology of its
month.

Reads DIR/sst_monthly/*.nc and DIR/sst_nc/*.nc with netCDF4 (_common.monthly_sst,
_common.daily_sst), then xarray: the climatology is groupby('time.month').mean() of
1991-2020, subtracted from the daily field by groupby('time.month') arithmetic (same
1° cells in both files); count, mean and std (ddof 0) over lat and lon per day.

Usage: python daily_difference_average_check.py DIR [--write]
"""
from _common import daily_sst, demo_dir, finish, monthly_sst, sql_round

box = dict(lat=(24, 29), lon=(-87, -83))
d = demo_dir()
monthly = monthly_sst(d, **box).sel(time=slice("1991-01-01", "2020-12-31"))
clim = monthly.groupby("time.month").mean()
daily = daily_sst(d, **box)
assert daily.sizes["time"] == 365 and (daily.lat.values == clim.lat.values).all() and (daily.lon.values == clim.lon.values).all()
diff = daily.groupby("time.month") - clim
cells, mean, std = diff.count(("lat", "lon")), diff.mean(("lat", "lon")), diff.std(("lat", "lon"))
rows = [
    (t, int(cells[k]), sql_round(mean[k], 3), sql_round(std[k], 3))
    for k, t in enumerate(daily.time.values)
    if cells[k] > 0
]
finish(__file__, [(["day", "cells", "mean_diff", "std_diff"], rows)])
