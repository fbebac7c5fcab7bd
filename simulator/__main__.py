"""`python -m simulator [--host H] [--port P] ...`: the provider simulator, without Django."""

import argparse

from .server import add_arguments, run_from_options


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    add_arguments(parser)
    run_from_options(vars(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
