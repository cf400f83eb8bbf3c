"""Independent check of enso34.sql: the Niño 3.4 index, the ONI (centred 3-month mean),
El Niño / La Niña / neutral at +-0.5 °C and the episodes of >= 5 consecutive seasons.

Reads DIR/sst_monthly/*.nc with netCDF4 (_common.monthly_sst), then xarray: climatology
= groupby('time.month').mean() over 1991-2020 of the 5N-5S, 170W-120W cells, anomalies by
groupby('time.month') arithmetic, mean over the box per month; numpy: ONI =
np.convolve(index, [1/3] * 3, 'valid') (NaN for the first and last month), states by the
thresholds (no ONI within 1e-6 of +-0.5, so rounding cannot move a state), runs of equal
states found by a loop.

Usage: python enso34_check.py DIR [--write]
"""
import numpy as np

from _common import demo_dir, finish, monthly_sst, sql_round

SEASONS = "DJFMAMJJASONDJ"

sst = monthly_sst(demo_dir(), lat=(-5, 5), lon=(-170, -120))
assert sst.sizes == {"time": 396, "lat": 10, "lon": 50} and int(sst.count()) == 396 * 500
clim = sst.sel(time=slice("1991-01-01", "2020-12-31")).groupby("time.month").mean()
index = (sst.groupby("time.month") - clim).mean(("lat", "lon")).values
oni = np.full(index.size, np.nan)
oni[1:-1] = np.convolve(index, np.ones(3) / 3, "valid")
assert np.nanmin(np.abs(np.abs(oni) - 0.5)) > 1e-6
state = np.where(np.isnan(oni), None, np.where(oni >= 0.5, "El Niño", np.where(oni <= -0.5, "La Niña", "neutral")))
months = sst.time.values

episodes, episode = [], [None] * index.size
start = 0
for k in range(1, index.size + 1):
    if k < index.size and state[k] == state[start]:
        continue
    if state[start] in ("El Niño", "La Niña") and k - start >= 5:
        run = oni[start:k]
        peak = run.max() if state[start] == "El Niño" else run.min()
        episodes.append((state[start], months[start], months[k - 1], k - start, sql_round(peak, 2)))
        episode[start:k] = [state[start]] * (k - start)
    start = k

table = [
    (months[k], SEASONS[m - 1 : m + 2], sql_round(index[k], 2), sql_round(oni[k], 2), state[k], episode[k])
    for k, m in enumerate(sst["time.month"].values)
]
finish(__file__, [
    (["month", "season", "nino34", "oni", "state", "episode"], table),
    (["state", "first_month", "last_month", "seasons", "peak_oni"], episodes),
])
