-- Latitude/time Hovmöller diagram: monthly mean SST per 1° latitude, 50S-50N, along a
-- band of the central Pacific (160-140W), 2023.
--
-- What it shows: NEXUS's latitude/time Hovmöller (latitudeTimeHofMoellerSpark): for each
-- time step and latitude, the mean over the longitudes of a box (not weighted: every
-- cell of one latitude has the same area), with count and standard deviation
-- (population). NEXUS uses the product's own time steps; this one averages each
-- calendar month (date_trunc): 12 x 100 rows instead of 365 x 100. The seasons are
-- opposite in the two hemispheres (40.5N: 13.2 °C in February, 21.1 °C in August;
-- 40.5S: 13.7 and 8.8 °C), the equator hardly changes.
--
-- Expected output (hovmoller_lat.expected.csv): computed by hovmoller_lat_check.py
-- without OceanQL: the NetCDF files read with netCDF4, xarray's resample(time="MS")
-- then count/mean/std over time and longitude.
--
-- Run: oceanql --demo -f sql-examples/hovmoller_lat.sql

SELECT date_trunc('month', time) AS month,
       lat,
       count(sst) AS cells,
       round(avg(sst), 3) AS mean_sst,
       round(stddev_pop(sst), 3) AS std_sst
FROM sst
WHERE lat BETWEEN -50 AND 50 AND lon BETWEEN -160 AND -140
  AND sst IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
