"""A client of remote ComfyUI servers: what `nst run-workflow` and the tests' server harness talk through.

`server` talks HTTP to one server and opens its websocket (`events` reads
it), `workflow` reads and edits workflow files, `jobs` runs them on one or
more servers and downloads their outputs. Importing the package does no
work: `requests` and `websocket-client` are imported on first use.
"""
