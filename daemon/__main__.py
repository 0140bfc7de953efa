"""``python -m daemon`` runs the same CLI as the ``seismowatch`` console script."""

from daemon.cli import app

app(prog_name="seismowatch")
