"""Classic ``shotgunEvents`` plugins, run unchanged as evframe handlers.

A plugin is a ``*.py`` file in a ``[classic] paths`` folder that defines
``registerCallbacks(reg)``; each callback it registers becomes the handler
``<file stem>.<callback name>``:

- :mod:`~evframe.classic.registrar`: the ``reg`` object, exactly the classic surface;
- :mod:`~evframe.classic.matching`: ``matchEvents`` as the classic daemon applies it;
- :mod:`~evframe.classic.loader`: plugin folders to plugins to callbacks;
- :mod:`~evframe.classic.adapter`: callbacks registered on a :class:`~evframe.Processor`;
- :mod:`~evframe.classic.pickle_reader`: the classic id file, read without unpickling;
- :mod:`~evframe.classic.migrate`: a classic config and id file to evframe's.
"""

from __future__ import annotations
