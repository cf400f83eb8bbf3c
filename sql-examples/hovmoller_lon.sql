-- Longitude/time Hovmöller diagram: monthly mean SST per 2° of longitude along the
-- equator (5S-5N) across the Pacific, from 120E eastwards over the antimeridian to 80W,
-- 2023.
--
-- What it shows: NEXUS's longitude/time Hovmöller (longitudeTimeHofMoellerSpark): for
-- each time step and longitude, the mean over the latitudes of a box, weighted by
-- cos(latitude) as NEXUS does, with the count of values. Here the time step is the
-- calendar month (date_trunc) and longitudes are binned to 2° with grid_snap, so the
-- result stays small (12 x 80 rows). A box across the antimeridian is an OR on lon
-- (both parts reach the scan); the output longitude is in degrees east, 0..360
-- ((grid_snap(lon, 2) + 360) % 360: 121 ... 279), so the Pacific is one continuous
-- axis: the warm pool of the west (29 °C) cooling eastwards to the cold tongue (27.1 °C
-- near 250E, i.e. 110W).
--
-- Expected output (hovmoller_lon.expected.csv): computed by hovmoller_lon_check.py
-- without OceanQL: the NetCDF files read with netCDF4; with xarray, sums of
-- cos(lat) * sst and of cos(lat) over each month (resample "MS"), then over each 2° bin
-- (groupby on floor(lon / 2) * 2 + 1 in degrees east), their ratio.
--
-- Run: oceanql --demo -f sql-examples/hovmoller_lon.sql

SELECT date_trunc('month', time) AS month,
       (grid_snap(lon, 2) + 360) % 360 AS lon,
       count(sst) AS cells,
       round(sum(sst * cos(radians(lat))) / sum(cos(radians(lat))), 3) AS mean_sst
FROM sst
WHERE lat BETWEEN -5 AND 5 AND (lon >= 120 OR lon <= -80)
  AND sst IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2;
