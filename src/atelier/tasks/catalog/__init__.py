"""The registered tasks, one module each (importing this package registers them all).

Adding a task is one file here (a function decorated with
:func:`atelier.tasks.registry.register_task`), its import below, and its tests.
"""

from atelier.tasks.catalog import (  # noqa: F401  (imported to register)
    caption,
    classify,
    compare,
    denoise,
    edit,
    explain,
    generate,
    inpaint,
    sample,
    stylize,
    train,
    upscale,
)
