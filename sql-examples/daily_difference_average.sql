-- Daily difference average: the daily SST of 2023 minus the 1991-2020 climatology of its
-- month, averaged each day over the eastern Gulf of Mexico (24-29N, 87-83W).
--
-- What it shows: NEXUS's daily difference average (DailyDifferenceAverageSpark): per day,
-- the mean and standard deviation over a box of (value - climatology of the same cell).
-- The climatology is made once with climatology() from the monthly product and kept as
-- a table; anomaly(sst, time, lat, lon, 'clim') subtracts from each daily cell the mean
-- of its cell for the month of its day. The box is on the track of the demo's hurricane
-- (2023-08-27..31): its cold wake takes the box mean from +0.24 °C on 28 August to
-- -1.7 °C on 30-31 August, and the box's spread up, recovering over a few weeks. The
-- rest of the year shows the daily seasonal cycle against the steps of the monthly
-- climatology (jumps at the turn of the month).
-- std is the population standard deviation over the box's ocean cells (stddev_pop).
--
-- Expected output (daily_difference_average.expected.csv): computed by
-- daily_difference_average_check.py without OceanQL: DIR/sst_monthly/*.nc and
-- DIR/sst_nc/*.nc read with netCDF4; with xarray, the monthly climatology
-- (groupby('time.month').mean() over 1991-2020), subtracted from each day through
-- groupby('time.month') arithmetic; mean, std (ddof 0) and count over the box per day.
--
-- Run: oceanql --demo -f sql-examples/daily_difference_average.sql

CREATE TABLE clim AS
SELECT * FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020)
WHERE lat BETWEEN 24 AND 29 AND lon BETWEEN -87 AND -83;

SELECT time AS day,
       count(diff) AS cells,
       round(avg(diff), 3) AS mean_diff,
       round(stddev_pop(diff), 3) AS std_diff
FROM (
  SELECT time, anomaly(sst, time, lat, lon, 'clim') AS diff
  FROM sst
  WHERE lat BETWEEN 24 AND 29 AND lon BETWEEN -87 AND -83
)
GROUP BY time
ORDER BY time;
