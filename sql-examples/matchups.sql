-- Match-ups: satellite L2P skin SST vs. drifters, with cal/val filters.
--
-- What it shows: the space-time join colocate() between the demo's drifters and
-- its GHRSST L2P-like swaths (`l2p`, written by `oceanql demo`), with the usual
-- cal/val filters: quality_level >= 4, night only (the pixel's
-- solar_zenith_angle > 90°), |dt| <= 1 h and distance <= 5 km (both in colocate).
-- It gives the number of pairs, the bias (mean satellite minus drifter, °C) and
-- the robust standard deviation (1.4826 x the median absolute deviation, exact
-- `median`), then the 10 worst outliers (granule file, row, cell, drifter,
-- difference), then the 5 x 5 pixel box (miniprod) around the worst one, found by
-- a join on granule/row/cell since miniprod() needs a literal granule.
--
-- The demo writes cool skin -0.17 K + noise, and 3 K outlier "seeds" on two
-- adjacent pixels next to a night-time fix in 5 granules (repl/src/demo.rs,
-- "L2P swaths"): the 10 worst outliers are those 10 seeds.
--
-- Expected output (matchups.expected.csv): computed by matchups_check.py without
-- OceanQL (numpy, netCDF4 and pyarrow on the same files: brute-force great-circle
-- distances of every pixel to every fix near its pass; the miniprod box read from
-- the worst outlier's granule around its row and cell).
--
-- Run: oceanql --demo -f sql-examples/matchups.sql
-- (the `fixes` table keeps only the drifter fixes within 1 h of a pass, so the
-- join indexes those ~12,000 fixes rather than every pixel.)

CREATE TABLE fixes AS
WITH passes AS (
  SELECT granule, min(time) - INTERVAL '1 hour' AS t0, max(time) + INTERVAL '1 hour' AS t1
  FROM l2p GROUP BY granule
)
SELECT * FROM drifters d WHERE EXISTS (SELECT 1 FROM passes p WHERE d.time BETWEEN p.t0 AND p.t1);

CREATE TABLE matchups AS
SELECT d.platform_id, d.time AS drifter_time, s.granule, s.row, s.cell,
       s.sea_surface_temperature - 273.15 - d.sst AS diff,
       haversine_km(d.lat, d.lon, s.lat, s.lon) AS distance_km,
       (CAST(s.time AS BIGINT) - CAST(d.time AS BIGINT)) / 1e6 AS dt_seconds
FROM fixes d JOIN l2p s
  ON colocate(d.lat, d.lon, d.time, s.lat, s.lon, s.time, 5, 3600)
WHERE s.quality_level >= 4
  AND s.solar_zenith_angle > 90
  AND s.sea_surface_temperature IS NOT NULL;

-- Summary: pairs, bias and robust standard deviation (°C)
WITH m AS (SELECT median(diff) AS med FROM matchups)
SELECT count(*) AS pairs,
       round(avg(diff), 3) AS bias,
       round(1.4826 * median(abs(diff - m.med)), 3) AS robust_std
FROM matchups CROSS JOIN m;

-- The 10 worst outliers
SELECT regexp_replace(CAST(granule AS VARCHAR), '^.*/', '') AS granule, row, cell,
       platform_id, drifter_time, round(diff, 2) AS diff,
       round(distance_km, 2) AS distance_km, dt_seconds
FROM matchups
ORDER BY abs(diff) DESC, granule, row, cell
LIMIT 10;

-- Miniprod (5 x 5 pixels) around the worst outlier
WITH worst AS (
  SELECT granule, row, cell FROM matchups ORDER BY abs(diff) DESC, granule, row, cell LIMIT 1
)
SELECT s.row - w.row AS d_row, s.cell - w.cell AS d_cell,
       round(s.sea_surface_temperature - 273.15, 2) AS sst, s.quality_level, s.solar_zenith_angle
FROM worst w JOIN l2p s
  ON s.granule = w.granule AND s.row BETWEEN w.row - 2 AND w.row + 2
 AND s.cell BETWEEN w.cell - 2 AND w.cell + 2
ORDER BY d_row, d_cell;
