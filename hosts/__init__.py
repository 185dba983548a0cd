"""The front ends: everything that hosts the connector for a person or another program.

The command line (cli, login), the flow runner (flow), the trigger commands (triggers:
polling and the webhook listener) and the generated docs (docs); the hosts to come (an MCP
server, the integration UI) live here too. They
all go through the core in runtime/ (the shim), so validation, retries, redaction and
errors are the same everywhere. Imports go one way: hosts -> connections, actions ->
runtime; nothing below imports a host (tests/test_layers.py checks it).
"""
