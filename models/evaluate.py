"""python -m models.evaluate: the same as `python -m models evaluate` (the command older results name)."""
import sys

from models.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
