-- Area-averaged time series: daily SST statistics over the North-East Pacific
-- (45-60N, 150-120W, the box of "the Blob") for 2023.
--
-- What it shows: NEXUS's "time series" algorithm (timeSeriesSpark) in one GROUP BY:
-- per day, over the ocean cells of a box, the count, the mean, the area-weighted mean,
-- min, max and standard deviation. The cells of a regular lat/lon grid shrink towards
-- the poles, so NEXUS weights the mean by cos(latitude) (the cell's area):
-- sum(sst * cos(lat)) / sum(cos(lat)); the plain mean is given next to it. std is the
-- population standard deviation (stddev_pop), as NEXUS's np.ma.std. The filters on
-- lat/lon reach the scan, which reads only the chunks around the box.
--
-- Expected output (area_timeseries.expected.csv): computed by area_timeseries_check.py
-- without OceanQL: the NetCDF files read with netCDF4, the statistics with xarray
-- (count/mean/min/max/std over lat and lon, DataArray.weighted for the weighted mean).
--
-- Run: oceanql --demo -f sql-examples/area_timeseries.sql

SELECT time AS day,
       count(sst) AS cells,
       round(avg(sst), 3) AS mean_sst,
       round(sum(sst * cos(radians(lat))) / sum(cos(radians(lat))), 3) AS area_weighted_mean,
       round(min(sst), 2) AS min_sst,
       round(max(sst), 2) AS max_sst,
       round(stddev_pop(sst), 3) AS std_sst
FROM sst
WHERE lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120
  AND sst IS NOT NULL
GROUP BY time
ORDER BY time;
