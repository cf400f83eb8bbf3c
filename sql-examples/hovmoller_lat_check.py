"""Independent check of hovmoller_lat.sql: monthly mean per latitude over 50S-50N, 160-140W.

Reads DIR/sst_nc/*.nc with netCDF4 (_common.daily_sst) and computes with xarray, per
calendar month (resample "MS") and latitude, over every day and longitude of the band:
the count of ocean values, their mean and population standard deviation (ddof=0).

Usage: python hovmoller_lat_check.py DIR [--write]
"""
from _common import daily_sst, demo_dir, finish, sql_round

sst = daily_sst(demo_dir(), lat=(-50, 50), lon=(-160, -140))
monthly = sst.resample(time="MS")
cells = monthly.count(("time", "lon"))
mean = monthly.mean(("time", "lon"))
std = monthly.std(("time", "lon"), ddof=0)
rows = [
    (month, lat, int(cells[i, j]), sql_round(mean[i, j], 3), sql_round(std[i, j], 3))
    for i, month in enumerate(cells.time.values)
    for j, lat in enumerate(cells.lat.values)
    if cells[i, j] > 0
]
finish(__file__, [(["month", "lat", "cells", "mean_sst", "std_sst"], rows)])
