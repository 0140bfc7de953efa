"""Offline analysis: what an analyst reads about a file or a backtest (tables, the HTML
report). Nothing here runs in the worker; it reuses the worker's code to score."""
