-- Climatological map: the August mean SST of 1991-2020 over the North-East Pacific
-- (40-60N, 160-120W), per 1° cell, with its interannual standard deviation.
--
-- What it shows: NEXUS's climatological map (climMapSpark): for one month of the year,
-- the mean over many years of each grid cell. climatology('sst_monthly', 'sst', 'month',
-- 1991, 2020) gives per month (period 1-12) and cell the mean, the population standard
-- deviation and the count of the 30 monthly values (one a year); the filters on lat/lon
-- reach its scan, so it reads only the chunks of the box. Land cells (count 0, NULL
-- mean) are left out.
--
-- Expected output (climatological_map.expected.csv): computed by
-- climatological_map_check.py without OceanQL: DIR/sst_monthly/*.nc read with netCDF4,
-- then with xarray, 1991-2020 selected and groupby('time.month') .mean(), .std() (ddof 0)
-- and .count(), month 8 taken.
--
-- Run: oceanql --demo -f sql-examples/climatological_map.sql

SELECT lat, lon,
       round(mean, 3) AS mean_sst,
       round(std, 3) AS std_sst,
       count AS years
FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020)
WHERE period = 8
  AND lat BETWEEN 40 AND 60 AND lon BETWEEN -160 AND -120
  AND count > 0
ORDER BY lat DESC, lon;
