"""Independent check of area_timeseries.sql: daily statistics over 45-60N, 150-120W.

Reads DIR/sst_nc/*.nc with netCDF4 (_common.daily_sst) and computes with xarray, per day
over the ocean cells of the box: count, mean, cos(latitude)-weighted mean
(DataArray.weighted, which leaves missing cells out), min, max and population standard
deviation (ddof=0).

Usage: python area_timeseries_check.py DIR [--write]
"""
import numpy as np

from _common import daily_sst, demo_dir, finish, sql_round

sst = daily_sst(demo_dir(), lat=(45, 60), lon=(-150, -120))
space = ("lat", "lon")
cells = sst.count(space)
mean = sst.mean(space)
weighted = sst.weighted(np.cos(np.radians(sst.lat))).mean(space)
low, high, std = sst.min(space), sst.max(space), sst.std(space, ddof=0)
rows = [
    (
        day,
        int(cells[i]),
        sql_round(mean[i], 3),
        sql_round(weighted[i], 3),
        sql_round(low[i], 2),
        sql_round(high[i], 2),
        sql_round(std[i], 3),
    )
    for i, day in enumerate(sst.time.values)
    if cells[i] > 0
]
header = ["day", "cells", "mean_sst", "area_weighted_mean", "min_sst", "max_sst", "std_sst"]
finish(__file__, [(header, rows)])
