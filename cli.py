"""Run the ``terrain`` command line from a checkout: ``python cli.py slope DEM OUT``."""

from terrain.__main__ import main

if __name__ == "__main__":
    main()
