-- The Blob: monthly mean SST anomaly over the North-East Pacific (45-60N, 150-120W)
-- against the 1991-2020 monthly climatology, in the monthly product over 2013-2016 and
-- in the daily product of 2023.
--
-- What it shows: a use case of the seeds, the marine heat wave of 2014-2015 nicknamed
-- "the Blob": anomaly() against a climatology made by climatology() and kept as a table
-- (only the box: a regional climatology), averaged per month over the box's ocean cells
-- (plain mean over cells, not area-weighted), with the warmest cell's anomaly.
-- 1) sst_monthly, 2013-2016: the demo's Blob grows from October 2013, holds +2.5 °C at
-- its centre (52.5N, 135W) from mid-2014 to September 2015 and fades by June 2016; the
-- box mean stays lower (about +1.65 °C), as the Blob is a Gaussian patch smaller than
-- the box. Outside it the anomaly is near 0: the warming trend (0.015 °C/yr, about
-- +0.1 °C in 2013-2016 against 1991-2020) is offset by the Blob's own share of the
-- 1991-2020 climatology (about 0.1 °C in the box).
-- 2) sst, 2023 (daily values, grouped by month, each day against the climatology of its
-- month): the daily product's own Blob, +2.5 °C at its centre by late August; the
-- largest anomalies (over 3 °C) are where the daily product's eddies add to it.
--
-- Expected output (blob.expected.csv): computed by blob_check.py without OceanQL:
-- DIR/sst_monthly/*.nc and DIR/sst_nc/*.nc read with netCDF4; with xarray, the
-- climatology groupby('time.month').mean() over 1991-2020, anomalies by
-- groupby('time.month') arithmetic, then per month the mean of the values and of the
-- anomalies over all ocean cells and days of the month, and the largest anomaly.
--
-- Run: oceanql --demo -f sql-examples/blob.sql

CREATE TABLE blob_clim AS
SELECT * FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020)
WHERE lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120;

-- 1) The 2014-2015 Blob in the monthly product
SELECT time AS month,
       count(sst) AS cells,
       round(avg(sst), 3) AS mean_sst,
       round(avg(anomaly(sst, time, lat, lon, 'blob_clim')), 3) AS mean_anomaly,
       round(max(anomaly(sst, time, lat, lon, 'blob_clim')), 2) AS max_anomaly
FROM sst_monthly
WHERE time BETWEEN '2013-01-01' AND '2016-12-31'
  AND lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120
GROUP BY time
ORDER BY time;

-- 2) The daily product of 2023, monthly means
SELECT date_trunc('month', time) AS month,
       count(sst) AS values,
       round(avg(sst), 3) AS mean_sst,
       round(avg(anomaly(sst, time, lat, lon, 'blob_clim')), 3) AS mean_anomaly,
       round(max(anomaly(sst, time, lat, lon, 'blob_clim')), 2) AS max_anomaly
FROM sst
WHERE lat BETWEEN 45 AND 60 AND lon BETWEEN -150 AND -120
GROUP BY 1
ORDER BY 1;
