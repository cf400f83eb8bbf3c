"""Writes the in situ fixtures (CSV and Parquet records) into OUTDIR/insitu/, and what pandas says
the SQL answers are into OUTDIR/insitu/expected.json.

Usage: python make_insitu_fixtures.py OUTDIR [--slt]
       (also called by make_fixtures.py; --slt prints the checks as sqllogictest records, the
       form in which they sit in tests/slt/insitu.slt)

  iso/a.csv, iso/b.csv      ISO 8601 times mixing 'Z', '+02:00' offsets, date only, a space for the T
                            and fractional seconds; b has its columns in another order, integer sst,
                            an extra column (wind) and text platform ids with blanks around them;
                            iso/notes.md is not a record file (a directory read skips it)
  epoch.csv                 epoch seconds in a column named 'timestamp', platform 'buoy_id'
  odd.csv                   ';'-separated after '#' comment lines; needs OPTIONS: time 'obs_date'
                            (YYYYMMDDhhmmss), lat 'y', lon 'x', platform 'wmo'; a 'DEPTH' column
  cfdays.csv                'juld' in days since 1950-01-01 (OPTIONS 'time_unit')
  empty_times.csv           some empty time fields (NULL times)
  profiles.parquet          time timestamp[ns, Europe/Paris], float32 latitude, depth, text
                            platform_number with blanks, 10 rows per row group, sorted by time
  drifters_pq/part-*.parquet  three files of drifters: int64 'id', naive timestamp[us] time,
                            float64 lon in 0..360, 10 rows per row group
  dates.parquet             date32 'date' (midnight UTC)
  epoch_ms.parquet          int64 'time' in milliseconds (OPTIONS 'time_unit' 'ms')
  bad/bad_time.csv          record 17 has the time 'yesterday'
  bad/no_lat.csv            no column that can be taken for the latitude
  bad/notes.dat             a file whose format its name does not tell

Every check is computed here with pandas, from the files as written (read back with pandas /
pyarrow), independently of OceanQL. Deterministic: a fixed seed.
"""

