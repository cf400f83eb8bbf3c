-- ENSO: the Niño 3.4 index and the Oceanic Niño Index (ONI) from the monthly SST,
-- 1991-2023, with El Niño / La Niña months and episodes.
--
-- What it shows: a use case of the seeds. Niño 3.4 = the mean SST anomaly over 5N-5S,
-- 170W-120W (plain mean of the box's 500 cells, all ocean) against the 1991-2020
-- climatology of each calendar month (climatology() kept as a regional table, then
-- anomaly()). The ONI is its 3-month running mean (a window function; NULL for the first
-- and last month, whose season is incomplete), labelled by season (DJF = Dec-Jan-Feb,
-- centred on January). A season is El Niño at ONI >= +0.5 °C, La Niña at <= -0.5 °C,
-- neutral otherwise, on the unrounded ONI (June 1992 prints 0.5 but is 0.495, neutral);
-- NOAA counts an episode when the threshold holds for at least 5 consecutive overlapping
-- seasons (gaps and islands: the difference of two row_number() per state numbers each
-- run). The demo's ENSO history (repl/src/demo.rs) has El Niño peaks in 1991-92,
-- 1994-95, 1997-98, 2002-03, 2009-10, 2015-16, 2018-19 and 2023, La Niña in 1995-96,
-- 1998-2001, 2007-08, 2010-12 and 2020-23 (three episodes here), all found below; the
-- 0.015 °C/yr trend shifts the anomalies slightly.
--
-- Expected output (enso34.expected.csv): computed by enso34_check.py without OceanQL:
-- DIR/sst_monthly/*.nc read with netCDF4; with xarray, the climatology
-- groupby('time.month').mean() over 1991-2020, anomalies by groupby('time.month')
-- arithmetic, the box mean per month; with numpy, the centred 3-month mean
-- (np.convolve), the thresholds and the runs of >= 5 months.
--
-- Run: oceanql --demo -f sql-examples/enso34.sql

CREATE TABLE nino34_clim AS
SELECT * FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020)
WHERE lat BETWEEN -5 AND 5 AND lon BETWEEN -170 AND -120;

CREATE TABLE oni AS
WITH box AS (
  SELECT time AS month, avg(anomaly(sst, time, lat, lon, 'nino34_clim')) AS nino34
  FROM sst_monthly
  WHERE lat BETWEEN -5 AND 5 AND lon BETWEEN -170 AND -120
  GROUP BY time
), running AS (
  SELECT month, nino34,
         CASE WHEN count(nino34) OVER w = 3 THEN avg(nino34) OVER w END AS oni
  FROM box
  WINDOW w AS (ORDER BY month ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)
)
SELECT month, nino34, oni,
       CASE WHEN oni >= 0.5 THEN 'El Niño' WHEN oni <= -0.5 THEN 'La Niña'
            WHEN oni IS NOT NULL THEN 'neutral' END AS state
FROM running;

CREATE TABLE episodes AS
WITH runs AS (
  SELECT month, oni, state,
         row_number() OVER (ORDER BY month) - row_number() OVER (PARTITION BY state ORDER BY month) AS run
  FROM oni
  WHERE state IS NOT NULL
)
SELECT state, min(month) AS first_month, max(month) AS last_month, count(*) AS seasons,
       CASE WHEN state = 'El Niño' THEN max(oni) ELSE min(oni) END AS peak_oni
FROM runs
WHERE state <> 'neutral'
GROUP BY state, run
HAVING count(*) >= 5;

-- The index month by month; episode = the state when the month is in an episode
SELECT o.month,
       substr('DJFMAMJJASONDJ', CAST(date_part('month', o.month) AS INT), 3) AS season,
       round(o.nino34, 2) AS nino34,
       round(o.oni, 2) AS oni,
       o.state,
       e.state AS episode
FROM oni o
LEFT JOIN episodes e ON o.month BETWEEN e.first_month AND e.last_month
ORDER BY o.month;

-- The episodes: El Niño and La Niña for at least 5 consecutive seasons
SELECT state, first_month, last_month, seasons, round(peak_oni, 2) AS peak_oni
FROM episodes
ORDER BY first_month;
