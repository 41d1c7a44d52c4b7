"""``python -m atelier.server ...``: the same as ``atelier serve ...``."""

from atelier.cli.main import run

if __name__ == "__main__":
    import sys

    run(["serve", *sys.argv[1:]])
