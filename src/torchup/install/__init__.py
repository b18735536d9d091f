"""The install layer: Python environments, wheels in and out, and what is installed.

Modules (import them directly; this package imports nothing eagerly, because ``installer`` and
friends cost start-up time that ``torchup pip list`` should not pay):

- :mod:`~torchup.install.interpreters`: find Pythons, describe them (:class:`Interpreter`,
  :class:`Scheme`), pick the environment to act on.
- :mod:`~torchup.install.venv`: create virtual environments without ``python -m venv``.
- :mod:`~torchup.install.wheel`: validate, unpack (once, into a cache), install by hard link,
  uninstall; all-or-nothing.
- :mod:`~torchup.install.site`: installed distributions; ``pip list/freeze/show/check`` output.
- :mod:`~torchup.install.plan`: pure install planning (install, reinstall, keep, remove).
- :mod:`~torchup.install.build`: PEP 517/660 builds of sdists and source trees.
"""
