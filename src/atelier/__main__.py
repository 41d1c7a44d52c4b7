"""``python -m atelier`` runs the ``atelier`` command."""
from atelier.cli.main import run

run()
