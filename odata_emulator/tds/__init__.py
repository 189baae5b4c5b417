"""The TDS endpoint: SQL clients (SSMS, sqlcmd, ODBC, pytds, pymssql...) query the store with
Dataverse's read-only SQL.

    packets.py, channel.py   framing, whole messages, TLS (7.x inside PRELOGIN, 8.0 strict)
    prelogin.py, login.py    PRELOGIN and its encryption table; LOGIN7 and the login answer
    tokens.py, types.py      reply tokens; SQL Server types (TYPE_INFO, values, RPC parameters)
    rpc.py                   RPC requests: sp_executesql, sp_prepare/sp_execute/sp_prepexec, ...
    batch.py, translate.py   T-SQL: statements, refusals, rewriting onto SQLite (sqlglot)
    catalog.py, functions.py tables and columns from the model; T-SQL functions SQLite lacks
    reader.py                the store's SQLite file read in worker threads, a chunk at a time
    session.py, server.py    one connection's states; the listener

It depends on the model and the store's file, never on the Web API or its query pipeline.
"""