import datetime as dt
import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def rng():
    return np.random.default_rng(20240501)


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
def iso_times(base, n, r):
    """n UTC instants and their text in five ISO 8601 spellings (by row number modulo 5)."""
    secs = np.sort(r.integers(0, 120 * 86400, n))
    out = []
    for i, s in enumerate(secs):
        t = base + dt.timedelta(seconds=int(s))
        k = i % 5
        if k == 0:
            out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif k == 1:
            out.append((t + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"))
        elif k == 2:
            out.append(t.strftime("%Y-%m-%d"))
        elif k == 3:
            out.append(t.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            out.append(t.strftime("%Y-%m-%dT%H:%M:%S") + f".{int(r.integers(1, 999999)):06d}Z")
    return out


def make_iso(d, r):
    os.makedirs(f"{d}/iso", exist_ok=True)
    base = dt.datetime(2020, 1, 1)
    n = 60
    a = pd.DataFrame({
        "platform_id": r.choice([6102001, 6102002, 6102003], n),
        "time": iso_times(base, n, r),
        "lat": np.round(r.uniform(-60, 60, n), 4),
        "lon": np.round(r.uniform(-180, 180, n), 4),
        "sst": np.round(r.uniform(0, 30, n), 3),
        "qc": r.choice(["good", "bad", "probably_good"], n),
    })
    a.loc[7, "lon"] = 180.0  # becomes -180
    a.to_csv(f"{d}/iso/a.csv", index=False)
    b = pd.DataFrame({
        "lon": np.round(r.uniform(-180, 180, n), 4),
        "lat": np.round(r.uniform(-60, 60, n), 4),
        "qc": r.choice(["good", "bad"], n),
        "time": iso_times(base + dt.timedelta(days=30), n, r),
        "sst": r.integers(0, 30, n),
        "platform_id": r.choice([" SHIP7 ", "SHIP8", " 42 "], n),
        "wind": np.round(r.uniform(0, 20, n), 2),
    })
    b.to_csv(f"{d}/iso/b.csv", index=False)
    with open(f"{d}/iso/notes.md", "w") as f:
        f.write("not a record file\n")


def make_epoch(d, r):
    n = 40
    df = pd.DataFrame({
        "buoy_id": r.choice([41001, 41002], n),
        "timestamp": np.sort(r.integers(1_500_000_000, 1_600_000_000, n)),
        "latitude": np.round(r.uniform(30, 40, n), 3),
        "longitude": np.round(r.uniform(-75, -60, n), 3),
        "temp": np.round(r.uniform(10, 25, n), 2),
    })
    df.to_csv(f"{d}/epoch.csv", index=False)


def make_odd(d, r):
    n = 25
    t0 = dt.datetime(2019, 8, 5, 20, 37, 2)
    times = [t0 + dt.timedelta(minutes=int(m)) for m in np.sort(r.integers(0, 5000, n))]
    df = pd.DataFrame({
        "wmo": r.choice([5900446, 5900447], n),
        "obs_date": [t.strftime("%Y%m%d%H%M%S") for t in times],
        "y": np.round(r.uniform(-42, -36, n), 3),
        "x": np.round(r.uniform(-165, -155, n), 3),
        "DEPTH": np.round(r.uniform(0, 2000, n), 1),
        "temp_c": np.round(r.uniform(2, 20, n), 3),
    })
    with open(f"{d}/odd.csv", "w") as f:
        f.write("# a header that is not CSV\n# source: made up\n# columns: see below\n")
        df.to_csv(f, index=False, sep=";")


def make_cfdays(d, r):
    n = 30
    df = pd.DataFrame({
        "platform_number": r.choice([13857, 13858], n),
        "juld": np.round(np.sort(r.uniform(17376.0, 17740.0, n)), 6),
        "latitude": np.round(r.uniform(0, 7, n), 3),
        "longitude": np.round(r.uniform(-34, -16, n), 3),
        "temp": np.round(r.uniform(4, 28, n), 3),
    })
    df.to_csv(f"{d}/cfdays.csv", index=False)


def make_empty_times(d, r):
    n = 20
    times = iso_times(dt.datetime(2021, 6, 1), n, r)
    for i in (2, 5, 11):
        times[i] = ""
    df = pd.DataFrame({"time": times, "lat": np.round(r.uniform(-10, 10, n), 3),
                       "lon": np.round(r.uniform(-10, 10, n), 3), "v": np.arange(n)})
    df.to_csv(f"{d}/empty_times.csv", index=False)


def make_profiles(d, r):
    n = 100
    secs = np.sort(r.integers(0, 365 * 86400, n))
    t = (pd.Timestamp("2018-01-01", tz="UTC") + pd.to_timedelta(secs, unit="s")).tz_convert("Europe/Paris")
    df = pd.DataFrame({
        "platform_number": r.choice(["6902746 ", " 6902747"], n),
        "time": t,
        "latitude": r.uniform(-10, 10, n).astype(np.float32),
        "longitude": np.round(r.uniform(0, 6, n), 4),
        "depth": np.round(r.uniform(5, 1500, n), 1),
        "temp": r.uniform(3, 27, n).astype(np.float32),
        "psal": np.round(r.uniform(34, 36, n), 4),
    })
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, f"{d}/profiles.parquet", row_group_size=10)


def make_drifters(d, r):
    os.makedirs(f"{d}/drifters_pq", exist_ok=True)
    for k in range(3):
        n = 50
        start = pd.Timestamp(2022, 1 + k, 1)
        df = pd.DataFrame({
            "id": r.choice([300234, 300235, 300236], n).astype(np.int64),
            "time": (start + pd.to_timedelta(np.sort(r.integers(0, 28 * 86400, n)), unit="s")).astype("datetime64[us]"),
            "lat": np.round(r.uniform(-60, 60, n), 4),
            "lon": np.round(r.uniform(0, 360, n), 4),
            "ve": np.round(r.normal(0, 0.3, n), 4),
            "vn": np.round(r.normal(0, 0.3, n), 4),
        })
        df.loc[0, "lon"] = 0.0
        df.loc[1, "lon"] = 180.0
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), f"{d}/drifters_pq/part-{k}.parquet", row_group_size=10)


