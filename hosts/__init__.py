"""The front ends: everything that hosts the connector for a person or another program.

The command line (cli, login), the flow runner (flow), the generated docs (docs) and the
MCP server (mcp); the hosts to come (the integration UI, trigger listeners) live here too. They
all go through the core in runtime/ (the shim), so validation, retries, redaction and
errors are the same everywhere. Imports go one way: hosts -> connections, actions ->
runtime; nothing below imports a host (tests/test_layers.py checks it).
"""
