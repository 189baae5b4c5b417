"""The TDS endpoint: SQL clients (SSMS, sqlcmd, ODBC, pytds, pymssql...) query the store with
Dataverse's read-only SQL.

    packets.py, channel.py   framing, whole messages, TLS (7.x inside PRELOGIN, 8.0 strict)
    prelogin.py, login.py    PRELOGIN and its encryption table; LOGIN7 and the login answer
    tokens.py, rows.py       reply tokens; ROW data for a whole chunk at a time
    _rows.c                  rows.py's encoder compiled, where the install could build it (hatch_build.py)
    types.py                 SQL Server types (SqlType, TYPE_INFO codes, collation)
    encoders.py              values written as ROW data, from the store's forms
    param_values.py          RPC parameter values read from a request
    rpc.py                   RPC requests parsed: procedures, parameters, declarations
    batch.py, translate/     T-SQL: statements; refusals, names, rewriting onto SQLite (sqlglot)
    catalog.py, functions.py tables and columns from the model; T-SQL functions SQLite lacks
    reader.py                the store's SQLite file read in worker threads, a chunk at a time, ahead
    session.py, server.py    one connection's states and its message loop; the listener
    execute.py, procedures.py, transactions.py, outbox.py
                             SQLBatch, RPC and transaction requests answered; a reply's packets

It depends on the model and the store's file, never on the Web API or its query pipeline.
"""