def make_dates(d, r):
    n = 12
    days = [dt.date(2023, 3, 1) + dt.timedelta(days=int(x)) for x in np.sort(r.integers(0, 60, n))]
    table = pa.table({
        "platform_code": pa.array(r.choice([7, 8], n).astype(np.int32)),
        "date": pa.array(days, type=pa.date32()),
        "lat": pa.array(np.round(r.uniform(40, 45, n), 3)),
        "lon": pa.array(np.round(r.uniform(5, 9, n), 3)),
        "value": pa.array(np.round(r.uniform(0, 1, n), 4)),
    })
    pq.write_table(table, f"{d}/dates.parquet")


def make_epoch_ms(d, r):
    n = 15
    ms = np.sort(r.integers(1_650_000_000_000, 1_660_000_000_000, n))
    table = pa.table({
        "station_id": pa.array(r.choice(["A1", "B2"], n)),
        "time": pa.array(ms.astype(np.int64)),
        "lat": pa.array(np.round(r.uniform(50, 55, n), 3)),
        "lon": pa.array(np.round(r.uniform(-5, 5, n), 3)),
        "value": pa.array(np.round(r.uniform(0, 100, n), 2)),
    })
    pq.write_table(table, f"{d}/epoch_ms.parquet")


def make_bad(d, r):
    os.makedirs(f"{d}/bad", exist_ok=True)
    n = 30
    times = iso_times(dt.datetime(2020, 5, 1), n, r)
    times[16] = "yesterday"  # record 17
    pd.DataFrame({"time": times, "lat": np.zeros(n), "lon": np.zeros(n)}).to_csv(f"{d}/bad/bad_time.csv", index=False)
    pd.DataFrame({"time": times[:3], "y_pos": [1.0, 2.0, 3.0], "lon": [0.0, 0.0, 0.0]}).to_csv(
        f"{d}/bad/no_lat.csv", index=False)
    with open(f"{d}/bad/notes.dat", "w") as f:
        f.write("time,lat,lon\n2020-01-01,0,0\n")


# ---------------------------------------------------------------------------------------------
# Expected answers, with pandas
# ---------------------------------------------------------------------------------------------
def iso_text(ts):
    """A UTC timestamp as Arrow prints it: seconds, then 3 or 6 decimals when needed, then Z."""
    if ts is None or pd.isna(ts):
        return "NULL"
    ts = pd.Timestamp(ts).tz_convert("UTC")
    us = ts.microsecond
    frac = "" if us == 0 else (f".{us // 1000:03d}" if us % 1000 == 0 else f".{us:06d}")
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def norm_lon(lon):
    """Longitudes in [-180, 180); those already there unchanged."""
    lon = np.asarray(lon, dtype=np.float64)
    return np.where((lon >= -180.0) & (lon < 180.0), lon, ((lon + 180.0) % 360.0) - 180.0)


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance on a sphere of 6371.0088 km (numpy)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(h, 1)))


def num(x, digits=6):
    """A number as the slt runner prints it (rounded first in SQL to the same digits)."""
    if x is None or pd.isna(x):
        return "NULL"
    x = round(float(x), digits)
    s = f"{x:.12f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


class Checks:
    def __init__(self):
        self.items = []

    def add(self, comment, sql, types, rows):
        self.items.append({"comment": comment, "sql": sql, "types": types,
                           "rows": [[str(c) for c in row] for row in rows]})

    def slt(self):
        out = []
        for c in self.items:
            out.append(f"# {c['comment']}\nquery {c['types']}\n{c['sql']}\n----")
            out.extend(" ".join(row) for row in c["rows"])
            out.append("")
        return "\n".join(out)


