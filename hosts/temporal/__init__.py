"""Durable runs on Temporal: workers, flows as workflows, deployments, run history.

Optional (``pip install 'intercom-connector[temporal]'``); see the README's "Durable runs on
Temporal". Every module here that defines ``WORKFLOWS`` and ``ACTIVITIES`` (lists) is
registered by ``intercom-connector worker`` (worker.py): a new module needs no other change.
"""
