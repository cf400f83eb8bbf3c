"""Shared by the sql-examples check scripts (NAME_check.py): reading the demo files,
printing values as `oceanql` prints CSV, and writing or checking NAME.expected.csv.

A check script computes its example's result without OceanQL (numpy, xarray, netCDF4,
pyarrow on the files `oceanql demo DIR` wrote) and ends with

    finish(__file__, sections)        # sections: [(header, rows), ...], one per result

`python NAME_check.py DIR` compares the computation with NAME.expected.csv and exits 1,
printing the differences, if they differ by more than one unit of the last decimal printed
(the rounding of sums taken in another order); `python NAME_check.py DIR --write` (re)writes
NAME.expected.csv from the computation. Integers and text must be equal.
"""
import csv
import datetime as dt
import glob
import io
import math
import os
import re
import sys

import netCDF4
import numpy as np
import xarray as xr

EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def demo_dir():
    """The demo directory: the first argument that is not an option."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(f"usage: python {os.path.basename(sys.argv[0])} DIR [--write]  (DIR written by `oceanql demo DIR`)")
    return args[0]


# --- SQL functions, as OceanQL computes them ------------------------------------------


def sql_round(x, decimals):
    """DataFusion's round(x, d): (x * 10^d).round() / 10^d, halves away from zero."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    factor = 10.0 ** decimals
    q = float(x) * factor
    return math.copysign(math.floor(abs(q) + 0.5), q) / factor


def grid_snap(x, resolution):
    """OceanQL's grid_snap: floor(x / resolution) * resolution + resolution / 2."""
    return np.floor(np.asarray(x, dtype=np.float64) / resolution) * resolution + resolution / 2


# --- Printing values as oceanql's CSV output does --------------------------------------