def read_iso(d):
    a = pd.read_csv(f"{d}/iso/a.csv", dtype={"platform_id": str})
    b = pd.read_csv(f"{d}/iso/b.csv", dtype={"platform_id": str})
    df = pd.concat([a, b], ignore_index=True)
    df["t"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    df["lonn"] = norm_lon(df["lon"])
    df["pid"] = df["platform_id"].str.strip()
    return a, b, df


def check_iso(d, c):
    a, b, df = read_iso(d)
    c.add("iso: every record of both files, times of every ISO spelling",
          "SELECT count(*), count(time), min(time), max(time) FROM iso", "IIPP",
          [[len(df), df["t"].notna().sum(), iso_text(df["t"].min()), iso_text(df["t"].max())]])
    c.add("iso: mean sst (integers in b, floats in a) in a box, lon normalised",
          "SELECT count(*), round(avg(sst), 6) FROM iso WHERE lat BETWEEN -30 AND 30 AND lon BETWEEN -100 AND 100",
          "IR", [[int(((df.lat >= -30) & (df.lat <= 30) & (df.lonn >= -100) & (df.lonn <= 100)).sum()),
                  num(df.loc[(df.lat >= -30) & (df.lat <= 30) & (df.lonn >= -100) & (df.lonn <= 100), "sst"].mean())]])
    c.add("iso: records per platform (ints as text, text trimmed)",
          "SELECT platform_id, count(*) FROM iso GROUP BY 1 ORDER BY 1", "TI",
          [[p, n] for p, n in df.groupby("pid").size().sort_index().items()])
    c.add("iso: a's first five records, one per ISO spelling (matched by their unique lat)",
          "SELECT lat, time FROM iso WHERE granule LIKE '%/a.csv' AND lat IN ("
          + ", ".join(repr(float(x)) for x in a.lat[:5]) + ") ORDER BY time",
          "RP", sorted([[num(a.lat[k], 4), iso_text(pd.to_datetime(a.time[k], utc=True, format="ISO8601"))]
                        for k in range(5)], key=lambda r: r[1]))
    c.add("iso: lon 180 becomes -180; lon range",
          "SELECT min(lon), max(lon), count(*) FILTER (WHERE lon = -180) FROM iso", "RRI",
          [[num(df.lonn.min(), 4), num(df.lonn.max(), 4), int((df.lonn == -180).sum())]])
    c.add("iso: wind is only in b (NULL for a's records)",
          "SELECT count(wind), round(sum(wind), 6) FROM iso", "IR",
          [[int(b.wind.notna().sum()), num(b.wind.sum())]])
    c.add("iso: records per file",
          "SELECT arrow_cast(granule, 'Utf8') LIKE '%/a.csv', count(*) FROM iso GROUP BY 1 ORDER BY 1", "BI",
          [["false", len(b)], ["true", len(a)]])


def check_epoch(d, c):
    df = pd.read_csv(f"{d}/epoch.csv")
    t = pd.to_datetime(df.timestamp, unit="s", utc=True)
    c.add("epoch: seconds since 1970 (guessed column 'timestamp', platform 'buoy_id')",
          "SELECT count(*), min(time), max(time), round(avg(lat), 6), round(avg(lon), 6) FROM epoch", "IPPRR",
          [[len(df), iso_text(t.min()), iso_text(t.max()), num(df.latitude.mean()), num(df.longitude.mean())]])
    sel = t >= pd.Timestamp("2018-01-01", tz="UTC")
    c.add("epoch: per buoy since 2018",
          "SELECT platform_id, count(*), round(avg(temp), 6) FROM epoch WHERE time >= '2018-01-01T00:00:00Z' GROUP BY 1 ORDER BY 1",
          "TIR", [[str(p), len(g), num(g.temp.mean())] for p, g in df[sel].groupby("buoy_id")])


def check_odd(d, c):
    df = pd.read_csv(f"{d}/odd.csv", sep=";", comment="#", dtype={"obs_date": str})
    t = pd.to_datetime(df.obs_date, format="%Y%m%d%H%M%S", utc=True)
    c.add("odd: OPTIONS name the columns; DEPTH found in any case",
          "SELECT count(*), min(time), max(time), round(avg(depth), 6), round(sum(temp_c), 6) FROM odd", "IPPRR",
          [[len(df), iso_text(t.min()), iso_text(t.max()), num(df.DEPTH.mean()), num(df.temp_c.sum())]])
    c.add("odd: per platform", "SELECT platform_id, count(*), round(min(lat), 6) FROM odd GROUP BY 1 ORDER BY 1", "TIR",
          [[str(p), len(g), num(g.y.min())] for p, g in df.groupby("wmo")])


def check_cfdays(d, c):
    df = pd.read_csv(f"{d}/cfdays.csv")
    us = np.round(df.juld.to_numpy() * 86400e6).astype(np.int64)
    t = pd.Timestamp("1950-01-01", tz="UTC") + pd.to_timedelta(us, unit="us")
    c.add("cfdays: days since 1950-01-01 (OPTIONS 'time_unit')",
          "SELECT count(*), min(time), max(time) FROM cfdays", "IPP",
          [[len(df), iso_text(t.min()), iso_text(t.max())]])
    k = int(np.argmax(df.temp.to_numpy()))
    c.add("cfdays: the warmest record", "SELECT platform_id, time, lat FROM cfdays ORDER BY temp DESC LIMIT 1", "TPR",
          [[str(df.platform_number[k]), iso_text(t[k]), num(df.latitude[k])]])


def check_empty_times(d, c):
    df = pd.read_csv(f"{d}/empty_times.csv", keep_default_na=False)
    c.add("empty_times: empty fields are NULL times, no record dropped",
          "SELECT count(*), count(time), sum(v) FILTER (WHERE time IS NULL) FROM empty_times", "III",
          [[len(df), int((df.time != "").sum()), int(df.v[df.time == ""].sum())]])


def check_profiles(d, c):
    df = pq.read_table(f"{d}/profiles.parquet").to_pandas()
    t = df.time.dt.tz_convert("UTC")
    lat = df.latitude.astype(np.float64)
    c.add("profiles: timestamp[ns, Europe/Paris] -> UTC; float32 latitude -> Float64",
          "SELECT count(*), min(time), max(time), round(avg(lat), 6), round(avg(depth), 6) FROM profiles", "IPPRR",
          [[len(df), iso_text(t.min()), iso_text(t.max()), num(lat.mean()), num(df.depth.mean())]])
    lo, hi = pd.Timestamp("2018-03-01", tz="UTC"), pd.Timestamp("2018-05-01", tz="UTC")
    sel = (t >= lo) & (t < hi) & (lat > 0)
    c.add("profiles: a time window and a latitude band",
          "SELECT count(*), round(avg(temp), 5), round(max(psal), 6) FROM profiles "
          "WHERE time >= '2018-03-01T00:00:00Z' AND time < '2018-05-01T00:00:00Z' AND lat > 0",
          "IRR", [[int(sel.sum()), num(df.temp[sel].astype(np.float64).mean(), 5), num(df.psal[sel].max())]])
    c.add("profiles: platform ids trimmed", "SELECT platform_id, count(*) FROM profiles GROUP BY 1 ORDER BY 1", "TI",
          [[p, len(g)] for p, g in df.groupby(df.platform_number.str.strip())])


def check_drifters(d, c):
    parts = [pq.read_table(f"{d}/drifters_pq/part-{k}.parquet").to_pandas() for k in range(3)]
    df = pd.concat(parts, ignore_index=True)
    lon = norm_lon(df.lon)
    c.add("drifters: three Parquet files, lon 0..360 -> [-180, 180)",
          "SELECT count(*), min(time), max(time), min(lon), max(lon), count(*) FILTER (WHERE lon = -180) FROM drifters",
          "IPPRRI", [[len(df), iso_text(df.time.min().tz_localize("UTC")), iso_text(df.time.max().tz_localize("UTC")),
                      num(lon.min(), 4), num(lon.max(), 4), int((lon == -180).sum())]])
    box = (df.lat.between(-30, 30)) & (lon >= -150) & (lon <= -120)
    c.add("drifters: mean velocity in a box west of the antimeridian (sources 210..240)",
          "SELECT count(*), round(avg(ve), 6), round(avg(vn), 6) FROM drifters "
          "WHERE lat BETWEEN -30 AND 30 AND lon BETWEEN -150 AND -120",
          "IRR", [[int(box.sum()), num(df.ve[box].mean()), num(df.vn[box].mean())]])
    seam = (lon >= -10) & (lon <= 10)
    c.add("drifters: a box across the 0/360 seam of the sources",
          "SELECT count(*), round(sum(ve), 6) FROM drifters WHERE lon BETWEEN -10 AND 10", "IR",
          [[int(seam.sum()), num(df.ve[seam].sum())]])
    # Distance filters also add the latitude/longitude box they imply (for pruning): the
    # answer must be the haversine one, across the antimeridian too.
    for lat0, lon0, km in [(10.0, -170.0, 2500.0), (-20.0, 35.0, 3000.0)]:
        near = haversine_km(df.lat, lon, lat0, lon0) <= km
        c.add(f"drifters: within {km:g} km of ({lat0:g}, {lon0:g})",
              f"SELECT count(*), round(sum(ve), 6) FROM drifters WHERE haversine_km(lat, lon, {lat0:g}, {lon0:g}) <= {km:g}",
              "IR", [[int(near.sum()), num(df.ve[near].sum()) if near.any() else "NULL"]])
    feb = (df.time >= pd.Timestamp("2022-02-01")) & (df.time < pd.Timestamp("2022-03-01"))
    c.add("drifters: February, per drifter",
          "SELECT platform_id, count(*) FROM drifters WHERE time >= '2022-02-01T00:00:00Z' AND time < '2022-03-01T00:00:00Z' "
          "GROUP BY 1 ORDER BY 1", "TI", [[str(p), len(g)] for p, g in df[feb].groupby("id")])


def check_dates(d, c):
    df = pq.read_table(f"{d}/dates.parquet").to_pandas()
    c.add("dates: date32 -> midnight UTC", "SELECT count(*), min(time), max(time), round(sum(value), 6) FROM dates",
          "IPPR", [[len(df), iso_text(pd.Timestamp(df.date.min(), tz="UTC")), iso_text(pd.Timestamp(df.date.max(), tz="UTC")),
                    num(df.value.sum())]])


def check_epoch_ms(d, c):
    df = pq.read_table(f"{d}/epoch_ms.parquet").to_pandas()
    t = pd.to_datetime(df.time, unit="ms", utc=True)
    c.add("epoch_ms: int64 milliseconds (OPTIONS 'time_unit' 'ms')",
          "SELECT count(*), min(time), max(time) FROM epoch_ms", "IPP",
          [[len(df), iso_text(t.min()), iso_text(t.max())]])


def checks(d):
    c = Checks()
    for f in (check_iso, check_epoch, check_odd, check_cfdays, check_empty_times, check_profiles,
              check_drifters, check_dates, check_epoch_ms):
        f(d, c)
    return c


def make(out):
    d = os.path.join(out, "insitu")
    os.makedirs(d, exist_ok=True)
    r = rng()
    for f in (make_iso, make_epoch, make_odd, make_cfdays, make_empty_times, make_profiles, make_drifters,
              make_dates, make_epoch_ms, make_bad):
        f(d, r)
    c = checks(d)
    with open(f"{d}/expected.json", "w") as f:
        json.dump(c.items, f, indent=1)
    return c


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_insitu_fixtures.py OUTDIR [--slt]")
    c = make(os.path.abspath(sys.argv[1]))
    if sys.argv[2:] == ["--slt"]:
        print(c.slt())


if __name__ == "__main__":
    main()
