"""Independent check of climatological_map.sql: the August 1991-2020 climatology (mean,
population std, count) of sst_monthly over 40-60N, 160-120W.

Reads DIR/sst_monthly/*.nc with netCDF4 (_common.monthly_sst), then xarray: 1991-2020,
groupby('time.month') .mean(), .std() (ddof 0), .count(); month 8; ocean cells only.

Usage: python climatological_map_check.py DIR [--write]
"""
import warnings

from _common import demo_dir, finish, monthly_sst, sql_round

sst = monthly_sst(demo_dir(), lat=(40, 60), lon=(-160, -120)).sel(time=slice("1991-01-01", "2020-12-31"))
assert sst.sizes["time"] == 360
months = sst.groupby("time.month")
with warnings.catch_warnings():  # std of the all-NaN land cells
    warnings.simplefilter("ignore", RuntimeWarning)
    mean, std, count = (m.sel(month=8) for m in (months.mean(), months.std(), months.count()))
rows = [
    (lat, lon, sql_round(mean.sel(lat=lat, lon=lon), 3), sql_round(std.sel(lat=lat, lon=lon), 3), int(count.sel(lat=lat, lon=lon)))
    for lat in sst.lat.values[::-1]
    for lon in sst.lon.values
    if count.sel(lat=lat, lon=lon) > 0
]
finish(__file__, [(["lat", "lon", "mean_sst", "std_sst", "years"], rows)])
