"""Independent check of correlation_map.sql: per 1° cell of 10S-60N, 150-140W, the
correlation over 2023 of the daily SST with the wind speed and with the sea level pressure.

Reads DIR/sst_nc/*.nc (_common.daily_sst, netCDF4) and DIR/wind.zarr (xarray with zarr, CF
scale and offset applied by xarray), then per cell with xarray: the number of days with an
SST, xr.corr(sst, wind_speed, dim='time') and xr.corr(sst, msl, dim='time') (Pearson; xr.corr
leaves out the days where either is missing). Ocean cells only (land has no SST).

Usage: python correlation_map_check.py DIR [--write]
"""
import os

import numpy as np
import xarray as xr

from _common import daily_sst, demo_dir, finish, sql_round

LAT, LON = (-10, 60), (-150, -140)
d = demo_dir()
sst = daily_sst(d, LAT, LON)
wind = xr.open_zarr(os.path.join(d, "wind.zarr"), consolidated=False)
wind = wind.sel(lat=slice(*LAT), lon=slice(*LON)).load()
assert sst.sizes["time"] == wind.sizes["time"] == 365
assert np.array_equal(sst.time, wind.time) and np.array_equal(sst.lat, wind.lat) and np.array_equal(sst.lon, wind.lon)

days = sst.count("time")
r_wind = xr.corr(sst, wind.wind_speed, dim="time")
r_msl = xr.corr(sst, wind.msl, dim="time")
rows = [
    (lat, lon, int(days.sel(lat=lat, lon=lon)),
     sql_round(r_wind.sel(lat=lat, lon=lon), 3), sql_round(r_msl.sel(lat=lat, lon=lon), 3))
    for lat in sst.lat.values[::-1]
    for lon in sst.lon.values
    if days.sel(lat=lat, lon=lon) > 0
]
finish(__file__, [(["lat", "lon", "days", "corr_sst_wind", "corr_sst_msl"], rows)])
