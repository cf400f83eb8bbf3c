"""Independent check of hovmoller_lon.sql: monthly mean per 2° of longitude over 5S-5N
from 120E eastwards to 80W, across the antimeridian.

Reads DIR/sst_nc/*.nc with netCDF4 (_common.daily_sst) and computes with xarray: each
1° column goes to the 2° bin floor(lon / 2) * 2 + 1, written in degrees east (0..360);
per calendar month (resample "MS") and bin, the count of ocean values and their
cos(latitude)-weighted mean, sum(w * sst) / sum(w) over the days, latitudes and
longitudes of the bin where sst is not missing.

Usage: python hovmoller_lon_check.py DIR [--write]
"""
import numpy as np

from _common import daily_sst, demo_dir, finish, grid_snap, sql_round

sst = daily_sst(demo_dir(), lat=(-5, 5), lon=(120, -80))
w = np.cos(np.radians(sst.lat)).where(sst.notnull())
east = (grid_snap(sst.lon.values, 2) + 360) % 360
per_month = [
    x.resample(time="MS").sum("time").assign_coords(bin=("lon", east)).groupby("bin").sum(("lat", "lon"))
    for x in (w * sst, w, sst.notnull())
]
num, den, cells = per_month
rows = [
    (month, lon, int(cells[i, j]), sql_round(num[i, j] / den[i, j], 3))
    for i, month in enumerate(cells.time.values)
    for j, lon in enumerate(cells.bin.values)
    if cells[i, j] > 0
]
finish(__file__, [(["month", "lon", "cells", "mean_sst"], rows)])
