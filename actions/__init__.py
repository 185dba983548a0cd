"""Action handlers, one module per Intercom resource.

An action whose request is a plain mapping of its inputs needs no handler: its
``request:`` in connector.yaml says it. A handler is for the rest: a small function named
after its action key that receives the shared IntercomClient and the action's validated
inputs as keyword arguments (absent optional inputs as None; a list's paging inputs are the
runtime's, not the handler's). It returns a ``Request`` for the runtime to send or page,
or, when it must make the calls itself, the JSON-serialisable result. Handlers never
validate inputs, build clients or catch HTTP errors: the shim and the client own that.
"""
