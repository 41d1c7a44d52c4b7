"""The registered tasks, one module each (importing this package registers them all).

Adding a task is one file here (a function decorated with
:func:`atelier.tasks.registry.register_task`), its import below, and its tests.
"""

from atelier.tasks.catalog import (  # noqa: F401  (imported to register)
    blend,
    caption,
    classify,
    compare,
    composite,
    denoise,
    edit,
    explain,
    generate,
    inpaint,
    noise,
    sample,
    stylize,
    texture,
    train,
    upscale,
)
