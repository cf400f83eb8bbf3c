-- Cross-over differences between two satellite SST products: where a DEMO_B swath
-- (`l2p_b`) crosses a DEMO swath (`l2p`) within 3 hours, the pixel-by-pixel difference
-- B - A of their skin SST, per crossing and overall.
--
-- What it shows: a use case of the seeds (cross-over difference between two satellite
-- products). crossover('l2p', 'l2p_b', 10800) finds the pairs of granules whose
-- footprints intersect and whose time ranges come within 3 h (from the granule index,
-- without reading pixels); then the clear pixels (quality_level >= 4) of those granules
-- are joined with colocate() (within 1 km and 3 h), each B pixel keeps the nearest A
-- pixel of the same pair (row_number over the distance), and the differences are
-- summarised per pair (matched pixels, mean, sample standard deviation, in K) and over
-- all pairs. The demo writes `l2p_b` 0.15 K warmer than `l2p`, with noise of 0.25-0.35 K
-- (A) and 0.3-0.4 K (B) (repl/src/demo/l2p_b.rs): 25 pairs, a mean near +0.15 K and a
-- standard deviation near 0.4 K.
--
-- Expected output (crossover_difference.expected.csv): computed by
-- crossover_difference_check.py without OceanQL, from the NetCDF files (netCDF4,
-- shapely, scipy, numpy): the pairs are every (A, B) granule pair whose footprint
-- polygons (the outline through the edge pixels' centres, shapely) intersect and whose
-- pixel time ranges are within 3 h, confirmed by the pixels (each selected pair has
-- pixels within 1 km of each other, no other pair within 3 h has); the nearest A pixel of
-- each B pixel by brute force (a k-d tree of 3-D unit vectors for candidates, then
-- haversine distances, sphere of 6371.0088 km).
--
-- Run: oceanql --demo -f sql-examples/crossover_difference.sql

CREATE TABLE pairs AS
SELECT granule_a, granule_b, dt_seconds FROM crossover('l2p', 'l2p_b', 10800);

-- Clear pixels of the granules in a pair (the joins on granule come after the
-- colocate join: an equality between the two sides in the same join would make it
-- a hash join on granule that tries every pixel pair of two granules)
CREATE VIEW a AS
SELECT * FROM l2p
WHERE granule IN (SELECT granule_a FROM pairs)
  AND quality_level >= 4 AND sea_surface_temperature IS NOT NULL;
CREATE VIEW b AS
SELECT * FROM l2p_b
WHERE granule IN (SELECT granule_b FROM pairs)
  AND quality_level >= 4 AND sea_surface_temperature IS NOT NULL;

CREATE TABLE matches AS
SELECT m.* FROM (
  SELECT a.granule AS granule_a, b.granule AS granule_b,
         b.sea_surface_temperature - a.sea_surface_temperature AS diff,
         row_number() OVER (PARTITION BY a.granule, b.granule, b.row, b.cell
                            ORDER BY haversine_km(a.lat, a.lon, b.lat, b.lon)) AS nearest
  FROM a JOIN b ON colocate(a.lat, a.lon, a.time, b.lat, b.lon, b.time, 1, 10800)
) m JOIN pairs p ON p.granule_a = m.granule_a AND p.granule_b = m.granule_b
WHERE m.nearest = 1;

-- Per pair (granules named by their sensor and number), in the order of A's start time
SELECT regexp_replace(CAST(p.granule_a AS VARCHAR), '^.*SSTskin-(DEMO[A-Z_]*_[0-9]+)-.*$', '$1') AS a,
       regexp_replace(CAST(p.granule_b AS VARCHAR), '^.*SSTskin-(DEMO[A-Z_]*_[0-9]+)-.*$', '$1') AS b,
       p.dt_seconds,
       count(m.diff) AS pixels,
       round(avg(m.diff), 3) AS mean_diff,
       round(stddev(m.diff), 3) AS std_diff
FROM pairs p LEFT JOIN matches m ON m.granule_a = p.granule_a AND m.granule_b = p.granule_b
GROUP BY p.granule_a, p.granule_b, p.dt_seconds
ORDER BY p.granule_a, p.granule_b;

-- All pairs together
SELECT count(DISTINCT granule_a || granule_b) AS pairs,
       count(*) AS pixels,
       round(avg(diff), 3) AS mean_diff,
       round(stddev(diff), 3) AS std_diff
FROM matches;
