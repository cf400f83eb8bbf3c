"""Independent check of crossover_difference.sql: the l2p / l2p_b granule pairs that cross
within 3 h, and the B - A skin SST differences of their clear pixels (nearest A pixel of each
B pixel within 1 km and 3 h), per pair and overall.

Reads DIR/l2p/*.nc and DIR/l2p_b/*.nc with netCDF4 (raw values; CF packing, fill values and
valid ranges applied here). Pixel time = time + sst_dtime (seconds).

Pair selection, as crossover() defines it, reproduced without the granule index: a pair is
two granules whose footprints intersect (shapely polygons through the centres of the edge
pixels: first line, last pixel of each line, last line, first pixel of each line) and whose
pixel time ranges come within 10800 s (dt_seconds = the gap between the ranges, 0 if they
overlap). Cross-check by the pixels: among the granule pairs within 10800 s, exactly these
have pixels within 1 km of each other (scipy k-d tree on 3-D unit vectors).

Differences: in each pair, the clear pixels (quality_level >= 4, SST not missing) of both;
for each B pixel, the A pixel at the smallest great-circle distance (haversine, sphere of
6371.0088 km) among those within 1 km and |dt| <= 10800 s (candidates from the k-d tree);
diff = B - A in K; per pair count, mean and sample standard deviation (ddof=1).

Usage: python crossover_difference_check.py DIR [--write]
"""
import glob
import os
import re

import netCDF4
import numpy as np
import shapely
from scipy.spatial import cKDTree

from _common import demo_dir, finish, sql_round

EPOCH_1981 = 347155200  # 1981-01-01 in seconds since 1970
R = 6371.0088
RADIUS_KM, MAX_DT = 1.0, 10800
FILL16, FILL8 = -32768, -128


def read_granule(path):
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        lat = nc["lat"][:].astype(np.float64)
        lon = nc["lon"][:].astype(np.float64)
        raw = nc["sea_surface_temperature"][0]
        dtime = nc["sst_dtime"][0]
        quality = nc["quality_level"][0]
        t0 = int(nc["time"][0]) + EPOCH_1981
    assert (dtime != FILL16).all(), path
    valid = (raw != FILL16) & (raw >= -1000) & (raw <= 5000)
    sst = np.where(valid, raw.astype(np.float64) * 0.01 + 273.15, np.nan)
    clear = valid & (quality != FILL8) & (quality >= 4)
    time = t0 + dtime.astype(np.int64)
    return {
        "name": os.path.basename(path), "lat": lat, "lon": lon, "sst": sst, "clear": clear,
        "time": time, "range": (int(time.min()), int(time.max())), "footprint": footprint(lat, lon),
    }


def footprint(lat, lon):
    """The outline through the edge pixel centres, longitudes unwrapped around the first pixel."""
    ring_lat = np.concatenate([lat[0, :], lat[1:, -1], lat[-1, -2::-1], lat[-2:0:-1, 0]])
    ring_lon = np.concatenate([lon[0, :], lon[1:, -1], lon[-1, -2::-1], lon[-2:0:-1, 0]])
    ring_lon = (ring_lon - ring_lon[0] + 180) % 360 - 180 + ring_lon[0]
    polygon = shapely.Polygon(np.column_stack([ring_lon, ring_lat]))
    assert polygon.is_valid
    return polygon


def intersects(a, b):
    """Footprints intersect, also across the antimeridian (b shifted by a turn)."""
    return any(a.intersects(shapely.affinity.translate(b, xoff=k)) for k in (-360, 0, 360))


def unit_vectors(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * R * np.arcsin(np.minimum(np.sqrt(a), 1.0))


# Chord of a 1 km arc, a little larger so the k-d tree misses no candidate.
CHORD = 2 * np.sin(RADIUS_KM / (2 * R)) * 1.001


def near_pairs(a, b, a_mask, b_mask):
    """(index in A, index in B, distance km) of the pixel pairs within 1 km and 10800 s."""
    ia, ib = np.nonzero(a_mask.ravel())[0], np.nonzero(b_mask.ravel())[0]
    tree = cKDTree(unit_vectors(a["lat"].ravel()[ia], a["lon"].ravel()[ia]))
    lists = tree.query_ball_point(unit_vectors(b["lat"].ravel()[ib], b["lon"].ravel()[ib]), CHORD)
    jb = np.repeat(np.arange(len(ib)), [len(c) for c in lists])
    ja = np.fromiter((k for c in lists for k in c), dtype=np.int64, count=len(jb))
    pa, pb = ia[ja], ib[jb]
    dist = haversine(a["lat"].ravel()[pa], a["lon"].ravel()[pa], b["lat"].ravel()[pb], b["lon"].ravel()[pb])
    # No pair so close to the limits that the formula's rounding could decide it.
    assert not np.any(np.abs(dist - RADIUS_KM) < 1e-9)
    keep = (dist <= RADIUS_KM) & (np.abs(b["time"].ravel()[pb] - a["time"].ravel()[pa]) <= MAX_DT)
    return pa[keep], pb[keep], dist[keep]


def gap(a, b):
    return max(0, max(a["range"][0], b["range"][0]) - min(a["range"][1], b["range"][1]))


d = demo_dir()
A = [read_granule(p) for p in sorted(glob.glob(f"{d}/l2p/*.nc"))]
B = [read_granule(p) for p in sorted(glob.glob(f"{d}/l2p_b/*.nc"))]

in_time = [(a, b) for a in A for b in B if gap(a, b) <= MAX_DT]
# The 3 h limit decides no pair by a few seconds.
assert all(abs(gap(a, b) - MAX_DT) > 60 for a in A for b in B)
pairs = [(a, b) for a, b in in_time if intersects(a["footprint"], b["footprint"])]
touching = [(a, b) for a, b in in_time if len(near_pairs(a, b, np.ones_like(a["clear"]), np.ones_like(b["clear"]))[0])]
assert [(a["name"], b["name"]) for a, b in pairs] == [(a["name"], b["name"]) for a, b in touching]


def label(name):
    return re.sub(r"^.*SSTskin-(DEMO[A-Z_]*_[0-9]+)-.*$", r"\1", name)


per_pair, everything = [], []
for a, b in pairs:
    pa, pb, dist = near_pairs(a, b, a["clear"], b["clear"])
    order = np.lexsort((dist, pb))  # by B pixel, then distance: the first of each B pixel is its nearest
    pa, pb = pa[order], pb[order]
    first = np.ones(len(pb), dtype=bool)
    first[1:] = pb[1:] != pb[:-1]
    diff = b["sst"].ravel()[pb[first]] - a["sst"].ravel()[pa[first]]
    everything.append(diff)
    per_pair.append((label(a["name"]), label(b["name"]), float(gap(a, b)), len(diff),
                     sql_round(diff.mean(), 3), sql_round(diff.std(ddof=1), 3)))

diffs = np.concatenate(everything)
total = [(len(pairs), len(diffs), sql_round(diffs.mean(), 3), sql_round(diffs.std(ddof=1), 3))]
finish(__file__, [
    (["a", "b", "dt_seconds", "pixels", "mean_diff", "std_diff"], per_pair),
    (["pairs", "pixels", "mean_diff", "std_diff"], total),
])