def _float(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    a = abs(x)
    if a != 0 and (a < 1e-5 or a >= 1e16):  # arrow writes these with an exponent: 1e-7, 1.5e20
        mantissa, exponent = repr(x).split("e") if "e" in repr(x) else (repr(x), "0")
        return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    text = np.format_float_positional(x, unique=True, trim="0")
    return text if "." in text else text + ".0"


def cell(v):
    """One value as `oceanql --format csv` prints it (before CSV quoting)."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _float(float(v))
    if isinstance(v, np.datetime64):
        v = v.astype("datetime64[us]").astype(dt.datetime)
    if isinstance(v, dt.datetime):
        frac = f".{v.microsecond:06d}".rstrip("0") if v.microsecond else ""
        return v.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
    return str(v)


def to_csv(sections):
    """The CSV text of several results, each with its header, as one oceanql run prints them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for header, rows in sections:
        writer.writerow(header)
        for row in rows:
            writer.writerow([cell(v) for v in row])
    return out.getvalue()


# --- Comparing CSV texts ----------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"^-?(\d+\.\d*|\d*\.\d+|\d+)(e-?\d+)?$|^-?\d+e-?\d+$")


def _decimals(field):
    """Decimals printed in a float field (None for integers and text)."""
    if not _NUMBER.match(field) or ("." not in field and "e" not in field):
        return None
    mantissa, _, exponent = field.partition("e")
    frac = mantissa.partition(".")[2]
    return len(frac) - int(exponent or 0)


def _is_header(fields):
    return all(_IDENT.match(f) for f in fields)


def compare(expected, actual, limit=20):
    """Differences between two CSV texts (empty if they match): line by line, floats within
    one unit of the last decimal printed in their column (the most decimals any line of that
    result shows in that column, in either text), everything else exactly."""
    e_rows = list(csv.reader(io.StringIO(expected)))
    a_rows = list(csv.reader(io.StringIO(actual)))
    diffs = []
    if len(e_rows) != len(a_rows):
        diffs.append(f"{len(e_rows)} lines expected, {len(a_rows)} computed")
    tolerance, section = {}, 0
    sections = []
    for e in e_rows:
        if _is_header(e):
            section += 1
        sections.append(section)
    for rows in (e_rows, a_rows):
        for i, row in enumerate(rows[: len(sections)]):
            for j, f in enumerate(row):
                d = _decimals(f)
                if d is not None:
                    key = (sections[i], j)
                    tolerance[key] = max(tolerance.get(key, d), d)
    for i, (e, a) in enumerate(zip(e_rows, a_rows)):
        if e == a:
            continue
        ok = len(e) == len(a) and all(
            x == y or _close(x, y, tolerance.get((sections[i], j))) for j, (x, y) in enumerate(zip(e, a))
        )
        if not ok:
            diffs.append(f"line {i + 1}: expected {','.join(e)}\n{' ' * (len(str(i + 1)) + 7)}computed {','.join(a)}")
        if len(diffs) >= limit:
            diffs.append("...")
            break
    return diffs


def _close(x, y, decimals):
    if decimals is None or _decimals(x) is None or _decimals(y) is None:
        return False
    return abs(float(x) - float(y)) <= 10.0 ** -decimals * (1 + 1e-6)


def finish(script, sections):
    """Writes NAME.expected.csv (with --write) or checks it against the computed sections."""
    name = os.path.basename(script).removesuffix("_check.py")
    path = os.path.join(os.path.dirname(os.path.abspath(script)), f"{name}.expected.csv")
    text = to_csv(sections)
    if "--write" in sys.argv:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        print(f"wrote {path} ({text.count(chr(10))} lines)")
        return
    with open(path, encoding="utf-8") as f:
        expected = f.read()
    diffs = compare(expected, text)
    if diffs:
        print(f"{name}: the independent computation differs from {name}.expected.csv:")
        print("\n".join(diffs))
        sys.exit(1)
    print(f"{name}: {name}.expected.csv agrees with the independent computation ({text.count(chr(10))} lines)")


# --- Reading the demo files ---------------------------------------------------------------


def in_range(values, lo, hi):
    """lo <= v <= hi (SQL BETWEEN); lo > hi means a longitude range across the antimeridian."""
    values = np.asarray(values)
    return (values >= lo) & (values <= hi) if lo <= hi else (values >= lo) | (values <= hi)


def daily_sst(directory, lat, lon):
    """The daily `sst` field of DIR/sst_nc/*.nc inside a lat/lon box (BETWEEN bounds, lon in
    -180..180, lo > hi across the antimeridian), as an xarray DataArray (time, lat, lon) in °C
    with NaN where missing. Read with netCDF4 (CF scale_factor, _FillValue and valid range
    applied by netCDF4), longitudes 0..360 of the files moved to -180..180."""
    return read_sst(directory, "sst_nc", lat, lon)


def monthly_sst(directory, lat, lon):
    """The `sst_monthly` field of DIR/sst_monthly/*.nc (12 steps a file) inside a lat/lon
    box, read as daily_sst reads `sst`."""
    return read_sst(directory, "sst_monthly", lat, lon)


def read_sst(directory, product, lat, lon):
    """`sst` of every time step of DIR/PRODUCT/*.nc inside the box (see daily_sst)."""
    files = sorted(glob.glob(os.path.join(directory, product, "*.nc")))
    if not files:
        sys.exit(f"no {directory}/{product}/*.nc: write the demo with `oceanql demo {directory}`")
    fields, times = [], []
    for path in files:
        with netCDF4.Dataset(path) as nc:
            if not fields:
                lats = nc["lat"][:].astype(np.float64)
                lons = nc["lon"][:].astype(np.float64)
                lons = np.where(lons >= 180, lons - 360, lons)
                rows = np.nonzero(in_range(lats, *lat))[0]
                cols = np.nonzero(in_range(lons, *lon))[0]
                cols = cols[np.argsort(lons[cols])]
            t = nc["time"]
            stamps = netCDF4.num2date(t[:], t.units, t.calendar, only_use_cftime_datetimes=False)
            times.extend(np.datetime64(s, "ns") for s in stamps)
            field = nc["sst"][:].astype(np.float64).filled(np.nan)
            fields.append(field[:, rows][:, :, cols])
    return xr.DataArray(
        np.concatenate(fields),
        dims=("time", "lat", "lon"),
        coords={"time": np.array(times), "lat": lats[rows], "lon": lons[cols]},
        name="sst",
    )
