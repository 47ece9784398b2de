"""Drives Shuyu's Flight SQL endpoint the way an operator's tool would: the ADBC Flight SQL
driver, a bearer token and the workspace header. Prints what it saw as one JSON object."""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql


def connect(uri, token, workspace):
    kwargs = {}
    if token:
        kwargs["adbc.flight.sql.authorization_header"] = "Bearer " + token
    if workspace:
        kwargs["adbc.flight.sql.rpc.call_header.x-shuyu-workspace"] = workspace
    return flight_sql.connect(uri, db_kwargs=kwargs)


def attempt(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # the driver's errors carry the server's message
        return {"error": str(e)}


def catalogue(conn):
    objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    tables = {}
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            for table in schema["db_schema_tables"] or []:
                columns = [c["column_name"] for c in table["table_columns"] or []]
                tables[table["table_name"]] = columns
    return tables


def query(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        table = cur.fetch_arrow_table()
        return {"columns": table.column_names, "rows": [list(r.values()) for r in table.to_pylist()]}


def main():
    uri, workspace, sql, refused_sql = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    tokens = json.loads(sys.argv[5])
    out = {}
    with connect(uri, tokens["member"], workspace) as conn:
        out["catalogue"] = attempt(lambda: catalogue(conn))
        out["query"] = attempt(lambda: query(conn, sql))
        out["refused"] = attempt(lambda: query(conn, refused_sql))
    with connect(uri, tokens["stranger"], workspace) as conn:
        out["stranger"] = attempt(lambda: query(conn, sql))
        out["stranger_catalogue"] = attempt(lambda: catalogue(conn))
    with connect(uri, None, workspace) as conn:
        out["anonymous"] = attempt(lambda: query(conn, sql))
    with connect(uri, tokens["member"], None) as conn:
        out["no_workspace"] = attempt(lambda: query(conn, sql))
    print(json.dumps(out, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
