"""Client-side checks of `oceanql serve` (repl/tests/flight.rs runs them).

ADBC (adbc_driver_flightsql.dbapi) and pyarrow.flight talk to the server; every query result
is compared with the same query run by the `oceanql` binary (`-o expected/N.parquet`).

  flight_client.py make DIR                    test data, DIR/catalog.sql, DIR/queries.json
  flight_client.py check URI TOKEN DIR         queries, prepared statements, metadata, DDL, auth
  flight_client.py load URI TOKEN DIR N M      N concurrent clients x M queries, all compared
  flight_client.py stream URI TOKEN ROWS       reads a ROWS-row result batch by batch
  flight_client.py disconnect URI TOKEN        reads one batch of a long query, then dies
  flight_client.py memory URI TOKEN DIR        a query over the memory limit, then a good one
  flight_client.py limits URI TOKEN            queue and query timeouts (1 slot, short timeouts)
  flight_client.py tls URI TOKEN CERT          grpc+tls:// with the server's certificate as root
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import xarray as xr

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flightsql

QUERIES = [
    "SELECT * FROM obs ORDER BY platform_id, time",
    "SELECT time, lat, lon, sst FROM grid WHERE lat > 0 ORDER BY time, lat, lon",
    "SELECT platform_id, count(*) AS n, avg(sst) AS mean_sst, max(time) AS last FROM obs "
    "GROUP BY platform_id ORDER BY platform_id",
    "SELECT platform_id, round(haversine_km(lat, lon, 0.0, 0.0), 3) AS km FROM obs ORDER BY km, platform_id LIMIT 7",
    "SELECT o.platform_id, o.time, o.sst - g.sst AS diff FROM obs o JOIN grid g "
    "ON g.time = date_trunc('day', o.time) AND g.lat = round(o.lat) AND g.lon = round(o.lon) "
    "ORDER BY o.platform_id, o.time",
    "SELECT value FROM generate_series(1, 100000) WHERE value % 9973 = 0 ORDER BY value",
]
# A prepared statement with parameters, and the literal query it must equal (QUERIES index).
PREPARED = ("SELECT * FROM obs WHERE platform_id = $1 AND sst > $2 ORDER BY time", (102, 20.5))
PREPARED_LITERAL = "SELECT * FROM obs WHERE platform_id = 102 AND sst > 20.5 ORDER BY time"


def make(root):
    data, outside = root / "data", root / "outside"
    for d in (data, outside, data / "links"):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    times = pd.date_range("2023-03-01", periods=4, freq="D")
    lat = np.arange(-4.0, 6.0)
    lon = np.arange(-10.0, 10.0)
    sst = 20 + rng.normal(0, 2, (4, lat.size, lon.size)).astype("float32")
    sst[:, 2, 3] = np.nan  # land
    grid = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "long_name": "sea surface temperature"})},
        coords={"time": times, "lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})},
    )
    grid.to_netcdf(data / "grid.nc", encoding={"sst": {"_FillValue": -999.0}})
    n = 240
    obs = pa.table({
        "platform_id": pa.array(rng.integers(100, 106, n), pa.int64()),
        "time": pa.array(pd.Timestamp("2023-03-01") + pd.to_timedelta(rng.integers(0, 4 * 86400, n), unit="s"),
                         pa.timestamp("us", "UTC")),
        "lat": pa.array(rng.uniform(-4, 5, n)),
        "lon": pa.array(rng.uniform(-10, 9, n)),
        "sst": pa.array(np.where(rng.random(n) < 0.05, np.nan, 20 + rng.normal(0, 2, n)), from_pandas=True),
    })
    pq.write_table(obs, data / "obs.parquet")
    (outside / "secret.csv").write_text("secret\n42\n")
    link = data / "links" / "evil.csv"
    if not link.exists():
        link.symlink_to(outside / "secret.csv")
    (root / "catalog.sql").write_text(
        f"CREATE EXTERNAL TABLE grid STORED AS NETCDF LOCATION '{data}/grid.nc';\n"
        f"CREATE EXTERNAL TABLE obs STORED AS PARQUET LOCATION '{data}/obs.parquet';\n")
    (root / "queries.json").write_text(json.dumps(QUERIES + [PREPARED_LITERAL], indent=1))


def connect(uri, token, **kwargs):
    db_kwargs = {adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"} if token else {}
    db_kwargs.update(kwargs)
    return flightsql.connect(uri, db_kwargs=db_kwargs, autocommit=True)


def expected(root, i):
    return pq.read_table(root / "expected" / f"{i}.parquet")


def same(got, want, what):
    """Equal values, column names and types (metadata aside)."""
    assert got.column_names == want.column_names, f"{what}: columns {got.column_names} != {want.column_names}"
    assert got.schema.remove_metadata().equals(strip(want.schema)) or [f.type for f in got.schema] == [f.type for f in want.schema], \
        f"{what}: types {got.schema} != {want.schema}"
    assert got.num_rows == want.num_rows, f"{what}: {got.num_rows} rows != {want.num_rows}"
    assert got.to_pylist() == want.to_pylist() or frames_equal(got, want), f"{what}: values differ"


def strip(schema):
    return pa.schema([f.remove_metadata() for f in schema])


def frames_equal(got, want):
    # NaN != NaN in to_pylist(); compare as frames, NaN-aware.
    pd.testing.assert_frame_equal(got.to_pandas(), want.to_pandas(), check_exact=True)
    return True


def has_code(err, code):
    """Whether a client error carries the gRPC status `code` (ADBC: `PermissionDenied`,
    pyarrow: `PERMISSION_DENIED`)."""
    squash = lambda text: text.upper().replace("_", "").replace(" ", "")
    return squash(code) in squash(err)


def error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any client error is what we look at
        return str(e)
    raise AssertionError("expected an error")


def run_query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def any_command(type_name, query):
    """A Flight SQL command (google.protobuf.Any) by hand, for pyarrow.flight."""
    def field(number, payload):
        return bytes([number << 3 | 2]) + varint(len(payload)) + payload
    inner = field(1, query.encode())
    return field(1, f"type.googleapis.com/arrow.flight.protocol.sql.{type_name}".encode()) + field(2, inner)


def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pyarrow_query(uri, token, sql):
    """The same query through pyarrow.flight: GetFlightInfo, then DoGet on each endpoint."""
    client = flight.FlightClient(uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    info = client.get_flight_info(flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", sql)), options)
    tables = [client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints]
    client.close()
    return pa.concat_tables(tables)


def check(uri, token, root):
    conn = connect(uri, token)
    # 1. Every query: ADBC (arrow and pandas) and pyarrow.flight equal the oceanql binary.
    for i, sql in enumerate(QUERIES):
        want = expected(root, i)
        same(run_query(conn, sql), want, f"adbc: {sql}")
        with conn.cursor() as cur:
            cur.execute(sql)
            pd.testing.assert_frame_equal(cur.fetch_df(), want.to_pandas(), check_exact=True)
        same(pyarrow_query(uri, token, sql), want, f"pyarrow.flight: {sql}")
    grid = run_query(conn, QUERIES[1])
    assert grid.schema.field("sst").metadata.get(b"units") == b"degC", grid.schema.field("sst").metadata
    # 2. A prepared statement with parameters equals the literal query.
    with conn.cursor() as cur:
        cur.execute(PREPARED[0], PREPARED[1])
        same(cur.fetch_arrow_table(), expected(root, len(QUERIES)), "prepared")
    # 3. Metadata: objects, table schema, table types, SqlInfo, keys.
    objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    tables = {t["table_name"]: t for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []}
    assert {"obs", "grid"} <= tables.keys(), tables.keys()
    assert [c["column_name"] for c in tables["obs"]["table_columns"]] == ["platform_id", "time", "lat", "lon", "sst"]
    assert conn.adbc_get_table_schema("obs").names == ["platform_id", "time", "lat", "lon", "sst"]
    assert conn.adbc_get_table_types() == ["BASE TABLE", "VIEW", "LOCAL TEMPORARY"], conn.adbc_get_table_types()
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "OceanQL", info
    # 4. DDL from a client persists for the other clients; LOCATIONs outside the roots are refused.
    with conn.cursor() as cur:
        cur.execute(f"CREATE EXTERNAL TABLE IF NOT EXISTS obs_copy STORED AS PARQUET LOCATION '{root}/data/obs.parquet'")
        cur.fetchall()
    other = connect(uri, token)
    assert run_query(other, "SELECT count(*) AS n FROM obs_copy").to_pylist() == [{"n": 240}]
    with other.cursor() as cur:
        cur.adbc_statement.set_sql_query("CREATE OR REPLACE VIEW warm AS SELECT * FROM obs WHERE sst > 22")
        assert cur.adbc_statement.execute_update() == -1
    assert run_query(conn, "SELECT count(*) AS n FROM warm").num_rows == 1
    refused = {
        f"{root}/outside/secret.csv": "is outside the server's data roots",
        f"{root}/data/../outside/secret.csv": "'..' is not allowed",
        f"{root}/data/links/": "leads outside the server's data roots",
        f"file://{root}/outside/secret.csv": "is outside the server's data roots",
    }
    for location, message in refused.items():
        sql = f"CREATE EXTERNAL TABLE secret STORED AS CSV LOCATION '{location}'"
        err = error_of(lambda: run_query(conn, sql))
        assert message in err and has_code(err, "PERMISSION_DENIED"), err
    copy = f"COPY (SELECT 1) TO '{root}/outside/x.parquet'"
    assert "is outside the server's data roots" in error_of(lambda: run_query(conn, copy))
    # 5. A bad query is a clear error and the next query works.
    err = error_of(lambda: run_query(conn, "SELECT nope FROM obs"))
    assert "nope" in err and has_code(err, "INVALID_ARGUMENT"), err
    assert run_query(conn, "SELECT 1 AS one").to_pylist() == [{"one": 1}]
    # 6. Wrong or missing token: refused, with either client.
    for bad in ("wrong", None):
        err = error_of(lambda: run_query(connect(uri, bad), "SELECT 1"))
        assert has_code(err, "UNAUTHENTICATED"), err
    bare = flight.FlightClient(uri)
    err = error_of(lambda: bare.get_flight_info(flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", "SELECT 1"))))
    assert "missing credentials" in err, err
    # 7. Basic auth: any user, the token as password; the handshake hands back the bearer token.
    basic = flightsql.connect(uri, db_kwargs={"username": "analyst", "password": token}, autocommit=True)
    assert run_query(basic, "SELECT 2 AS two").to_pylist() == [{"two": 2}]
    client = flight.FlightClient(uri)
    header = client.authenticate_basic_token("analyst", token)
    assert header == (b"authorization", f"Bearer {token}".encode()), header
    print("check: all passed")


def load(uri, token, root, clients, per_client):
    wants = [expected(root, i) for i in range(len(QUERIES))]
    errors, done = [], []

    def client(k):
        try:
            conn = connect(uri, token)
            for j in range(per_client):
                i = (k + j) % len(QUERIES)
                same(run_query(conn, QUERIES[i]), wants[i], f"client {k} query {j}")
            conn.close()
            done.append(k)
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {k}: {e}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, "\n".join(errors[:5])
    print(f"load: {len(done)} clients x {per_client} queries, all equal")


def stream(uri, token, rows):
    client = flight.FlightClient(uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    sql = f"SELECT value FROM generate_series(1, {rows})"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", sql)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    count, total, batches = 0, 0, 0
    for chunk in reader:
        values = chunk.data.column(0).to_numpy()
        count += len(values)
        total += int(values.sum())
        batches += 1
    assert count == rows and total == rows * (rows + 1) // 2, (count, total)
    print(f"stream: {count} rows in {batches} batches, sum {total}")


def disconnect(uri, token):
    client = flight.FlightClient(uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    sql = "SELECT value FROM generate_series(1, 10000000000)"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", sql)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    reader.read_chunk()
    print("disconnect: read one batch, going away", flush=True)
    os._exit(0)


def memory(uri, token, root):
    conn = connect(uri, token)
    # The build side of a hash join cannot spill: 4 M rows do not fit in the limit.
    sql = ("SELECT count(*) AS n FROM generate_series(1, 4000000) a "
           "JOIN generate_series(1, 4000000) b ON a.value = b.value")
    err = error_of(lambda: run_query(conn, sql))
    assert has_code(err, "RESOURCE_EXHAUSTED") and "Resources exhausted" in err, err
    same(run_query(conn, QUERIES[2]), expected(root, 2), "after the memory error")
    print("memory: over the limit refused, next query fine")


def limits(uri, token):
    """The server has one query slot, a 1 s queue timeout and a 4 s query timeout."""
    long_sql = "SELECT sum(value) AS s FROM generate_series(1, 100000000000)"
    result = {}

    def slow():
        result["slow"] = error_of(lambda: run_query(connect(uri, token), long_sql))

    t = threading.Thread(target=slow)
    t.start()
    busy = None
    for _ in range(20):  # until the slow query holds the slot
        time.sleep(0.3)
        try:
            run_query(connect(uri, token), "SELECT 1")
        except Exception as e:  # noqa: BLE001
            busy = str(e)
            break
    t.join()
    assert busy and has_code(busy, "RESOURCE_EXHAUSTED") and "server busy" in busy, busy
    slow_err = result["slow"]
    assert has_code(slow_err, "DEADLINE_EXCEEDED") and "query timeout" in slow_err, slow_err
    assert run_query(connect(uri, token), "SELECT 3 AS three").to_pylist() == [{"three": 3}]
    print("limits: queue timeout and query timeout refused clearly, next query fine")


def tls(uri, token, cert):
    root = Path(cert).read_bytes()
    client = flight.FlightClient(uri, tls_root_certs=root)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    sql = "SELECT 40 + 2 AS answer"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(any_command("CommandStatementQuery", sql)), options)
    assert client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist() == [{"answer": 42}]
    conn = connect(uri, token, **{adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value: root.decode()})
    assert run_query(conn, sql).to_pylist() == [{"answer": 42}]
    plain = connect(uri.replace("grpc+tls://", "grpc://"), token, **{adbc_driver_flightsql.DatabaseOptions.TIMEOUT_QUERY.value: "5"})
    error_of(lambda: run_query(plain, sql))
    print("tls: pyarrow.flight and ADBC over TLS, plain text refused")


def main(argv):
    command = argv[1]
    if command == "make":
        make(Path(argv[2]))
    elif command == "check":
        check(argv[2], argv[3], Path(argv[4]))
    elif command == "load":
        load(argv[2], argv[3], Path(argv[4]), int(argv[5]), int(argv[6]))
    elif command == "stream":
        stream(argv[2], argv[3], int(argv[4]))
    elif command == "disconnect":
        disconnect(argv[2], argv[3])
    elif command == "memory":
        memory(argv[2], argv[3], Path(argv[4]))
    elif command == "limits":
        limits(argv[2], argv[3])
    elif command == "tls":
        tls(argv[2], argv[3], argv[4])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
