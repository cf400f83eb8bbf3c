-- Time-averaged map: mean SST of July-September 2023 over the North-East Pacific
-- (20-60N, 180-120W), in 2° cells.
--
-- What it shows: NEXUS's time-averaged map (timeAvgMapSpark): per grid cell, the mean
-- over a period, with the number of values. Here 2 x 2 cells of the 1° grid are binned
-- together with grid_snap (bin centres at odd degrees), so each bin averages up to
-- 4 cells x 92 days = 368 values; land bins are left out. The warm Blob shows as the
-- bins near 52N, 135W standing out from their latitude.
--
-- Expected output (time_averaged_map.expected.csv): computed by
-- time_averaged_map_check.py without OceanQL: the NetCDF files read with netCDF4;
-- with xarray, the 92 days selected, sums and counts over 2 x 2 blocks (coarsen) and
-- over time, their ratio.
--
-- Run: oceanql --demo -f sql-examples/time_averaged_map.sql

SELECT grid_snap(lat, 2) AS lat,
       grid_snap(lon, 2) AS lon,
       count(sst) AS samples,
       round(avg(sst), 3) AS mean_sst
FROM sst
WHERE time BETWEEN '2023-07-01' AND '2023-09-30'
  AND lat BETWEEN 20 AND 60 AND lon BETWEEN -180 AND -120
  AND sst IS NOT NULL
GROUP BY 1, 2
ORDER BY lat DESC, lon;
