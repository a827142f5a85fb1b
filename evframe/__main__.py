"""``python -m evframe`` is the ``evframe`` command."""

from evframe.cli.main import main

if __name__ == "__main__":
    main(prog_name="evframe")
