-- Hurricane box study: SST, SST anomaly, 10 m wind speed and sea level pressure in the
-- 1° x 1° box 28-29N, 85-84W (eastern Gulf of Mexico), the week before and the week
-- after the demo hurricane passed over it (late August 2023).
--
-- What it shows: a use case of the seeds (a hurricane box study): two products on the
-- same grid joined on time/lat/lon (`sst`, daily NetCDF files, and `wind`, a Zarr
-- store), an anomaly against a monthly 1991-2020 climatology of a third product
-- (climatology() of `sst_monthly`, kept as a table for anomaly()), the daily series
-- side by side, then the mean of the 7 days before the passage (the day of the lowest
-- pressure in the box), of the 7 days after it, and the change. The box holds one
-- cell of the 1° grid (centre 28.5N, 84.5W); the storm passes about 0.5° from it near
-- 2023-08-30T00Z at its peak (57 m/s, 942 hPa): the wind there reaches about 56 m/s,
-- the pressure drops to about 945 hPa, and the cold wake leaves the SST about 2.3 °C
-- cooler the week after (repl/src/demo.rs, "The hurricane"). The anomaly steps at the
-- change of month (the climatology is monthly: September is 0.4 °C cooler than August).
--
-- Expected output (hurricane.expected.csv): computed by hurricane_check.py without
-- OceanQL: the daily SST read from the NetCDF files with netCDF4, the wind and
-- pressure from wind.zarr with xarray (zarr), the climatology of the box from
-- sst_monthly/*.nc with xarray (groupby('time.month').mean() over 1991-2020), the
-- passage day, the two weeks and their means with numpy.
--
-- Run: oceanql --demo -f sql-examples/hurricane.sql

CREATE TABLE box_clim AS
SELECT * FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020)
WHERE lat BETWEEN 28 AND 29 AND lon BETWEEN -85 AND -84;

CREATE TABLE box AS
SELECT s.time,
       avg(s.sst) AS sst,
       avg(anomaly(s.sst, s.time, s.lat, s.lon, 'box_clim')) AS ssta,
       avg(w.wind_speed) AS wind_speed,
       avg(w.msl) AS msl
FROM sst s JOIN wind w ON w.time = s.time AND w.lat = s.lat AND w.lon = s.lon
WHERE s.lat BETWEEN 28 AND 29 AND s.lon BETWEEN -85 AND -84
  AND w.lat BETWEEN 28 AND 29 AND w.lon BETWEEN -85 AND -84
  AND s.time BETWEEN '2023-08-15' AND '2023-09-15'
GROUP BY s.time;

-- The daily series: SST and its anomaly (°C), wind speed (m/s), pressure (hPa)
SELECT time, round(sst, 2) AS sst, round(ssta, 2) AS ssta,
       round(wind_speed, 2) AS wind_speed, round(msl, 1) AS msl
FROM box
WHERE time BETWEEN '2023-08-20' AND '2023-09-10'
ORDER BY time;

-- The week before the passage, the week after, and the change
WITH passage AS (SELECT time FROM box ORDER BY msl, time LIMIT 1),
weeks AS (
  SELECT CASE WHEN b.time < p.time THEN 'before' ELSE 'after' END AS period, b.*
  FROM box b CROSS JOIN passage p
  WHERE b.time BETWEEN p.time - INTERVAL '7 days' AND p.time - INTERVAL '1 day'
     OR b.time BETWEEN p.time + INTERVAL '1 day' AND p.time + INTERVAL '7 days'
),
means AS (
  SELECT period, min(time) AS first_day, max(time) AS last_day, count(*) AS days,
         avg(sst) AS sst, avg(ssta) AS ssta, avg(wind_speed) AS wind_speed, avg(msl) AS msl
  FROM weeks GROUP BY period
)
SELECT period, first_day, last_day, days, round(sst, 2) AS sst, round(ssta, 2) AS ssta,
       round(wind_speed, 2) AS wind_speed, round(msl, 1) AS msl
FROM means
UNION ALL
SELECT 'after - before', NULL, NULL, NULL, round(a.sst - b.sst, 2), round(a.ssta - b.ssta, 2),
       round(a.wind_speed - b.wind_speed, 2), round(a.msl - b.msl, 1)
FROM means a JOIN means b ON a.period = 'after' AND b.period = 'before'
ORDER BY first_day NULLS LAST;
