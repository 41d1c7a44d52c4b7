"""The atelier studio: a web page and REST API over the task registry, with a persistent job
queue run by worker processes (``atelier serve``; see :mod:`atelier.server.app`)."""
