"""The command line's exit statuses (each error class carries its own as ``exit_code``)."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_STATE = 4
EXIT_LOCKED = 5
EXIT_HANDLERS = 6
