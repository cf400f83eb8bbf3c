"""Independent check of time_averaged_map.sql: the Jul-Sep 2023 mean over 20-60N, 180-120W
in 2° bins.

Reads DIR/sst_nc/*.nc with netCDF4 (_common.daily_sst), keeps 2023-07-01..2023-09-30 and
sums with xarray each 2 x 2 block of 1° cells (coarsen; the blocks start at even degrees,
so they are grid_snap(x, 2)'s bins, whose centre is the block's mean coordinate) over the
92 days: samples = ocean values in the bin, mean_sst = their sum / samples.

Usage: python time_averaged_map_check.py DIR [--write]
"""
import numpy as np

from _common import daily_sst, demo_dir, finish, grid_snap, sql_round

sst = daily_sst(demo_dir(), lat=(20, 60), lon=(-180, -120)).sel(time=slice("2023-07-01", "2023-09-30"))
assert sst.sizes["time"] == 92
blocks = dict(lat=2, lon=2)
total = sst.coarsen(blocks).sum().sum("time")
samples = sst.notnull().coarsen(blocks).sum().sum("time")
assert np.array_equal(samples.lat, grid_snap(sst.lat[::2], 2)) and np.array_equal(samples.lon, grid_snap(sst.lon[::2], 2))
rows = [
    (lat, lon, int(samples.sel(lat=lat, lon=lon)), sql_round(total.sel(lat=lat, lon=lon) / samples.sel(lat=lat, lon=lon), 3))
    for lat in samples.lat.values[::-1]
    for lon in samples.lon.values
    if samples.sel(lat=lat, lon=lon) > 0
]
finish(__file__, [(["lat", "lon", "samples", "mean_sst"], rows)])
