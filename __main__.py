"""`python -m xstilts` runs the CLI."""

from xstilts.search.cli import main

if __name__ == "__main__":
    main()
