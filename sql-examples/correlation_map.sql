-- Correlation map: per 1° cell, the correlation over the 365 days of 2023 between the daily
-- SST and the 10 m wind speed, and between the SST and the sea level pressure, on a
-- meridional strip of the Pacific (10S-60N, 150-140W).
--
-- What it shows: NEXUS's correlation map (correlationMapSpark): per grid cell, the
-- Pearson correlation through time of two variables of two products on the same grid
-- (`sst`, daily NetCDF files, and `wind`, a Zarr store), joined on time/lat/lon, with
-- corr() grouped by cell. In the demo both follow a seasonal cycle, the SST warmest in
-- late summer (day 225) and the wind strongest and the pressure lowest in winter (day 15)
-- at high latitudes: the SST and the wind are anti-correlated north of 30N (about -0.84
-- from 40N to 60N), the SST and the pressure correlated north of 40N (about +0.86 north
-- of 50N); in the tropics, where neither has much of a seasonal cycle, both are noise
-- around 0. Land cells have no SST and no row.
--
-- Expected output (correlation_map.expected.csv): computed by correlation_map_check.py
-- without OceanQL: the SST read from the NetCDF files with netCDF4, the wind and pressure
-- from wind.zarr with xarray (zarr), xr.corr over time per cell.
--
-- Run: oceanql --demo -f sql-examples/correlation_map.sql

SELECT s.lat, s.lon,
       count(s.sst) AS days,
       round(corr(s.sst, w.wind_speed), 3) AS corr_sst_wind,
       round(corr(s.sst, w.msl), 3) AS corr_sst_msl
FROM sst s JOIN wind w ON w.time = s.time AND w.lat = s.lat AND w.lon = s.lon
WHERE s.lat BETWEEN -10 AND 60 AND s.lon BETWEEN -150 AND -140
  AND w.lat BETWEEN -10 AND 60 AND w.lon BETWEEN -150 AND -140
  AND s.sst IS NOT NULL
GROUP BY s.lat, s.lon
ORDER BY s.lat DESC, s.lon;
